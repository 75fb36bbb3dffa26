//! Payment notifies as WeChat (or an attacker) sends them: signed XML built with
//! core's wxpay functions, and the merchant the server verifies them with.
//!
//! They are handed to `paylog_api::services::payments::Payments::pay_notify`, the function the
//! HTTP notify handler calls, so the property test runs the real verify → find order →
//! `ConfirmPayment` path, minus the HTTP framing.
//!
//! v3 notifies (`Payments::pay_notify_v3`) are sealed and signed with core's
//! `wxpay_v3` functions and the simulator's demo keys.
//!
//! The body is built field by field exactly like the simulator's (`sim/deliver.rs`)
//! and signed with `sign_fields`. Forged bodies are signed with another key; tampered
//! ones are signed and then edited, so only the signature check can tell.

use chrono::{DateTime, SubsecRound, Utc};
use paylog_core::payment_refs::TransactionId;
use paylog_core::wxpay::{ApiKey, Fields, Merchant, SignType, sign_fields, time, to_xml};
use paylog_core::wxpay_v3::{NotifyEventType, seal_notify, sign_response};
use paylog_core::{OrderId, OutTradeNo};
use paylog_sim::notify::PayNotice;
use paylog_sim::{SimConfig, SimV3Config};
use paylog_wechat::{WechatConfig, WechatV3Config};
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

/// The v3 settings of the server under test: the simulator's demo merchant
/// keys under this merchant's appid and mchid.
pub fn wechat_v3_config() -> Result<WechatV3Config, String> {
    let sim = SimConfig::new(
        APPID,
        MCH_ID,
        SecretString::from(API_KEY),
        SecretString::from("model-test-app-secret"),
    );
    let merchant = paylog_sim::v3::demo_merchant(&sim).map_err(|e| e.to_string())?;
    Ok(WechatV3Config::new(
        merchant,
        "http://127.0.0.1:9/v1/wechat/pay/notify/v3",
    ))
}

/// A notify body and the truth about it, which only the test knows.
#[derive(Debug, Clone)]
pub struct Notify {
    /// v3: a JSON envelope whose `Wechatpay-*` headers are in `headers`.
    pub v3: bool,
    pub headers: Vec<(String, String)>,
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

/// Builds the notify of `kind` for `order_id`, paid `amount` fen by
/// `transaction_id`, in the v2 or the v3 form.
pub fn build(
    order_id: OrderId,
    transaction_id: TransactionId,
    amount: u64,
    kind: NotifyKind,
    v3: bool,
    at: DateTime<Utc>,
) -> Notify {
    let authentic = matches!(
        kind,
        NotifyKind::Genuine
            | NotifyKind::Overpaid
            | NotifyKind::Underpaid
            | NotifyKind::UnknownOrder
    );
    let genuine = authentic.then(|| Genuine {
        order_id,
        transaction_id: transaction_id.clone(),
        amount,
    });
    if v3 {
        let (headers, body) = build_v3(order_id, &transaction_id, amount, kind, at);
        return Notify {
            v3,
            headers,
            body,
            genuine,
            at,
        };
    }
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
    Notify {
        v3: false,
        headers: Vec::new(),
        body: to_xml(&f),
        genuine,
        at,
    }
}

/// The v3 form: a `TRANSACTION.SUCCESS` resource sealed with the APIv3 key, the
/// envelope signed with the simulator's WeChat Pay key (forged: with another
/// key; tampered: one ciphertext character changed after sealing, which only the
/// AES-GCM tag can tell). The `Wechatpay-Timestamp` is the machine's "now", as
/// the server's clock is: it dates the delivery, not the payment.
fn build_v3(
    order_id: OrderId,
    transaction_id: &TransactionId,
    amount: u64,
    kind: NotifyKind,
    at: DateTime<Utc>,
) -> (Vec<(String, String)>, String) {
    let Ok(sim) = SimV3Config::demo() else {
        unreachable!("the committed demo keys load");
    };
    let beijing =
        chrono::FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| unreachable!("a valid offset"));
    let resource = serde_json::json!({
        "appid": APPID,
        "mchid": MCH_ID,
        "out_trade_no": OutTradeNo::for_order(order_id).as_str(),
        "transaction_id": transaction_id.as_str(),
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "success_time": at.trunc_subsecs(0).with_timezone(&beijing).to_rfc3339(),
        "payer": { "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o" },
        "amount": { "total": amount, "payer_total": amount, "currency": "CNY" },
    });
    let nonce = format!(
        "{:012}",
        at.timestamp_micros().rem_euclid(1_000_000_000_000)
    );
    let sealed = seal_notify(
        &format!("EV-{}", at.timestamp_micros()),
        at.with_timezone(&beijing),
        NotifyEventType::TransactionSuccess,
        "支付成功",
        resource.to_string().as_bytes(),
        &sim.apiv3_key,
        &nonce,
    );
    let Ok(mut body) = sealed else {
        unreachable!("a small resource seals");
    };
    if kind == NotifyKind::TamperedAmount {
        let mut envelope: serde_json::Value =
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
        if let Some(c) = envelope.pointer_mut("/resource/ciphertext")
            && let Some(text) = c.as_str()
        {
            let flipped = if text.starts_with('A') { "B" } else { "A" };
            *c = serde_json::Value::String(format!(
                "{flipped}{}",
                text.get(1..).unwrap_or_default()
            ));
        }
        body = envelope.to_string();
    }
    let forged;
    let key = if kind == NotifyKind::ForgedSign {
        forged = SimV3Config::demo_merchant_key().unwrap_or_else(|_| sim.wechatpay_key.clone());
        &forged
    } else {
        &sim.wechatpay_key
    };
    let Ok(headers) = sign_response(
        key,
        sim.public_key_id.as_str(),
        Utc::now().timestamp(),
        &format!("model{}", at.timestamp_micros()),
        body.as_bytes(),
    ) else {
        unreachable!("a valid nonce signs");
    };
    let headers = headers
        .to_pairs()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    (headers, body)
}
