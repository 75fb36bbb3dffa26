//! The simulator's memory: orders, refunds, login codes and notify deliveries.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use paylog_core::wxpay::{Fields, SignType};
use serde::{Deserialize, Serialize};

/// Where an order stands at the simulated WeChat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    NotPay,
    Success,
    Refund,
    Closed,
}

impl TradeState {
    pub fn as_wire(self) -> &'static str {
        match self {
            Self::NotPay => "NOTPAY",
            Self::Success => "SUCCESS",
            Self::Refund => "REFUND",
            Self::Closed => "CLOSED",
        }
    }
}

/// A further payment of an order, made after its first (`POST /sim/pay-again`): the
/// same order paid twice, or paid after it was closed — a new transaction each time.
#[derive(Debug, Clone, Serialize)]
pub struct SimPayment {
    pub transaction_id: String,
    pub total_fee: u64,
    pub time_end: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SimRefund {
    /// The further payment this refund returns; `None`: the order's first payment.
    pub transaction_id: Option<String>,
    pub out_refund_no: String,
    pub refund_id: String,
    pub refund_fee: u64,
    pub success_time: DateTime<Utc>,
    pub notify_url: Option<String>,
    /// `refund_status` as refundquery reports it now.
    pub status: String,
    /// Where a `PROCESSING` refund ends: refundquery answers `PROCESSING` once, then this.
    pub final_status: String,
}

impl SimRefund {
    /// Whether the money of this refund left (or is leaving) the merchant.
    pub fn holds_money(&self) -> bool {
        self.final_status != "REFUNDCLOSE"
    }
}

/// How the next refund ends (`POST /sim/refund-outcome`); the default is WeChat on a
/// good day: accepted, SUCCESS at once, notified.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RefundOutcome {
    /// `SUCCESS` (default), `CHANGE` or `REFUNDCLOSE`: the refund's final status.
    pub status: Option<String>,
    /// The refund passes through `PROCESSING`: no notify; the first refundquery says
    /// `PROCESSING`, later ones the final status.
    pub processing: bool,
    /// The refund is made but its answer is lost (HTTP 503 instead of the answer).
    pub lose_answer: bool,
}

/// Which API opened an order: its payment notify speaks that API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SimApi {
    #[default]
    V2,
    V3,
}

#[derive(Debug, Clone, Serialize)]
pub struct SimOrder {
    pub out_trade_no: String,
    pub prepay_id: String,
    pub openid: String,
    pub body: String,
    pub total_fee: u64,
    pub notify_url: String,
    pub time_expire: Option<DateTime<Utc>>,
    pub state: TradeState,
    pub transaction_id: Option<String>,
    pub time_end: Option<DateTime<Utc>>,
    pub refunds: Vec<SimRefund>,
    /// Payments after the first, each its own transaction.
    pub other_payments: Vec<SimPayment>,
    #[serde(skip)]
    pub sign_type: SignType,
    /// The unifiedorder fields minus nonce and sign: a repeat with the same
    /// parameters gets the same prepay_id, different ones `OUT_TRADE_NO_USED`.
    #[serde(skip)]
    pub params: Fields,
    /// The API of the prepay (unifiedorder or v3 JSAPI).
    pub api: SimApi,
}

impl SimOrder {
    /// The order's trade state at `now`: an unpaid order whose `time_expire` passed
    /// is `CLOSED`, as WeChat reports it (no payment is accepted any more).
    pub fn state_at(&self, now: DateTime<Utc>) -> TradeState {
        match self.state {
            TradeState::NotPay if self.time_expire.is_some_and(|t| t <= now) => TradeState::Closed,
            state => state,
        }
    }

    /// What was refunded of the transaction `of` names (`None`: the first payment).
    pub fn refunded(&self, of: Option<&str>) -> u64 {
        self.refunds
            .iter()
            .filter(|r| r.holds_money() && r.transaction_id.as_deref() == of)
            .map(|r| r.refund_fee)
            .sum()
    }

    /// A further payment by its transaction id.
    pub fn other_payment(&self, transaction_id: &str) -> Option<&SimPayment> {
        self.other_payments
            .iter()
            .find(|p| p.transaction_id == transaction_id)
    }

    /// The transaction a refund returns and its amount.
    pub fn refunded_payment(&self, r: &SimRefund) -> (String, u64) {
        match r
            .transaction_id
            .as_deref()
            .and_then(|tx| self.other_payment(tx))
        {
            Some(p) => (p.transaction_id.clone(), p.total_fee),
            None => (
                self.transaction_id.clone().unwrap_or_default(),
                self.total_fee,
            ),
        }
    }
}

/// How a notify is to be delivered; all defaults mean "like WeChat on a good day".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryPlan {
    /// Copies sent again after the first acknowledged delivery.
    pub duplicates: u32,
    /// The first N attempts are lost (never sent); the schedule goes on.
    pub drop_first: u32,
    /// Deliver a correctly signed notify whose amount is off by one fen.
    pub wrong_amount: bool,
    /// Deliver a notify signed (or, for refunds, encrypted) with a wrong key.
    pub bad_sign: bool,
    /// v3: `Wechatpay-Serial` names a key id the merchant does not know.
    pub wrong_key_id: bool,
    /// v3: `Wechatpay-Timestamp` ten minutes old.
    pub stale_timestamp: bool,
    /// v3: one character of the resource ciphertext altered (signed afterwards,
    /// so only the AES-GCM tag catches it).
    pub tampered_ciphertext: bool,
}

/// One try at delivering a notify.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// False when the plan dropped this attempt.
    pub sent: bool,
    /// A duplicate sent after the notify was already acknowledged.
    pub duplicate: bool,
    pub status: Option<u16>,
    pub reply: Option<String>,
    pub error: Option<String>,
    pub acknowledged: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyKind {
    Pay,
    Refund,
    /// A mini-program message push (`/sim/push/settlement`).
    Push,
}

#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    pub id: usize,
    pub kind: NotifyKind,
    pub out_trade_no: String,
    pub url: String,
    pub plan: DeliveryPlan,
    pub attempts: Vec<Attempt>,
    pub acknowledged: bool,
    /// True once acknowledged (and duplicates sent) or the schedule ran out.
    pub finished: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct SimState {
    pub orders: BTreeMap<String, SimOrder>,
    pub deliveries: Vec<Delivery>,
    pub refused_codes: HashSet<String>,
    pub used_codes: HashSet<String>,
    /// Faults for the next refund notify (`POST /sim/refund-faults`).
    pub next_refund_plan: DeliveryPlan,
    /// How the next refund ends (`POST /sim/refund-outcome`).
    pub next_refund_outcome: RefundOutcome,
    /// How v3 answers misbehave (`POST /sim/v3/answer-faults`).
    pub v3_answer_faults: crate::v3::AnswerFaults,
    /// v3 bill files by download token (bounded).
    #[serde(skip)]
    pub v3_bill_files: Vec<(String, Vec<u8>)>,
    /// Differences put into daily bills (`POST /sim/bill-fault`).
    pub bill_faults: Vec<crate::bill::BillFault>,
}

impl SimState {
    /// Records as `CLOSED` every unpaid order whose `time_expire` passed by `now`, so
    /// snapshots show what orderquery answers.
    pub fn expire(&mut self, now: DateTime<Utc>) {
        for order in self.orders.values_mut() {
            order.state = order.state_at(now);
        }
    }

    pub fn order_by_prepay_id(&self, prepay_id: &str) -> Option<&SimOrder> {
        self.orders.values().find(|o| o.prepay_id == prepay_id)
    }
}
