//! Payment notifies as WeChat (or an attacker) sends them: signed XML built with
//! core's wxpay functions, and the merchant the server verifies them with.
//!
//! They are handed to `paylog_api::services::payments::Payments::pay_notify`, the function the
//! HTTP notify handler calls, so the property test runs the real verify → find order →
//! `ConfirmPayment` path, minus the HTTP framing.
//!
//! The body is built field by field exactly like the simulator's (`sim/deliver.rs`)
//! and signed with `sign_fields`. Forged bodies are signed with another key; tampered
//! ones are signed and then edited, so only the signature check can tell.

use chrono::{DateTime, SubsecRound, Utc};
use paylog_core::payment_refs::TransactionId;
use paylog_core::wxpay::{ApiKey, Fields, Merchant, SignType, sign_fields, time, to_xml};
use paylog_core::{OrderId, OutTradeNo};
use paylog_sim::notify::PayNotice;
use paylog_wechat::WechatConfig;
use secrecy::SecretString;

use super::step::NotifyKind;

const APPID: &str = "wx8888888888888888";
const MCH_ID: &str = "1900000109";
const API_KEY: &str = "paylogModelTestApiKey0123456789a";

/// The merchant every case's notifies are addressed to.
pub fn merchant() -> Merchant {
    Merchant {
        appid: APPID.into(),
        mch_id: MCH_ID.into(),
        key: ApiKey::new(API_KEY),
        sign_type: SignType::Md5,
    }
}

/// The WeChat settings of the server under test: the same merchant. No call ever
/// leaves the process (notifies are handled locally), so the URLs are never used.
pub fn wechat_config() -> WechatConfig {
    WechatConfig::new(
        APPID,
        MCH_ID,
        SecretString::from(API_KEY),
        SecretString::from("model-test-app-secret"),
        "http://127.0.0.1:9/v1/wechat/pay/notify",
    )
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
    let notice = PayNotice {
        appid: merchant.appid.clone(),
        mch_id: merchant.mch_id.clone(),
        nonce_str: format!("n{}", at.timestamp_micros()),
        openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".to_owned(),
        out_trade_no: OutTradeNo::for_order(order_id).as_str().to_owned(),
        transaction_id: transaction_id.as_str().to_owned(),
        total_fee: amount,
        time_end: time::format_compact(at.trunc_subsecs(0)),
        attach: String::new(),
    };
    let mut f: Fields = notice.fields();
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
        genuine: authentic.then_some(Genuine {
            order_id,
            transaction_id,
            amount,
        }),
        at,
    }
}
