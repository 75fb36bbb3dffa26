//! Notify delivery: WeChat's retry schedule, scaled, until the merchant says SUCCESS.

use std::sync::Arc;

use chrono::Utc;
use paylog_core::wxpay::{ApiKey, Fields, parse_xml, sign_fields, time, to_xml};

use super::Sim;
use super::notify::{PayNotice, refund_notify_xml};
use super::state::{
    Attempt, Delivery, DeliveryPlan, NotifyKind, SimOrder, SimPayment, SimRefund, SimState,
};
use super::wire::{fields, nonce};

/// Seconds between attempts (15s, 15s, 30s, 3m, 10m, 20m, 30m ×3, 60m, 3h ×3, 6h ×2).
pub(crate) const SCHEDULE_SECS: [u64; 15] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];

/// WeChat retries a message push three times (notifies follow [`SCHEDULE_SECS`]).
pub(crate) const PUSH_RETRIES: usize = 3;

/// A key no merchant has, for `bad_sign` plans.
fn wrong_key() -> ApiKey {
    ApiKey::new("this-is-not-the-merchant-api-key")
}

impl Sim {
    /// The payment notify of a paid order, signed the way its unifiedorder was.
    pub(crate) fn pay_notify_body(&self, o: &SimOrder, plan: &DeliveryPlan) -> String {
        let fee = if plan.wrong_amount {
            o.total_fee + 1
        } else {
            o.total_fee
        };
        let payment = SimPayment {
            transaction_id: o.transaction_id.clone().unwrap_or_default(),
            total_fee: fee,
            time_end: o.time_end.unwrap_or_else(Utc::now),
        };
        self.payment_notify_body(o, &payment, plan)
    }

    /// The payment notify of one transaction of `o` (its first or a further one).
    pub(crate) fn payment_notify_body(
        &self,
        o: &SimOrder,
        payment: &SimPayment,
        plan: &DeliveryPlan,
    ) -> String {
        let notice = PayNotice {
            appid: self.config.appid.clone(),
            mch_id: self.config.mch_id.clone(),
            nonce_str: nonce(),
            openid: o.openid.clone(),
            out_trade_no: o.out_trade_no.clone(),
            transaction_id: payment.transaction_id.clone(),
            total_fee: payment.total_fee,
            time_end: time::format_compact(payment.time_end),
            attach: o.params.get("attach").cloned().unwrap_or_default(),
        };
        let mut f = notice.fields();
        if plan.bad_sign {
            let _ = sign_fields(&mut f, &wrong_key(), o.sign_type);
        } else {
            self.sign_with(&mut f, o.sign_type);
        }
        to_xml(&f)
    }

    /// The refund notify: unsigned outer fields and an encrypted `req_info`.
    pub(crate) fn refund_notify_body(
        &self,
        o: &SimOrder,
        r: &SimRefund,
        plan: &DeliveryPlan,
    ) -> String {
        let fee = if plan.wrong_amount {
            r.refund_fee + 1
        } else {
            r.refund_fee
        };
        let (transaction_id, total_fee) = o.refunded_payment(r);
        let inner = fields([
            ("transaction_id", transaction_id),
            ("out_trade_no", o.out_trade_no.clone()),
            ("refund_id", r.refund_id.clone()),
            ("out_refund_no", r.out_refund_no.clone()),
            ("total_fee", total_fee.to_string()),
            ("settlement_total_fee", total_fee.to_string()),
            ("refund_fee", fee.to_string()),
            ("settlement_refund_fee", fee.to_string()),
            ("refund_status", r.status.clone()),
            ("success_time", time::format_spaced(r.success_time)),
            ("refund_recv_accout", "支付用户零钱".into()),
            ("refund_account", "REFUND_SOURCE_RECHARGE_FUNDS".into()),
            ("refund_request_source", "API".into()),
        ]);
        let key = if plan.bad_sign {
            wrong_key()
        } else {
            self.response_key.clone()
        };
        refund_notify_xml(
            &self.config.appid,
            &self.config.mch_id,
            &nonce(),
            &inner,
            &key,
        )
    }
}

/// Records a new delivery and returns its id.
pub(crate) fn register(
    st: &mut SimState,
    kind: NotifyKind,
    out_trade_no: &str,
    url: &str,
    plan: &DeliveryPlan,
) -> usize {
    let id = st.deliveries.len();
    st.deliveries.push(Delivery {
        id,
        kind,
        out_trade_no: out_trade_no.into(),
        url: url.into(),
        plan: plan.clone(),
        attempts: Vec::new(),
        acknowledged: false,
        finished: false,
    });
    id
}

