//! v3 notifies: `TRANSACTION.SUCCESS` and `REFUND.*`, encrypted with the APIv3
//! key (`paylog_core::wxpay_v3::seal_notify`). They are signed when sent (each
//! attempt afresh, as WeChat does, so a late retry is not stale), see
//! [`super::wechatpay_headers`].

use chrono::Utc;
use paylog_core::Fen;
use paylog_core::wxpay_v3::api::TradeState as V3TradeState;
use paylog_core::wxpay_v3::notify::{RefundNotifyAmount, RefundNotifyResource};
use paylog_core::wxpay_v3::{NotifyEventType, seal_notify};
use rand::Rng;
use rand::distr::Alphanumeric;

use super::super::Sim;
use super::super::state::{DeliveryPlan, SimOrder, SimRefund};
use super::pay::{beijing, transaction};
use super::refund::v3_status;

/// A fresh 12-character resource nonce (never reused with the APIv3 key).
fn resource_nonce() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(12)
        .map(char::from)
        .collect()
}

fn seal(
    sim: &Sim,
    event: NotifyEventType,
    summary: &str,
    payload: &[u8],
    plan: &DeliveryPlan,
) -> Option<String> {
    let v3 = sim.config.v3.as_ref()?;
    let id = uuid::Uuid::new_v4().to_string();
    let body = seal_notify(
        &id,
        beijing(Utc::now()),
        event,
        summary,
        payload,
        &v3.apiv3_key,
        &resource_nonce(),
    );
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "the simulator could not seal a notify");
            return None;
        }
    };
    if plan.tampered_ciphertext {
        return Some(tamper(&body));
    }
    Some(body)
}

/// Flips one base64 character of the ciphertext (the tag no longer matches).
fn tamper(body: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.to_owned();
    };
    if let Some(c) = v.pointer_mut("/resource/ciphertext")
        && let Some(text) = c.as_str()
    {
        let mut chars: Vec<char> = text.chars().collect();
        if let Some(first) = chars.first_mut() {
            *first = if *first == 'A' { 'B' } else { 'A' };
        }
        *c = serde_json::Value::String(chars.into_iter().collect());
    }
    v.to_string()
}

/// The `TRANSACTION.SUCCESS` notify of a paid order.
pub(crate) fn pay_notify(sim: &Sim, o: &SimOrder, plan: &DeliveryPlan) -> Option<String> {
    let mut tx = transaction(sim, o);
    tx.trade_state = V3TradeState::Success;
    tx.trade_state_desc = "支付成功".into();
    if plan.wrong_amount
        && let Some(a) = tx.amount.as_mut()
    {
        a.total = Fen::new(o.total_fee + 1);
        a.payer_total = Some(a.total);
    }
    let payload = serde_json::to_vec(&tx).ok()?;
    seal(
        sim,
        NotifyEventType::TransactionSuccess,
        "支付成功",
        &payload,
        plan,
    )
}

/// The `REFUND.*` notify of a refund.
pub(crate) fn refund_notify(
    sim: &Sim,
    o: &SimOrder,
    r: &SimRefund,
    plan: &DeliveryPlan,
) -> Option<String> {
    let status = v3_status(&r.status);
    let event = match status {
        paylog_core::wxpay_v3::api::RefundStatus::Success => NotifyEventType::RefundSuccess,
        paylog_core::wxpay_v3::api::RefundStatus::Closed => NotifyEventType::RefundClosed,
        _ => NotifyEventType::RefundAbnormal,
    };
    let refund = if plan.wrong_amount {
        r.refund_fee + 1
    } else {
        r.refund_fee
    };
    let resource = RefundNotifyResource {
        mchid: sim.config.mch_id.clone(),
        out_trade_no: o.out_trade_no.clone(),
        transaction_id: o.transaction_id.clone().unwrap_or_default(),
        out_refund_no: r.out_refund_no.clone(),
        refund_id: r.refund_id.clone(),
        refund_status: status,
        success_time: (event == NotifyEventType::RefundSuccess).then(|| beijing(r.success_time)),
        user_received_account: "支付用户零钱".into(),
        amount: RefundNotifyAmount {
            total: Fen::new(o.total_fee),
            refund: Fen::new(refund),
            payer_total: Fen::new(o.total_fee),
            payer_refund: Fen::new(refund),
        },
    };
    let payload = serde_json::to_vec(&resource).ok()?;
    seal(sim, event, "退款状态变更", &payload, plan)
}
