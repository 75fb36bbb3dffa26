//! The daily bill, for admins: `GET /v1/admin/reconciliation/{date}` compares
//! WeChat's bill of a Beijing day with the log (reads only), `POST` does the same and
//! recovers the payments the log lacks, as the daily run does.
//!
//! [`ReconciliationReport`] is also what `paylog reconcile --json` prints, so the CLI
//! and the API never disagree about a day.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveDate, Utc};
use paylog_core::wxpay::bill::{Difference, DifferenceKind, Movement as CoreMovement};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::extract::{Admin, ApiPath};
use super::state::AppState;
use crate::services::reconciliation::{BillPresence, DayReport, Resolution, parse_day};

/// A payment or a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    Payment,
    Refund,
}

/// How the bill and the log disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKindDto {
    /// In the bill, not in the log (for a payment: money held but not recorded).
    MissingFromLog,
    /// In the log, not in the bill.
    MissingFromBill,
    AmountDiffers,
    StatusDiffers,
    /// The same movement twice in the bill.
    DuplicateInBill,
}

/// What was done about a difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionDto {
    /// The payment was recorded (orderquery, as for a lost notify).
    Recovered,
    /// A payment for an order paylog does not know: an operator must act.
    UnknownOrder,
    /// Recovery failed; the next run tries again (`detail` says why).
    RecoveryFailed,
    /// Not tried: a read-only comparison (`GET`, `paylog reconcile`).
    NotAttempted,
    /// For an operator to check against WeChat's merchant platform.
    ForAnOperator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BillDto {
    Bill,
    /// WeChat has no bill for the day (`No Bill Exist`): no movement.
    NoBill,
}

/// One difference between the bill and the log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DifferenceDto {
    pub movement: Movement,
    pub kind: DifferenceKindDto,
    /// The paylog order, when the order number is one of paylog's.
    pub order_id: Option<Uuid>,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub out_refund_no: Option<String>,
    pub refund_id: Option<String>,
    /// The bill's line, when the movement is in the bill.
    pub bill_line: Option<usize>,
    /// The amount on the side that has the movement (missing_*).
    pub amount_fen: Option<u64>,
    pub bill_amount_fen: Option<u64>,
    pub log_amount_fen: Option<u64>,
    pub bill_status: Option<String>,
    pub log_status: Option<String>,
    /// WeChat's time of the movement (missing_from_log).
    pub at: Option<DateTime<Utc>>,
    /// The line of the first occurrence (duplicate_in_bill).
    pub first_line: Option<usize>,
    pub resolution: ResolutionDto,
    /// How it was recorded (recovered) or why not (recovery_failed).
    pub detail: Option<String>,
}

/// One Beijing day of WeChat's bill compared with the log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReconciliationReport {
    pub date: NaiveDate,
    pub bill: BillDto,
    /// The bill and the log agreed on every movement.
    pub matches: bool,
    pub bill_payments: usize,
    pub bill_refunds: usize,
    pub log_payments: usize,
    pub log_refunds: usize,
    /// Payments recorded by this run.
    pub recovered: usize,
    pub differences: Vec<DifferenceDto>,
    pub reconciled_at: DateTime<Utc>,
}

