//! Table walks as pure state machines: the client feeds them each reply's variables, they say
//! what to ask next, and they refuse OIDs that do not increase (an agent looping would otherwise
//! keep a walk going forever).
//!
//! - [`Walk`]: one column (subtree).
//! - [`Columns`]: several columns of a table walked together, one varbind per unfinished column
//!   in each GETBULK, as a row-wise walk: an agent answers a row of n columns in one request
//!   instead of n, and its per-request work (lookups, table caches) is paid once per row batch.

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
            if matches!(value, Value::EndOfMibView) {
                return Some(WalkEnd::Complete);
            }
            // Order first: an answer at or before the cursor is a broken agent (or, in a
            // multi-column request, an agent that did not answer every column), even when it
            // is also outside the subtree.
            if oid <= self.last {
                return Some(WalkEnd::Loop {
                    previous: self.last.clone(),
                    next: oid,
                });
            }
            if !oid.starts_with(self.root.arcs()) {
                return Some(WalkEnd::Complete);
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

/// Several columns walked together. Each request carries the cursor of every unfinished column
/// (GETBULK, non-repeaters 0), so a reply is rows of those columns in request order: varbind
/// `k` belongs to the `k mod n`-th column asked. Each column ends on its own (leaves its
/// subtree, end of MIB view, row limit, loop); the others go on.
///
/// Agents that do not interleave columns properly are detected, not trusted: an empty reply,
/// or an answer that does not follow its column's cursor, switches the walk to one column per
/// request from where each column stood, and only then is a non-increasing OID a loop.
#[derive(Debug)]
pub struct Columns {
    walks: Vec<Walk>,
    ends: Vec<Option<WalkEnd>>,
    /// Varbinds asked per reply (all columns together).
    budget: u32,
    /// Repetitions cap; halved on each tooBig.
    max_repetitions: u32,
    /// One column per request (v1, or an agent that mishandled several).
    narrow: bool,
    /// When column 0 ends empty the table is absent, and the other columns end with it.
    first_decides: bool,
    /// Columns asked by the request in flight, in request order.
    asked: Vec<usize>,
    /// Requests made so far.
    requests: u32,
}

/// Repetitions of a walk's first request. Most tables a device is asked for are absent or
/// short (a printer's on a switch, LLDP on a PC): past its end a GETBULK makes the agent
/// compute rows of whatever follows in its MIB, only to be dropped. A short first request
/// costs a large table one more round trip and saves the agent most of that work on the others
/// (snmpsim, at ~1,000 varbinds/s, spent 0.2 s on two absent 5-column tables at full size).
const FIRST_REPETITIONS: u32 = 4;

impl Columns {
    /// `budget` is the number of varbinds a reply is sized for; repetitions are
    /// `budget / columns asked`, between 1 and `max_repetitions`.
    pub fn new(
        roots: Vec<Oid>,
        max_rows: usize,
        max_repetitions: u32,
        budget: u32,
        first_decides: bool,
    ) -> Self {
        Columns {
            ends: vec![None; roots.len()],
            walks: roots.into_iter().map(|r| Walk::new(r, max_rows)).collect(),
            budget: budget.max(1),
            max_repetitions: max_repetitions.max(1),
            narrow: false,
            first_decides,
            asked: Vec::new(),
            requests: 0,
        }
    }

    /// Asks one column per request from now on (v1 GETNEXT walks).
    pub fn one_at_a_time(mut self) -> Self {
        self.narrow = true;
        self
    }

    /// The next request: the cursors to ask and the max-repetitions, or `None` when every
    /// column has ended.
    pub fn next_request(&mut self) -> Option<(Vec<Oid>, u32)> {
        let open = (0..self.walks.len()).filter(|&i| self.ends[i].is_none());
        self.asked = if self.narrow {
            open.take(1).collect()
        } else {
            open.collect()
        };
        if self.asked.is_empty() {
            return None;
        }
        let n = self.asked.len() as u32;
        let mut repetitions = (self.budget / n).clamp(1, self.max_repetitions);
        if self.requests == 0 {
            repetitions = repetitions.min(FIRST_REPETITIONS);
        }
        self.requests += 1;
        let oids = self
            .asked
            .iter()
            .map(|&i| self.walks[i].cursor().clone())
            .collect();
        Some((oids, repetitions))
    }

    /// The agent answered tooBig: asks less next time. `false` when already at one column
    /// and one repetition (nothing smaller to ask).
    pub fn too_big(&mut self) -> bool {
        if self.max_repetitions > 1 {
            self.max_repetitions /= 2;
            self.budget = self.budget.div_ceil(2);
            true
        } else if !self.narrow && self.asked.len() > 1 {
            self.narrow = true;
            true
        } else {
            false
        }
    }

    /// v1's noSuchName: the column asked (narrow mode asks one) has no more rows.
    pub fn end_of_mib(&mut self) {
        for i in std::mem::take(&mut self.asked) {
            self.ends[i].get_or_insert(WalkEnd::Complete);
        }
    }

    /// Takes one reply's variables.
    pub fn absorb(&mut self, varbinds: Vec<VarBind>) {
        let asked = std::mem::take(&mut self.asked);
        let n = asked.len();
        if n == 0 {
            return;
        }
        if varbinds.is_empty() {
            if n > 1 {
                // Not even one row fitted, or the agent cannot answer several columns.
                self.narrow = true;
            } else {
                self.ends[asked[0]] = Some(WalkEnd::Complete);
            }
            return;
        }
        let mut batches: Vec<Vec<VarBind>> = vec![Vec::new(); n];
        for (k, vb) in varbinds.into_iter().enumerate() {
            batches[k % n].push(vb);
        }
        if n > 1 && !self.interleaved(&asked, &batches) {
            // The agent did not answer column by column (some answer only the first, or
            // repeat it): nothing of this reply can be attributed safely. Ask again, one
            // column at a time, from where each stood.
            self.narrow = true;
            return;
        }
        for (slot, batch) in batches.into_iter().enumerate() {
            let column = asked[slot];
            // A reply truncated to fit the agent's message size: the column is asked again.
            if batch.is_empty() {
                continue;
            }
            if let Some(end) = self.walks[column].absorb(batch) {
                self.ends[column] = Some(end);
            }
        }
        if self.first_decides
            && matches!(self.ends[0], Some(WalkEnd::Complete))
            && self.walks[0].rows() == 0
        {
            for end in &mut self.ends[1..] {
                end.get_or_insert(WalkEnd::Complete);
            }
        }
    }

    /// Whether each column's share of a reply follows its cursor in increasing order, as a
    /// correct interleaved GETBULK answer does (up to an end-of-MIB-view marker, which
    /// repeats the name asked).
    fn interleaved(&self, asked: &[usize], batches: &[Vec<VarBind>]) -> bool {
        asked.iter().zip(batches).all(|(&column, batch)| {
            let mut last = self.walks[column].cursor();
            for (oid, value) in batch {
                if matches!(value, Value::EndOfMibView) {
                    break;
                }
                if oid <= last {
                    return false;
                }
                last = oid;
            }
            true
        })
    }

    /// Ends every unfinished column with `end` (out of time, a failed request), keeping the
    /// rows read so far.
    pub fn stop(&mut self, end: impl Fn(usize) -> WalkEnd) {
        for (i, slot) in self.ends.iter_mut().enumerate() {
            if slot.is_none() {
                *slot = Some(end(self.walks[i].rows()));
            }
        }
    }

    /// Rows read so far in every column.
    pub fn rows(&self) -> usize {
        self.walks.iter().map(Walk::rows).sum()
    }

    /// Each column's rows and how its walk ended, in the order given to [`Columns::new`].
    pub fn finish(self) -> Vec<(Vec<VarBind>, WalkEnd)> {
        self.walks
            .into_iter()
            .zip(self.ends)
            .map(|(w, e)| (w.into_rows(), e.unwrap_or(WalkEnd::Complete)))
            .collect()
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

    /// A well-behaved agent over a sorted MIB: GETBULK with non-repeaters 0, its reply cut to
    /// `max_responses` varbinds (whole rows first, as net-snmp does; 0 = no cap) and then to
    /// `truncate_to` (a message-size cut at any point).
    struct Agent {
        mib: Vec<VarBind>,
        max_responses: usize,
        truncate_to: Option<usize>,
        /// Answers only the first OID asked, repeated for every slot (a broken agent).
        first_only: bool,
    }

    impl Agent {
        fn next(&self, after: &Oid) -> VarBind {
            self.mib
                .iter()
                .find(|(o, _)| o > after)
                .cloned()
                .unwrap_or_else(|| (after.clone(), Value::EndOfMibView))
        }

        fn bulk(&self, oids: &[Oid], repetitions: u32) -> Vec<VarBind> {
            let n = oids.len();
            let mut reps = repetitions as usize;
            if self.max_responses > 0 {
                reps = reps.min((self.max_responses / n).max(1));
            }
            let mut cursors = oids.to_vec();
            let mut out = Vec::new();
            for _ in 0..reps {
                for i in 0..n {
                    let asked = if self.first_only { 0 } else { i };
                    let vb = self.next(&cursors[asked]);
                    cursors[asked] = vb.0.clone();
                    out.push(vb);
                }
            }
            if let Some(t) = self.truncate_to {
                out.truncate(t);
            }
            out
        }
    }

    /// Drives a [`Columns`] walk against `agent` to its end; also returns the request count.
    fn drive(agent: &Agent, mut walk: Columns) -> (Vec<(Vec<VarBind>, WalkEnd)>, usize) {
        let mut requests = 0;
        while let Some((oids, reps)) = walk.next_request() {
            requests += 1;
            assert!(requests < 10_000, "the walk does not end");
            walk.absorb(agent.bulk(&oids, reps));
        }
        (walk.finish(), requests)
    }

    /// A table of `cols` columns under 1.3.6.1.2.1.2.2.1, column `c` holding the rows whose
    /// index is not a multiple of `c + 2` when `sparse`, followed by an unrelated object.
    fn table(cols: u32, rows: u32, sparse: bool) -> Vec<VarBind> {
        let mut mib = vec![(oid("1.3.6.1.2.1.1.1.0"), Value::Int(0))];
        for c in 1..=cols {
            for r in 1..=rows {
                if !sparse || r % (c + 1) != 0 {
                    mib.push((
                        oid("1.3.6.1.2.1.2.2.1").child(&[c, r]),
                        Value::Int(r.into()),
                    ));
                }
            }
        }
        mib.push((oid("1.3.6.1.2.1.4.1.0"), Value::Int(1)));
        mib
    }

    fn roots(cols: u32) -> Vec<Oid> {
        (1..=cols)
            .map(|c| oid("1.3.6.1.2.1.2.2.1").child(&[c]))
            .collect()
    }

    /// What walking each column alone yields.
    fn expected(mib: &[VarBind], root: &Oid) -> Vec<VarBind> {
        mib.iter()
            .filter(|(o, _)| o.starts_with(root.arcs()))
            .cloned()
            .collect()
    }

    #[test]
    fn columns_walk_rows_together() {
        struct Case {
            name: &'static str,
            agent: Agent,
            cols: u32,
            /// Requests the walk may take at most.
            max_requests: usize,
        }
        let agent = |mib, max_responses, truncate_to, first_only| Agent {
            mib,
            max_responses,
            truncate_to,
            first_only,
        };
        let cases = vec![
            Case {
                name: "9 columns of 1,000 rows in rows of 11",
                agent: agent(table(9, 1000, false), 100, None, false),
                cols: 9,
                // 4 rows, then 996 / 11 rows per reply, plus the last.
                max_requests: 93,
            },
            Case {
                name: "sparse columns end on their own",
                agent: agent(table(5, 300, true), 100, None, false),
                cols: 5,
                max_requests: 40,
            },
            Case {
                name: "uncapped agent",
                agent: agent(table(3, 200, false), 0, None, false),
                cols: 3,
                max_requests: 10,
            },
            Case {
                name: "replies cut short of a row: the missing columns are asked again",
                agent: agent(table(4, 50, false), 100, Some(3), false),
                cols: 4,
                max_requests: 220,
            },
            Case {
                name: "an agent that answers only the first column falls back to one at a time",
                agent: agent(table(3, 60, false), 100, None, true),
                cols: 3,
                max_requests: 30,
            },
            Case {
                name: "empty table",
                agent: agent(table(0, 0, false), 100, None, false),
                cols: 3,
                max_requests: 1,
            },
        ];
        for case in cases {
            let walk = Columns::new(roots(case.cols), 10_000, 25, 100, false);
            let (results, requests) = drive(&case.agent, walk);
            assert!(
                requests <= case.max_requests,
                "{}: {requests} requests",
                case.name
            );
            for (root, (rows, end)) in roots(case.cols).iter().zip(results) {
                assert_eq!(end, WalkEnd::Complete, "{}: {root}", case.name);
                assert_eq!(
                    rows,
                    expected(&case.agent.mib, root),
                    "{}: {root}",
                    case.name
                );
            }
        }
    }

    #[test]
    fn columns_request_sizing() {
        // The first request is short (most tables asked for are absent or small), the next
        // ones fill the reply budget.
        let second = |cols: u32, max_repetitions: u32| {
            let mut walk = Columns::new(roots(cols), 100, max_repetitions, 100, false);
            let (oids, reps) = walk.next_request().unwrap();
            assert_eq!(reps, FIRST_REPETITIONS.min(100 / cols).max(1));
            assert_eq!(oids.len(), cols as usize);
            walk.next_request().unwrap()
        };
        assert_eq!(second(9, 25).1, 11, "100 varbinds over 9 columns");
        assert_eq!(second(2, 25).1, 25, "capped by max-repetitions");
        assert_eq!(second(200, 25).1, 1, "at least one");
        // tooBig shrinks, then goes one column at a time, then gives up.
        let mut walk = Columns::new(roots(4), 100, 8, 100, false);
        walk.requests = 1;
        let mut sizes = Vec::new();
        while let Some((oids, reps)) = walk.next_request() {
            sizes.push((oids.len(), reps));
            if !walk.too_big() {
                break;
            }
        }
        assert_eq!(sizes, vec![(4, 8), (4, 4), (4, 2), (4, 1), (1, 1)]);
    }

    #[test]
    fn columns_end_on_their_own() {
        let mib = table(3, 30, false);
        let agent = Agent {
            mib: mib.clone(),
            max_responses: 100,
            truncate_to: None,
            first_only: false,
        };
        // Row limit per column.
        let (results, _) = drive(&agent, Columns::new(roots(3), 7, 25, 100, false));
        for (rows, end) in results {
            assert_eq!((rows.len(), end), (7, WalkEnd::Truncated { rows: 7 }));
        }
        // An absent first column ends the table when it decides, not otherwise.
        let agent = Agent {
            mib: mib
                .into_iter()
                .filter(|(o, _)| !o.starts_with(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 1]))
                .collect(),
            ..agent
        };
        let (results, requests) = drive(&agent, Columns::new(roots(3), 100, 5, 100, true));
        assert_eq!(requests, 1);
        assert!(results[0].0.is_empty());
        let (results, _) = drive(&agent, Columns::new(roots(3), 100, 5, 100, false));
        assert_eq!((results[1].0.len(), results[2].0.len()), (30, 30));
        // Stopping keeps what was read.
        let mut walk = Columns::new(roots(2), 100, 5, 100, false);
        let (oids, reps) = walk.next_request().unwrap();
        walk.absorb(agent.bulk(&oids, reps));
        walk.stop(|rows| WalkEnd::OutOfTime { rows });
        let results = walk.finish();
        assert_eq!(results[1].1, WalkEnd::OutOfTime { rows: 4 });
    }

    #[test]
    fn a_looping_agent_is_caught_in_columns_too() {
        // Answers every slot with the OID asked: not increasing, in any mode.
        let mut walk = Columns::new(roots(3), 100, 5, 100, false);
        let mut requests = 0;
        while let Some((oids, _)) = walk.next_request() {
            requests += 1;
            assert!(requests < 20);
            walk.absorb(oids.iter().map(|o| (o.clone(), Value::Int(1))).collect());
        }
        for (rows, end) in walk.finish() {
            assert!(rows.is_empty());
            assert!(matches!(end, WalkEnd::Loop { .. }), "{end:?}");
        }
    }

    proptest::proptest! {
        /// Whatever the table shape, reply caps and cuts, walking columns together reads
        /// exactly what walking each alone would.
        #[test]
        fn columns_read_what_single_walks_read(
            cols in 1u32..8,
            rows in 0u32..120,
            sparse in proptest::bool::ANY,
            max_responses in 0usize..130,
            truncate_to in proptest::option::of(1usize..40),
            budget in 1u32..200,
            max_repetitions in 1u32..40,
        ) {
            let agent = Agent { mib: table(cols, rows, sparse), max_responses, truncate_to, first_only: false };
            let (results, _) = drive(&agent, Columns::new(roots(cols), 10_000, max_repetitions, budget, false));
            for (root, (got, end)) in roots(cols).iter().zip(results) {
                proptest::prop_assert_eq!(end, WalkEnd::Complete);
                proptest::prop_assert_eq!(got, expected(&agent.mib, root));
            }
        }
    }
}
