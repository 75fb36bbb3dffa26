//! `GET /sns/jscode2session` at the simulated WeChat.
//!
//! A code's user is the part before its first `.`: `alice.1` and `alice.2` are
//! two single-use codes of the same user, so they map to the same openid. Each
//! code works once (then `40163`), and refused codes get `40029`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Sim;

fn err(errcode: i64, errmsg: &str) -> Json<Value> {
    Json(json!({ "errcode": errcode, "errmsg": errmsg }))
}

/// The stable openid of a user name, for one appid.
pub(crate) fn openid_for(appid: &str, user: &str) -> String {
    let id = Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("openid:{appid}:{user}").as_bytes(),
    );
    format!("o{}", &id.simple().to_string()[..27])
}

pub(crate) async fn jscode2session(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    if get("appid") != sim.config.appid {
        return err(40013, "invalid appid");
    }
    if get("secret") != sim.config.app_secret.expose_secret() {
        return err(40125, "invalid appsecret");
    }
    if get("grant_type") != "authorization_code" {
        return err(40002, "invalid grant_type");
    }
    let code = get("js_code");
    if code.is_empty() {
        return err(41008, "missing code");
    }
    let mut st = sim.state();
    if st.refused_codes.contains(code) {
        return err(40029, "invalid code");
    }
    if !st.used_codes.insert(code.to_owned()) {
        return err(40163, "code been used");
    }
    let user = code.split('.').next().unwrap_or(code);
    let key = Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("session:{code}").as_bytes());
    Json(json!({
        "openid": openid_for(&sim.config.appid, user),
        "session_key": STANDARD.encode(key.as_bytes()),
    }))
}
