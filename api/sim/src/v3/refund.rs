//! v3 refund and refund query on the orders (and refunds) the v2 endpoints share.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use paylog_core::Fen;
use paylog_core::wxpay_v3::api::{
    Refund, RefundAmount, RefundChannel, RefundRequest, RefundStatus,
};

use super::super::Sim;
use super::super::deliver::{self, Outgoing};
use super::super::state::{NotifyKind, SimOrder, SimRefund, TradeState};
use super::super::wire::random_digits;
use super::pay::beijing;
use super::{Signed, SignedJson, answer, error, param_error};

/// A refund's v2 status word as v3 says it.
pub(crate) fn v3_status(v2: &str) -> RefundStatus {
    match v2 {
        "SUCCESS" => RefundStatus::Success,
        "PROCESSING" => RefundStatus::Processing,
        "REFUNDCLOSE" => RefundStatus::Closed,
        _ => RefundStatus::Abnormal,
    }
}

pub(crate) fn refund_body(o: &SimOrder, r: &SimRefund) -> Refund {
    let status = v3_status(&r.status);
    Refund {
        refund_id: r.refund_id.clone(),
        out_refund_no: r.out_refund_no.clone(),
        transaction_id: o.transaction_id.clone().unwrap_or_default(),
        out_trade_no: o.out_trade_no.clone(),
        channel: RefundChannel::Original,
        user_received_account: "支付用户零钱".into(),
        success_time: (status == RefundStatus::Success).then(|| beijing(r.success_time)),
        create_time: beijing(r.success_time),
        status,
        funds_account: None,
        amount: RefundAmount {
            total: Fen::new(o.total_fee),
            refund: Fen::new(r.refund_fee),
            payer_total: Fen::new(o.total_fee),
            payer_refund: Fen::new(r.refund_fee),
            settlement_refund: None,
            settlement_total: None,
            discount_refund: None,
            currency: Some("CNY".into()),
        },
    }
}

pub(crate) async fn refund(
    State(sim): State<Arc<Sim>>,
    SignedJson(req): SignedJson<RefundRequest>,
) -> Response {
    if req.out_refund_no.is_empty() || req.out_refund_no.len() > 64 {
        return param_error(&sim, "out_refund_no must be 1 to 64 characters");
    }
    if req.amount.refund.get() == 0 || req.amount.currency != "CNY" {
        return param_error(&sim, "amount.refund must be at least 1 fen, in CNY");
    }
    if req.transaction_id.is_none() == req.out_trade_no.is_none() {
        return param_error(
            &sim,
            "exactly one of transaction_id and out_trade_no is required",
        );
    }
    let mut st = sim.state();
    let no = st
        .orders
        .values()
        .find(|o| match (&req.transaction_id, &req.out_trade_no) {
            (Some(tx), _) => o.transaction_id.as_deref() == Some(tx.as_str()),
            (None, Some(no)) => &o.out_trade_no == no,
            (None, None) => false,
        })
        .map(|o| o.out_trade_no.clone());
    let plan = std::mem::take(&mut st.next_refund_plan);
    let outcome = std::mem::take(&mut st.next_refund_outcome);
    let Some(order) = no.and_then(|no| st.orders.get_mut(&no)) else {
        drop(st);
        return error(
            &sim,
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "订单不存在",
        );
    };
    if !matches!(order.state, TradeState::Success | TradeState::Refund) {
        drop(st);
        return error(&sim, StatusCode::FORBIDDEN, "INVALID_REQUEST", "订单未支付");
    }
    if req.amount.total.get() != order.total_fee {
        drop(st);
        return param_error(&sim, "订单金额或退款金额与之前请求不一致");
    }
    if let Some(prev) = order
        .refunds
        .iter()
        .find(|r| r.out_refund_no == req.out_refund_no)
    {
        // A repeat with the same out_refund_no refunds once.
        let same = prev.refund_fee == req.amount.refund.get();
        let body = refund_body(order, prev);
        drop(st);
        return if same {
            answer(
                &sim,
                StatusCode::OK,
                Some(&serde_json::to_value(body).unwrap_or_default()),
            )
        } else {
            param_error(&sim, "订单金额或退款金额与之前请求不一致")
        };
    }
    // v3 refunds here return the order's first payment (`None`); further payments of
    // one order (`/sim/pay-again`) are refunded through v2.
    if order.refunded(None).saturating_add(req.amount.refund.get()) > order.total_fee {
        drop(st);
        return error(
            &sim,
            StatusCode::FORBIDDEN,
            "NOT_ENOUGH",
            "订单可退金额不足",
        );
    }
    let final_status = outcome.status.unwrap_or_else(|| "SUCCESS".to_owned());
    let refund = SimRefund {
        out_refund_no: req.out_refund_no.clone(),
        refund_id: format!("5030{}", random_digits(25)),
        refund_fee: req.amount.refund.get(),
        success_time: Utc::now(),
        notify_url: req.notify_url.clone(),
        status: if outcome.processing {
            "PROCESSING".to_owned()
        } else {
            final_status.clone()
        },
        final_status,
        transaction_id: None,
    };
    order.state = TradeState::Refund;
    order.refunds.push(refund.clone());
    let out = refund_body(order, &refund);
    let notify = refund
        .notify_url
        .clone()
        .filter(|_| !outcome.processing)
        .and_then(|url| {
            super::notify::refund_notify(&sim, order, &refund, &plan).map(|b| (url, b))
        });
    let out_trade_no = order.out_trade_no.clone();
    if let Some((url, body)) = notify {
        let id = deliver::register(&mut st, NotifyKind::Refund, &out_trade_no, &url, &plan);
        drop(st);
        deliver::spawn_outgoing(sim.clone(), id, url, Outgoing::V3 { body }, plan);
    } else {
        drop(st);
    }
    if outcome.lose_answer {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    answer(
        &sim,
        StatusCode::OK,
        Some(&serde_json::to_value(out).unwrap_or_default()),
    )
}

pub(crate) async fn refund_query(
    State(sim): State<Arc<Sim>>,
    Path(out_refund_no): Path<String>,
    _: Signed,
) -> Response {
    let found = {
        let mut st = sim.state();
        st.orders.values_mut().find_map(|o| {
            let n = o
                .refunds
                .iter()
                .position(|r| r.out_refund_no == out_refund_no)?;
            let body = refund_body(o, &o.refunds[n]);
            // A refund seen PROCESSING once ends at the next query.
            let r = &mut o.refunds[n];
            r.status = r.final_status.clone();
            Some(body)
        })
    };
    match found {
        Some(body) => answer(
            &sim,
            StatusCode::OK,
            Some(&serde_json::to_value(body).unwrap_or_default()),
        ),
        None => error(
            &sim,
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "退款单不存在",
        ),
    }
}
