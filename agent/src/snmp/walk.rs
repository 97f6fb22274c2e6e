//! Table walks as a pure state machine: the client feeds it each reply's variables, it says
//! whether to go on, and it refuses OIDs that do not increase (an agent looping would otherwise
//! keep a walk going forever).

use super::codec::{Value, VarBind};
use super::oid::Oid;

/// Why a walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkEnd {
    /// Left the subtree or reached the end of the MIB view.
    Complete,
    /// Stopped at the row limit; the rows read so far are kept.
    Truncated { rows: usize },
    /// The agent answered with an OID not after the previous one.
    Loop { previous: Oid, next: Oid },
    /// Out of time for this walk; the rows read so far are kept.
    OutOfTime { rows: usize },
    /// A request failed; the rows read so far are kept.
    Failed(String),
}

impl WalkEnd {
    /// A message for the section error list; `None` for a complete walk.
    pub fn problem(&self, root: &Oid) -> Option<String> {
        match self {
            WalkEnd::Complete => None,
            WalkEnd::Truncated { rows } => {
                Some(format!("walk of {root} stopped at the limit of {rows} rows"))
            }
            WalkEnd::Loop { previous, next } => Some(format!(
                "walk of {root} stopped: agent returned {next} after {previous} (OIDs not increasing)"
            )),
            WalkEnd::OutOfTime { rows } => {
                Some(format!("walk of {root} ran out of time after {rows} rows"))
            }
            WalkEnd::Failed(e) => Some(format!("walk of {root} failed: {e}")),
        }
    }
}

/// A walk in progress.
#[derive(Debug)]
pub struct Walk {
    root: Oid,
    last: Oid,
    rows: Vec<VarBind>,
    max_rows: usize,
}

impl Walk {
    pub fn new(root: Oid, max_rows: usize) -> Self {
        Walk {
            last: root.clone(),
            root,
            rows: Vec::new(),
            max_rows: max_rows.max(1),
        }
    }

    pub fn root(&self) -> &Oid {
        &self.root
    }

    /// Where the next GETNEXT/GETBULK starts.
    pub fn cursor(&self) -> &Oid {
        &self.last
    }

    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// Takes one reply's variables; `Some` when the walk is over.
    pub fn absorb(&mut self, batch: Vec<VarBind>) -> Option<WalkEnd> {
        if batch.is_empty() {
            return Some(WalkEnd::Complete);
        }
        for (oid, value) in batch {
            if matches!(value, Value::EndOfMibView) || !oid.starts_with(self.root.arcs()) {
                return Some(WalkEnd::Complete);
            }
            if oid <= self.last {
                return Some(WalkEnd::Loop {
                    previous: self.last.clone(),
                    next: oid,
                });
            }
            if matches!(value, Value::NoSuchObject | Value::NoSuchInstance) {
                // Only GET answers carry these; an agent sending them to GETNEXT has nothing
                // more to give.
                return Some(WalkEnd::Complete);
            }
            self.last = oid.clone();
            self.rows.push((oid, value));
            if self.rows.len() >= self.max_rows {
                return Some(WalkEnd::Truncated {
                    rows: self.rows.len(),
                });
            }
        }
        None
    }

    pub fn into_rows(self) -> Vec<VarBind> {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(s: &str) -> Oid {
        s.parse().unwrap()
    }

    fn vb(s: &str) -> VarBind {
        (oid(s), Value::Int(1))
    }

    #[test]
    fn walk_table() {
        struct Case {
            name: &'static str,
            batches: Vec<Vec<VarBind>>,
            max_rows: usize,
            end: Option<WalkEnd>,
            rows: usize,
        }
        let root = "1.3.6.1.2.1.2.2.1.2";
        let cases = vec![
            Case {
                name: "leaves the subtree",
                batches: vec![
                    vec![vb("1.3.6.1.2.1.2.2.1.2.1"), vb("1.3.6.1.2.1.2.2.1.2.2")],
                    vec![vb("1.3.6.1.2.1.2.2.1.2.3"), vb("1.3.6.1.2.1.2.2.1.3.1")],
                ],
                max_rows: 100,
                end: Some(WalkEnd::Complete),
                rows: 3,
            },
            Case {
                name: "end of MIB view",
                batches: vec![vec![
                    vb("1.3.6.1.2.1.2.2.1.2.1"),
                    (oid("1.3.6.1.2.1.2.2.1.2.1"), Value::EndOfMibView),
                ]],
                max_rows: 100,
                end: Some(WalkEnd::Complete),
                rows: 1,
            },
            Case {
                name: "empty reply",
                batches: vec![vec![]],
                max_rows: 100,
                end: Some(WalkEnd::Complete),
                rows: 0,
            },
            Case {
                name: "same OID twice is a loop",
                batches: vec![
                    vec![vb("1.3.6.1.2.1.2.2.1.2.5")],
                    vec![vb("1.3.6.1.2.1.2.2.1.2.5")],
                ],
                max_rows: 100,
                end: Some(WalkEnd::Loop {
                    previous: oid("1.3.6.1.2.1.2.2.1.2.5"),
                    next: oid("1.3.6.1.2.1.2.2.1.2.5"),
                }),
                rows: 1,
            },
            Case {
                name: "going backwards is a loop",
                batches: vec![vec![
                    vb("1.3.6.1.2.1.2.2.1.2.5"),
                    vb("1.3.6.1.2.1.2.2.1.2.4"),
                ]],
                max_rows: 100,
                end: Some(WalkEnd::Loop {
                    previous: oid("1.3.6.1.2.1.2.2.1.2.5"),
                    next: oid("1.3.6.1.2.1.2.2.1.2.4"),
                }),
                rows: 1,
            },
            Case {
                name: "answering with the root itself is a loop",
                batches: vec![vec![vb(root)]],
                max_rows: 100,
                end: Some(WalkEnd::Loop {
                    previous: oid(root),
                    next: oid(root),
                }),
                rows: 0,
            },
            Case {
                name: "row limit",
                batches: vec![vec![
                    vb("1.3.6.1.2.1.2.2.1.2.1"),
                    vb("1.3.6.1.2.1.2.2.1.2.2"),
                    vb("1.3.6.1.2.1.2.2.1.2.3"),
                ]],
                max_rows: 2,
                end: Some(WalkEnd::Truncated { rows: 2 }),
                rows: 2,
            },
            Case {
                name: "still inside: go on",
                batches: vec![vec![vb("1.3.6.1.2.1.2.2.1.2.1")]],
                max_rows: 100,
                end: None,
                rows: 1,
            },
        ];
        for case in cases {
            let mut walk = Walk::new(oid(root), case.max_rows);
            let mut end = None;
            for batch in case.batches {
                end = walk.absorb(batch);
                if end.is_some() {
                    break;
                }
            }
            assert_eq!(end, case.end, "{}", case.name);
            assert_eq!(walk.rows(), case.rows, "{}", case.name);
        }
    }

    #[test]
    fn cursor_follows_the_last_row() {
        let mut walk = Walk::new(oid("1.3.6.1.2.1.1"), 10);
        assert_eq!(walk.cursor(), &oid("1.3.6.1.2.1.1"));
        walk.absorb(vec![vb("1.3.6.1.2.1.1.1.0")]);
        assert_eq!(walk.cursor(), &oid("1.3.6.1.2.1.1.1.0"));
    }
}
