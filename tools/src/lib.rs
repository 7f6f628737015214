//! The libraries behind the developer tools of Relay workflows: [`load`] (the load generator
//! of `relay-load`) and [`attack`] (the hostile peers of `relay-attack`). The binaries in
//! `src/bin` are the tools themselves; `relay-sim` and `relay-doctor` drive the SDK's
//! simulator (`relay_workflow::testing`).
//!
//! Install them once per machine with `cargo install --path tools` from a clone of this
//! repository. They are never vendored into apps.

#![deny(missing_docs)]

pub mod attack;
pub mod load;
