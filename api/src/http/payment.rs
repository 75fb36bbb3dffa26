//! `POST /v1/orders/{id}/pay`: the parameters for `wx.requestPayment`.

use axum::Json;
use axum::extract::State;
use paylog_core::OrderId;
use paylog_core::wxpay::RequestPayment;
use paylog_core::wxpay_v3::MiniProgramPayParams;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, AuthUser, ClientIp, Meta};
use super::state::AppState;

/// Pass these to `wx.requestPayment` as they are.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PayParams {
    pub app_id: String,
    pub time_stamp: String,
    pub nonce_str: String,
    /// `prepay_id=…`
    pub package: String,
    pub sign_type: String,
    pub pay_sign: String,
}

impl From<crate::services::payments::PaymentParams> for PayParams {
    fn from(p: crate::services::payments::PaymentParams) -> Self {
        match p {
            crate::services::payments::PaymentParams::V2(p) => p.into(),
            crate::services::payments::PaymentParams::V3(p) => p.into(),
        }
    }
}

/// v3: `signType` is `RSA`.
impl From<MiniProgramPayParams> for PayParams {
    fn from(p: MiniProgramPayParams) -> Self {
        Self {
            app_id: p.app_id,
            time_stamp: p.time_stamp,
            nonce_str: p.nonce_str,
            package: p.package,
            sign_type: p.sign_type,
            pay_sign: p.pay_sign,
        }
    }
}

impl From<RequestPayment> for PayParams {
    fn from(p: RequestPayment) -> Self {
        Self {
            app_id: p.app_id,
            time_stamp: p.time_stamp,
            nonce_str: p.nonce_str,
            package: p.package,
            sign_type: p.sign_type,
            pay_sign: p.pay_sign,
        }
    }
}

/// Prepares payment of an unpaid order (unifiedorder, or the prepay id still valid).
#[utoipa::path(post, path = "/v1/orders/{id}/pay", tag = "orders",
    params(("id" = Uuid, Path, description = "order id")), security(("bearer" = [])),
    responses((status = 200, body = PayParams), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn pay(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Meta(meta): Meta,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<PayParams>, ApiError> {
    state
        .ordering
        .pay(meta, user, OrderId::from_uuid(id), &ip)
        .await?
        .map(|params| Json(params.into()))
        .ok_or_else(|| ApiError::not_found("order"))
}
