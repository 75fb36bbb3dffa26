//! The catalog: list and show products; admins create them and adjust stock.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paylog_core::product::CreateProduct;
use paylog_core::{DomainError, Fen, ProductId};
use paylog_projections::Page;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::dto::{Product, ProductPage};
use super::error::{ApiError, ErrorBody};
use super::extract::{Admin, ApiJson, ApiPath, ApiQuery, Meta};
use super::state::AppState;
use crate::error::Error;

/// `?cursor=…&limit=…` of every list.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200 (default 20).
    pub limit: Option<usize>,
}

impl PageQuery {
    pub fn page(self) -> Page {
        Page {
            cursor: self.cursor,
            limit: self.limit.unwrap_or(Page::DEFAULT_LIMIT),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewProduct {
    pub name: String,
    pub price_fen: u64,
    pub stock: u64,
}

/// The most units one request may create, add or remove: far above any real shop's
/// stock, far below where sums of stock could overflow.
pub const MAX_STOCK_CHANGE: u64 = 1_000_000_000;

fn check_stock_change(units: u64) -> Result<(), ApiError> {
    if units > MAX_STOCK_CHANGE {
        return Err(ApiError::bad_request(
            "invalid_stock",
            format!("at most {MAX_STOCK_CHANGE} units per request"),
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StockChange {
    /// Units to add (negative to remove).
    pub delta: i64,
}

/// The catalog, oldest product first.
#[utoipa::path(get, path = "/v1/products", tag = "products", params(PageQuery),
    responses((status = 200, body = ProductPage), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ProductPage>, ApiError> {
    let page = state.views.products(&query.page()).map_err(Error::from)?;
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
    let product = state.engine.product(ProductId::from_uuid(id)).await?;
    product
        .map(|p| Json(p.into()))
        .ok_or_else(|| ApiError::not_found("product"))
}

/// Adds a product to the catalog (admin).
#[utoipa::path(post, path = "/v1/admin/products", tag = "admin", request_body = NewProduct,
    security(("admin" = [])),
    responses((status = 201, body = Product), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    Meta(meta): Meta,
    ApiJson(body): ApiJson<NewProduct>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    check_stock_change(body.stock)?;
    let product_id = ProductId::from_uuid(Uuid::now_v7());
    let command = CreateProduct {
        product_id,
        name: body.name,
        price: Fen::new(body.price_fen),
        stock: body.stock,
        at: meta.at,
    };
    let committed = state.engine.create_product(meta, command).await?;
    state.settle("CreateProduct", &committed).await;
    let product = state
        .engine
        .product(product_id)
        .await?
        .ok_or(Error::Misuse("a created product is missing"))?;
    Ok((StatusCode::CREATED, Json(product.into())))
}

/// Adds or removes stock (admin); stock never goes below zero.
#[utoipa::path(post, path = "/v1/admin/products/{id}/stock", tag = "admin", request_body = StockChange,
    params(("id" = Uuid, Path, description = "product id")), security(("admin" = [])),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn adjust_stock(
    State(state): State<AppState>,
    _admin: Admin,
    Meta(meta): Meta,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<StockChange>,
) -> Result<Json<Product>, ApiError> {
    check_stock_change(body.delta.unsigned_abs())?;
    let product_id = ProductId::from_uuid(id);
    let committed = match state
        .engine
        .adjust_stock(meta, product_id, body.delta)
        .await
    {
        Err(Error::Domain(DomainError::NotFound { .. })) => {
            return Err(ApiError::not_found("product"));
        }
        other => other?,
    };
    state.settle("AdjustStock", &committed).await;
    let product = state
        .engine
        .product(product_id)
        .await?
        .ok_or_else(|| ApiError::not_found("product"))?;
    Ok(Json(product.into()))
}
