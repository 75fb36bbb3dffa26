//! The Catalog page: products with their live stock, a page at a time; create a
//! product; add or remove stock.

use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use paylog_core::{Fen, ProductId};
use paylog_projections::Page;
use serde::Deserialize;
use uuid::Uuid;

use super::i18n::{K, t};
use super::layout::{Flash, Nav, encode, frame, yuan};
use super::session::Operator;
use super::{Posted, after_action, error_page, form_key, html_page};
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
                    td.name { (p.name) }
                    td.num { (yuan(p.price.get())) }
                    td.num.stock { (p.stock) }
                    td {
                        form.inline method="post" action={ "/console/catalog/" (p.product_id.as_uuid()) "/stock" } {
                            input type="hidden" name="csrf" value=(csrf);
                            input type="hidden" name="key" value=(form_key());
                            input type="number" name="delta" placeholder=(t(lang, K::Delta)) required;
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
    let here = uri.to_string();
    html_page(
        StatusCode::OK,
        frame(
            lang,
            t(lang, K::Catalog),
            Nav::Catalog,
            Some(csrf),
            &here,
            &flash,
            body,
        ),
    )
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
}

pub async fn adjust(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(id): Path<String>,
    Posted { op, form }: Posted<AdjustForm>,
) -> Response {
    let outcome = async {
        let key = valid_key(&form.key)?;
        let id = Uuid::parse_str(&id)
            .map(ProductId::from_uuid)
            .map_err(|_| ApiError::not_found("product"))?;
        let delta: i64 =
            form.delta.trim().parse().map_err(|_| {
                ApiError::bad_request("invalid_delta", "the change is a whole number")
            })?;
        let product = state
            .catalog
            .adjust_stock(meta, id, delta, Some(key))
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
    after_action("/console/catalog", outcome)
}
