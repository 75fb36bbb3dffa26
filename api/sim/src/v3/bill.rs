//! v3 trade bill: `GET /v3/bill/tradebill` answers (signed) where to download
//! the file and its SHA1; `GET /v3/billdownload/file?token=…` serves the file
//! itself, unsigned, as WeChat does.
//!
//! The file is the merchant's one daily bill, the very text `pay/downloadbill`
//! serves (`crate::bill::bill_text`: v2 and v3 orders alike, refunds, the
//! summary, the injected bill faults): WeChat keeps one bill per merchant
//! account, whichever API asks for it. A day without a row is 400
//! `NO_STATEMENT_EXIST`, v3's `No Bill Exist`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use sha1::{Digest, Sha1};

use paylog_core::wxpay_v3::api::NO_STATEMENT_EXIST;

use super::super::Sim;
use super::super::bill::bill_text;
use super::{Signed, answer, error, param_error};

/// Files kept for download at once (older ones are dropped first).
pub(crate) const MAX_BILL_FILES: usize = 16;

#[derive(Debug, Deserialize)]
pub(crate) struct BillQuery {
    bill_date: Option<String>,
    bill_type: Option<String>,
    tar_type: Option<String>,
}

pub(crate) async fn trade_bill(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<BillQuery>,
    headers: HeaderMap,
    _: Signed,
) -> Response {
    let Some(date) = q
        .bill_date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    else {
        return param_error(&sim, "bill_date must be YYYY-MM-DD");
    };
    let bill_type = q.bill_type.unwrap_or_else(|| "ALL".to_owned());
    if !["ALL", "SUCCESS", "REFUND"].contains(&bill_type.as_str()) {
        return param_error(&sim, "bill_type must be ALL, SUCCESS or REFUND");
    }
    if bill_type != "ALL" {
        return param_error(&sim, "the simulator serves ALL bills only");
    }
    if q.tar_type.is_some() {
        return param_error(&sim, "the simulator serves uncompressed bills only");
    }
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return param_error(&sim, "Host header is missing");
    };
    let text = {
        let st = sim.state();
        bill_text(&st, &sim.config.appid, &sim.config.mch_id, date)
    };
    let file = match text {
        Ok(Some(text)) => text.into_bytes(),
        Ok(None) => {
            return error(
                &sim,
                StatusCode::BAD_REQUEST,
                NO_STATEMENT_EXIST,
                "账单文件不存在",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "simulator could not write its bill");
            return error(
                &sim,
                StatusCode::INTERNAL_SERVER_ERROR,
                "SYSTEM_ERROR",
                "系统错误",
            );
        }
    };
    let hash = hex::encode(Sha1::digest(&file));
    let token = uuid::Uuid::new_v4().simple().to_string();
    {
        let mut st = sim.state();
        if st.v3_bill_files.len() >= MAX_BILL_FILES {
            st.v3_bill_files.remove(0);
        }
        st.v3_bill_files.push((token.clone(), file));
    }
    let body = json!({
        "hash_type": "SHA1",
        "hash_value": hash,
        "download_url": format!("http://{host}/v3/billdownload/file?token={token}"),
    });
    answer(&sim, StatusCode::OK, Some(&body))
}

#[derive(Debug, Deserialize)]
pub(crate) struct DownloadQuery {
    token: Option<String>,
}

pub(crate) async fn download(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<DownloadQuery>,
    _: Signed,
) -> Response {
    let file = {
        let st = sim.state();
        let corrupt = st.v3_answer_faults.corrupt_bill;
        st.v3_bill_files
            .iter()
            .find(|(t, _)| Some(t) == q.token.as_ref())
            .map(|(_, f)| {
                let mut f = f.clone();
                if corrupt {
                    f.push(b'\n');
                }
                f
            })
    };
    match file {
        // Unsigned, as WeChat serves it: the SHA1 of the bill answer proves it.
        Some(file) => (StatusCode::OK, file).into_response(),
        None => error(
            &sim,
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_EXISTS",
            "账单不存在",
        ),
    }
}
