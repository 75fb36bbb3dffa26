//! `secapi/pay/refund` and `pay/refundquery` at the simulated WeChat.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paylog_core::wxpay::{ErrCode, WxPayError, fields as f, time};

use super::Sim;
use super::deliver;
use super::pay::{accept, find_order, require_order_ref};
use super::state::{NotifyKind, SimRefund, TradeState};
use super::wire::{Request, fields, random_digits};

struct RefundAsk {
    out_refund_no: String,
    total_fee: u64,
    refund_fee: u64,
}

fn validate(req: &Request) -> Result<RefundAsk, WxPayError> {
    let out_refund_no = req.get("out_refund_no")?.to_owned();
    if out_refund_no.len() > 64 {
        return Err(WxPayError::InvalidField {
            field: "out_refund_no",
            value: out_refund_no,
        });
    }
    let refund_fee = f::fen(&req.fields, "refund_fee")?;
    if refund_fee == 0 {
        return Err(WxPayError::InvalidField {
            field: "refund_fee",
            value: "0".into(),
        });
    }
    Ok(RefundAsk {
        out_refund_no,
        total_fee: f::fen(&req.fields, "total_fee")?,
        refund_fee,
    })
}

pub(crate) async fn refund(State(sim): State<Arc<Sim>>, body: String) -> Response {
    let req = accept!(sim, body);
    let ask = match validate(&req) {
        Ok(a) => a,
        Err(e) => return sim.param_error(&req, &e),
    };
    let mut st = sim.state();
    let Some(no) = find_order(&st, &req).map(|o| o.out_trade_no.clone()) else {
        return sim.biz_fail(&req, ErrCode::OrderNotExist, "订单不存在");
    };
    let plan = std::mem::take(&mut st.next_refund_plan);
    let outcome = std::mem::take(&mut st.next_refund_outcome);
    let Some(order) = st.orders.get_mut(&no) else {
        return sim.biz_fail(&req, ErrCode::OrderNotExist, "订单不存在");
    };
    // A refund naming a further payment's transaction returns that payment (a
    // duplicate or late one), whatever the order's own state; anything else returns
    // the order's first payment.
    let other = req
        .get("transaction_id")
        .ok()
        .and_then(|tx| order.other_payment(tx))
        .cloned();
    let (target, target_total) = match &other {
        Some(p) => (Some(p.transaction_id.clone()), p.total_fee),
        None => (None, order.total_fee),
    };
    if other.is_none() && !matches!(order.state, TradeState::Success | TradeState::Refund) {
        return sim.biz_fail(&req, ErrCode::Error, "订单未支付");
    }
    if ask.total_fee != target_total {
        return sim.biz_fail(
            &req,
            ErrCode::ParamError,
            "订单金额或退款金额与之前请求不一致",
        );
    }
    let answer = |r: &SimRefund, o: &super::SimOrder| {
        let (transaction_id, total_fee) = o.refunded_payment(r);
        fields([
            ("transaction_id", transaction_id),
            ("out_trade_no", o.out_trade_no.clone()),
            ("out_refund_no", r.out_refund_no.clone()),
            ("refund_id", r.refund_id.clone()),
            ("refund_fee", r.refund_fee.to_string()),
            ("total_fee", total_fee.to_string()),
            ("cash_fee", total_fee.to_string()),
        ])
    };
    if let Some(prev) = order
        .refunds
        .iter()
        .find(|r| r.out_refund_no == ask.out_refund_no)
    {
        // A repeat with the same out_refund_no refunds once.
        if prev.refund_fee != ask.refund_fee {
            return sim.biz_fail(
                &req,
                ErrCode::ParamError,
                "订单金额或退款金额与之前请求不一致",
            );
        }
        return sim.ok(&req, answer(prev, order));
    }
    if order
        .refunded(target.as_deref())
        .saturating_add(ask.refund_fee)
        > target_total
    {
        return sim.biz_fail(&req, ErrCode::NotEnough, "订单可退金额不足");
    }
    let final_status = outcome.status.unwrap_or_else(|| "SUCCESS".to_owned());
    let refund = SimRefund {
        transaction_id: target.clone(),
        out_refund_no: ask.out_refund_no,
        refund_id: format!("5030{}", random_digits(25)),
        refund_fee: ask.refund_fee,
        success_time: sim.now(),
        notify_url: f::optional(&req.fields, "notify_url"),
        status: if outcome.processing {
            "PROCESSING".to_owned()
        } else {
            final_status.clone()
        },
        final_status,
    };
    if target.is_none() {
        order.state = TradeState::Refund;
    }
    order.refunds.push(refund.clone());
    let out = answer(&refund, order);
    // A refund still processing is notified of by nobody: refundquery settles it.
    let notify = refund
        .notify_url
        .clone()
        .filter(|_| !outcome.processing)
        .map(|url| (url, sim.refund_notify_body(order, &refund, &plan)));
    if let Some((url, body)) = notify {
        let id = deliver::register(&mut st, NotifyKind::Refund, &no, &url, &plan);
        drop(st);
        deliver::spawn(sim.clone(), id, url, body, plan);
    }
    if outcome.lose_answer {
        // The refund is made; its answer never reaches the caller.
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    sim.ok(&req, out)
}

pub(crate) async fn refund_query(State(sim): State<Arc<Sim>>, body: String) -> Response {
    let req = accept!(sim, body);
    // WeChat takes any one of refund_id, out_refund_no, transaction_id, out_trade_no
    // (in that priority); the first two name one refund.
    let refund_ref = req
        .get("refund_id")
        .map(|v| (true, v.to_owned()))
        .or_else(|_| req.get("out_refund_no").map(|v| (false, v.to_owned())))
        .ok();
    if refund_ref.is_none()
        && let Some(refused) = require_order_ref(&sim, &req)
    {
        return refused;
    }
    let mut st = sim.state();
    let no = match &refund_ref {
        Some((by_id, value)) => st
            .orders
            .values()
            .find(|o| {
                o.refunds.iter().any(|r| {
                    if *by_id {
                        &r.refund_id == value
                    } else {
                        &r.out_refund_no == value
                    }
                })
            })
            .map(|o| o.out_trade_no.clone()),
        None => find_order(&st, &req)
            .filter(|o| !o.refunds.is_empty())
            .map(|o| o.out_trade_no.clone()),
    };
    let Some(o) = no.and_then(|no| st.orders.get_mut(&no)) else {
        return sim.biz_fail(&req, ErrCode::RefundNotExist, "退款订单查询失败");
    };
    let named: Vec<usize> = o
        .refunds
        .iter()
        .enumerate()
        .filter(|(_, r)| match &refund_ref {
            Some((true, v)) => &r.refund_id == v,
            Some((false, v)) => &r.out_refund_no == v,
            None => true,
        })
        .map(|(n, _)| n)
        .collect();
    let listed: Vec<SimRefund> = named.iter().map(|&n| o.refunds[n].clone()).collect();
    // A refund seen PROCESSING once ends at the next query.
    for &n in &named {
        let r = &mut o.refunds[n];
        r.status = r.final_status.clone();
    }
    let o = &*o;
    let mut out = fields([
        ("out_trade_no", o.out_trade_no.clone()),
        (
            "transaction_id",
            o.transaction_id.clone().unwrap_or_default(),
        ),
        ("total_fee", o.total_fee.to_string()),
        ("cash_fee", o.total_fee.to_string()),
        ("refund_count", listed.len().to_string()),
    ]);
    for (n, r) in listed.iter().enumerate() {
        out.extend([
            (format!("out_refund_no_{n}"), r.out_refund_no.clone()),
            (format!("refund_id_{n}"), r.refund_id.clone()),
            (format!("refund_fee_{n}"), r.refund_fee.to_string()),
            (format!("refund_status_{n}"), r.status.clone()),
            (
                format!("refund_success_time_{n}"),
                time::format_spaced(r.success_time),
            ),
            (format!("refund_recv_accout_{n}"), "支付用户零钱".into()),
        ]);
    }
    sim.ok(&req, out)
}
