//! `pay/downloadbill` at the simulated WeChat: the daily bill of its own orders, and
//! the control that damages one day's bill (`POST /sim/bill-fault`).
//!
//! The bill is built from the simulator's state (payments by `time_end`, refunds by
//! the time WeChat took them, each on its Beijing day) and written by core's
//! `wxpay::bill::render`, WeChat's exact format: backtick-prefixed fields, fees with
//! five decimals (a 0.6 % rate) and negative on refund rows, and the summary. The
//! simulator shares only that pure protocol code with the client, as for every
//! other call. A day without a row is `No Bill Exist`, as at WeChat.

use std::io::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use paylog_core::Fen;
use paylog_core::payment_refs::{OutRefundNo, RefundId, TransactionId};
use paylog_core::wxpay::bill::{
    Bill, BillLayout, BillRow, MilliFen, NO_BILL_EXIST, beijing_day, render,
};
use paylog_core::wxpay::{Fields, RefundStatus, TradeState as WireTradeState, to_xml};
use serde::{Deserialize, Serialize};

use super::Sim;
use super::pay::accept;
use super::state::{SimOrder, SimRefund, SimState};
use super::wire::random_digits;

/// The simulated merchant's fee rate, in thousandths of a fen per fen (0.60 %).
const FEE_MILLIFEN_PER_FEN: i64 = 6;
const RATE: &str = "0.60%";

/// One difference to put into a day's bill (`POST /sim/bill-fault`). Each makes the
/// bill disagree with what really happened, as a bank's or WeChat's own error would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillFault {
    /// The Beijing day whose bill is damaged.
    pub date: NaiveDate,
    #[serde(flatten)]
    pub kind: BillFaultKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BillFaultKind {
    /// The order's payment is left out of the bill.
    DropPayment { out_trade_no: String },
    /// A payment nobody made through this simulator: a fresh transaction for
    /// `out_trade_no` (any order number, known to the merchant or not).
    ExtraPayment { out_trade_no: String, amount: u64 },
    /// The order's payment shows another amount (fen).
    PaymentAmount { out_trade_no: String, amount: u64 },
    /// The order's payment shows another trade state (e.g. `REVOKED`).
    PaymentStatus {
        out_trade_no: String,
        status: String,
    },
    /// The refund is left out of the bill.
    DropRefund { out_refund_no: String },
    /// A refund nobody asked for, of the order's payment.
    ExtraRefund {
        out_trade_no: String,
        out_refund_no: String,
        amount: u64,
    },
    /// The refund shows another status (`CHANGE`, `REFUNDCLOSE`, …).
    RefundStatus {
        out_refund_no: String,
        status: String,
    },
    /// The first data line's 应结订单金额 is not a number: a malformed bill.
    Malformed,
}

pub(crate) async fn add_fault(
    State(sim): State<Arc<Sim>>,
    Json(fault): Json<BillFault>,
) -> StatusCode {
    sim.state().bill_faults.push(fault);
    StatusCode::NO_CONTENT
}

/// WeChat's unsigned failure answer of `downloadbill`.
fn fail(msg: &str, error_code: &str) -> Response {
    let mut f = Fields::new();
    f.insert("return_code".into(), "FAIL".into());
    f.insert("return_msg".into(), msg.into());
    f.insert("error_code".into(), error_code.into());
    super::wire::xml(to_xml(&f))
}

