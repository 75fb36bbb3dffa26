//! Typed settings with environment overrides.
