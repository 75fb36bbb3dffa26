//! The access token and the order-shipping calls against the simulator: one token
//! shared by concurrent callers, an expired token refreshed once, uploads checked
//! against WeChat's limits and its one change, and `get_order`'s states.

use chrono::Utc;
use paylog_core::order::{DeliveryMode, LogisticsType, Parcel, Shipment};
use paylog_core::wxa::{self, GetOrderRequest, OrderKey, UploadShippingInfo};
use paylog_wechat::{WechatClient, WechatError};
use serde_json::json;

use crate::support::*;

const OPENID: &str = "oUpF8uMEb4qRXf22hE3X68TekukE";

fn shipment(tracking: &str) -> Shipment {
    Shipment {
        logistics_type: LogisticsType::Express,
        delivery_mode: DeliveryMode::Unified,
        parcels: vec![Parcel {
            tracking_no: Some(tracking.into()),
            express_company: Some("SF".into()),
            item_desc: "乌龙茶*2".into(),
        }],
        is_all_delivered: true,
    }
}

/// A paid order at the simulator; its transaction id.
async fn paid(sim: &paylog_sim::SimHandle, c: &WechatClient, no: &str) -> String {
    c.unified_order(&order(no, 500)).await.expect("order");
    let (status, paid) = control(
        sim,
        "/sim/pay",
        json!({"out_trade_no": no, "notify": false}),
    )
    .await;
    assert_eq!(status, 200, "{paid}");
    paid["transaction_id"]
        .as_str()
        .expect("transaction id")
        .to_owned()
}

fn upload(transaction_id: &str, shipment: &Shipment) -> UploadShippingInfo {
    UploadShippingInfo::new(
        OrderKey::by_transaction(transaction_id),
        shipment,
        OPENID,
        Utc::now(),
    )
}

fn errcode(e: &WechatError) -> Option<i64> {
    match e {
        WechatError::Wxa { errcode, .. } => Some(*errcode),
        _ => None,
    }
}

async fn state_of(c: &WechatClient, transaction_id: &str) -> u8 {
    c.get_shipping_order(&GetOrderRequest {
        transaction_id: Some(transaction_id.into()),
        merchant_id: None,
        merchant_trade_no: None,
    })
    .await
    .expect("get_order")
    .order_state
}

#[tokio::test]
async fn a_shipment_is_uploaded_changed_once_then_refused() {
    let sim = spawn_sim(sim_config()).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    let txn = paid(&sim, &c, "S100").await;
    assert_eq!(state_of(&c, &txn).await, 1, "paid, awaiting shipment");

    c.upload_shipping_info(&upload(&txn, &shipment("SF001")))
        .await
        .expect("first upload");
    assert_eq!(state_of(&c, &txn).await, 2, "shipped");
    c.upload_shipping_info(&upload(&txn, &shipment("SF002")))
        .await
        .expect("the one change");
    let e = c
        .upload_shipping_info(&upload(&txn, &shipment("SF003")))
        .await
        .expect_err("no second change");
    assert_eq!(errcode(&e), Some(wxa::ERR_REUPLOAD_USED), "{e}");

    // By mchid + out_trade_no too.
    let key = OrderKey::by_out_trade_no(MCH_ID, "S100");
    let body = UploadShippingInfo::new(key, &shipment("SF004"), OPENID, Utc::now());
    let e = c
        .upload_shipping_info(&body)
        .await
        .expect_err("still spent");
    assert_eq!(errcode(&e), Some(wxa::ERR_REUPLOAD_USED));

    // The shopper confirms, WeChat settles: get_order follows.
    let (s, _) = control(&sim, "/sim/confirm-receipt", json!({"transaction_id": txn})).await;
    assert_eq!(s, 204);
    assert_eq!(state_of(&c, &txn).await, 3);
    let (s, _) = control(&sim, "/sim/settle", json!({"transaction_id": txn})).await;
    assert_eq!(s, 204);
    assert_eq!(state_of(&c, &txn).await, 4);
    // Every call used the one token handed out.
    assert_eq!(sim.shipping_json()["tokens_issued"], 1);
}

