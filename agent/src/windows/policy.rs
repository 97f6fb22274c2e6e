//! Registry settings that override `agent.toml`: the values the MSI writes from its `SERVER`,
//! `TOKEN` and `TAGS` properties (`HKLM\SOFTWARE\Parc`) and the group policy values
//! (`HKLM\SOFTWARE\Policies\Parc\Agent`, from the ADMX template). Both keys use the same value
//! names, so one pure merge serves both; reading the registry itself is in `registry`.
//!
//! Precedence, lowest first: the file, the install values, the policy, the command line. A
//! policy is the domain admin's word, so it beats what was set on one PC at install time; a
//! flag typed by hand (`parc-agent push --server ...`) still wins, for troubleshooting.

use std::collections::BTreeMap;
use std::time::Duration;

use parc_config::agent::{parse_duration, parse_net, server_url, ServerConfig};
use parc_config::{AgentConfig, ConfigError, Problem};

/// Where the MSI writes its properties.
pub const INSTALL_KEY: &str = r"SOFTWARE\Parc";
/// Where group policy (the ADMX template) writes its values.
pub const POLICY_KEY: &str = r"SOFTWARE\Policies\Parc\Agent";

/// A registry value as read, in the types the ADMX template and the MSI write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    /// REG_SZ / REG_EXPAND_SZ.
    Text(String),
    /// REG_DWORD.
    Number(u32),
    /// REG_MULTI_SZ (an ADMX `multiText`: one entry per line).
    List(Vec<String>),
}

/// The values of one registry key, by name. Registry names are case-insensitive, so they are
/// kept lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    /// Where the values came from, e.g. `HKLM\SOFTWARE\Policies\Parc\Agent`; names problems.
    pub origin: String,
    values: BTreeMap<String, RegValue>,
}

impl Layer {
    pub fn new(origin: impl Into<String>) -> Self {
        Layer {
            origin: origin.into(),
            values: BTreeMap::new(),
        }
    }

    pub fn with(mut self, name: &str, value: RegValue) -> Self {
        self.insert(name, value);
        self
    }