fn difference(d: &Difference, resolution: &Resolution) -> DifferenceDto {
    let mut out = DifferenceDto {
        movement: match d.movement {
            CoreMovement::Payment => Movement::Payment,
            CoreMovement::Refund => Movement::Refund,
        },
        kind: DifferenceKindDto::MissingFromLog,
        order_id: d.ids.order_id.map(|id| id.as_uuid()),
        out_trade_no: d.ids.out_trade_no.clone(),
        transaction_id: d.ids.transaction_id.to_string(),
        out_refund_no: d.ids.out_refund_no.as_ref().map(ToString::to_string),
        refund_id: d.ids.refund_id.as_ref().map(ToString::to_string),
        bill_line: d.bill_line,
        amount_fen: None,
        bill_amount_fen: None,
        log_amount_fen: None,
        bill_status: None,
        log_status: None,
        at: None,
        first_line: None,
        resolution: ResolutionDto::ForAnOperator,
        detail: None,
    };
    match &d.kind {
        DifferenceKind::MissingFromLog { amount, at } => {
            out.amount_fen = Some(amount.get());
            out.at = Some(*at);
        }
        DifferenceKind::MissingFromBill { amount } => {
            out.kind = DifferenceKindDto::MissingFromBill;
            out.amount_fen = Some(amount.get());
        }
        DifferenceKind::AmountDiffers { bill, log } => {
            out.kind = DifferenceKindDto::AmountDiffers;
            out.bill_amount_fen = Some(bill.get());
            out.log_amount_fen = Some(log.get());
        }
        DifferenceKind::StatusDiffers { bill, log } => {
            out.kind = DifferenceKindDto::StatusDiffers;
            out.bill_status = Some(bill.clone());
            out.log_status = Some(log.clone());
        }
        DifferenceKind::DuplicateInBill { first_line } => {
            out.kind = DifferenceKindDto::DuplicateInBill;
            out.first_line = Some(*first_line);
        }
    }
    (out.resolution, out.detail) = match resolution {
        Resolution::Recovered { recorded_as } => {
            (ResolutionDto::Recovered, Some((*recorded_as).to_owned()))
        }
        Resolution::UnknownOrder => (ResolutionDto::UnknownOrder, None),
        Resolution::RecoveryFailed { reason } => {
            (ResolutionDto::RecoveryFailed, Some(reason.clone()))
        }
        Resolution::NotAttempted => (ResolutionDto::NotAttempted, None),
        Resolution::ForAnOperator => (ResolutionDto::ForAnOperator, None),
    };
    out
}

impl From<&DayReport> for ReconciliationReport {
    fn from(r: &DayReport) -> Self {
        Self {
            date: r.date,
            bill: match r.bill {
                BillPresence::Bill => BillDto::Bill,
                BillPresence::NoBill => BillDto::NoBill,
            },
            matches: r.matches,
            bill_payments: r.bill_payments,
            bill_refunds: r.bill_refunds,
            log_payments: r.log_payments,
            log_refunds: r.log_refunds,
            recovered: r.recovered,
            differences: r
                .differences
                .iter()
                .map(|f| difference(&f.difference, &f.resolution))
                .collect(),
            reconciled_at: r.reconciled_at,
        }
    }
}

/// Compares WeChat's bill of a Beijing day (`YYYY-MM-DD`) with the log; records
/// nothing. 422 `bill_not_published` for a day after today (Beijing); 502 `bill_unreadable` for
/// a malformed bill (the message names its line).
#[utoipa::path(get, path = "/v1/admin/reconciliation/{date}", tag = "admin",
    params(("date" = String, Path, description = "a Beijing day, YYYY-MM-DD")),
    security(("admin" = [])),
    responses((status = 200, body = ReconciliationReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(date): ApiPath<String>,
) -> Result<Json<ReconciliationReport>, ApiError> {
    let day = parse_day(&date)?;
    let report = state.bill.report(day).await?;
    Ok(Json(ReconciliationReport::from(&report)))
}

/// Like `GET`, then records every payment in the bill that the log lacks (orderquery,
/// as a lost notify is recovered); a payment for an unknown order is reported.
#[utoipa::path(post, path = "/v1/admin/reconciliation/{date}", tag = "admin",
    params(("date" = String, Path, description = "a Beijing day, YYYY-MM-DD")),
    security(("admin" = [])),
    responses((status = 200, body = ReconciliationReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody)))]
pub async fn run(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(date): ApiPath<String>,
) -> Result<Json<ReconciliationReport>, ApiError> {
    let day = parse_day(&date)?;
    let report = state.bill.reconcile_and_recover(day).await?;
    Ok(Json(ReconciliationReport::from(&report)))
}
