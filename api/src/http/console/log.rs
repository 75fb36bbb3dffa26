//! The Log page: the event log by position (a page after a position) or one stream
//! (from a version), with each event's JSON; password hashes are redacted.

use axum::extract::{OriginalUri, Query, State};
use axum::response::Response;
use maud::html;
use paylog_projections::audit::{ExportedEvent, Secrets};
use serde::Deserialize;

use super::i18n::{K, t};
use super::layout::{Flash, Nav, encode};
use super::session::Operator;
use super::{error_page, operator_page};
use crate::error::Error;
use crate::http::state::AppState;

/// Events per page.
const PAGE_SIZE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    after: Option<u64>,
    #[serde(default)]
    stream: String,
    /// The first stream version shown (with `stream`).
    from_version: Option<u64>,
}

pub async fn page(
    State(state): State<AppState>,
    op: Operator,
    OriginalUri(uri): OriginalUri,
    query: Result<Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|q| q.0).unwrap_or_default();
    let lang = op.lang;
    let stream = q.stream.trim().to_owned();
    let events = if stream.is_empty() {
        state
            .audit
            .log_page(q.after.unwrap_or(0), PAGE_SIZE)
            .await
            .map(|p| p.events)
    } else {
        state
            .audit
            .stream_page(&stream, q.from_version.unwrap_or(0), PAGE_SIZE)
            .await
    };
    let events = match events.and_then(|events| {
        events
            .iter()
            .map(|e| ExportedEvent::from_recorded_with(e, Secrets::Redacted).map_err(Error::from))
            .collect::<Result<Vec<_>, _>>()
    }) {
        Ok(e) => e,
        Err(e) => return error_page(&op, e.into()),
    };
    let next = events.last().map(|e| {
        if stream.is_empty() {
            format!("/console/log?after={}", e.position)
        } else {
            format!(
                "/console/log?stream={}&from_version={}",
                encode(&stream),
                e.stream_version.saturating_add(1)
            )
        }
    });
    let body = html! {
        h1 { (t(lang, K::Log)) }
        form.inline #log-form method="get" action="/console/log" {
            label { (t(lang, K::After)) input type="number" name="after" min="0" value=[q.after]; }
            label { (t(lang, K::Stream)) input #stream type="text" name="stream" value=(stream); }
            button type="submit" { (t(lang, K::Show)) }
        }
        table #events {
            tr { th { (t(lang, K::Position)) } th { (t(lang, K::Stream)) } th { (t(lang, K::Event)) } th { (t(lang, K::Time)) } th { "JSON" } }
            @for e in &events {
                tr {
                    td.num { (e.position) }
                    td { a href={ "/console/log?stream=" (encode(&e.stream_id)) } { (e.stream_id) } " #" (e.stream_version) }
                    td { (e.event_type) }
                    td { (e.recorded_at.format("%Y-%m-%d %H:%M:%S%.3f UTC")) }
                    td { pre.event { (pretty(e.payload.get())) } }
                }
            }
        }
        @if let Some(next) = next.filter(|_| events.len() == PAGE_SIZE) {
            p { a #next href=(next) { (t(lang, K::Next)) } }
        }
    };
    operator_page(
        &op,
        &uri,
        t(lang, K::Log),
        Nav::Log,
        &Flash::default(),
        body,
    )
}

fn pretty(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| json.to_owned())
}
