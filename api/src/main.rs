//! The `paylog` binary.
fn main() {}
