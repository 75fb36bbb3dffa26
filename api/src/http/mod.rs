//! The mini-program REST API and the WeChat notify endpoints (axum).
//!
//! Handlers are thin: parse (extractors), one call into the [`Engine`](crate::engine)
//! or [`Payments`](crate::payments), wait for the views (read-your-writes), respond.
//! One file per resource:
//! - `auth.rs` (WeChat login, register, password login; `token.rs`, `password.rs`);
//! - `products.rs`, `orders.rs`, `payment.rs` (`/pay`), `refunds.rs` (admin);
//! - `notify.rs` (WeChat's XML callbacks), `ops.rs` (health, metrics, OpenAPI);
//! - `audit.rs` (admin: an order's history and state as of an instant, the log's
//!   events page by page, daily sales reports);
//! - `error.rs` (the JSON error shape), `extract.rs` (auth, JSON/path/query with JSON
//!   errors, `Idempotency-Key`), `dto.rs` (response shapes), `state.rs`, `metrics.rs`;
//! - `server.rs`: [`Application`], the whole server (store, views, projector,
//!   simulator if needed, reconciler) started on a listener, for the binary and tests.
//!
//! Every request gets an `x-request-id` (kept if the client sent one), is traced in a
//! span carrying it, and is timed by route. Bodies over [`MAX_BODY_BYTES`] are 413.

mod audit;
mod auth;
pub mod dto;
pub mod error;
mod extract;
pub mod metrics;
mod notify;
pub mod openapi;
mod ops;
mod orders;
mod password;
mod payment;
mod products;
mod refunds;
mod server;
mod state;
pub mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use server::{AppHandles, Application};
pub use state::AppState;

/// The largest request body accepted (JSON and notify XML alike).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The API's router with all its layers.
pub fn app(state: AppState) -> Router {
    let metrics = Arc::clone(&state.metrics);
    let routes = Router::new()
        .route("/v1/auth/wechat", post(auth::wechat))
        .route("/v1/register", post(auth::register))
        .route("/v1/auth/password", post(auth::password_login))
        .route("/v1/products", get(products::list))
        .route("/v1/products/{id}", get(products::show))
        .route("/v1/admin/products", post(products::create))
        .route(
            "/v1/admin/products/{id}/stock",
            post(products::adjust_stock),
        )
        .route("/v1/orders", post(orders::create).get(orders::list))
        .route("/v1/orders/{id}", get(orders::show))
        .route("/v1/orders/{id}/cancel", post(orders::cancel))
        .route("/v1/orders/{id}/pay", post(payment::pay))
        .route("/v1/admin/orders/{id}/refund", post(refunds::refund))
        .route(
            "/v1/admin/orders/{id}/history",
            get(audit::order_history_of),
        )
        .route("/v1/admin/events", get(audit::events))
        .route("/v1/admin/reports/daily", get(audit::daily))
        .route("/v1/wechat/pay/notify", post(notify::pay))
        .route("/v1/wechat/refund/notify", post(notify::refund))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route_layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
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