pub(crate) async fn download_bill(State(sim): State<Arc<Sim>>, body: String) -> Response {
    let req = accept!(sim, body);
    let day = req
        .get("bill_date")
        .ok()
        .filter(|d| d.len() == 8)
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y%m%d").ok());
    let Some(day) = day else {
        return fail("invalid bill_date", "20001");
    };
    if req.get("bill_type").ok() != Some("ALL") {
        return fail("invalid bill_type", "20001");
    }
    let gzip = match req.get("tar_type") {
        Err(_) => false,
        Ok("GZIP") => true,
        Ok(_) => return fail("invalid tar_type", "20001"),
    };
    let text = {
        let st = sim.state();
        bill_text(&st, &sim.config.appid, &sim.config.mch_id, day)
    };
    let text = match text {
        Ok(Some(text)) => text,
        Ok(None) => return fail(NO_BILL_EXIST, "20002"),
        Err(e) => {
            tracing::error!(error = %e, "simulator could not write its bill");
            return fail("SYSTEMERROR", "20007");
        }
    };
    if !gzip {
        return ([(CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let bytes = gz.write_all(text.as_bytes()).and_then(|()| gz.finish());
    match bytes {
        Ok(bytes) => ([(CONTENT_TYPE, "application/x-gzip")], Body::from(bytes)).into_response(),
        Err(_) => fail("SYSTEMERROR", "20007"),
    }
}

/// The day's bill as WeChat writes it, `None` when the day has no row (also the
/// v3 trade bill's file: one bill per merchant, whichever API asks for it).
pub(crate) fn bill_text(
    st: &SimState,
    appid: &str,
    mch_id: &str,
    day: NaiveDate,
) -> Result<Option<String>, String> {
    let mut rows = Vec::new();
    for order in st.orders.values() {
        let (Some(tx), Some(paid_at)) = (&order.transaction_id, order.time_end) else {
            continue;
        };
        let tx = TransactionId::parse(tx).map_err(|e| e.to_string())?;
        if beijing_day(paid_at) == day {
            rows.push(payment_row(
                appid,
                mch_id,
                &Payer::of(order),
                &tx,
                paid_at,
                order.total_fee,
            ));
        }
        for refund in &order.refunds {
            if beijing_day(refund.success_time) == day {
                rows.push(refund_row(appid, mch_id, order, &tx, refund)?);
            }
        }
    }
    rows.sort_by_key(|r| r.trade_time);
    let faults: Vec<&BillFault> = st.bill_faults.iter().filter(|f| f.date == day).collect();
    let mut malformed = false;
    for fault in faults {
        malformed |= apply(&mut rows, &fault.kind, appid, mch_id, day)?;
    }
    if rows.is_empty() {
        return Ok(None);
    }
    let bill = Bill::new(BillLayout::Standard, rows).map_err(|e| e.to_string())?;
    let text = render(&bill).map_err(|e| e.to_string())?;
    Ok(Some(if malformed {
        break_first_amount(&text)
    } else {
        text
    }))
}

/// The fee WeChat charges on `amount` fen (`sign` -1: the fee it gives back on a refund).
fn fee_of(amount: u64, sign: i64) -> MilliFen {
    let amount = i64::try_from(amount).unwrap_or(i64::MAX);
    MilliFen(
        amount
            .saturating_mul(FEE_MILLIFEN_PER_FEN)
            .saturating_mul(sign),
    )
}

/// Who paid what, as a bill row names it.
struct Payer<'a> {
    out_trade_no: &'a str,
    openid: &'a str,
    body: &'a str,
}

impl<'a> Payer<'a> {
    fn of(order: &'a SimOrder) -> Self {
        Self {
            out_trade_no: &order.out_trade_no,
            openid: &order.openid,
            body: &order.body,
        }
    }
}

fn payment_row(
    appid: &str,
    mch_id: &str,
    order: &Payer<'_>,
    tx: &TransactionId,
    at: DateTime<Utc>,
    amount: u64,
) -> BillRow {
    BillRow {
        trade_time: at,
        appid: appid.to_owned(),
        mch_id: mch_id.to_owned(),
        sub_mch_id: "0".to_owned(),
        device_info: String::new(),
        transaction_id: tx.clone(),
        out_trade_no: order.out_trade_no.to_owned(),
        openid: order.openid.to_owned(),
        trade_type: "JSAPI".to_owned(),
        trade_state: WireTradeState::Success,
        bank_type: "OTHERS".to_owned(),
        currency: "CNY".to_owned(),
        settlement_total: Fen::new(amount),
        coupon: Fen::ZERO,
        refund_id: None,
        out_refund_no: None,
        refund: Fen::ZERO,
        recharge_coupon_refund: Fen::ZERO,
        refund_type: String::new(),
        refund_status: None,
        body: order.body.to_owned(),
        attach: String::new(),
        fee: fee_of(amount, 1),
        rate: RATE.to_owned(),
        order_amount: None,
        requested_refund: None,
        rate_note: None,
    }
}

fn refund_row(
    appid: &str,
    mch_id: &str,
    order: &SimOrder,
    tx: &TransactionId,
    refund: &SimRefund,
) -> Result<BillRow, String> {
    let mut row = payment_row(appid, mch_id, &Payer::of(order), tx, refund.success_time, 0);
    row.trade_state = WireTradeState::Refund;
    row.refund_id = Some(RefundId::parse(&refund.refund_id).map_err(|e| e.to_string())?);
    row.out_refund_no = Some(OutRefundNo::parse(&refund.out_refund_no).map_err(|e| e.to_string())?);
    row.refund = Fen::new(refund.refund_fee);
    row.refund_type = "ORIGINAL".to_owned();
    row.refund_status = Some(RefundStatus::parse(&refund.status));
    row.fee = fee_of(refund.refund_fee, -1);
    Ok(row)
}

/// Applies one fault; true when the bill is to be made malformed.
fn apply(
    rows: &mut Vec<BillRow>,
    fault: &BillFaultKind,
    appid: &str,
    mch_id: &str,
    day: NaiveDate,
) -> Result<bool, String> {
    let payment_of = |rows: &mut Vec<BillRow>, no: &str| {
        rows.iter()
            .position(|r| !r.is_refund() && r.out_trade_no == no)
            .ok_or_else(|| format!("no payment of {no} in the bill of {day}"))
    };
    let refund_of = |rows: &mut Vec<BillRow>, no: &str| {
        rows.iter()
            .position(|r| r.out_refund_no.as_ref().is_some_and(|n| n.as_str() == no))
            .ok_or_else(|| format!("no refund {no} in the bill of {day}"))
    };
    match fault {
        BillFaultKind::DropPayment { out_trade_no } => {
            let i = payment_of(rows, out_trade_no)?;
            rows.remove(i);
        }
        BillFaultKind::ExtraPayment {
            out_trade_no,
            amount,
        } => {
            let tx = TransactionId::parse(&format!("4200{}", random_digits(24)))
                .map_err(|e| e.to_string())?;
            // Noon in Beijing (UTC+8 all year): inside the day whatever the zone.
            let at = day
                .and_hms_opt(4, 0, 0)
                .map(|t| t.and_utc())
                .ok_or("no noon on that day")?;
            let payer = Payer {
                out_trade_no,
                openid: "oSimUnknownPayer000000000000",
                body: "unknown",
            };
            rows.push(payment_row(appid, mch_id, &payer, &tx, at, *amount));
        }
        BillFaultKind::PaymentAmount {
            out_trade_no,
            amount,
        } => {
            let i = payment_of(rows, out_trade_no)?;
            rows[i].settlement_total = Fen::new(*amount);
            rows[i].fee = fee_of(*amount, 1);
        }
        BillFaultKind::PaymentStatus {
            out_trade_no,
            status,
        } => {
            let i = payment_of(rows, out_trade_no)?;
            rows[i].trade_state = WireTradeState::parse(status);
        }
        BillFaultKind::DropRefund { out_refund_no } => {
            let i = refund_of(rows, out_refund_no)?;
            rows.remove(i);
        }
        BillFaultKind::ExtraRefund {
            out_trade_no,
            out_refund_no,
            amount,
        } => {
            let i = payment_of(rows, out_trade_no)?;
            let mut row = rows[i].clone();
            row.trade_state = WireTradeState::Refund;
            row.settlement_total = Fen::ZERO;
            row.refund_id = Some(
                RefundId::parse(&format!("5030{}", random_digits(25)))
                    .map_err(|e| e.to_string())?,
            );
            row.out_refund_no = Some(OutRefundNo::parse(out_refund_no).map_err(|e| e.to_string())?);
            row.refund = Fen::new(*amount);
            row.refund_type = "ORIGINAL".to_owned();
            row.refund_status = Some(RefundStatus::Success);
            row.fee = fee_of(*amount, -1);
            rows.push(row);
        }
        BillFaultKind::RefundStatus {
            out_refund_no,
            status,
        } => {
            let i = refund_of(rows, out_refund_no)?;
            rows[i].refund_status = Some(RefundStatus::parse(status));
        }
        BillFaultKind::Malformed => return Ok(true),
    }
    Ok(false)
}

/// The 13th field (应结订单金额) of the first data line (line 2) made non-numeric.
fn break_first_amount(text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    if let Some(line) = lines.get_mut(1) {
        let mut fields: Vec<&str> = line.split(",`").collect();
        if let Some(amount) = fields.get_mut(12) {
            *amount = "9.9O";
        }
        *line = fields.join(",`");
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}
