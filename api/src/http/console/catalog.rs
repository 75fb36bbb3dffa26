//! The Catalog page: products with their live stock, a page at a time; create a
//! product; add or remove stock with a reason. A product's page shows its recent
//! adjustments and their reasons, read from its stream.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::response::Response;
use maud::html;
use paylog_core::product::MAX_ADJUSTMENT_REASON_CHARS;
use paylog_core::{Fen, ProductId};
use paylog_projections::Page;
use serde::Deserialize;
use uuid::Uuid;

use super::i18n::{K, t};
use super::layout::{Flash, Nav, encode, yuan};
use super::session::Operator;
use super::{Posted, after_action, error_page, form_key, operator_page};
use crate::http::error::ApiError;
use crate::http::extract::Meta;
use crate::http::state::AppState;
use crate::services::catalog::NewProduct;

csrf_form!(CreateForm, AdjustForm);

/// Products per page.
const PAGE_SIZE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub struct CatalogQuery {
    cursor: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    op: Operator,
    OriginalUri(uri): OriginalUri,
    query: Result<Query<CatalogQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|q| q.0).unwrap_or_default();
    let lang = op.lang;
    let products = match state.catalog.list(&Page {
        cursor: q.cursor.clone(),
        limit: PAGE_SIZE,
    }) {
        Ok(p) => p,
        Err(e) => return error_page(&op, e.into()),
    };
    let csrf = op.csrf.as_str();
    let body = html! {
        h1 { (t(lang, K::Catalog)) }
        h2 { (t(lang, K::Create)) }
        form.inline #create-product method="post" action="/console/catalog" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="key" value=(form_key());
            label { (t(lang, K::Name)) input #product-name type="text" name="name" required; }
            label { (t(lang, K::Price)) input #product-price type="number" name="price_fen" min="1" required; }
            label { (t(lang, K::Stock)) input #product-stock type="number" name="stock" min="0" required; }
            button #create-submit type="submit" { (t(lang, K::Create)) }
        }
        table #products {
            tr { th { (t(lang, K::Name)) } th { (t(lang, K::Price)) } th { (t(lang, K::Stock)) } th { (t(lang, K::AdjustStock)) } }
            @for p in &products.items {
                tr {
                    td.name { a href={ "/console/catalog/" (p.product_id.as_uuid()) } { (p.name) } }
                    td.num { (yuan(p.price.get())) }
                    td.num.stock { (p.stock) }
                    td {
                        form.inline method="post" action={ "/console/catalog/" (p.product_id.as_uuid()) "/stock" } {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="key" value=(form_key());
                            input type="number" name="delta" placeholder=(t(lang, K::Delta)) required;
                            input type="text" name="reason" placeholder=(t(lang, K::Reason)) maxlength=(MAX_ADJUSTMENT_REASON_CHARS) required;
                            button type="submit" { (t(lang, K::AdjustStock)) }
                        }
                    }
                }
            }
        }
        @if let Some(c) = &products.next_cursor {
            p { a #next href={ "/console/catalog?cursor=" (encode(c)) } { (t(lang, K::Next)) } }
        }
    };
    let flash = Flash {
        notice: q.notice,
        error: q.error,
    };
    operator_page(&op, &uri, t(lang, K::Catalog), Nav::Catalog, &flash, body)
}

/// One product: its price and stock, the adjust form, and its recent adjustments
/// with their reasons (newest first).
pub async fn product(
    State(state): State<AppState>,
    op: Operator,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    flash: Result<Query<Flash>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let lang = op.lang;
    let Ok(id) = Uuid::parse_str(&id).map(ProductId::from_uuid) else {
        return error_page(&op, ApiError::not_found("product"));
    };
    let product = match state.catalog.show(id).await {
        Ok(Some(p)) => p,
        Ok(None) => return error_page(&op, ApiError::not_found("product")),
        Err(e) => return error_page(&op, e.into()),
    };
    let adjustments = match state.catalog.recent_adjustments(id).await {
        Ok(a) => a,
        Err(e) => return error_page(&op, e.into()),
    };
    let csrf = op.csrf.as_str();
    let body = html! {
        h1 { (product.name) }
        table #product {
            tr { th { (t(lang, K::Price)) } td.num { (yuan(product.price.get())) } }
            tr { th { (t(lang, K::Stock)) } td.num.stock { (product.stock) } }
        }
        h2 { (t(lang, K::AdjustStock)) }
        form.inline #adjust-form method="post" action={ "/console/catalog/" (id.as_uuid()) "/stock" } {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="key" value=(form_key());
            label { (t(lang, K::Delta)) input type="number" name="delta" required; }
            label { (t(lang, K::Reason)) input type="text" name="reason" maxlength=(MAX_ADJUSTMENT_REASON_CHARS) required; }
            button type="submit" { (t(lang, K::AdjustStock)) }
        }
        h2 { (t(lang, K::RecentAdjustments)) }
        table #adjustments {
            tr { th { (t(lang, K::Time)) } th { (t(lang, K::Delta)) } th { (t(lang, K::StockAfter)) } th { (t(lang, K::Reason)) } }
            @for a in &adjustments {
                tr {
                    td { (a.at.format("%Y-%m-%d %H:%M:%S UTC")) }
                    td.num { @if a.delta > 0 { "+" } (a.delta) }
                    td.num { (a.stock_after) }
                    td.reason { (a.reason) }
                }
            }
        }
        @if adjustments.is_empty() { p { (t(lang, K::None)) } }
        p { a href="/console/catalog" { (t(lang, K::Catalog)) } }
    };
    let flash = flash.map(|f| f.0).unwrap_or_default();
    operator_page(&op, &uri, &product.name, Nav::Catalog, &flash, body)
}

