//! The libraries behind the developer tools of Relay workflows: [`load`] (the load generator
//! of `relay-load`), [`attack`] (the hostile peers of `relay-attack`) and [`wait`] (how the
//! tools say what a slow step waits for). The binaries in
//! `src/bin` are the tools themselves; `relay-sim` and `relay-doctor` drive the SDK's
//! simulator (`relay_workflow::testing`).
//!
//! Install them once per machine with `cargo install --locked --path tools` from a clone of
//! this repository (or `cargo install --locked --git <url> relay-tools`). They are never vendored into apps.

#![deny(missing_docs)]

pub mod attack;
pub mod load;
pub mod wait;
