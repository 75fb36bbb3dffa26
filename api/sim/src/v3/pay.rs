//! v3 JSAPI prepay, the two transaction queries and close, on the orders the
//! v2 endpoints share.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, FixedOffset, Offset as _, SubsecRound as _, Utc};
use paylog_core::wxpay::{Fields, SignType, time};
use paylog_core::wxpay_v3::api::{
    CloseRequest, JsapiPrepayRequest, Payer, TradeState as V3TradeState, TradeType, Transaction,
    TransactionAmount,
};
use serde::Deserialize;
use serde_json::json;

use super::super::Sim;
use super::super::state::{SimApi, SimOrder, TradeState};
use super::super::wire::random_digits;
use super::{Signed, SignedJson, answer, error, param_error};

/// The request as stored for idempotency (a repeat with identical parameters
/// gets the same prepay_id).
const V3_REQUEST_FIELD: &str = "v3_request";

/// Asia/Shanghai, the offset of every v3 time, in whole seconds as WeChat
/// writes them.
pub(crate) fn beijing(t: DateTime<Utc>) -> DateTime<FixedOffset> {
    let offset = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    t.trunc_subsecs(0).with_timezone(&offset)
}

fn validate(sim: &Sim, req: &JsapiPrepayRequest) -> Result<(), String> {
    let c = &sim.config;
    if req.appid != c.appid {
        return Err(format!("appid {} is not this merchant's", req.appid));
    }
    if req.mchid != c.mch_id {
        return Err(format!("mchid {} is not this merchant", req.mchid));
    }
    if req.description.is_empty() || req.description.len() > 127 {
        return Err("description must be 1 to 127 bytes".into());
    }
    let no = &req.out_trade_no;
    if no.len() < 6
        || no.len() > 32
        || !no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b))
    {
        return Err(format!(
            "out_trade_no {no} must be 6 to 32 of [0-9A-Za-z_-|*]"
        ));
    }
    if !(req.notify_url.starts_with("http://") || req.notify_url.starts_with("https://")) {
        return Err("notify_url must be an http(s) URL".into());
    }
    if req.amount.total.get() == 0 {
        return Err("amount.total must be at least 1".into());
    }
    if req.amount.currency.as_deref().is_some_and(|c| c != "CNY") {
        return Err("amount.currency must be CNY".into());
    }
    if req.payer.openid.is_empty() {
        return Err("payer.openid is required".into());
    }
    // WeChat's format is yyyy-MM-DDTHH:mm:ss+TIMEZONE, without fractions.
    if req
        .time_expire
        .is_some_and(|t| chrono::Timelike::nanosecond(&t) != 0)
    {
        return Err("time_expire must be yyyy-MM-DDTHH:mm:ss+08:00 (whole seconds)".into());
    }
    Ok(())
}

