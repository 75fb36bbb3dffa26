//! [`ApiError`]: every failed request answers `{"error":{"code","message"}}` with the
//! right status; internal details are logged, never sent.
//!
//! The mapping from the crate's [`Error`] is the only place that decides statuses:
//! 400 malformed input, 401/403 authentication, 404 missing (or not the caller's),
//! 409 conflicts, 413 too large, 422 refused by the domain, 502 WeChat, 503 busy (with
//! `Retry-After`), 500 the rest.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paylog_core::DomainError;
use paylog_projections::ProjectionError;
use paylog_wechat::WechatError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Error;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable (`insufficient_stock`, `not_found`, …).
    pub code: String,
    /// For people; never contains internal details.
    pub message: String,
    /// Set when a refund was recorded but its outcome is unknown (502
    /// `refund_outcome_unknown`): retry with this number to settle it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out_refund_no: Option<String>,
}

/// An error answer: status, stable code and message.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The refund this answer is about, when the client must keep its number.
    pub out_refund_no: Option<String>,
    /// Sent as `Retry-After` (seconds) when the caller may retry later (429, 503).
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            out_refund_no: None,
            retry_after_secs: None,
        }
    }

    /// A 503: a bounded resource is full; retry after `retry_after_secs`.
    pub fn busy(retry_after_secs: u64, message: impl Into<String>) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// Used for anything missing *and* for other users' resources, so that the
    /// answer never reveals that someone else's order exists.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the request may be retried",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                out_refund_no: self.out_refund_no,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::Domain(e) => domain(e),
            Error::Refused { code, message } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            Error::Conflict { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            Error::BadInput { code, message } => Self::bad_request(code, message),
            Error::Unauthorized { message } => Self::unauthorized(message),
            Error::Busy {
                what,
                retry_after_secs,
            } => Self::busy(
                retry_after_secs,
                format!("{what} is busy; retry in {retry_after_secs} s"),
            ),
            Error::Contention { .. } => Self::new(
                StatusCode::CONFLICT,
                "contention",
                "too many concurrent changes; retry the request",
            ),
            Error::Views(ProjectionError::InvalidCursor(_)) => {
                Self::bad_request("invalid_cursor", "the cursor is not one this API issued")
            }
            Error::Views(ProjectionError::InvalidArgument(m)) => {
                Self::bad_request("invalid_argument", m)
            }
            Error::Wechat(WechatError::Bill(e)) => {
                tracing::warn!(error = %e, "WeChat's daily bill could not be read");
                // The bill's own error names its line; it holds no secret.
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "bill_unreadable",
                    format!("WeChat's daily bill could not be read: {e}"),
                )
            }
            Error::Wechat(e) => {
                tracing::warn!(error = %e, "WeChat call failed");
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "wechat_unavailable",
                    "WeChat Pay did not answer as expected; retry later",
                )
            }
            Error::RefundOutcomeUnknown {
                out_refund_no,
                source,
            } => {
                tracing::warn!(error = %source, %out_refund_no, "refund outcome unknown");
                Self {
                    out_refund_no: Some(out_refund_no.to_string()),
                    ..Self::new(
                        StatusCode::BAD_GATEWAY,
                        "refund_outcome_unknown",
                        format!(
                            "WeChat's answer to refund {out_refund_no} is unknown; it stays pending: \
                             retry with this out_refund_no, or let the reconciler settle it"
                        ),
                    )
                }
            }
            other => {
                tracing::error!(error = %other, "request failed");
                Self::internal()
            }
        }
    }
}

