//! [`Step`]: one generated command, in the vocabulary of a story.
//!
//! Entities are named by small indices (`u0`, `p1`, `o2`, `t0`, `r1`) rather than
//! uuids, so a shrunk case prints as e.g.
//! `[CreateProduct { product: p0, price: 100, stock: 1 }, PlaceOrder { order: o0, .. },
//! Notify { order: o0, txn: t0, kind: Overpaid }]`. Indices are few on purpose: steps
//! collide on the same product, order and transaction often, which is where bugs live.

use std::fmt;

use proptest::prelude::*;

macro_rules! index {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $count:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u8);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl Arbitrary for $name {
            type Parameters = ();
            type Strategy = BoxedStrategy<Self>;

            fn arbitrary_with((): ()) -> Self::Strategy {
                (0..$count).prop_map($name).boxed()
            }
        }
    };
}

index!(
    /// A user (registered or not).
    U, "u", 3u8
);
index!(
    /// A product (created or not).
    P, "p", 3u8
);
index!(
    /// An order (placed or not).
    O, "o", 3u8
);
index!(
    /// A WeChat payment transaction of an order (`t0` of `o1` is not `t0` of `o2`).
    Txn, "t", 2u8
);
index!(
    /// A refund number of an order.
    R, "r", 2u8
);

/// One cart line: `2×p0`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Line(pub u32, pub P);

impl fmt::Debug for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}×{:?}", self.0, self.1)
    }
}

/// What kind of payment notify WeChat (or an attacker) sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyKind {
    /// Correctly signed, for exactly the order's total.
    Genuine,
    /// Correctly signed, for one fen more than the total.
    Overpaid,
    /// Correctly signed, for one fen less than the total.
    Underpaid,
    /// Signed with a key that is not the merchant's.
    ForgedSign,
    /// Genuinely signed for the total, then the amount was edited in transit.
    TamperedAmount,
    /// Correctly signed, for an `out_trade_no` no order ever had.
    UnknownOrder,
}

/// How much a refund asks for, relative to what is still refundable when it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundAmount {
    /// A quarter of what is refundable (at least one fen).
    Quarter,
    /// Everything still refundable.
    Rest,
    /// One fen more than is refundable: must be refused.
    OneFenTooMuch,
}

/// What WeChat does with a refund right after it is requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Nothing yet: a later `ConfirmRefund`/`FailRefund` step may settle it.
    Later,
    /// Its notify confirms it at once.
    Confirmed,
    /// WeChat refuses it at once.
    Failed,
}

/// One generated command. Its `Debug` is what a failing case prints.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Password registration of `user` under the username `name<n>`.
    Register {
        user: U,
        name: u8,
    },
    CreateProduct {
        product: P,
        price: u64,
        stock: u64,
    },
    AdjustStock {
        product: P,
        delta: i64,
        reason: String,
    },
    PlaceOrder {
        order: O,
        user: U,
        cart: Vec<Line>,
    },
    /// unifiedorder (v2) or JSAPI prepay (v3) answered; the order records its
    /// prepay id and the API it was opened on.
    RequestPayment {
        order: O,
        v3: bool,
    },
    /// A payment notify arrives for `order`, paid by transaction `txn`, in the
    /// v2 (XML) or v3 (signed JSON, encrypted resource) form.
    Notify {
        order: O,
        txn: Txn,
        kind: NotifyKind,
        v3: bool,
    },
    Cancel {
        order: O,
        /// The canceller closed the order at WeChat first (the service does when it
        /// sees a prepay id; a `/pay` racing it can add one after it looked).
        closed_at_wechat: bool,
    },
    /// The closer runs: at the order's expiry when `late`, else at the current time.
    Close {
        order: O,
        late: bool,
    },
    /// A refund is requested, then settled by WeChat as `then` says.
    RequestRefund {
        order: O,
        refund: R,
        amount: RefundAmount,
        then: Settle,
    },
    /// WeChat confirms the refund (for another amount than requested if `wrong_amount`).
    ConfirmRefund {
        order: O,
        refund: R,
        wrong_amount: bool,
    },
    FailRefund {
        order: O,
        refund: R,
    },
    /// WeChat says `refund_status=CHANGE` for the refund.
    MarkAttention {
        order: O,
        refund: R,
    },
    /// An operator resolves a refund needing attention (`otherwise`: refunded by
    /// other means, else retried).
    Resolve {
        order: O,
        refund: R,
        otherwise: bool,
    },
    /// An admin refunds the anomalous payment `txn` of the order under `refund`.
    RefundAnomaly {
        order: O,
        txn: Txn,
        refund: R,
    },
    /// The merchant ships `order` (the `tracking`-th tracking number: another one
    /// changes the shipment).
    Ship {
        order: O,
        tracking: u8,
    },
    /// WeChat answers the upload of the order's current shipment revision (the one
    /// before it when `stale`): accepted, or refused with an errcode.
    UploadOutcome {
        order: O,
        accepted: bool,
        stale: bool,
    },
    /// WeChat says the shopper confirmed receipt.
    ConfirmReceipt {
        order: O,
    },
    /// WeChat says the order's money was settled.
    SettleShipping {
        order: O,
    },
    /// WeChat's message push about the order's settlement (or an impostor's).
    SettlementPush {
        order: O,
        kind: PushKind,
    },
    /// The `back`-th last acknowledged command is sent again with the same command id.
    Resend {
        back: u8,
    },
    /// Two commands sent at the same time (`tokio::join!`).
    Concurrently(Box<Step>, Box<Step>),
}

