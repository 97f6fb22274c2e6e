//! Reading the timestamps of a software list fast.
//!
//! An inventory carries one install date per package, ~800 of them, and chrono's reader (which
//! accepts every RFC 3339 spelling) was a twentieth of the collector's CPU in a storm. Agents
//! write the one spelling chrono's serde writes, `2024-05-01T08:30:00Z` with or without a
//! fraction: [`parse_utc`] reads exactly that, and [`option_utc`] hands anything else to
//! chrono, so what is accepted and the value read are chrono's.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::de::{self, Deserializer, Visitor};

/// `YYYY-MM-DDTHH:MM:SS[.F]Z` with 1 to 9 fraction digits; None for any other text, and for
/// an invalid date or time (chrono then says why).
pub fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[b.len() - 1] == b'Z';
    if !shape {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            number(digits)? * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let year = i32::try_from(number(&b[0..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, number(&b[5..7])?, number(&b[8..10])?)?
        .and_hms_nano_opt(
            number(&b[11..13])?,
            number(&b[14..16])?,
            number(&b[17..19])?,
            nanos,
        )
        .map(|t| t.and_utc())
}

/// `#[serde(default, deserialize_with = "crate::timestamp::option_utc")]` for an
/// `Option<DateTime<Utc>>`: null or a date, as chrono's serde reads it, [`parse_utc`] first.
pub fn option_utc<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    d.deserialize_option(OptionUtc)
}

struct OptionUtc;

impl<'de> Visitor<'de> for OptionUtc {
    type Value = Option<DateTime<Utc>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an RFC 3339 date and time, or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(Rfc3339).map(Some)
    }
}

struct Rfc3339;

impl Visitor<'_> for Rfc3339 {
    type Value = DateTime<Utc>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an RFC 3339 date and time")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        match parse_utc(text) {
            Some(t) => Ok(t),
            None => text
                .parse::<DateTime<FixedOffset>>()
                .map(|t| t.with_timezone(&Utc))
                .map_err(E::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{SecondsFormat, TimeZone};
    use proptest::prelude::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Fast {
        #[serde(default, deserialize_with = "option_utc")]
        at: Option<DateTime<Utc>>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Chrono {
        at: Option<DateTime<Utc>>,
    }

    /// A reader's value for `json`, or that it refused it.
    type Read = Result<Option<DateTime<Utc>>, ()>;

    /// What both readers make of `json`: the fast one, then chrono's.
    fn both(json: &str) -> (Read, Read) {
        (
            serde_json::from_str::<Fast>(json)
                .map(|f| f.at)
                .map_err(|_| ()),
            serde_json::from_str::<Chrono>(json)
                .map(|c| c.at)
                .map_err(|_| ()),
        )
    }

    #[test]
    fn other_spellings_read_as_chrono_reads_them() {
        for text in [
            "2024-05-01T08:30:00Z",
            "2024-05-01T08:30:00.5Z",
            "2024-05-01T08:30:00.123456789Z",
            "2024-05-01T08:30:00.1234567891Z",
            "2024-05-01t08:30:00z",
            "2024-05-01 08:30:00Z",
            "2024-05-01T08:30:00+02:00",
            "2024-05-01T08:30:00-00:00",
            "2016-12-31T23:59:60Z",
            "2024-02-30T08:30:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T08:30:00.Z",
            "2024-05-01T08:30Z",
            "+2024-05-01T08:30:00Z",
            "2024-05-01T08:30:00",
            "yesterday",
            "",
        ] {
            let (fast, chrono) = both(&format!(r#"{{"at": "{text}"}}"#));
            assert_eq!(fast, chrono, "{text:?}");
        }
        for json in [
            r#"{"at": null}"#,
            r#"{"at": 3}"#,
            r#"{"at": ["2024-05-01T08:30:00Z"]}"#,
        ] {
            let (fast, chrono) = both(json);
            assert_eq!(fast, chrono, "{json}");
        }
        assert_eq!(serde_json::from_str::<Fast>("{}").unwrap().at, None);
        assert_eq!(
            parse_utc("2024-05-01T08:30:00.25Z"),
            Some(
                Utc.with_ymd_and_hms(2024, 5, 1, 8, 30, 0).unwrap()
                    + chrono::Duration::milliseconds(250)
            )
        );
    }

    proptest! {
        /// Every time chrono's serde writes reads back the same through the fast path.
        #[test]
        fn what_chrono_writes_is_read_fast_and_the_same(
            secs in 0i64..8_000_000_000,
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
            format in prop_oneof![
                Just(SecondsFormat::AutoSi),
                Just(SecondsFormat::Secs),
                Just(SecondsFormat::Millis),
                Just(SecondsFormat::Micros),
                Just(SecondsFormat::Nanos),
            ],
        ) {
            let t = Utc.timestamp_opt(secs, nanos).unwrap();
            let text = t.to_rfc3339_opts(format, true);
            let fast = parse_utc(&text);
            prop_assert!(fast.is_some(), "{} not read fast", text);
            prop_assert_eq!(fast, text.parse::<DateTime<Utc>>().ok());
            let written = serde_json::to_string(&t).unwrap();
            prop_assert_eq!(
                serde_json::from_str::<Fast>(&format!(r#"{{"at": {written}}}"#)).unwrap().at,
                Some(t)
            );
        }
    }
}