    pub fn insert(&mut self, name: &str, value: RegValue) {
        self.values.insert(name.to_ascii_lowercase(), value);
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// The value names both keys understand, as written in the ADMX template and the MSI.
pub const SERVER: &str = "Server";
pub const TOKEN: &str = "Token";
pub const TAGS: &str = "Tags";
/// A duration: REG_DWORD in minutes (ADMX `decimal`) or REG_SZ like "4h".
pub const INVENTORY_INTERVAL: &str = "InventoryInterval";
pub const SPLAY: &str = "Splay";
pub const SWEEP_INTERVAL: &str = "SweepInterval";
pub const SWEEP_SCOPES: &str = "SweepScopes";
pub const SWEEP_TARGETS: &str = "SweepTargets";
const KNOWN: &[&str] = &[
    SERVER,
    TOKEN,
    TAGS,
    INVENTORY_INTERVAL,
    SPLAY,
    SWEEP_INTERVAL,
    SWEEP_SCOPES,
    SWEEP_TARGETS,
];

/// The configuration with one layer merged in, and the value names it did not know (to be
/// logged: a typo in a hand-made registry value should be visible, not fatal).
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub config: AgentConfig,
    pub ignored: Vec<String>,
}

/// Merges one registry layer into `config`; see [`merge_all`].
pub fn merge(config: AgentConfig, layer: &Layer) -> Result<Merged, ConfigError> {
    merge_all(config, std::slice::from_ref(layer))
}

/// Merges registry layers, lowest precedence first, into `config`. For each value name the
/// highest layer that sets it wins, and the result is checked as a whole: the MSI's token and
/// the policy's server make one collector setting. Every bad value is reported at once, named
/// by the key it came from; on error nothing is returned, so a bad policy never yields a
/// half-applied configuration. Blank values count as unset: an MSI installed without `TAGS`
/// or a policy text left blank must not wipe what a lower layer or the file says.
pub fn merge_all(config: AgentConfig, layers: &[Layer]) -> Result<Merged, ConfigError> {
    let view = View { layers };
    let mut c = config;
    let mut problems = Vec::new();
    let mut problem = |name: &str, message: String| {
        problems.push(Problem {
            key: view.key(name),
            message,
        })
    };

    let server = text(&view, SERVER, &mut problem);
    let token = text(&view, TOKEN, &mut problem);
    if server.is_some() || token.is_some() {
        let url = match (server, &c.server) {
            (Some(s), _) => server_url(&s).map_err(|m| problem(SERVER, m)).ok(),
            (None, Some(s)) => Some(s.url.clone()),
            (None, None) => {
                problem(
                    TOKEN,
                    "a token is set but no server (in the registry or agent.toml)".into(),
                );
                None
            }
        };
        let token = match (token, &c.server) {
            (Some(t), _) => Some(t),
            (None, Some(s)) => Some(s.token.clone()),
            (None, None) => {
                problem(
                    SERVER,
                    "a server is set but no token (in the registry or agent.toml)".into(),
                );
                None
            }
        };
        let timeout = c
            .server
            .as_ref()
            .map_or(Duration::from_secs(60), |s| s.timeout);
        if let (Some(url), Some(token)) = (url, token) {
            c.server = Some(ServerConfig {
                url,
                token,
                timeout,
            });
        }
    }

    if let Some(tags) = list(&view, TAGS, &mut problem) {
        c.tags = tags;
    }
    if let Some(d) = duration(&view, INVENTORY_INTERVAL, &mut problem) {
        if d < Duration::from_secs(60) {
            problem(INVENTORY_INTERVAL, "must be at least 1 minute".into());
        }
        c.schedule.interval = d;
    }
    if let Some(d) = duration(&view, SPLAY, &mut problem) {
        c.schedule.splay = d;
    }
    if let Some(d) = duration(&view, SWEEP_INTERVAL, &mut problem) {
        if d < Duration::from_secs(60) {
            problem(SWEEP_INTERVAL, "must be at least 1 minute".into());
        }
        c.sweep.interval = d;
    }
    if let Some(scopes) = list(&view, SWEEP_SCOPES, &mut problem) {
        let mut nets = Vec::new();
        for s in &scopes {
            match parse_net(s) {
                Ok(n) => nets.push(n),
                Err(m) => problem(SWEEP_SCOPES, m),
            }
        }
        c.sweep.scopes = nets;
    }
    if let Some(targets) = list(&view, SWEEP_TARGETS, &mut problem) {
        c.sweep.targets = targets;
    }
    if !c.sweep.targets.is_empty() && c.sweep.scopes.is_empty() {
        problem(
            SWEEP_TARGETS,
            "sweep targets are set but no scope allows them; list the networks this agent may sweep (SweepScopes)"
                .into(),
        );
    }

    if !problems.is_empty() {
        let origins: Vec<&str> = layers.iter().map(|l| l.origin.as_str()).collect();
        return Err(ConfigError::Invalid {
            origin: origins.join(", "),
            problems,
        });
    }
    let ignored = layers
        .iter()
        .flat_map(|l| {
            l.values
                .keys()
                .filter(|k| !KNOWN.iter().any(|n| n.eq_ignore_ascii_case(k)))
                .map(move |k| format!(r"{}\{k}", l.origin))
        })
        .collect();
    Ok(Merged { config: c, ignored })
}

/// The layers seen as one: each name resolves to the highest layer that sets it.
struct View<'a> {
    layers: &'a [Layer],
}

impl View<'_> {
    fn get(&self, name: &str) -> Option<(&str, &RegValue)> {
        let name = name.to_ascii_lowercase();
        self.layers.iter().rev().find_map(|l| {
            l.values
                .get(&name)
                .filter(|v| is_set(v))
                .map(|v| (l.origin.as_str(), v))
        })
    }

    /// `KEY\Name` of the layer a value came from (the highest layer when none sets it).
    fn key(&self, name: &str) -> String {
        let origin = self
            .get(name)
            .map(|(o, _)| o)
            .or_else(|| self.layers.last().map(|l| l.origin.as_str()))
            .unwrap_or("registry");
        format!(r"{origin}\{name}")
    }
}

fn is_set(value: &RegValue) -> bool {
    match value {
        RegValue::Text(t) => !t.trim().is_empty(),
        RegValue::List(items) => items.iter().any(|i| !i.trim().is_empty()),
        RegValue::Number(_) => true,
    }
}