fn cart() -> impl Strategy<Value = Vec<Line>> {
    // Quantity 0 now and then: the cart must be refused as a whole.
    let quantity = prop_oneof![16 => 1u32..=2, 1 => Just(0u32), 3 => 3u32..=8];
    prop::collection::vec((quantity, any::<P>()).prop_map(|(q, p)| Line(q, p)), 1..=3)
}

/// What a settlement push is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushKind {
    /// WeChat settled the order (receipt confirmed, money settled).
    Settled,
    /// WeChat announces the settlement at shipment (an estimated time only).
    Announced,
    /// Signed with another token.
    BadSignature,
    /// Sealed for another mini-program.
    WrongAppid,
    /// The ciphertext altered, then signed again.
    Tampered,
}

fn push_kind() -> impl Strategy<Value = PushKind> {
    prop_oneof![
        6 => Just(PushKind::Settled),
        2 => Just(PushKind::Announced),
        1 => Just(PushKind::BadSignature),
        1 => Just(PushKind::WrongAppid),
        1 => Just(PushKind::Tampered),
    ]
}

fn notify_kind() -> impl Strategy<Value = NotifyKind> {
    prop_oneof![
        6 => Just(NotifyKind::Genuine),
        2 => Just(NotifyKind::Overpaid),
        2 => Just(NotifyKind::Underpaid),
        1 => Just(NotifyKind::ForgedSign),
        1 => Just(NotifyKind::TamperedAmount),
        1 => Just(NotifyKind::UnknownOrder),
    ]
}

fn settle() -> impl Strategy<Value = Settle> {
    prop_oneof![
        2 => Just(Settle::Later),
        3 => Just(Settle::Confirmed),
        1 => Just(Settle::Failed),
    ]
}

fn refund() -> impl Strategy<Value = Step> {
    (any::<O>(), any::<R>(), refund_amount(), settle()).prop_map(|(order, refund, amount, then)| {
        Step::RequestRefund {
            order,
            refund,
            amount,
            then,
        }
    })
}

fn refund_amount() -> impl Strategy<Value = RefundAmount> {
    prop_oneof![
        3 => Just(RefundAmount::Quarter),
        2 => Just(RefundAmount::Rest),
        1 => Just(RefundAmount::OneFenTooMuch),
    ]
}

fn place_order() -> impl Strategy<Value = Step> {
    (any::<O>(), any::<U>(), cart()).prop_map(|(order, user, cart)| Step::PlaceOrder {
        order,
        user,
        cart,
    })
}

fn notify() -> impl Strategy<Value = Step> {
    (any::<O>(), any::<Txn>(), notify_kind(), any::<bool>()).prop_map(|(order, txn, kind, v3)| {
        Step::Notify {
            order,
            txn,
            kind,
            v3,
        }
    })
}

/// A stock adjustment's reason as an operator (or an attacker) might type it: mostly
/// plain, sometimes blank, padded, markup, quotes and control characters, CJK, and
/// right at or just past the limit in characters (not bytes).
fn adjustment_reason() -> impl Strategy<Value = String> {
    let limit = paylog_core::product::MAX_ADJUSTMENT_REASON_CHARS;
    prop_oneof![
        6 => prop::sample::select(vec!["delivery", "stock-take", "broken in transit", "盘点"])
            .prop_map(str::to_owned),
        1 => prop::sample::select(vec!["", "   ", "\t\n"]).prop_map(str::to_owned),
        1 => Just("<script>alert('x')</script> & \"quoted\"".to_owned()),
        1 => "[ \t]{0,2}[a-z<>&'\"\u{0}-\u{1f}茶]{1,12}[ \n]{0,2}",
        1 => prop::sample::select(vec![limit, limit + 1]).prop_map(|n| "茶".repeat(n)),
        1 => Just(format!("  {}  ", "x".repeat(limit))),
    ]
}

/// Commands worth racing: each pair is one `tokio::join!`.
fn racy() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => place_order(),
        3 => notify(),
        1 => (any::<O>(), any::<bool>())
            .prop_map(|(order, closed_at_wechat)| Step::Cancel { order, closed_at_wechat }),
        1 => (any::<O>(), any::<bool>()).prop_map(|(order, late)| Step::Close { order, late }),
        1 => refund(),
        1 => (any::<P>(), -3i64..=3, adjustment_reason())
            .prop_map(|(product, delta, reason)| Step::AdjustStock { product, delta, reason }),
    ]
}

