//! A local WeChat simulator that speaks the real v2 protocol over HTTP.
