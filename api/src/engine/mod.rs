//! The command pipeline: load, decide, append, retry.
