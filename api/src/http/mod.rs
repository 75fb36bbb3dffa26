//! The mini-program REST API and the WeChat notify endpoints.
