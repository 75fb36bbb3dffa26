//! Orders: place (idempotent with `Idempotency-Key`), list, show, cancel.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use paylog_core::checkout::CartItem;
use paylog_core::order::OrderState;
use paylog_core::{OrderId, ProductId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{Order, OrderListItem, OrderPage, OrderStatus, PageQuery};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, IdempotencyKey, Meta};
use super::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewOrder {
    /// 1 to 50 items; prices come from the catalog.
    pub items: Vec<NewOrderItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewOrderItem {
    pub product_id: Uuid,
    pub quantity: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderCreated {
    pub order_id: Uuid,
    /// The order number WeChat Pay sees.
    pub out_trade_no: String,
    pub total_fen: u64,
    pub status: OrderStatus,
    /// Unpaid after this instant, the order is closed and its stock released.
    pub expires_at: DateTime<Utc>,
}

impl From<&OrderState> for OrderCreated {
    fn from(o: &OrderState) -> Self {
        Self {
            order_id: o.order_id.as_uuid(),
            out_trade_no: o.out_trade_no.to_string(),
            total_fen: o.total.get(),
            status: o.status.into(),
            expires_at: o.expires_at,
        }
    }
}

/// Places an order and reserves its stock; 422 and nothing reserved if stock is short.
#[utoipa::path(post, path = "/v1/orders", tag = "orders", request_body = NewOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "same key and body → same order")),
    security(("bearer" = [])),
    responses((status = 201, body = OrderCreated), (status = 200, description = "a repeat of an idempotent request", body = OrderCreated),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Meta(meta): Meta,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<NewOrder>,
) -> Result<(StatusCode, Json<OrderCreated>), ApiError> {
    let items: Vec<CartItem> = body
        .items
        .iter()
        .map(|i| CartItem {
            product_id: ProductId::from_uuid(i.product_id),
            quantity: i.quantity,
        })
        .collect();
    let placed = state
        .ordering
        .place(meta, user, key.as_deref(), items)
        .await?;
    let status = if placed.repeated {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(OrderCreated::from(&placed.order))))
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = OrderPage), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let page = state.ordering.list(user, &query.page())?;
    Ok(Json(OrderPage {
        items: page.items.into_iter().map(OrderListItem::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One of the caller's orders in full; another user's order is 404.
#[utoipa::path(get, path = "/v1/orders/{id}", tag = "orders",
    params(("id" = Uuid, Path, description = "order id")), security(("bearer" = [])),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Order>, ApiError> {
    state
        .ordering
        .show(user, OrderId::from_uuid(id))?
        .map(|order| Json(order.into()))
        .ok_or_else(|| ApiError::not_found("order"))
}

/// Cancels an unpaid order (closing it at WeChat first) and releases its stock.
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", tag = "orders",
    params(("id" = Uuid, Path, description = "order id")), security(("bearer" = [])),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Meta(meta): Meta,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Order>, ApiError> {
    state
        .ordering
        .cancel(meta, user, OrderId::from_uuid(id))
        .await?
        .map(|order| Json(order.into()))
        .ok_or_else(|| ApiError::not_found("order"))
}
