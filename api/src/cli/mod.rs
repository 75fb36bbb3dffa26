//! The `paylog` subcommands; `main.rs` only parses and dispatches.
