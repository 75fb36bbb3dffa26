//! `jscode2session` against the simulator: stable openids, single-use and refused codes.

use crate::support::*;
use paylog_wechat::WechatError;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

fn login_errcode(e: WechatError) -> i64 {
    match e {
        WechatError::Login { errcode, .. } => errcode,
        other => panic!("expected a login error, got {other:?}"),
    }
}

#[tokio::test]
async fn codes_map_to_stable_openids_and_work_once() {
    let sim = spawn_sim(sim_config()).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    let a1 = c.jscode2session("alice.1").await.expect("login");
    let a2 = c.jscode2session("alice.2").await.expect("login");
    let b = c.jscode2session("bob.1").await.expect("login");
    assert_eq!(a1.openid, a2.openid);
    assert_ne!(a1.openid, b.openid);
    assert_eq!(a1.openid.len(), 28);
    assert_ne!(
        a1.session_key.expose_secret(),
        a2.session_key.expose_secret()
    );
    assert!(!format!("{a1:?}").contains(a1.session_key.expose_secret()));
    assert_eq!(
        login_errcode(c.jscode2session("alice.1").await.expect_err("reused")),
        40163
    );
    assert_eq!(
        login_errcode(c.jscode2session("").await.expect_err("empty")),
        41008
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn refused_codes_and_wrong_secrets_are_errors() {
    let sim = spawn_sim(sim_config()).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    let (status, _) = control(&sim, "/sim/refuse-code", json!({"code": "mallory.1"})).await;
    assert_eq!(status, 204);
    assert_eq!(
        login_errcode(c.jscode2session("mallory.1").await.expect_err("refused")),
        40029
    );
    let mut cfg = client_config(&sim, "http://127.0.0.1:9/notify");
    cfg.app_secret = SecretString::from("wrong");
    assert_eq!(
        login_errcode(
            client(cfg)
                .jscode2session("carol.1")
                .await
                .expect_err("secret")
        ),
        40125
    );
    // The failed attempt did not burn the code.
    c.jscode2session("carol.1").await.expect("login");
    sim.shutdown().await;
}