fn domain(e: DomainError) -> ApiError {
    use DomainError as D;
    let (status, code) = match &e {
        D::InvalidId { .. } => (StatusCode::BAD_REQUEST, "invalid_id"),
        D::InvalidOutTradeNo(_) | D::InvalidReference { .. } => {
            (StatusCode::BAD_REQUEST, "invalid_reference")
        }
        D::InvalidUsername(_) => (StatusCode::BAD_REQUEST, "invalid_username"),
        D::InvalidOpenId(_) => (StatusCode::BAD_REQUEST, "invalid_openid"),
        D::InvalidProductName => (StatusCode::BAD_REQUEST, "invalid_product_name"),
        D::InvalidPrice => (StatusCode::BAD_REQUEST, "invalid_price"),
        D::ZeroStockAdjustment => (StatusCode::BAD_REQUEST, "zero_stock_adjustment"),
        D::InvalidStockAdjustmentReason => {
            (StatusCode::BAD_REQUEST, "invalid_stock_adjustment_reason")
        }
        D::InvalidQuantity { .. } => (StatusCode::BAD_REQUEST, "invalid_quantity"),
        D::EmptyOrder => (StatusCode::BAD_REQUEST, "empty_order"),
        D::TooManyLines { .. } => (StatusCode::BAD_REQUEST, "too_many_lines"),
        D::DuplicateLine(_) => (StatusCode::BAD_REQUEST, "duplicate_line"),
        D::AmountOverflow => (StatusCode::BAD_REQUEST, "amount_overflow"),
        D::InvalidRefundAmount => (StatusCode::BAD_REQUEST, "invalid_refund_amount"),
        D::InvalidRefundReason => (StatusCode::BAD_REQUEST, "invalid_refund_reason"),
        D::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
        D::ProductNotFound(_) => (StatusCode::UNPROCESSABLE_ENTITY, "product_not_found"),
        D::AlreadyExists { .. } => (StatusCode::CONFLICT, "already_exists"),
        D::UsernameTaken(_) => (StatusCode::CONFLICT, "username_taken"),
        D::OpenIdTaken(_) => (StatusCode::CONFLICT, "openid_taken"),
        D::AlreadyPaid { .. } => (StatusCode::CONFLICT, "already_paid"),
        D::DuplicateRefundNo(_) => (StatusCode::CONFLICT, "duplicate_refund_no"),
        D::StockWouldGoNegative { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "stock_negative"),
        D::StockOverflow { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "stock_overflow"),
        D::InsufficientStock { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_stock"),
        D::InvalidTransition { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_transition"),
        D::OrderExpired { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "order_expired"),
        D::NotYetExpired { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "not_yet_expired"),
        D::OpenAtWechat => (StatusCode::CONFLICT, "open_at_wechat"),
        D::RefundExceedsPaid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_paid"),
        D::UnknownRefund(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_refund"),
        D::RefundAmountMismatch { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "refund_amount_mismatch")
        }
        D::RefundAlreadyFailed(_) | D::RefundAlreadyConfirmed(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "refund_settled")
        }
        // The number was refused by WeChat for good: never sent again, a new one is needed.
        D::RefundNoAlreadyFailed(_) => (StatusCode::CONFLICT, "refund_no_failed"),
        D::RefundNotNeedingAttention(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "refund_not_needing_attention",
        ),
        D::UnknownAnomaly(_) => (StatusCode::NOT_FOUND, "unknown_anomaly"),
        D::AnomalyAlreadyRefunded { .. } => (StatusCode::CONFLICT, "anomaly_already_refunded"),
        D::Shipping(s) => shipping_status(s),
        // Values the server computes itself, codec and audit failures: our fault.
        _ => {
            tracing::error!(error = %e, "domain error that input cannot cause");
            return ApiError::internal();
        }
    };
    ApiError::new(status, code, e.to_string())
}

/// Shipping refusals: a shipment that breaks WeChat's rules is bad input (400); one
/// the order's state refuses is 422; WeChat's one change already spent is 409.
fn shipping_status(e: &paylog_core::order::ShippingError) -> (StatusCode, &'static str) {
    use paylog_core::order::ShippingError as S;
    match e {
        S::InvalidParcelCount { .. }
        | S::UnifiedNeedsOneParcel { .. }
        | S::SplitNeedsExpress
        | S::UnifiedIsAllDelivered
        | S::InvalidItemDescription { .. }
        | S::InvalidTracking { .. } => (StatusCode::BAD_REQUEST, "invalid_shipment"),
        S::OrderNotPaid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "order_not_paid"),
        S::OrderFullyRefunded => (StatusCode::UNPROCESSABLE_ENTITY, "order_fully_refunded"),
        S::ReuploadLimit { .. } => (StatusCode::CONFLICT, "shipping_reupload_limit"),
        S::AlreadyReceived => (StatusCode::CONFLICT, "already_received"),
        S::NotShipped => (StatusCode::UNPROCESSABLE_ENTITY, "not_shipped"),
        S::UnknownRevision { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "unknown_revision"),
        S::ReceiptNotConfirmed => (StatusCode::UNPROCESSABLE_ENTITY, "receipt_not_confirmed"),
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let (status, code) = match &r {
            JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
                (StatusCode::BAD_REQUEST, "invalid_json")
            }
            JsonRejection::MissingJsonContentType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
            }
            other => (other.status(), "invalid_body"),
        };
        Self::new(status, code, r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::bad_request("invalid_path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_request("invalid_query", r.body_text())
    }
}
