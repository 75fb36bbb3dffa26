//! paylog's read side: views folded from the event log, checkpointed, rebuildable, and
//! the replay tools auditors use.
//!
//! # Map of the crate
//! - [`Views`] (`views.rs`): the views database — open, checkpoint ([`Views::position`]),
//!   read-your-writes ([`Views::wait_for`]), generations;
//! - `query.rs`: the query API on [`Views`] (users, orders, catalog, ledger, daily
//!   sales, orders awaiting payment), returning the structs of [`model`];
//! - [`Projector`] (`projector.rs`): the tokio task following the log;
//! - `apply/`: the projections themselves — one `WriteBatch` per batch of events;
//! - [`rebuild()`], [`rebuild_staged`] (`rebuild.rs`): every view from position 0 into
//!   a fresh generation, then an atomic swap;
//! - [`diff()`] (`diff.rs`): two view sets compared key by key;
//! - [`audit`]: order history, state as of an instant, log verification, export format;
//! - [`layout`]: column families, keys and values on disk; [`ProjectionError`].
//!
//! # On-disk layout
//! The views live in their own RocksDB at `<data_dir>/views`, apart from the log
//! (`<data_dir>/log`): they can be deleted at any time and rebuilt from the log.
//!
//! A complete set of views is a **generation** `N`, one column family per view:
//!
//! | column family          | key                                                  | value              |
//! |------------------------|------------------------------------------------------|--------------------|
//! | `gN.checkpoint`        | `position`                                           | u64 BE: last position applied |
//! | `gN.users`             | user uuid (16 bytes)                                 | [`UserView`]       |
//! | `gN.users_by_openid`   | openid (UTF-8)                                       | user id            |
//! | `gN.users_by_username` | normalised username (UTF-8)                          | user id            |
//! | `gN.orders`            | order uuid                                           | [`OrderView`]      |
//! | `gN.orders_by_user`    | user uuid ++ !instant(placed_at) ++ !order uuid      | [`OrderSummary`]   |
//! | `gN.products`          | product uuid                                         | [`ProductView`]    |
//! | `gN.ledger`            | log position (u64 BE)                                | [`LedgerEntry`]    |
//! | `gN.daily_sales`       | `YYYY-MM-DD` (Asia/Shanghai)                         | [`DailySales`]     |
//! | `gN.awaiting_payment`  | instant(expires_at) ++ order uuid                    | [`AwaitingPayment`]|
//! | `gN.money_watch`       | order uuid (orders with anomalies or unsettled refunds) | [`OrderView`]      |
//!
//! `instant` is microseconds since the epoch with the sign bit flipped, big-endian, and
//! `!` inverts every byte, so a forward scan of a user's prefix gives the newest order
//! first and the awaiting list gives the soonest expiry first. Values are a format tag
//! byte (1) followed by postcard, instants inside as (seconds, nanoseconds). The `meta` column family holds `active` (the
//! generation queries read), `next` (the next generation id) and `gen/<N>` (the
//! projection versions that built generation N, see [`layout::PROJECTION_VERSIONS`]).
//!
//! # The checkpoint rule
//! One writer applies a batch of consecutive events (up to 1024 live, 4096 in a
//! rebuild) to every view of a generation and writes the generation's checkpoint **in
//! the same `WriteBatch`**. After a crash the views and the checkpoint are either both
//! there or both missing, so on restart the projector resumes at the checkpoint and no
//! event is ever applied twice or skipped. A batch that does not continue the
//! checkpoint exactly is refused ([`ProjectionError::OutOfSequence`]); events at or
//! below it are skipped. The views' WAL is not fsynced: a lost tail is re-applied from
//! the log, which is the durable truth.
//!
//! # Versions, rebuilds and the swap
//! Each projection has a version ([`layout::PROJECTION_VERSIONS`]); bump it when its
//! output changes. A generation records the versions that built it. When the server
//! starts with views built by other versions, the [`Projector`] rebuilds every view
//! from position 0 into a new generation while the old one keeps answering queries,
//! then swaps. [`rebuild()`] (and `paylog replay`) do the same on demand. The swap takes
//! the views' write lock (the live projector is then between batches), applies the log
//! up to its head to the new generation, flips `meta.active` and drops the old column
//! families; a query that started before the swap finishes on the old generation.
//! Generations left behind by an interrupted rebuild are dropped on the next open.
//!
//! # Read-your-writes
//! An append returns `last_position`. The views publish their checkpoint on a
//! `tokio::sync::watch` channel after each committed `WriteBatch`;
//! [`Views::wait_for`]`(last_position, timeout)` awaits that channel until the
//! checkpoint reaches the position (`true`) or the timeout passes (`false`: the API may
//! answer from the command's own result or say the view is not ready yet). Waiting
//! costs no thread and no polling.
//!
//! # Rebuild speed
//! A rebuild (and any catch-up) runs two stages at once across the cores: a reader
//! reads batch N+1 of 4096 events from the log and decodes it while the applier folds
//! batch N into the views, joined by a bounded channel. The applier works through a
//! typed in-memory overlay: each key is read from RocksDB and decoded at most once per
//! batch, later events of the batch get the value itself, and it is encoded once into
//! the batch's `WriteBatch`. View values hold instants as integers
//! ([`paylog_core::compact_time`]): formatting and parsing RFC 3339 text was most of
//! a rebuild's cost. The live projector decodes its (smaller) batches with
//! scoped threads when they are big enough to pay.

mod apply;
pub mod audit;
mod decode;
pub mod diff;
pub mod error;
pub mod layout;
pub mod model;
mod projector;
mod query;
pub mod rebuild;
mod views;

pub use diff::{Difference, diff};
pub use error::ProjectionError;
pub use model::{
    AwaitingPayment, DailySales, LedgerEntry, LedgerKind, OrderSummary, OrderView, Page, PageOf,
    ProductView, UserView,
};
pub use projector::{FOLLOW_BATCH, Projector, ProjectorHandle, ProjectorStatus};
pub use query::MAX_SALES_DAYS;
pub use rebuild::{
    REBUILD_BATCH, RebuildProgress, RebuildStats, StagedRebuild, rebuild, rebuild_staged,
};
pub use views::Views;
