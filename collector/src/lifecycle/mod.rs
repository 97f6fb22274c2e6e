//! Asset lifecycle, manual fields and explainable merges: the pure rules. The store
//! (`store::lifecycle`, `store::operations`, `store::reports`) reads and writes; these modules
//! decide.
//!
//! - [`manual`]: lifecycle states and the `PATCH /api/v1/assets/{id}` body, checked into a
//!   [`manual::Patch`] (every problem named, 422).
//! - [`conflicts`]: where an automatic source disagrees with a locked manual value.
//! - [`explain`]: the keys that tied a document to its asset, and the keys each source
//!   reported (what a split needs).
//! - [`plan`]: what a split moves, which automatic candidates a never-merge pair excludes, and
//!   whether an operation can still be undone.

pub mod conflicts;
pub mod explain;
pub mod manual;
pub mod plan;
