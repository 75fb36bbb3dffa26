//! Replay for audits, reusable by the CLI and the HTTP layer:
//! - [`history`]: an order's whole history with the state after each event, and its
//!   state as of any instant;
//! - [`verify`]: the log's own integrity (sequence, decoding, domain invariants);
//! - [`exchange`]: the JSON-lines form of the log that `paylog export`/`import` use.

pub mod exchange;
pub mod history;
pub mod verify;

pub use exchange::{ExportedEvent, REDACTED, Secrets, export_line, import_line};
pub use history::{HistoryEntry, OrderHistory, order_as_of, order_history};
pub use verify::{Breach, VerifyReport, verify_log};
