//! v3 trade bill: `GET /v3/bill/tradebill` answers (signed) where to download
//! the file and its SHA1; `GET /v3/billdownload/file?token=…` serves the file
//! itself, unsigned, as WeChat does.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::HOST;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::json;
use sha1::{Digest, Sha1};

use super::super::Sim;
use super::super::state::TradeState;
use super::pay::beijing;
use super::{answer, authenticate, error, param_error};

/// Files kept for download at once (older ones are dropped first).
pub(crate) const MAX_BILL_FILES: usize = 16;

#[derive(Debug, Deserialize)]
pub(crate) struct BillQuery {
    bill_date: Option<String>,
    bill_type: Option<String>,
    tar_type: Option<String>,
}

/// Every paid order of `date` (Asia/Shanghai), one line each, in WeChat's
/// backquoted CSV style.
fn bill_file(sim: &Sim, date: NaiveDate, bill_type: &str) -> Vec<u8> {
    let mut out =
        String::from("交易时间,公众账号ID,商户号,微信订单号,商户订单号,交易状态,订单金额\r\n");
    let st = sim.state();
    for o in st.orders.values() {
        let (Some(paid_at), Some(tx)) = (o.time_end, &o.transaction_id) else {
            continue;
        };
        let paid_at = beijing(paid_at);
        if paid_at.date_naive() != date || (bill_type == "REFUND" && o.state != TradeState::Refund)
        {
            continue;
        }
        out.push_str(&format!(
            "`{},`{},`{},`{},`{},`{},`{}.{:02}\r\n",
            paid_at.format("%Y-%m-%d %H:%M:%S"),
            sim.config.appid,
            sim.config.mch_id,
            tx,
            o.out_trade_no,
            o.state.as_wire(),
            o.total_fee / 100,
            o.total_fee % 100
        ));
    }
    out.into_bytes()
}

pub(crate) async fn trade_bill(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<BillQuery>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = authenticate(&sim, &method, &uri, &headers, b"") {
        return *refused;
    }
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
    if q.tar_type.is_some() {
        return param_error(&sim, "the simulator serves uncompressed bills only");
    }
    let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
        return param_error(&sim, "Host header is missing");
    };
    let file = bill_file(&sim, date, &bill_type);
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
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = authenticate(&sim, &method, &uri, &headers, b"") {
        return *refused;
    }
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