fn valid_key(key: &str) -> Result<&str, ApiError> {
    if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(key)
    } else {
        Err(ApiError::bad_request(
            "invalid_idempotency_key",
            "the form's key must be 1 to 255 visible ASCII characters",
        ))
    }
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    price_fen: String,
    #[serde(default)]
    stock: String,
}

pub async fn create(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Posted { op, form }: Posted<CreateForm>,
) -> Response {
    let outcome = async {
        let key = valid_key(&form.key)?;
        let price: u64 = form.price_fen.trim().parse().map_err(|_| {
            ApiError::bad_request("invalid_price", "the price is a whole number of fen")
        })?;
        let stock: u64 =
            form.stock.trim().parse().map_err(|_| {
                ApiError::bad_request("invalid_stock", "the stock is a whole number")
            })?;
        let product = state
            .catalog
            .create(
                meta,
                NewProduct {
                    name: form.name,
                    price: Fen::new(price),
                    stock,
                },
                Some(key),
            )
            .await?;
        Ok::<_, ApiError>(format!("{}: {}", t(op.lang, K::Create), product.name))
    }
    .await;
    after_action("/console/catalog", outcome)
}

#[derive(Debug, Deserialize)]
pub struct AdjustForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    delta: String,
    /// Checked by the product (trimmed, 1 to [`MAX_ADJUSTMENT_REASON_CHARS`]); a form
    /// without one is refused like a blank one.
    #[serde(default)]
    reason: String,
}

pub async fn adjust(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(id): Path<String>,
    Posted { op, form }: Posted<AdjustForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id).map(ProductId::from_uuid) else {
        return after_action("/console/catalog", Err(ApiError::not_found("product")));
    };
    // Back to the product's page, where the adjustment and its reason now show.
    let back = format!("/console/catalog/{}", id.as_uuid());
    let outcome = async {
        let key = valid_key(&form.key)?;
        let delta: i64 =
            form.delta.trim().parse().map_err(|_| {
                ApiError::bad_request("invalid_delta", "the change is a whole number")
            })?;
        let product = state
            .catalog
            .adjust_stock(meta, id, delta, form.reason, Some(key))
            .await?
            .ok_or_else(|| ApiError::not_found("product"))?;
        Ok::<_, ApiError>(format!(
            "{}: {} → {}",
            t(op.lang, K::AdjustStock),
            product.name,
            product.stock
        ))
    }
    .await;
    after_action(&back, outcome)
}
