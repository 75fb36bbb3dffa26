//! Operations: `GET /healthz`, `GET /metrics` (Prometheus text), `GET /openapi.json`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::OpenApi;

use super::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    /// The last durable position of the event log.
    pub log_head: u64,
    /// The position the views have applied.
    pub views_position: u64,
}

/// Liveness, with how far the views are behind the log.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    let (log_head, views_position) = state.audit.positions();
    Json(Health {
        status: "ok".into(),
        log_head,
        views_position,
    })
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "the OpenAPI document", content_type = "application/json")))]
pub async fn openapi(Extension(doc): Extension<Arc<OpenApi>>) -> impl IntoResponse {
    Json(&*doc).into_response()
}
