//! Lifecycle states and manual fields as a client sends them.
//!
//! In a patch a field that is absent stays as it is, `null` clears it (and so unlocks it), a
//! value sets (and locks) it. Automatic updates never write these columns.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// Where an asset is in its life. Only people change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    InUse,
    InStock,
    InRepair,
    Retired,
}

impl State {
    pub const ALL: [State; 4] = [
        State::InUse,
        State::InStock,
        State::InRepair,
        State::Retired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::InUse => "in_use",
            State::InStock => "in_stock",
            State::InRepair => "in_repair",
            State::Retired => "retired",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<State, String> {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!("state {s:?} is not one of in_use, in_stock, in_repair, retired")
            })
    }
}

/// Longest accepted values, in characters.
pub const MAX_TAG: usize = 64;
pub const MAX_OWNER: usize = 128;
pub const MAX_NOTES: usize = 4_000;

/// A field of a patch: absent, cleared (`null`) or set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

/// The body of `PATCH /api/v1/assets/{id}` as received.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPatch {
    #[serde(default, deserialize_with = "some")]
    pub asset_tag: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    pub owner: Option<Option<String>>,
    #[serde(default, deserialize_with = "some")]
    pub department_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "some")]
    pub location_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "some")]
    pub notes: Option<Option<String>>,
    pub state: Option<String>,
    /// When the new state took effect: RFC 3339 or a date (YYYY-MM-DD, midnight UTC). Defaults
    /// to now; only with `state`.
    pub state_since: Option<String>,
}

/// Tells "absent" (None, through `default`) from `null` (Some(None)).
fn some<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A checked patch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Patch {
    pub asset_tag: Change<String>,
    pub owner: Change<String>,
    pub department_id: Change<i64>,
    pub location_id: Change<i64>,
    pub notes: Change<String>,
    /// The new state and when it took effect.
    pub state: Option<(State, DateTime<Utc>)>,
}

impl Patch {
    pub fn is_empty(&self) -> bool {
        *self == Patch::default()
    }
}

fn text(
    name: &str,
    v: Option<Option<String>>,
    max: usize,
    multiline: bool,
    problems: &mut Vec<String>,
) -> Change<String> {
    match v {
        None => Change::Keep,
        Some(None) => Change::Clear,
        Some(Some(s)) => {
            let s = s.trim().to_string();
            if s.is_empty() {
                problems.push(format!("{name} is empty; send null to clear it"));
                Change::Keep
            } else if s.chars().count() > max {
                problems.push(format!("{name} is longer than {max} characters"));
                Change::Keep
            } else if s
                .chars()
                .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t')))
            {
                problems.push(format!("{name} contains control characters"));
                Change::Keep
            } else {
                Change::Set(s)
            }
        }
    }
}

fn id(name: &str, v: Option<Option<i64>>, problems: &mut Vec<String>) -> Change<i64> {
    match v {
        None => Change::Keep,
        Some(None) => Change::Clear,
        Some(Some(i)) if i > 0 => Change::Set(i),
        Some(Some(i)) => {
            problems.push(format!("{name} must be a positive id, not {i}"));
            Change::Keep
        }
    }
}

/// Parses a state date: RFC 3339, or a calendar date taken as midnight UTC.
pub fn parse_since(s: &str) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            format!("state_since {s:?} is neither RFC 3339 (2026-11-23T08:00:00Z) nor a date (2026-11-23)")
        })
}

