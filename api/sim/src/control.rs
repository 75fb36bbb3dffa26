//! The control API: `/sim/…` endpoints that play the user and the network.
//!
//! - `POST /sim/pay` `{"out_trade_no"|"prepay_id", "notify"?: bool, "duplicates"?,
//!   "drop_first"?, "wrong_amount"?, "bad_sign"?}`: the user paid. With
//!   `"notify": false` no notify is ever sent (orderquery still says SUCCESS).
//! - `POST /sim/pay-again` `{"out_trade_no", "notify"?, …plan}`: the order is paid once
//!   more, as a new transaction of the order's amount, whatever its state: a second
//!   payment of a paid order (duplicate), or a payment of a closed one (late). Its
//!   notify names the new transaction; a refund naming it returns that payment.
//! - `POST /sim/refund-faults` (a `DeliveryPlan`): faults for the next refund notify.
//! - `POST /sim/refund-outcome` (a `RefundOutcome`): `{"status"?: "CHANGE"|"REFUNDCLOSE",
//!   "processing"?: bool, "lose_answer"?: bool}` for the next refund.
//! - `POST /sim/refuse-code` `{"code"}`: `jscode2session` answers 40029 for it.
//! - `GET /sim/state`: orders and deliveries, with every attempt and reply.
//! - `POST /sim/bill-fault` (a `bill::BillFault`): `{"date": "YYYY-MM-DD", "kind":
//!   "drop_payment"|"extra_payment"|"payment_amount"|"payment_status"|"drop_refund"|
//!   "extra_refund"|"refund_status"|"malformed", …}`: a difference in that day's bill.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::state::{DeliveryPlan, NotifyKind, RefundOutcome, SimApi, SimPayment, TradeState};
use super::wire::random_digits;
use super::{Sim, deliver};

#[derive(Debug, Deserialize)]
pub(crate) struct PayCommand {
    out_trade_no: Option<String>,
    prepay_id: Option<String>,
    #[serde(default = "yes")]
    notify: bool,
    #[serde(flatten)]
    plan: DeliveryPlan,
}

fn yes() -> bool {
    true
}

fn problem(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

pub(crate) async fn pay(State(sim): State<Arc<Sim>>, Json(cmd): Json<PayCommand>) -> Response {
    let mut st = sim.state();
    let no = match (&cmd.out_trade_no, &cmd.prepay_id) {
        (Some(no), _) => Some(no.clone()),
        (None, Some(p)) => st.order_by_prepay_id(p).map(|o| o.out_trade_no.clone()),
        (None, None) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "out_trade_no or prepay_id is required",
            );
        }
    };
    let Some(order) = no.as_ref().and_then(|no| st.orders.get_mut(no)) else {
        return problem(StatusCode::NOT_FOUND, "no such order");
    };
    let now = sim.now();
    if order.state_at(now) != TradeState::NotPay {
        return problem(
            StatusCode::CONFLICT,
            &format!("order is {}", order.state_at(now).as_wire()),
        );
    }
    order.state = TradeState::Success;
    order.transaction_id = Some(format!("4200{}", random_digits(24)));
    order.time_end = Some(now);
    let (out_trade_no, transaction_id) = (order.out_trade_no.clone(), order.transaction_id.clone());
    let notify = cmd.notify.then(|| {
        let body = match order.api {
            SimApi::V2 => Some(deliver::Outgoing::V2 {
                body: sim.pay_notify_body(order, &cmd.plan),
            }),
            SimApi::V3 => crate::v3::pay_notify(&sim, order, &cmd.plan)
                .map(|body| deliver::Outgoing::V3 { body }),
        };
        (order.notify_url.clone(), body)
    });
    // A v3 notify that could not be sealed (no v3 keys) is not delivered.
    let notify = notify.and_then(|(url, body)| body.map(|b| (url, b)));
    if cmd.plan.wrong_amount {
        // WeChat took one fen more than the order: its transaction is of that amount
        // (orderquery says so, and a refund of it is of that amount).
        order.total_fee += 1;
    }
    let delivery_id = notify.map(|(url, body)| {
        let id = deliver::register(&mut st, NotifyKind::Pay, &out_trade_no, &url, &cmd.plan);
        (id, url, body)
    });
    drop(st);
    let id = delivery_id.map(|(id, url, body)| {
        deliver::spawn_outgoing(sim.clone(), id, url, body, cmd.plan);
        id
    });
    Json(json!({ "out_trade_no": out_trade_no, "transaction_id": transaction_id, "delivery_id": id }))
        .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct PayAgainCommand {
    out_trade_no: String,
    #[serde(default = "yes")]
    notify: bool,
    #[serde(flatten)]
    plan: DeliveryPlan,
}

pub(crate) async fn pay_again(
    State(sim): State<Arc<Sim>>,
    Json(cmd): Json<PayAgainCommand>,
) -> Response {
    let now = sim.now();
    let mut st = sim.state();
    let Some(order) = st.orders.get_mut(&cmd.out_trade_no) else {
        return problem(StatusCode::NOT_FOUND, "no such order");
    };
    // The amount unifiedorder asked for (a wrong-amount first payment changed the
    // order's own total_fee), one fen more with `wrong_amount`.
    let asked = order
        .params
        .get("total_fee")
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(order.total_fee);
    let payment = SimPayment {
        transaction_id: format!("4200{}", random_digits(24)),
        total_fee: asked + u64::from(cmd.plan.wrong_amount),
        time_end: now,
    };
    order.other_payments.push(payment.clone());
    let plan = DeliveryPlan {
        wrong_amount: false,
        ..cmd.plan.clone()
    };
    let notify = cmd.notify.then(|| {
        (
            order.notify_url.clone(),
            sim.payment_notify_body(order, &payment, &plan),
        )
    });
    let delivery = notify.map(|(url, body)| {
        let id = deliver::register(&mut st, NotifyKind::Pay, &cmd.out_trade_no, &url, &plan);
        (id, url, body)
    });
    drop(st);
    let id = delivery.map(|(id, url, body)| {
        deliver::spawn(sim.clone(), id, url, body, plan);
        id
    });
    Json(json!({
        "out_trade_no": cmd.out_trade_no,
        "transaction_id": payment.transaction_id,
        "total_fee": payment.total_fee,
        "delivery_id": id,
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct RefuseCode {
    code: String,
}

pub(crate) async fn refuse_code(
    State(sim): State<Arc<Sim>>,
    Json(cmd): Json<RefuseCode>,
) -> StatusCode {
    sim.state().refused_codes.insert(cmd.code);
    StatusCode::NO_CONTENT
}

pub(crate) async fn refund_faults(
    State(sim): State<Arc<Sim>>,
    Json(plan): Json<DeliveryPlan>,
) -> StatusCode {
    sim.state().next_refund_plan = plan;
    StatusCode::NO_CONTENT
}

pub(crate) async fn refund_outcome(
    State(sim): State<Arc<Sim>>,
    Json(outcome): Json<RefundOutcome>,
) -> Response {
    let known = ["SUCCESS", "CHANGE", "REFUNDCLOSE"];
    if outcome
        .status
        .as_deref()
        .is_some_and(|s| !known.contains(&s))
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "status must be SUCCESS, CHANGE or REFUNDCLOSE",
        );
    }
    sim.state().next_refund_outcome = outcome;
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn state(State(sim): State<Arc<Sim>>) -> Response {
    let mut state = sim.state();
    state.expire(sim.now());
    Json(&*state).into_response()
}
