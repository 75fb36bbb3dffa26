//! The async WeChat Pay v2 and login client.