/// Checks a patch received at `now`; every problem is listed.
pub fn check(raw: RawPatch, now: DateTime<Utc>) -> Result<Patch, Vec<String>> {
    let mut problems = Vec::new();
    let patch = Patch {
        asset_tag: text("asset_tag", raw.asset_tag, MAX_TAG, false, &mut problems),
        owner: text("owner", raw.owner, MAX_OWNER, false, &mut problems),
        department_id: id("department_id", raw.department_id, &mut problems),
        location_id: id("location_id", raw.location_id, &mut problems),
        notes: text("notes", raw.notes, MAX_NOTES, true, &mut problems),
        state: match (raw.state, raw.state_since) {
            (None, None) => None,
            (None, Some(_)) => {
                problems.push("state_since is only accepted with state".into());
                None
            }
            (Some(state), since) => {
                let state = state.parse::<State>().map_err(|e| problems.push(e)).ok();
                let since = match since.as_deref().map(parse_since) {
                    None => Some(now),
                    Some(Ok(t)) if t > now => {
                        problems.push("state_since is in the future".into());
                        None
                    }
                    Some(Ok(t)) => Some(t),
                    Some(Err(e)) => {
                        problems.push(e);
                        None
                    }
                };
                state.zip(since)
            }
        },
    };
    if problems.is_empty() && patch.is_empty() {
        problems.push(
            "nothing to change: send one of asset_tag, owner, department_id, location_id, notes, state"
                .into(),
        );
    }
    if problems.is_empty() {
        Ok(patch)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 8, 0, 0).unwrap()
    }

    fn parse(json: &str) -> Result<Patch, Vec<String>> {
        let raw: RawPatch = serde_json::from_str(json).expect("well-formed test body");
        check(raw, now())
    }

    #[test]
    fn absent_null_and_values() {
        let p = parse(r#"{"asset_tag": " INV-001 ", "owner": null, "department_id": 3}"#).unwrap();
        assert_eq!(p.asset_tag, Change::Set("INV-001".into()));
        assert_eq!(p.owner, Change::Clear);
        assert_eq!(p.department_id, Change::Set(3));
        assert_eq!(p.location_id, Change::Keep);
        assert_eq!(p.notes, Change::Keep);
        assert_eq!(p.state, None);
    }

    type Case = (&'static str, Option<(State, DateTime<Utc>)>);

    #[test]
    fn states_and_dates() {
        let cases: [Case; 4] = [
            (r#"{"state": "in_repair"}"#, Some((State::InRepair, now()))),
            (
                r#"{"state": "retired", "state_since": "2026-11-01"}"#,
                Some((
                    State::Retired,
                    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
                )),
            ),
            (
                r#"{"state": "in_stock", "state_since": "2026-11-20T10:30:00+01:00"}"#,
                Some((
                    State::InStock,
                    Utc.with_ymd_and_hms(2026, 11, 20, 9, 30, 0).unwrap(),
                )),
            ),
            (
                r#"{"state": "in_use", "notes": "x"}"#,
                Some((State::InUse, now())),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(parse(body).unwrap().state, want, "{body}");
        }
    }

    #[test]
    fn problems_are_named() {
        let cases = [
            (r#"{}"#, vec!["nothing to change"]),
            (r#"{"state": "broken"}"#, vec!["\"broken\" is not one of"]),
            (
                r#"{"state_since": "2026-01-01"}"#,
                vec!["only accepted with state"],
            ),
            (
                r#"{"state": "retired", "state_since": "2027-01-01"}"#,
                vec!["in the future"],
            ),
            (
                r#"{"state": "retired", "state_since": "yesterday"}"#,
                vec!["neither RFC 3339"],
            ),
            (
                r#"{"asset_tag": "  ", "owner": "a\u0007b", "department_id": 0}"#,
                vec![
                    "asset_tag is empty",
                    "owner contains control",
                    "department_id must be",
                ],
            ),
        ];
        for (body, wanted) in cases {
            let problems = parse(body).unwrap_err();
            assert_eq!(problems.len(), wanted.len(), "{body}: {problems:?}");
            for (p, w) in problems.iter().zip(wanted) {
                assert!(p.contains(w), "{body}: {p:?} lacks {w:?}");
            }
        }
        let long = format!(r#"{{"asset_tag": "{}"}}"#, "x".repeat(MAX_TAG + 1));
        assert!(parse(&long).unwrap_err()[0].contains("longer than 64"));
        // Notes may span lines; a tag may not.
        assert!(parse(r#"{"notes": "line 1\nline 2"}"#).is_ok());
        assert!(parse(r#"{"asset_tag": "a\nb"}"#).is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<RawPatch>(r#"{"serial": "X"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `serial`"), "{err}");
    }
}
