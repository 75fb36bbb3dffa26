//! `pay/unifiedorder`, `pay/orderquery`, `pay/closeorder` at the simulated WeChat.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use chrono::Utc;
use paylog_core::wxpay::{ErrCode, Fields, WxPayError, fields as f, time};

use super::Sim;
use super::state::{SimOrder, TradeState};
use super::wire::{Request, fields, random_digits};

macro_rules! accept {
    ($sim:expr, $body:expr) => {
        match $sim.accept(&$body) {
            Ok(req) => req,
            Err(answer) => return *answer,
        }
    };
}
pub(crate) use accept;

/// Checks a new order's fields; the error names the first bad one.
fn validate_order(req: &Request) -> Result<(u64, Option<chrono::DateTime<Utc>>), WxPayError> {
    for name in ["body", "spbill_create_ip", "openid"] {
        req.get(name)?;
    }
    let out_trade_no = req.get("out_trade_no")?;
    if out_trade_no.len() > 32
        || !out_trade_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b))
    {
        return Err(WxPayError::InvalidField {
            field: "out_trade_no",
            value: out_trade_no.into(),
        });
    }
    let url = req.get("notify_url")?;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(WxPayError::InvalidField {
            field: "notify_url",
            value: url.into(),
        });
    }
    let trade_type = req.get("trade_type")?;
    if trade_type != "JSAPI" {
        return Err(WxPayError::InvalidField {
            field: "trade_type",
            value: trade_type.into(),
        });
    }
    let total_fee = f::fen(&req.fields, "total_fee")?;
    if total_fee == 0 {
        return Err(WxPayError::InvalidField {
            field: "total_fee",
            value: "0".into(),
        });
    }
    let expire = f::optional(&req.fields, "time_expire")
        .map(|t| time::parse_compact(&t, "time_expire"))
        .transpose()?;
    Ok((total_fee, expire))
}

/// The parameters that identify a unifiedorder, for idempotency.
fn order_params(req: &Request) -> Fields {
    let mut p = req.fields.clone();
    for volatile in ["nonce_str", "sign", "sign_type"] {
        p.remove(volatile);
    }
    p
}

pub(crate) async fn unified_order(State(sim): State<Arc<Sim>>, body: String) -> Response {
    let req = accept!(sim, body);
    let (total_fee, time_expire) = match validate_order(&req) {
        Ok(v) => v,
        Err(e) => return sim.param_error(&req, &e),
    };
    let params = order_params(&req);
    let out_trade_no = params["out_trade_no"].clone();
    let now = sim.now();
    let mut st = sim.state();
    if let Some(existing) = st.orders.get(&out_trade_no) {
        return match existing.state_at(now) {
            TradeState::Success | TradeState::Refund => {
                sim.biz_fail(&req, ErrCode::OrderPaid, "该订单已支付")
            }
            TradeState::Closed => sim.biz_fail(&req, ErrCode::OrderClosed, "该订单已关闭"),
            TradeState::NotPay if existing.params == params => {
                // WeChat hands back the same prepay_id for an identical repeat.
                let prepay_id = existing.prepay_id.clone();
                sim.ok(
                    &req,
                    fields([("prepay_id", prepay_id), ("trade_type", "JSAPI".into())]),
                )
            }
            TradeState::NotPay => sim.biz_fail(&req, ErrCode::OutTradeNoUsed, "商户订单号重复"),
        };
    }
    let prepay_id = format!("wx{}{}", time::format_compact(now), random_digits(20));
    let order = SimOrder {
        out_trade_no: out_trade_no.clone(),
        prepay_id: prepay_id.clone(),
        openid: params["openid"].clone(),
        body: params["body"].clone(),
        total_fee,
        notify_url: params["notify_url"].clone(),
        time_expire,
        state: TradeState::NotPay,
        transaction_id: None,
        time_end: None,
        refunds: Vec::new(),
        other_payments: Vec::new(),
        sign_type: req.sign_type,
        params,
        api: super::state::SimApi::V2,
    };
    st.orders.insert(out_trade_no, order);
    sim.ok(
        &req,
        fields([("prepay_id", prepay_id), ("trade_type", "JSAPI".into())]),
    )
}

/// Finds the order a query names by `out_trade_no` or `transaction_id`.
/// PARAM_ERROR unless the request names an order by `out_trade_no` or `transaction_id`.
pub(crate) fn require_order_ref(sim: &Sim, req: &Request) -> Option<Response> {
    let named = req.get("out_trade_no").is_ok() || req.get("transaction_id").is_ok();
    (!named).then(|| {
        sim.biz_fail(
            req,
            ErrCode::ParamError,
            "out_trade_no or transaction_id is required",
        )
    })
}

pub(crate) fn find_order<'a>(st: &'a super::SimState, req: &Request) -> Option<&'a SimOrder> {
    match req.get("out_trade_no") {
        Ok(no) => st.orders.get(no),
        Err(_) => {
            let tx = req.get("transaction_id").ok()?;
            st.orders
                .values()
                .find(|o| o.transaction_id.as_deref() == Some(tx) || o.other_payment(tx).is_some())
        }
    }
}

pub(crate) async fn order_query(State(sim): State<Arc<Sim>>, body: String) -> Response {
    let req = accept!(sim, body);
    if let Some(refused) = require_order_ref(&sim, &req) {
        return refused;
    }
    let now = sim.now();
    let st = sim.state();
    let Some(o) = find_order(&st, &req) else {
        return sim.biz_fail(&req, ErrCode::OrderNotExist, "此交易订单号不存在");
    };
    let state = o.state_at(now);
    let paid = matches!(state, TradeState::Success | TradeState::Refund);
    let mut out = fields([
        ("out_trade_no", o.out_trade_no.clone()),
        ("trade_state", state.as_wire().into()),
        ("trade_state_desc", trade_state_desc(state).into()),
        ("total_fee", o.total_fee.to_string()),
        ("trade_type", "JSAPI".into()),
        ("openid", o.openid.clone()),
    ]);
    if paid {
        out.extend(fields([
            (
                "transaction_id",
                o.transaction_id.clone().unwrap_or_default(),
            ),
            (
                "time_end",
                o.time_end.map(time::format_compact).unwrap_or_default(),
            ),
            ("cash_fee", o.total_fee.to_string()),
            ("fee_type", "CNY".into()),
            ("bank_type", "OTHERS".into()),
        ]));
    }
    sim.ok(&req, out)
}

fn trade_state_desc(s: TradeState) -> &'static str {
    match s {
        TradeState::NotPay => "订单未支付",
        TradeState::Success => "支付成功",
        TradeState::Refund => "转入退款",
        TradeState::Closed => "订单已关闭",
    }
}

pub(crate) async fn close_order(State(sim): State<Arc<Sim>>, body: String) -> Response {
    let req = accept!(sim, body);
    let no = match req.get("out_trade_no") {
        Ok(no) => no.to_owned(),
        Err(e) => return sim.param_error(&req, &e),
    };
    let now = sim.now();
    let mut st = sim.state();
    let Some(o) = st.orders.get_mut(&no) else {
        return sim.biz_fail(&req, ErrCode::OrderNotExist, "此交易订单号不存在");
    };
    o.state = o.state_at(now);
    match o.state {
        TradeState::Success | TradeState::Refund => {
            sim.biz_fail(&req, ErrCode::OrderPaid, "订单已支付，不能发起关单")
        }
        TradeState::Closed => sim.biz_fail(&req, ErrCode::OrderClosed, "订单已关闭，无需继续关单"),
        TradeState::NotPay => {
            o.state = TradeState::Closed;
            sim.ok(&req, Fields::new())
        }
    }
}