pub(crate) async fn prepay(
    State(sim): State<Arc<Sim>>,
    SignedJson(req): SignedJson<JsapiPrepayRequest>,
) -> Response {
    if let Err(msg) = validate(&sim, &req) {
        return param_error(&sim, &msg);
    }
    let canonical = serde_json::to_string(&req).unwrap_or_default();
    let mut st = sim.state();
    if let Some(existing) = st.orders.get(&req.out_trade_no) {
        let answer_for = match existing.state {
            TradeState::Success | TradeState::Refund => {
                Err((StatusCode::BAD_REQUEST, "ORDERPAID", "该订单已支付"))
            }
            TradeState::Closed => Err((StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭")),
            TradeState::NotPay if existing.params.get(V3_REQUEST_FIELD) == Some(&canonical) => {
                Ok(existing.prepay_id.clone())
            }
            TradeState::NotPay => {
                Err((StatusCode::FORBIDDEN, "OUT_TRADE_NO_USED", "商户订单号重复"))
            }
        };
        drop(st);
        return match answer_for {
            Ok(prepay_id) => answer(
                &sim,
                StatusCode::OK,
                Some(&json!({ "prepay_id": prepay_id })),
            ),
            Err((status, code, msg)) => error(&sim, status, code, msg),
        };
    }
    let now = Utc::now();
    let prepay_id = format!("wx{}{}", time::format_compact(now), random_digits(20));
    let mut params = Fields::new();
    params.insert(V3_REQUEST_FIELD.into(), canonical);
    if let Some(attach) = &req.attach {
        params.insert("attach".into(), attach.clone());
    }
    st.orders.insert(
        req.out_trade_no.clone(),
        SimOrder {
            out_trade_no: req.out_trade_no.clone(),
            prepay_id: prepay_id.clone(),
            openid: req.payer.openid.clone(),
            body: req.description.clone(),
            total_fee: req.amount.total.get(),
            notify_url: req.notify_url.clone(),
            time_expire: req.time_expire.map(|t| t.with_timezone(&Utc)),
            state: TradeState::NotPay,
            transaction_id: None,
            time_end: None,
            refunds: Vec::new(),
            other_payments: Vec::new(),
            sign_type: SignType::Md5,
            params,
            api: SimApi::V3,
        },
    );
    drop(st);
    answer(
        &sim,
        StatusCode::OK,
        Some(&json!({ "prepay_id": prepay_id })),
    )
}

/// An order as v3 reports it.
pub(crate) fn transaction(sim: &Sim, o: &SimOrder) -> Transaction {
    let paid = matches!(o.state, TradeState::Success | TradeState::Refund);
    let (trade_state, desc) = match o.state {
        TradeState::NotPay => (V3TradeState::Notpay, "订单未支付"),
        TradeState::Success => (V3TradeState::Success, "支付成功"),
        TradeState::Refund => (V3TradeState::Refund, "转入退款"),
        TradeState::Closed => (V3TradeState::Closed, "订单已关闭"),
    };
    let total = paylog_core::Fen::new(o.total_fee);
    Transaction {
        appid: sim.config.appid.clone(),
        mchid: sim.config.mch_id.clone(),
        out_trade_no: o.out_trade_no.clone(),
        transaction_id: o.transaction_id.clone().filter(|_| paid),
        trade_type: Some(TradeType::Jsapi),
        trade_state,
        trade_state_desc: desc.to_owned(),
        bank_type: paid.then(|| "OTHERS".to_owned()),
        attach: o.params.get("attach").cloned(),
        success_time: o.time_end.filter(|_| paid).map(beijing),
        payer: Some(Payer {
            openid: o.openid.clone(),
        }),
        amount: Some(TransactionAmount {
            total,
            payer_total: paid.then_some(total),
            currency: Some("CNY".into()),
            payer_currency: Some("CNY".into()),
        }),
        promotion_detail: Vec::new(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct MchidQuery {
    mchid: Option<String>,
}

fn query_answer(sim: &Sim, q: &MchidQuery, find: impl Fn(&SimOrder) -> bool) -> Response {
    if q.mchid.as_deref() != Some(sim.config.mch_id.as_str()) {
        return param_error(sim, "mchid is missing or not this merchant");
    }
    let found = {
        let st = sim.state();
        st.orders
            .values()
            .find(|o| find(o))
            .map(|o| transaction(sim, o))
    };
    match found {
        Some(tx) => answer(
            sim,
            StatusCode::OK,
            Some(&serde_json::to_value(tx).unwrap_or_default()),
        ),
        None => error(sim, StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"),
    }
}

pub(crate) async fn query_by_out_trade_no(
    State(sim): State<Arc<Sim>>,
    Path(no): Path<String>,
    Query(q): Query<MchidQuery>,
    _: Signed,
) -> Response {
    query_answer(&sim, &q, |o| o.out_trade_no == no)
}

pub(crate) async fn query_by_transaction_id(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    Query(q): Query<MchidQuery>,
    _: Signed,
) -> Response {
    query_answer(&sim, &q, |o| {
        o.transaction_id.as_deref() == Some(id.as_str())
    })
}

pub(crate) async fn close(
    State(sim): State<Arc<Sim>>,
    Path(no): Path<String>,
    SignedJson(req): SignedJson<CloseRequest>,
) -> Response {
    if req.mchid != sim.config.mch_id {
        return param_error(&sim, "mchid is not this merchant");
    }
    let outcome = {
        let mut st = sim.state();
        match st.orders.get_mut(&no) {
            None => Err((StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在")),
            Some(o) => match o.state {
                TradeState::Success | TradeState::Refund => Err((
                    StatusCode::BAD_REQUEST,
                    "ORDERPAID",
                    "订单已支付，不能发起关单",
                )),
                TradeState::Closed => Err((StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭")),
                TradeState::NotPay => {
                    o.state = TradeState::Closed;
                    Ok(())
                }
            },
        }
    };
    match outcome {
        Ok(()) => answer(&sim, StatusCode::NO_CONTENT, None),
        Err((status, code, msg)) => error(&sim, status, code, msg),
    }
}