#[tokio::test]
async fn uploads_breaking_wechats_rules_are_refused_with_its_errcodes() {
    let sim = spawn_sim(sim_config()).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    let txn = paid(&sim, &c, "S200").await;

    let e = c
        .upload_shipping_info(&upload("4200000000000000000000000000", &shipment("SF1")))
        .await
        .expect_err("unknown payment");
    assert_eq!(errcode(&e), Some(wxa::ERR_PAYMENT_NOT_FOUND));

    let mut long = shipment("SF1");
    long.parcels[0].item_desc = "茶".repeat(121);
    let e = c
        .upload_shipping_info(&upload(&txn, &long))
        .await
        .expect_err("too long");
    assert_eq!(errcode(&e), Some(wxa::ERR_ITEM_DESC_TOO_LONG));

    let mut split = shipment("SF1");
    split.delivery_mode = DeliveryMode::Split;
    split.logistics_type = LogisticsType::SameCity;
    let e = c
        .upload_shipping_info(&upload(&txn, &split))
        .await
        .expect_err("split");
    assert_eq!(errcode(&e), Some(wxa::ERR_SPLIT_NEEDS_EXPRESS));

    let mut other_payer = upload(&txn, &shipment("SF1"));
    other_payer.payer.openid = "oSomeoneElse".into();
    let e = c
        .upload_shipping_info(&other_payer)
        .await
        .expect_err("payer");
    assert_eq!(errcode(&e), Some(wxa::ERR_PARAM));

    // A refusal the test asks for, then the same upload accepted.
    let (s, _) = control(
        &sim,
        "/sim/shipping-fault",
        json!({"errcode": -1, "times": 1}),
    )
    .await;
    assert_eq!(s, 204);
    let e = c
        .upload_shipping_info(&upload(&txn, &shipment("SF1")))
        .await
        .expect_err("busy");
    assert_eq!(errcode(&e), Some(wxa::ERR_BUSY));
    c.upload_shipping_info(&upload(&txn, &shipment("SF1")))
        .await
        .expect("accepted on retry");
    assert_eq!(state_of(&c, &txn).await, 2);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_call_retried() {
    let sim = spawn_sim(sim_config()).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    let txn = paid(&sim, &c, "S300").await;
    assert_eq!(state_of(&c, &txn).await, 1);
    assert_eq!(sim.shipping_json()["tokens_issued"], 1);

    let (s, _) = control(&sim, "/sim/expire-token", json!({})).await;
    assert_eq!(s, 204);
    // 42001 → one refresh → the same call succeeds.
    assert_eq!(state_of(&c, &txn).await, 1);
    assert_eq!(sim.shipping_json()["tokens_issued"], 2);
    assert_eq!(state_of(&c, &txn).await, 1);
    assert_eq!(
        sim.shipping_json()["tokens_issued"],
        2,
        "the new token is cached"
    );
    assert_eq!(sim.shipping_json()["token_requests"], 2);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let sim = spawn_sim(sim_config()).await;
    let c = client(client_config(&sim, "http://127.0.0.1:9/notify"));
    let txn = paid(&sim, &c, "S400").await;
    let calls = (0..8).map(|_| {
        let (c, txn) = (c.clone(), txn.clone());
        tokio::spawn(async move { state_of(&c, &txn).await })
    });
    for call in calls {
        assert_eq!(call.await.expect("joined"), 1);
    }
    // One stable_token call for all of them: the others waited for its token.
    assert_eq!(sim.shipping_json()["token_requests"], 1);
}

#[tokio::test]
async fn a_wrong_app_secret_is_a_typed_error_that_does_not_show_the_secret() {
    let sim = spawn_sim(sim_config()).await;
    let mut config = client_config(&sim, "http://127.0.0.1:9/notify");
    config.app_secret = secrecy::SecretString::from("WrongSecretMustNotLeak42");
    let c = client(config);
    let e = c
        .get_shipping_order(&GetOrderRequest {
            transaction_id: Some("4200000000000000000000000000".into()),
            merchant_id: None,
            merchant_trade_no: None,
        })
        .await
        .expect_err("no token");
    assert_eq!(errcode(&e), Some(40125));
    assert!(!format!("{e} {e:?} {c:?}").contains("WrongSecretMustNotLeak42"));
}
