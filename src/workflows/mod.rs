//! The sample workflows, one module each.

/// The hello workflow, the same file every generated app starts from.
#[path = "../../template/src/workflows/hello.rs"]
pub mod hello;

pub mod panic_button;
pub mod reminder;
pub mod tally;
pub mod whereami;
