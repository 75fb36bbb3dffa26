//! The mini-program REST API and the WeChat notify endpoints (axum).
//!
//! Handlers are thin: parse (extractors), make one call into one service
//! ([`crate::services`]), map the answer to a status and a body. The services wait
//! for the views (read-your-writes) before they return. One file per resource:
//! - `auth.rs` (WeChat login, register, password login);
//! - `products.rs`, `orders.rs`, `payment.rs` (`/pay`), `refunds.rs` (admin),
//!   `reconciliation.rs` (admin: the daily bill compared with the log);
//! - `notify.rs` (WeChat's XML callbacks), `notify_v3.rs` (its v3 JSON callbacks),
//!   `message_push.rs` (the mini-program's message push: handshake and events),
//!   `ops.rs` (health, metrics, OpenAPI);
//! - `audit.rs` (admin: an order's history and state as of an instant, the log's
//!   events page by page, daily sales reports);
//! - `console/` (the operators' HTML console at `/console`, signed in with the admin
//!   token for a session cookie);
//! - `error.rs` (the JSON error shape), `extract.rs` (auth, JSON/path/query with JSON
//!   errors, `Idempotency-Key`), `dto.rs` (shapes and statuses on the wire), `state.rs`,
//!   `openapi.rs` (the document's frame).
//!
//! Every route is declared once, below, with `routes!`: that registers the handler
//! with axum and its `#[utoipa::path]` in the OpenAPI document together.
//!
//! Every request gets an `x-request-id` (kept if the client sent one), is traced in a
//! span carrying it, and is timed by route. Bodies over [`MAX_BODY_BYTES`] are 413.

mod audit;
mod auth;
pub mod console;
pub mod dto;
pub mod error;
mod extract;
mod message_push;
mod notify;
mod notify_v3;
pub mod openapi;
mod ops;
mod orders;
mod payment;
mod products;
pub mod rate_limit;
pub mod reconciliation;
mod refunds;
pub mod shipping;
mod state;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, State};
use axum::http::{HeaderName, Request, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::ApiError;
pub use state::AppState;

use crate::metrics::Metrics;

/// The largest request body accepted (JSON and notify XML alike).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The API's router with all its layers.
pub fn app(state: AppState) -> Router {
    let metrics = Arc::clone(&state.metrics);
    let (routes, doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(auth::wechat))
        .routes(routes!(auth::register))
        .routes(routes!(auth::password_login))
        .routes(routes!(products::list))
        .routes(routes!(products::show))
        .routes(routes!(products::create))
        .routes(routes!(products::adjust_stock))
        .routes(routes!(orders::create, orders::list))
        .routes(routes!(orders::show))
        .routes(routes!(orders::cancel))
        .routes(routes!(payment::pay))
        .routes(routes!(refunds::refund))
        .routes(routes!(refunds::resolve))
        .routes(routes!(refunds::anomalies))
        .routes(routes!(refunds::refund_anomaly))
        .routes(routes!(shipping::ship))
        .routes(routes!(shipping::sync))
        .routes(routes!(shipping::list))
        .routes(routes!(reconciliation::show, reconciliation::run))
        .routes(routes!(audit::order_history_of))
        .routes(routes!(audit::events))
        .routes(routes!(audit::daily))
        .routes(routes!(notify::pay))
        .routes(routes!(notify::refund))
        .routes(routes!(notify_v3::pay))
        .routes(routes!(notify_v3::refund))
        .routes(routes!(message_push::handshake, message_push::receive))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::livez))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .split_for_parts();
    let routes = routes
        .nest("/console", console::router(&state))
        .layer(Extension(Arc::new(doc)))
        .route_layer(axum::middleware::from_fn_with_state(metrics, track))
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this method is not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state);
    routes.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                    let request_id = request
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id,
                    )
                }),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
    )
}

/// Middleware (a route layer, so the matched path is known) counting and timing
/// every request by its route template.
pub async fn track(
    State(metrics): State<Arc<Metrics>>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_owned();
    // The route template, never the raw path: ids would explode the label space.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let start = Instant::now();
    let response = next.run(request).await;
    metrics.request(
        &method,
        &route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}
