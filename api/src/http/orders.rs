//! Orders: place (idempotent with `Idempotency-Key`), list, show, cancel.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use paylog_core::checkout::{CartItem, Checkout};
use paylog_core::order::OrderState;
use paylog_core::{DomainError, OrderId, ProductId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{Order, OrderListItem, OrderPage};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, AuthUser, IdempotencyKey, Meta};
use super::products::PageQuery;
use super::state::AppState;
use crate::error::Error;
use crate::payments::derived_id;

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
    pub status: String,
    /// Unpaid after this instant, the order is closed and its stock released.
    pub expires_at: DateTime<Utc>,
}

impl From<&OrderState> for OrderCreated {
    fn from(o: &OrderState) -> Self {
        Self {
            order_id: o.order_id.as_uuid(),
            out_trade_no: o.out_trade_no.to_string(),
            total_fen: o.total.get(),
            status: o.status.to_string(),
            expires_at: o.expires_at,
        }
    }
}

/// Loads an order of `user`; someone else's order is "not found", like a missing one.
pub(super) async fn own_order(
    state: &AppState,
    user: UserId,
    id: Uuid,
) -> Result<OrderState, ApiError> {
    match state.engine.order(OrderId::from_uuid(id)).await? {
        Some(order) if order.user_id == user => Ok(order),
        _ => Err(ApiError::not_found("order")),
    }
}

/// The requested quantity per product (duplicates merged, as the domain merges them).
fn wanted(items: &[CartItem]) -> BTreeMap<ProductId, u64> {
    let mut map = BTreeMap::new();
    for item in items {
        *map.entry(item.product_id).or_insert(0) += u64::from(item.quantity);
    }
    map
}

/// A repeat of an idempotent request: the same body gets the same order back.
fn replay(order: &OrderState, user: UserId, items: &[CartItem]) -> Result<OrderCreated, ApiError> {
    let placed: BTreeMap<ProductId, u64> = order
        .lines
        .iter()
        .map(|l| (l.product_id, u64::from(l.quantity)))
        .collect();
    if order.user_id != user || placed != wanted(items) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different order",
        ));
    }
    Ok(OrderCreated::from(order))
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
    // With a key, the order id and command id are derived from (user, key): a retry
    // names the same order, and the log refuses to place it twice.
    let (order_id, meta) = match &key {
        Some(k) => (
            OrderId::from_uuid(derived_id(&format!("order:{user}:{k}"))),
            meta.with_command_id(derived_id(&format!("place-order:{user}:{k}"))),
        ),
        None => (OrderId::from_uuid(Uuid::now_v7()), meta),
    };
    if key.is_some()
        && let Some(existing) = state.engine.order(order_id).await?
    {
        return Ok((StatusCode::OK, Json(replay(&existing, user, &items)?)));
    }
    let timeout = chrono::Duration::from_std(state.payment_timeout)
        .map_err(|_| Error::Misuse("payment timeout out of range"))?;
    let checkout = Checkout {
        order_id,
        user_id: user,
        items: items.clone(),
        expires_at: meta.at + timeout,
        at: meta.at,
    };
    let status = match state.engine.place_order(meta, checkout).await {
        Ok(committed) => {
            state.settle("PlaceOrder", &committed).await;
            if committed.duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            }
        }
        // Two identical requests raced; the other one placed it.
        Err(Error::Domain(DomainError::AlreadyExists { .. })) if key.is_some() => StatusCode::OK,
        Err(e) => return Err(e.into()),
    };
    let order = state
        .engine
        .order(order_id)
        .await?
        .ok_or(Error::Misuse("a placed order is missing"))?;
    let created = if status == StatusCode::OK {
        replay(&order, user, &items)?
    } else {
        OrderCreated::from(&order)
    };
    Ok((status, Json(created)))
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/v1/orders", tag = "orders", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = OrderPage), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    let page = state
        .views
        .orders_of_user(user, &query.page())
        .map_err(Error::from)?;
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
    match state
        .views
        .order(OrderId::from_uuid(id))
        .map_err(Error::from)?
    {
        Some(order) if order.user_id == user => Ok(Json(order.into())),
        _ => Err(ApiError::not_found("order")),
    }
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
    let order = own_order(&state, user, id).await?;
    let committed = state.payments.cancel(meta, &order).await?;
    state.settle("CancelOrder", &committed).await;
    let order = own_order(&state, user, id).await?;
    Ok(Json(order.into()))
}
