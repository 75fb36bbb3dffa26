//! The catalog: list and show products; admins create them and adjust stock.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paylog_core::{Fen, ProductId};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{PageQuery, Product, ProductPage};
use super::error::{ApiError, ErrorBody};
use super::extract::{Admin, ApiJson, ApiPath, ApiQuery, IdempotencyKey, Meta};
use super::state::AppState;
use crate::services::catalog::NewProduct as Wanted;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewProduct {
    pub name: String,
    pub price_fen: u64,
    pub stock: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StockChange {
    /// Units to add (negative to remove).
    pub delta: i64,
    /// Why (a delivery, breakage, a stock-take): required, 1 to 200 characters once
    /// trimmed; kept in the log with the adjustment.
    #[schema(min_length = 1, max_length = 200, example = "delivery note 8812")]
    pub reason: String,
}

/// The catalog, oldest product first.
#[utoipa::path(get, path = "/v1/products", tag = "products", params(PageQuery),
    responses((status = 200, body = ProductPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ProductPage>, ApiError> {
    let page = state.catalog.list(&query.page())?;
    Ok(Json(ProductPage {
        items: page.items.into_iter().map(Product::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One product with its price and live stock (read from the log, not a view).
#[utoipa::path(get, path = "/v1/products/{id}", tag = "products",
    params(("id" = Uuid, Path, description = "product id")),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Product>, ApiError> {
    state
        .catalog
        .show(ProductId::from_uuid(id))
        .await?
        .map(|p| Json(p.into()))
        .ok_or_else(|| ApiError::not_found("product"))
}

/// Adds a product to the catalog (admin).
#[utoipa::path(post, path = "/v1/admin/products", tag = "admin", request_body = NewProduct,
    params(("Idempotency-Key" = Option<String>, Header, description = "same key → same product")),
    security(("admin" = [])),
    responses((status = 201, body = Product), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    Meta(meta): Meta,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(body): ApiJson<NewProduct>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    let wanted = Wanted {
        name: body.name,
        price: Fen::new(body.price_fen),
        stock: body.stock,
    };
    let product = state.catalog.create(meta, wanted, key.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(product.into())))
}

/// Adds or removes stock (admin) for a reason; stock never goes below zero.
#[utoipa::path(post, path = "/v1/admin/products/{id}/stock", tag = "admin", request_body = StockChange,
    params(("id" = Uuid, Path, description = "product id"),
        ("Idempotency-Key" = Option<String>, Header, description = "same key → adjusted once")),
    security(("admin" = [])),
    responses((status = 200, body = Product), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn adjust_stock(
    State(state): State<AppState>,
    _admin: Admin,
    Meta(meta): Meta,
    IdempotencyKey(key): IdempotencyKey,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<StockChange>,
) -> Result<Json<Product>, ApiError> {
    state
        .catalog
        .adjust_stock(
            meta,
            ProductId::from_uuid(id),
            body.delta,
            body.reason,
            key.as_deref(),
        )
        .await?
        .map(|p| Json(p.into()))
        .ok_or_else(|| ApiError::not_found("product"))
}
