//! paylog's pure domain: everything that decides, nothing that does I/O.
//!
//! This crate depends on no other paylog crate and performs no I/O: no files, no
//! network, no clock (the current time always arrives inside a command), no tokio,
//! no randomness (ids are uuid v7 generated at the edge). That keeps every decision
//! a pure function, trivially testable and replayable.
//!
//! Map of the crate:
//! - [`ids`], [`identity`], [`payment_refs`], [`money`]: validated value types —
//!   `UserId`/`ProductId`/`OrderId` (uuid newtypes), `OutTradeNo` (derived from the
//!   order id, maps back without a lookup), `Username`/`OpenId`/`PasswordHash`,
//!   WeChat's `PrepayId`/`TransactionId`/`RefundId`/`OutRefundNo`, and `Fen`;
//! - [`streams`]: stream names (`user-<uuid>`, `product-<uuid>`, `order-<uuid>`,
//!   and the uniqueness claims `username-<name>`, `openid-<openid>`);
//! - [`aggregate`]: the [`Aggregate`] trait (`decide`, `evolve`, `fold`) and the
//!   multi-stream [`Decision`];
//! - [`user`], [`claim`], [`product`], [`order`]: the aggregates, each a `Command`
//!   enum, an `Event` enum of past-tense event structs, a state, `decide`, `evolve`
//!   (the order's transition table heads [`order`]);
//! - [`checkout`], [`signup`]: decisions spanning aggregates (order + stock,
//!   user + claim), appended atomically by the pipeline;
//! - [`event`], [`codec`]: [`DomainEvent`] over all events, and the envelope codec
//!   (`event_type`, `schema_version`, JSON payload) with upcasts of old versions;
//! - [`error`]: [`DomainError`], every refusal;
//! - [`wxpay`]: the WeChat Pay v2 protocol (signing, XML, `wx.requestPayment`
//!   parameters, refund-notify decryption, the daily bill and its reconciliation),
//!   pure as well;
//! - [`wxpay_v3`]: the WeChat Pay API v3 protocol (RSA request signing, WeChat's
//!   signatures checked by serial, AES-GCM resources, RSA `paySign`), pure too.
//!
//! Invariants the domain guarantees (audited by `OrderState::check_invariants`):
//! - an order is paid at most once, by exactly its total (other amounts, payments
//!   for cancelled/closed orders and second transactions for paid orders are
//!   recorded as anomalies, never as payment, and each can be refunded once);
//! - per transaction, confirmed + pending refunds never exceed its amount (see
//!   `OrderState::refund_bound_violations` for the one stated exception), and the
//!   money the shop holds (`OrderState::money_held`) is never negative;
//! - stock never goes below zero (reserve, release and adjustments are checked);
//! - every event carries the values it implies (line totals, order total, stock
//!   after, refunded after), so replay copies rather than recomputes.

pub mod aggregate;
pub mod checkout;
pub mod claim;
pub mod codec;
pub mod compact_time;
pub mod error;
pub mod event;
pub mod identity;
pub mod ids;
pub mod money;
pub mod order;
pub mod payment_refs;
pub mod product;
pub mod signup;
pub mod streams;
pub mod user;
pub mod wxa;
pub mod wxpay;
pub mod wxpay_v3;

#[cfg(test)]
mod testkit;

pub use aggregate::{Aggregate, Decision};
pub use error::DomainError;
pub use event::DomainEvent;
pub use ids::{OrderId, OutTradeNo, ProductId, UserId};
pub use money::Fen;
