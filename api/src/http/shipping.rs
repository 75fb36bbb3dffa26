//! Shipping: `POST /v1/admin/orders/{id}/ship` records a paid order's shipment and
//! uploads it to WeChat; `POST /v1/admin/orders/{id}/shipping/sync` records the
//! receipt and settlement WeChat's `get_order` reports; the order's `shipping` (shown by `GET /v1/orders/{id}`) is
//! [`ShippingInfo`].

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use paylog_core::OrderId;
use paylog_core::order::{self, Parcel as CoreParcel, Shipment};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{Order, OrderPage, PageQuery};
use super::error::{ApiError, ErrorBody};
use super::extract::{Admin, ApiJson, ApiPath, ApiQuery, IdempotencyKey, Meta};
use super::state::AppState;
use crate::services::shipping::UploadOutcome;

/// WeChat's `logistics_type`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogisticsType {
    Express,
    SameCity,
    Virtual,
    SelfPickup,
}

/// WeChat's `delivery_mode`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    Unified,
    Split,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Parcel {
    /// Required for express.
    #[serde(default)]
    pub tracking_no: Option<String>,
    /// A code of WeChat's express company list (e.g. `SF`, `YTO`); required for express.
    #[serde(default)]
    pub express_company: Option<String>,
    /// What is in the parcel, 1 to 120 characters.
    pub item_desc: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ShipAsk {
    pub logistics_type: LogisticsType,
    pub delivery_mode: DeliveryMode,
    /// 1 to 15 parcels; exactly one for a unified delivery.
    pub parcels: Vec<Parcel>,
    /// Split deliveries: whether this completes the order (default true).
    #[serde(default = "yes")]
    pub is_all_delivered: bool,
}

fn yes() -> bool {
    true
}

/// Where WeChat stands on the shipment.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    Pending,
    Failed,
    Uploaded,
}

/// An order's shipment, its upload to WeChat, receipt and settlement.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingInfo {
    pub logistics_type: LogisticsType,
    pub delivery_mode: DeliveryMode,
    pub parcels: Vec<Parcel>,
    pub is_all_delivered: bool,
    pub revision: u32,
    pub upload: UploadStatus,
    /// WeChat's errcode of the last refused upload.
    pub last_errcode: Option<i64>,
    pub shipped_at: DateTime<Utc>,
    pub uploaded_at: Option<DateTime<Utc>>,
    pub receipt_confirmed_at: Option<DateTime<Utc>>,
    pub settled_at: Option<DateTime<Utc>>,
}

impl From<order::Shipping> for ShippingInfo {
    fn from(s: order::Shipping) -> Self {
        Self {
            logistics_type: match s.shipment.logistics_type {
                order::LogisticsType::Express => LogisticsType::Express,
                order::LogisticsType::SameCity => LogisticsType::SameCity,
                order::LogisticsType::Virtual => LogisticsType::Virtual,
                order::LogisticsType::SelfPickup => LogisticsType::SelfPickup,
            },
            delivery_mode: match s.shipment.delivery_mode {
                order::DeliveryMode::Unified => DeliveryMode::Unified,
                order::DeliveryMode::Split => DeliveryMode::Split,
            },
            parcels: s
                .shipment
                .parcels
                .into_iter()
                .map(|p| Parcel {
                    tracking_no: p.tracking_no,
                    express_company: p.express_company,
                    item_desc: p.item_desc,
                })
                .collect(),
            is_all_delivered: s.shipment.is_all_delivered,
            revision: s.revision,
            upload: match s.upload {
                order::UploadStatus::Pending => UploadStatus::Pending,
                order::UploadStatus::Failed => UploadStatus::Failed,
                order::UploadStatus::Uploaded => UploadStatus::Uploaded,
            },
            last_errcode: s.last_error.map(|e| e.errcode),
            shipped_at: s.shipped_at,
            uploaded_at: s.uploaded_at,
            receipt_confirmed_at: s.receipt_confirmed_at,
            settled_at: s.settled_at,
        }
    }
}

fn shipment(ask: ShipAsk) -> Shipment {
    Shipment {
        logistics_type: match ask.logistics_type {
            LogisticsType::Express => order::LogisticsType::Express,
            LogisticsType::SameCity => order::LogisticsType::SameCity,
            LogisticsType::Virtual => order::LogisticsType::Virtual,
            LogisticsType::SelfPickup => order::LogisticsType::SelfPickup,
        },
        delivery_mode: match ask.delivery_mode {
            DeliveryMode::Unified => order::DeliveryMode::Unified,
            DeliveryMode::Split => order::DeliveryMode::Split,
        },
        parcels: ask
            .parcels
            .into_iter()
            .map(|p| CoreParcel {
                tracking_no: p.tracking_no,
                express_company: p.express_company,
                item_desc: p.item_desc,
            })
            .collect(),
        is_all_delivered: ask.is_all_delivered,
    }
}

/// How the upload went.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Upload {
    Uploaded,
    /// WeChat refused it (`shipping.last_errcode` says why); recorded.
    Refused,
    /// WeChat's answer is unknown; the shipment stays pending.
    Unknown,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Shipped {
    pub upload: Upload,
    pub order: Order,
}

/// Records the shipment of a paid order, then uploads it to WeChat. 200 with the
/// order whatever WeChat answered: the shipment is recorded either way.
#[utoipa::path(post, path = "/v1/admin/orders/{id}/ship", tag = "admin", request_body = ShipAsk,
    params(("id" = Uuid, Path, description = "order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "same key → same shipment")),
    security(("admin" = [])),
    responses((status = 200, body = Shipped), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn ship(
    State(state): State<AppState>,
    _admin: Admin,
    Meta(meta): Meta,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ShipAsk>,
) -> Result<Json<Shipped>, ApiError> {
    let (order, outcome) = state
        .shipping
        .ship(meta, OrderId::from_uuid(id), shipment(body), key.as_deref())
        .await?;
    Ok(Json(Shipped {
        upload: match outcome {
            UploadOutcome::Uploaded => Upload::Uploaded,
            UploadOutcome::Refused { .. } => Upload::Refused,
            UploadOutcome::Unknown => Upload::Unknown,
        },
        order: order.into(),
    }))
}

/// Asks WeChat where a shipped order stands (`get_order`) and records the receipt
/// confirmation and settlement it reports.
#[utoipa::path(post, path = "/v1/admin/orders/{id}/shipping/sync", tag = "admin",
    params(("id" = Uuid, Path, description = "order id")),
    security(("admin" = [])),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn sync(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Order>, ApiError> {
    let order = state.shipping.sync(OrderId::from_uuid(id)).await?;
    Ok(Json(order.into()))
}

/// Which orders to list.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdminOrderFilter {
    /// Paid, not shipped, not fully refunded: oldest payment first.
    PaidNotShipped,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AdminOrdersQuery {
    pub status: AdminOrderFilter,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200 (default 20).
    pub limit: Option<usize>,
}

/// Orders an admin has to act on: `status=paid_not_shipped` lists what is still to ship.
#[utoipa::path(get, path = "/v1/admin/orders", tag = "admin", params(AdminOrdersQuery),
    security(("admin" = [])),
    responses((status = 200, body = OrderPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<AdminOrdersQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let AdminOrderFilter::PaidNotShipped = q.status;
    let page = PageQuery {
        cursor: q.cursor,
        limit: q.limit,
    }
    .page();
    let found = state.shipping.to_ship(&page)?;
    Ok(Json(OrderPage {
        items: found.items.into_iter().map(Into::into).collect(),
        next_cursor: found.next_cursor,
    }))
}
