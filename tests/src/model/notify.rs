//! Payment notifies as WeChat (or an attacker) sends them: signed XML built with
//! core's wxpay functions, and the verify-then-confirm path a notify takes in.
//!
//! The body is built field by field exactly like the simulator's (`sim/deliver.rs`)
//! and signed with `sign_fields`. Forged bodies are signed with another key; tampered
//! ones are signed and then edited, so only the signature check can tell.

use chrono::{DateTime, SubsecRound, Utc};
use paylog_core::order::OrderCommand;
use paylog_core::payment_refs::TransactionId;
use paylog_core::wxpay::{
    ApiKey, Fields, Merchant, PayNotify, SignType, sign_fields, time, to_xml,
};
use paylog_core::{DomainError, Fen, OrderId, OutTradeNo};

use super::step::NotifyKind;

/// The merchant every case's notifies are addressed to.
pub fn merchant() -> Merchant {
    Merchant {
        appid: "wx8888888888888888".into(),
        mch_id: "1900000109".into(),
        key: ApiKey::new("paylogModelTestApiKey0123456789a"),
        sign_type: SignType::Md5,
    }
}

/// A notify body and the truth about it, which only the test knows.
#[derive(Debug, Clone)]
pub struct Notify {
    pub body: String,
    /// `Some` when the body is authentic (correctly signed by WeChat): what it says.
    pub genuine: Option<Genuine>,
    /// When it is received.
    pub at: DateTime<Utc>,
}

/// What an authentic notify says.
#[derive(Debug, Clone)]
pub struct Genuine {
    pub order_id: OrderId,
    pub transaction_id: TransactionId,
    pub amount: u64,
}

/// Builds the notify of `kind` for `order_id`, paid `amount` fen by `transaction_id`.
pub fn build(
    order_id: OrderId,
    transaction_id: TransactionId,
    amount: u64,
    kind: NotifyKind,
    at: DateTime<Utc>,
) -> Notify {
    let merchant = merchant();
    let mut f: Fields = [
        ("return_code", "SUCCESS".to_owned()),
        ("result_code", "SUCCESS".to_owned()),
        ("appid", merchant.appid.clone()),
        ("mch_id", merchant.mch_id.clone()),
        ("nonce_str", format!("n{}", at.timestamp_micros())),
        ("openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".to_owned()),
        ("is_subscribe", "N".to_owned()),
        ("trade_type", "JSAPI".to_owned()),
        ("bank_type", "OTHERS".to_owned()),
        ("total_fee", amount.to_string()),
        ("cash_fee", amount.to_string()),
        ("fee_type", "CNY".to_owned()),
        ("transaction_id", transaction_id.as_str().to_owned()),
        (
            "out_trade_no",
            OutTradeNo::for_order(order_id).as_str().to_owned(),
        ),
        ("time_end", time::format_compact(at.trunc_subsecs(0))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let key = match kind {
        NotifyKind::ForgedSign => ApiKey::new("not-the-merchant-key-0123456789ab"),
        _ => merchant.key.clone(),
    };
    // The field set is fixed and MD5 is supported: signing cannot fail.
    let signed = sign_fields(&mut f, &key, merchant.sign_type);
    debug_assert!(signed.is_ok());
    if kind == NotifyKind::TamperedAmount {
        // Someone in the middle edits the amount after WeChat signed it.
        let edited = if amount > 1 { amount - 1 } else { amount + 1 };
        f.insert("total_fee".into(), edited.to_string());
    }
    let authentic = matches!(
        kind,
        NotifyKind::Genuine
            | NotifyKind::Overpaid
            | NotifyKind::Underpaid
            | NotifyKind::UnknownOrder
    );
    Notify {
        body: to_xml(&f),
        genuine: authentic.then(|| Genuine {
            order_id,
            transaction_id,
            amount,
        }),
        at,
    }
}

/// Why a notify was not turned into a command.
#[derive(Debug)]
pub enum NotifyRefusal {
    WxPay(paylog_core::wxpay::WxPayError),
    Domain(DomainError),
}

/// The notify handler's decision path without HTTP: parse and verify the body (sign
/// first, then codes, then the merchant), map `out_trade_no` back to its order, and
/// turn it into `ConfirmPayment`. Anything unverifiable is refused before the engine.
pub fn to_confirm_payment(
    merchant: &Merchant,
    body: &str,
    at: DateTime<Utc>,
) -> Result<(OrderId, OrderCommand), NotifyRefusal> {
    let notify = PayNotify::parse(body, merchant).map_err(NotifyRefusal::WxPay)?;
    let out_trade_no = OutTradeNo::parse(&notify.out_trade_no).map_err(NotifyRefusal::Domain)?;
    let order_id = out_trade_no
        .order_id()
        .ok_or(NotifyRefusal::Domain(DomainError::NotFound {
            aggregate: "order",
        }))?;
    let transaction_id =
        TransactionId::parse(&notify.transaction_id).map_err(NotifyRefusal::Domain)?;
    Ok((
        order_id,
        OrderCommand::ConfirmPayment {
            transaction_id,
            amount: Fen::new(notify.total_fee),
            paid_at: notify.time_end,
            at,
        },
    ))
}
