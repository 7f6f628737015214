//! The sample workflows, one module each.

/// The hello workflow, the same file every generated app starts from.
#[path = "../../template/src/workflows/hello.rs"]
pub mod hello;