/// Any single step.
pub fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (any::<U>(), 0u8..3).prop_map(|(user, name)| Step::Register { user, name }),
        2 => (any::<P>(), prop_oneof![1 => Just(0u64), 9 => 1u64..=5_000], 0u64..=6)
            .prop_map(|(product, price, stock)| Step::CreateProduct { product, price, stock }),
        2 => (any::<P>(), -2i64..=5, adjustment_reason())
            .prop_map(|(product, delta, reason)| Step::AdjustStock { product, delta, reason }),
        6 => place_order(),
        3 => (any::<O>(), any::<bool>()).prop_map(|(order, v3)| Step::RequestPayment { order, v3 }),
        8 => notify(),
        1 => (any::<O>(), any::<bool>())
            .prop_map(|(order, closed_at_wechat)| Step::Cancel { order, closed_at_wechat }),
        1 => (any::<O>(), any::<bool>()).prop_map(|(order, late)| Step::Close { order, late }),
        7 => refund(),
        3 => (any::<O>(), any::<R>(), prop::bool::weighted(0.15))
            .prop_map(|(order, refund, wrong_amount)| Step::ConfirmRefund { order, refund, wrong_amount }),
        1 => (any::<O>(), any::<R>()).prop_map(|(order, refund)| Step::FailRefund { order, refund }),
        2 => (any::<O>(), any::<R>()).prop_map(|(order, refund)| Step::MarkAttention { order, refund }),
        2 => (any::<O>(), any::<R>(), any::<bool>())
            .prop_map(|(order, refund, otherwise)| Step::Resolve { order, refund, otherwise }),
        3 => (any::<O>(), any::<Txn>(), any::<R>())
            .prop_map(|(order, txn, refund)| Step::RefundAnomaly { order, txn, refund }),
        3 => (any::<O>(), 0u8..3).prop_map(|(order, tracking)| Step::Ship { order, tracking }),
        3 => (any::<O>(), prop::bool::weighted(0.7), prop::bool::weighted(0.1))
            .prop_map(|(order, accepted, stale)| Step::UploadOutcome { order, accepted, stale }),
        1 => any::<O>().prop_map(|order| Step::ConfirmReceipt { order }),
        1 => any::<O>().prop_map(|order| Step::SettleShipping { order }),
        2 => (any::<O>(), push_kind()).prop_map(|(order, kind)| Step::SettlementPush { order, kind }),
        2 => (0u8..4).prop_map(|back| Step::Resend { back }),
        // Shrinks to the first command alone when the race is not what fails.
        3 => (racy(), prop::option::weighted(0.9, racy())).prop_map(|(a, b)| match b {
            Some(b) => Step::Concurrently(Box::new(a), Box::new(b)),
            None => a,
        }),
    ]
}

/// The shop opens: one to three products with some stock, and maybe a customer.
fn opening() -> impl Strategy<Value = Vec<Step>> {
    let user = (any::<U>(), 0u8..3).prop_map(|(user, name)| Step::Register { user, name });
    (
        prop::collection::vec((1u64..=5_000, 1u64..=10), 1..=3),
        prop::collection::vec(user, 0..=2),
    )
        .prop_map(|(products, users)| {
            let mut opening: Vec<Step> = (0u8..)
                .zip(products)
                .map(|(p, (price, stock))| Step::CreateProduct {
                    product: P(p),
                    price,
                    stock,
                })
                .collect();
            opening.extend(users);
            opening
        })
}

/// After the sale: the shop opens, `o0` is placed by `u0`, paid and shipped (WeChat
/// accepted its shipping information), then the shop lives `len` more steps. Random
/// histories rarely ship an order; these make settlement pushes, receipts and
/// changed shipments meet one.
pub fn steps_after_shipping(
    len: std::ops::RangeInclusive<usize>,
) -> impl Strategy<Value = Vec<Step>> {
    // Pushes about `o0` at random points of its life (one may repeat another).
    let pushes = prop::collection::vec((any::<prop::sample::Index>(), push_kind()), 1..=4);
    (opening(), prop::collection::vec(step(), len), pushes).prop_map(
        |(mut history, mut life, pushes)| {
            let order = O(0);
            for (at, kind) in pushes {
                let at = at.index(life.len() + 1);
                life.insert(at, Step::SettlementPush { order, kind });
            }
            history.extend([
                Step::Register {
                    user: U(0),
                    name: 0,
                },
                Step::PlaceOrder {
                    order,
                    user: U(0),
                    cart: vec![Line(1, P(0))],
                },
                Step::RequestPayment { order, v3: false },
                Step::Notify {
                    order,
                    txn: Txn(0),
                    kind: NotifyKind::Genuine,
                    v3: false,
                },
                Step::Ship { order, tracking: 0 },
                Step::UploadOutcome {
                    order,
                    accepted: true,
                    stale: false,
                },
            ]);
            history.extend(life);
            history
        },
    )
}

/// A whole case: the shop opens, then lives `len` more steps.
pub fn steps(len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<Step>> {
    (opening(), prop::collection::vec(step(), len)).prop_map(|(mut history, life)| {
        history.extend(life);
        history
    })
}