/// A single text value, trimmed.
fn text(view: &View, name: &str, problem: &mut impl FnMut(&str, String)) -> Option<String> {
    match view.get(name)?.1 {
        RegValue::Text(t) => Some(t.trim().to_string()),
        other => {
            problem(
                name,
                format!("expected a text value (REG_SZ), found {other:?}"),
            );
            None
        }
    }
}

/// A list: REG_MULTI_SZ, or REG_SZ separated by commas, semicolons or spaces (what fits on an
/// msiexec command line). Blank entries are dropped.
fn list(view: &View, name: &str, problem: &mut impl FnMut(&str, String)) -> Option<Vec<String>> {
    let items: Vec<String> = match view.get(name)?.1 {
        RegValue::List(items) => items.iter().flat_map(|i| split_list(i)).collect(),
        RegValue::Text(t) => split_list(t),
        RegValue::Number(n) => {
            problem(
                name,
                format!("expected a list (REG_MULTI_SZ or REG_SZ), found the number {n}"),
            );
            return None;
        }
    };
    Some(items).filter(|i| !i.is_empty())
}

fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// A duration: REG_DWORD minutes (what an ADMX `decimal` writes) or REG_SZ like "4h".
fn duration(view: &View, name: &str, problem: &mut impl FnMut(&str, String)) -> Option<Duration> {
    match view.get(name)?.1 {
        RegValue::Number(minutes) => Some(Duration::from_secs(u64::from(*minutes) * 60)),
        RegValue::Text(t) => parse_duration(t).map_err(|m| problem(name, m)).ok(),
        RegValue::List(_) => {
            problem(
                name,
                "expected minutes (REG_DWORD) or a duration like 4h (REG_SZ), found a list".into(),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RegValue::{List, Number, Text};

    fn file(text: &str) -> AgentConfig {
        AgentConfig::parse(text, "agent.toml").unwrap()
    }

    fn policy() -> Layer {
        Layer::new(r"HKLM\SOFTWARE\Policies\Parc\Agent")
    }

    fn problems(err: ConfigError) -> Vec<String> {
        match err {
            ConfigError::Invalid { problems, .. } => {
                problems.into_iter().map(|p| p.to_string()).collect()
            }
            other => panic!("unexpected error {other}"),
        }
    }

    const FILE_WITH_SERVER: &str = r#"
        tags = ["from-file"]
        [server]
        url = "https://file.example:8080"
        token = "file-token"
        timeout = "20s"
        [schedule]
        interval = "4h"
    "#;

    #[test]
    fn values_override_the_file() {
        // (file, layer, check)
        type Check = fn(&AgentConfig);
        let cases: Vec<(&str, Layer, Check)> = vec![
            (
                FILE_WITH_SERVER,
                policy().with(SERVER, Text("https://gpo.example".into())),
                |c| {
                    let s = c.server.as_ref().unwrap();
                    assert_eq!(s.url.as_str(), "https://gpo.example/");
                    assert_eq!(s.token, "file-token", "token kept from the file");
                    assert_eq!(s.timeout, Duration::from_secs(20), "timeout kept");
                },
            ),
            (
                FILE_WITH_SERVER,
                policy().with("token", Text("  gpo-token \n".into())),
                |c| {
                    let s = c.server.as_ref().unwrap();
                    assert_eq!(s.url.as_str(), "https://file.example:8080/");
                    assert_eq!(s.token, "gpo-token", "trimmed, name case-insensitive");
                },
            ),
            (
                "",
                policy()
                    .with(SERVER, Text("http://10.0.0.1:8080".into()))
                    .with(TOKEN, Text("t".into())),
                |c| {
                    let s = c.server.as_ref().unwrap();
                    assert_eq!(s.url.as_str(), "http://10.0.0.1:8080/");
                    assert_eq!(s.timeout, Duration::from_secs(60), "default timeout");
                },
            ),
            (
                FILE_WITH_SERVER,
                policy().with(TAGS, Text("pavillon-b, urgences;bloc".into())),
                |c| assert_eq!(c.tags, ["pavillon-b", "urgences", "bloc"]),
            ),
            (
                FILE_WITH_SERVER,
                policy().with(TAGS, List(vec!["a".into(), "".into(), "b c".into()])),
                |c| assert_eq!(c.tags, ["a", "b", "c"]),
            ),
            (
                FILE_WITH_SERVER,
                policy().with(TAGS, Text("   ".into())),
                |c| assert_eq!(c.tags, ["from-file"], "blank value leaves the file's tags"),
            ),
            (
                FILE_WITH_SERVER,
                policy()
                    .with(INVENTORY_INTERVAL, Number(120))
                    .with(SPLAY, Text("30m".into())),
                |c| {
                    assert_eq!(c.schedule.interval, Duration::from_secs(7200));
                    assert_eq!(c.schedule.splay, Duration::from_secs(1800));
                },
            ),
            (
                "",
                policy()
                    .with(
                        SWEEP_SCOPES,
                        List(vec!["10.1.0.0/16".into(), "10.2.3.4".into()]),
                    )
                    .with(SWEEP_TARGETS, Text("10.1.2.0/24".into()))
                    .with(SWEEP_INTERVAL, Number(30)),
                |c| {
                    let scopes: Vec<String> =
                        c.sweep.scopes.iter().map(|n| n.to_string()).collect();
                    assert_eq!(scopes, ["10.1.0.0/16", "10.2.3.4/32"]);
                    assert_eq!(c.sweep.targets, ["10.1.2.0/24"]);
                    assert_eq!(c.sweep.interval, Duration::from_secs(1800));
                },
            ),
            (FILE_WITH_SERVER, policy().with(SPLAY, Number(0)), |c| {
                assert_eq!(c.schedule.splay, Duration::ZERO, "0 disables the delay")
            }),
            (FILE_WITH_SERVER, policy(), |c| {
                assert_eq!(c, &file(FILE_WITH_SERVER), "empty layer changes nothing")
            }),
        ];
        for (i, (text, layer, check)) in cases.into_iter().enumerate() {
            let merged = merge(file(text), &layer).unwrap_or_else(|e| panic!("case {i}: {e}"));
            assert!(merged.ignored.is_empty(), "case {i}: {:?}", merged.ignored);
            check(&merged.config);
        }
    }

    #[test]
    fn bad_values_are_all_named_and_nothing_is_applied() {
        let cases: Vec<(&str, Layer, &[&str])> = vec![
            (
                "",
                policy().with(SERVER, Text("ftp://x".into())),
                &[
                    r"Policies\Parc\Agent\Server: ",
                    "scheme must be http or https",
                ],
            ),
            (
                "",
                policy().with(TOKEN, Text("t".into())),
                &[r"\Token: a token is set but no server"],
            ),
            (
                "",
                policy().with(SERVER, Text("https://x".into())),
                &[r"\Server: a server is set but no token"],
            ),
            (
                FILE_WITH_SERVER,
                policy().with(INVENTORY_INTERVAL, Number(0)),
                &[r"\InventoryInterval: must be at least 1 minute"],
            ),
            (
                FILE_WITH_SERVER,
                policy().with(INVENTORY_INTERVAL, Text("30s".into())),
                &[r"\InventoryInterval: must be at least 1 minute"],
            ),
            (
                FILE_WITH_SERVER,
                policy().with(SPLAY, Text("soon".into())),
                &[r"\Splay: ", "\"soon\" is not a duration"],
            ),
            (
                FILE_WITH_SERVER,
                policy().with(SERVER, Number(1)),
                &[r"\Server: expected a text value (REG_SZ)"],
            ),
            (
                FILE_WITH_SERVER,
                policy().with(TAGS, Number(1)),
                &[r"\Tags: expected a list"],
            ),
            (
                "",
                policy().with(SWEEP_SCOPES, List(vec!["10.0.0.1/8".into()])),
                &[r"\SweepScopes: ", "did you mean 10.0.0.0/8"],
            ),
            (
                "",
                policy().with(SWEEP_TARGETS, List(vec!["10.0.0.0/24".into()])),
                &[r"\SweepTargets: sweep targets are set but no scope"],
            ),
        ];
        for (i, (text, layer, wanted)) in cases.into_iter().enumerate() {
            let err = merge(file(text), &layer).expect_err(&format!("case {i} should fail"));
            let all = problems(err).join("\n");
            for w in wanted {
                assert!(all.contains(w), "case {i}: {w:?} not in {all:?}");
            }
        }

        // Two bad values: both reported, in one error.
        let err = merge(
            file(FILE_WITH_SERVER),
            &policy()
                .with(SERVER, Text("nope".into()))
                .with(SPLAY, Text("1 hour".into())),
        )
        .unwrap_err();
        assert_eq!(problems(err).len(), 2);
    }

    #[test]
    fn unknown_names_are_reported_not_fatal() {
        let merged = merge(
            file(FILE_WITH_SERVER),
            &policy()
                .with("Servr", Text("https://typo.example".into()))
                .with(TOKEN, Text("t2".into())),
        )
        .unwrap();
        assert_eq!(merged.ignored, [r"HKLM\SOFTWARE\Policies\Parc\Agent\servr"]);
        assert_eq!(merged.config.server.unwrap().token, "t2");
    }

    #[test]
    fn policy_beats_install_values() {
        let install = Layer::new(r"HKLM\SOFTWARE\Parc")
            .with(SERVER, Text("https://msi.example".into()))
            .with(TOKEN, Text("msi-token".into()))
            .with(TAGS, Text("site-a".into()));
        let gpo = policy().with(SERVER, Text("https://gpo.example".into()));
        let merged = merge_all(file(""), &[install, gpo]).unwrap();
        let server = merged.config.server.unwrap();
        assert_eq!(server.url.as_str(), "https://gpo.example/");
        assert_eq!(server.token, "msi-token");
        assert_eq!(merged.config.tags, ["site-a"]);
    }

    /// Values of `attr="..."` in an XML text, in order (enough for our own templates).
    fn attr_values<'a>(xml: &'a str, attr: &str) -> Vec<&'a str> {
        let pat = format!(" {attr}=\"");
        xml.match_indices(&pat)
            .map(|(i, _)| {
                let rest = &xml[i + pat.len()..];
                &rest[..rest.find('"').unwrap()]
            })
            .collect()
    }

    #[test]
    fn the_admx_template_writes_what_the_agent_reads() {
        let admx = include_str!("../../../packaging/windows/policy/parc.admx");
        let keys = attr_values(admx, "key");
        assert!(!keys.is_empty());
        for key in keys {
            assert!(key.eq_ignore_ascii_case(POLICY_KEY), "policy key {key}");
        }
        let names = attr_values(admx, "valueName");
        for name in &names {
            assert!(
                KNOWN.contains(name),
                "ADMX value {name} is not read by the agent"
            );
        }
        for name in KNOWN {
            assert!(names.contains(name), "no ADMX policy sets {name}");
        }
    }

    #[test]
    fn the_msi_writes_what_the_agent_reads() {
        let wxs = include_str!("../../../packaging/windows/parc-agent.wxs");
        let written: Vec<&str> = wxs
            .lines()
            .filter(|l| l.contains("<RegistryValue "))
            .map(|l| {
                assert_eq!(attr_values(l, "Key"), [INSTALL_KEY], "{l}");
                attr_values(l, "Name")[0]
            })
            .collect();
        assert_eq!(written, [SERVER, TOKEN, TAGS]);
    }

    /// Found running the Windows exe: the MSI's token and the policy's server were checked
    /// layer by layer, so the install layer alone ("a token but no server") failed the start.
    #[test]
    fn regression_install_token_and_policy_server_make_one_collector() {
        let install = Layer::new(r"HKLM\SOFTWARE\Parc")
            .with(TOKEN, Text("msi-token".into()))
            .with(TAGS, Text("a,b".into()));
        let gpo = policy()
            .with(SERVER, Text("http://127.0.0.1:8080".into()))
            .with(TAGS, Text(" ".into()));
        let merged = merge_all(file(""), &[install, gpo]).unwrap();
        let server = merged.config.server.unwrap();
        assert_eq!(server.url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(server.token, "msi-token");
        assert_eq!(
            merged.config.tags,
            ["a", "b"],
            "a blank policy value falls through"
        );
    }

    #[test]
    fn an_error_names_the_key_it_came_from() {
        let install = Layer::new(r"HKLM\SOFTWARE\Parc").with(TOKEN, Text("t".into()));
        let err = merge_all(file(""), &[install, policy()]).unwrap_err();
        assert!(err.to_string().contains(r"HKLM\SOFTWARE\Parc"), "{err}");
    }
}
