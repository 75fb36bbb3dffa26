//! `PAYLOG_WECHAT_SIGN_TYPE` as a policy on payment notifies: a notify signed with
//! another algorithm than the configured one is refused even with the right key;
//! `either` (the migration case) accepts both.

use crate::support::*;
use paylog_core::wxpay::{ApiKey, SignType, WxPayError, sign_fields, to_xml};
use paylog_sim::notify::PayNotice;
use paylog_wechat::{WechatClient, WechatConfig};
use secrecy::SecretString;

fn notice() -> PayNotice {
    PayNotice {
        appid: APPID.into(),
        mch_id: MCH_ID.into(),
        nonce_str: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS".into(),
        openid: "oUpF8uMEb4qRXf22hE3X68TekukE".into(),
        out_trade_no: "P100".into(),
        transaction_id: "4200000001202611290000000001".into(),
        total_fee: 100,
        time_end: "20261129120000".into(),
        attach: String::new(),
    }
}

/// The notify signed by `sign_type` with the merchant's key; `named` also puts
/// `sign_type` in the body (then part of the signed set).
fn body(sign_type: SignType, named: bool) -> String {
    let mut fields = notice().fields();
    if named {
        fields.insert("sign_type".into(), sign_type.as_str().into());
    }
    sign_fields(&mut fields, &ApiKey::new(KEY), sign_type).expect("sign");
    to_xml(&fields)
}

fn client_with(sign_type: SignType, either: bool) -> WechatClient {
    let mut config = WechatConfig::new(
        APPID,
        MCH_ID,
        SecretString::from(KEY),
        SecretString::from(SECRET),
        "http://127.0.0.1:9/v1/wechat/pay/notify",
    );
    config.sign_type = sign_type;
    config.accept_either_sign_type = either;
    client(config)
}

#[test]
fn a_notify_signed_otherwise_than_configured_is_refused_even_with_the_right_key() {
    let hmac = client_with(SignType::HmacSha256, false);
    assert!(matches!(
        hmac.parse_pay_notify(&body(SignType::Md5, true)),
        Err(WxPayError::UnsupportedSignType(_))
    ));
    assert_eq!(
        hmac.parse_pay_notify(&body(SignType::Md5, false)),
        Err(WxPayError::SignMismatch)
    );
    let n = hmac
        .parse_pay_notify(&body(SignType::HmacSha256, true))
        .expect("HMAC-signed, as configured");
    assert_eq!(n.out_trade_no, "P100");
    assert!(
        hmac.parse_pay_notify(&body(SignType::HmacSha256, false))
            .is_ok()
    );

    let md5 = client_with(SignType::Md5, false);
    assert!(matches!(
        md5.parse_pay_notify(&body(SignType::HmacSha256, true)),
        Err(WxPayError::UnsupportedSignType(_))
    ));
    assert!(md5.parse_pay_notify(&body(SignType::Md5, false)).is_ok());
    assert!(md5.parse_pay_notify(&body(SignType::Md5, true)).is_ok());
}

#[test]
fn either_accepts_both_algorithms_but_never_a_wrong_key() {
    let either = client_with(SignType::Md5, true);
    for sign_type in [SignType::Md5, SignType::HmacSha256] {
        for named in [false, true] {
            let n = either
                .parse_pay_notify(&body(sign_type, named))
                .unwrap_or_else(|e| panic!("{sign_type} named={named}: {e}"));
            assert_eq!(n.total_fee, 100);
        }
    }
    let mut fields = notice().fields();
    sign_fields(
        &mut fields,
        &ApiKey::new("00000000000000000000000000000000"),
        SignType::HmacSha256,
    )
    .expect("sign");
    assert_eq!(
        either.parse_pay_notify(&to_xml(&fields)),
        Err(WxPayError::SignMismatch)
    );
}
