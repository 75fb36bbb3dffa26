//! Operations: `GET /livez`, `GET /readyz`, `GET /healthz`, `GET /metrics` (Prometheus
//! text), `GET /openapi.json`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::OpenApi;

use super::state::AppState;
use crate::services::periodic::{JobRun, Outcome};

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when ready, `unavailable` otherwise (see `problems`).
    pub status: String,
    /// The last durable position of the event log.
    pub log_head: u64,
    /// The position the views have applied.
    pub views_position: u64,
    /// Why the server is not ready: `store_not_writable`, `projector_failing`,
    /// `views_behind`, `wechat_not_loaded`. Empty when ready.
    pub problems: Vec<String>,
    /// The background jobs' last runs (the reconciler, the uploader, the settlement
    /// checker). Their error texts are for operators (the console's Today page),
    /// never sent here: this endpoint needs no token.
    pub jobs: Vec<JobHealth>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobHealth {
    pub job: String,
    /// `never_ran`, `running`, `succeeded` or `failed` (the last finished run).
    pub state: String,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn job_state(run: &JobRun) -> &'static str {
    match (run.running, run.outcome) {
        (true, _) => "running",
        (false, None) => "never_ran",
        (false, Some(Outcome::Succeeded)) => "succeeded",
        (false, Some(Outcome::Failed)) => "failed",
    }
}

fn health(state: &AppState) -> (bool, Health) {
    let r = state.health.readiness();
    let ready = r.is_ready();
    let body = Health {
        status: if ready { "ok" } else { "unavailable" }.into(),
        log_head: r.log_head,
        views_position: r.views_position,
        problems: r.problems.into_iter().map(str::to_owned).collect(),
        jobs: state
            .health
            .jobs()
            .into_iter()
            .map(|(job, run)| JobHealth {
                job: job.to_owned(),
                state: job_state(&run).to_owned(),
                started_at: run.started_at,
                finished_at: run.finished_at,
            })
            .collect(),
    };
    (ready, body)
}

/// The readiness facts, always 200 (for dashboards; probes use `/livez` and `/readyz`).
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    Json(health(&state).1)
}

/// Liveness: the process runs and answers.
#[utoipa::path(get, path = "/livez", tag = "ops", responses((status = 200, description = "alive")))]
pub async fn livez() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: 200 when the log takes writes, the projector has no unrecovered
/// failure and is caught up within the configured bound, and WeChat's configuration
/// is loaded; 503 with the same body otherwise.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (ready, body) = health(&state);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
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
