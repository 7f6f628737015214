//! One module per workflow. Register each one's path in `src/lib.rs`.

pub mod hello;