/// What a delivery sends: a v2 XML body, or a v3 JSON body signed afresh at
/// each attempt (a retry hours later must not carry a stale timestamp).
#[derive(Debug, Clone)]
pub(crate) enum Outgoing {
    V2 {
        body: String,
    },
    V3 {
        body: String,
    },
    /// A mini-program message push: the query string (signatures) is in the URL;
    /// acknowledged by `success` or an empty 200.
    Push {
        body: String,
        content_type: &'static str,
    },
}

/// Delivers `body` to `url` in the background until acknowledged or out of retries.
pub(crate) fn spawn(sim: Arc<Sim>, id: usize, url: String, body: String, plan: DeliveryPlan) {
    spawn_outgoing(sim, id, url, Outgoing::V2 { body }, plan);
}

/// [`spawn`] for either API.
pub(crate) fn spawn_outgoing(
    sim: Arc<Sim>,
    id: usize,
    url: String,
    body: Outgoing,
    plan: DeliveryPlan,
) {
    tokio::spawn(async move {
        let mut stop = sim.shutdown.clone();
        let mut acked = false;
        let retries = match body {
            Outgoing::Push { .. } => PUSH_RETRIES,
            _ => SCHEDULE_SECS.len(),
        };
        for attempt in 0..=retries {
            if attempt > 0 {
                let wait = sim.scaled(SCHEDULE_SECS[attempt - 1]);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
            if (attempt as u64) < u64::from(plan.drop_first) {
                record(&sim, id, lost());
                continue;
            }
            let a = send(&sim, &url, &body, &plan, false).await;
            acked = a.acknowledged;
            record(&sim, id, a);
            if acked {
                break;
            }
        }
        if acked {
            for _ in 0..plan.duplicates {
                let a = send(&sim, &url, &body, &plan, true).await;
                record(&sim, id, a);
            }
        }
        let mut st = sim.state();
        if let Some(d) = st.deliveries.get_mut(id) {
            d.acknowledged = acked;
            d.finished = true;
        }
    });
}

fn lost() -> Attempt {
    Attempt {
        at: Utc::now(),
        sent: false,
        duplicate: false,
        status: None,
        reply: None,
        error: Some("dropped by the simulator's plan".into()),
        acknowledged: false,
    }
}

fn record(sim: &Sim, id: usize, a: Attempt) {
    if let Some(d) = sim.state().deliveries.get_mut(id) {
        if a.acknowledged {
            d.acknowledged = true;
        }
        d.attempts.push(a);
    }
}

/// One POST; acknowledged only by HTTP 2xx with `return_code=SUCCESS` (v2),
/// by HTTP 200 or 204 (v3).
async fn send(
    sim: &Sim,
    url: &str,
    out: &Outgoing,
    plan: &DeliveryPlan,
    duplicate: bool,
) -> Attempt {
    let at = Utc::now();
    let request = match out {
        Outgoing::V2 { body } => sim
            .http
            .post(url)
            .header("content-type", "text/xml")
            .body(body.clone()),
        Outgoing::Push { body, content_type } => sim
            .http
            .post(url)
            .header("content-type", *content_type)
            .body(body.clone()),
        Outgoing::V3 { body } => {
            let mut r = sim
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.clone());
            let headers = crate::v3::wechatpay_headers(
                sim,
                body.as_bytes(),
                plan.bad_sign,
                plan.wrong_key_id,
                plan.stale_timestamp,
            );
            for (name, value) in headers {
                r = r.header(name, value);
            }
            r
        }
    };
    let sent = request.send().await;
    let (status, reply, error) = match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.text().await {
                Ok(text) => (Some(status), Some(text), None),
                Err(e) => (Some(status), None, Some(e.to_string())),
            }
        }
        Err(e) => (None, None, Some(e.to_string())),
    };
    let acknowledged = match out {
        Outgoing::V2 { .. } => {
            status.is_some_and(|s| (200..300).contains(&s))
                && reply
                    .as_deref()
                    .and_then(|r| parse_xml(r).ok())
                    .is_some_and(|f: Fields| {
                        f.get("return_code").map(String::as_str) == Some("SUCCESS")
                    })
        }
        Outgoing::V3 { .. } => matches!(status, Some(200 | 204)),
        Outgoing::Push { .. } => {
            status == Some(200) && matches!(reply.as_deref().map(str::trim), Some("success" | ""))
        }
    };
    Attempt {
        at,
        sent: true,
        duplicate,
        status,
        reply,
        error,
        acknowledged,
    }
}
