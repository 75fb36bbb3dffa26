//! paylog's pure domain: everything that decides, nothing that does I/O.
//!
//! This crate depends on no other paylog crate and performs no I/O: no files, no
//! network, no clock (the current time always arrives inside a command), no tokio.
//! That keeps every decision a pure function, trivially testable and replayable.
//!
//! Map of the crate:
//! - [`ids`], [`money`]: identifiers and integer-fen amounts;
//! - [`user`], [`product`], [`order`]: the aggregates, each a `Command` enum, an
//!   `Event` enum, a state, `decide` and `evolve`;
//! - [`wxpay`]: the WeChat Pay v2 protocol (signing, XML, `wx.requestPayment`
//!   parameters, refund-notify decryption), pure as well.
//!
//! (The domain helper fills in the rest of this map.)

pub mod wxpay;
