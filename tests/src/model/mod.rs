//! A model-based test kit: random command sequences run against the real engine on a
//! temp RocksDB, checked step by step against a plain reference model.
//!
//! Map of the module:
//! - [`step`]: [`Step`], the generated commands, written with small indices (`p0`,
//!   `o1`, `t0`) so that a shrunk failure reads like a story, and their strategies;
//! - [`command`]: [`Command`], a step made concrete (ids, amounts, instants);
//! - [`reference`]: [`Model`], a plain in-memory shop that predicts, for every
//!   concrete [`Command`], whether the engine must accept it and how many events it
//!   appends;
//! - [`notify`]: signed WeChat Pay notifies (genuine, forged, tampered) and the
//!   verify-then-confirm path a notify takes into the engine;
//! - [`push`]: WeChat's settlement pushes (safe mode: genuine, announced, forged,
//!   sealed for another appid, tampered) and the service that opens them;
//! - [`log`]: [`LogAudit`], an incremental scan of the log checking the invariants
//!   that only the log can show (gapless positions, contiguous versions, a command id
//!   appended once, one `PaymentConfirmed` per paid order, stock never negative);
//! - [`world`]: [`World`], the real engine, store and projections a case runs in, and
//!   the per-step checks that tie the three together.
//!
//! Why a model and not just invariants: an invariant says nothing about a command that
//! was wrongly *refused*, or accepted with the wrong number of events; the model does.
//! The invariants are still checked on their own, from the log and from the engine's
//! aggregates, so that a bug shared by the model and the engine is caught too.

pub mod command;
pub mod log;
pub mod notify;
pub mod push;
pub mod reference;
pub mod step;
pub mod world;

pub use command::Command;
pub use log::LogAudit;
pub use reference::{Expect, Model};
pub use step::Step;
pub use world::World;
