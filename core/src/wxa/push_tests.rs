//! Tests of the message push protocol: a vector computed independently (Python's
//! base64/hashlib and `openssl enc -aes-256-cbc -nopad`, padding built by hand),
//! round trips in both formats, and every refusal.

use chrono::TimeZone;
use secrecy::SecretString;

use super::*;

const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const KEY_HEX: &str = "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051";
const APPID: &str = "wxba5fad812f8e6fb9";
const TOKEN: &str = "pamtest";
const TIMESTAMP: &str = "1409304348";
const NONCE: &str = "xxxxxx";
const RANDOM: [u8; 16] = *b"0123456789abcdef";
const MSG: &str = r#"{"ToUserName":"gh_00000000000a","FromUserName":"o7esq5OI1Uyu_IE5CZtBvaXpIKdI","CreateTime":1700000000,"MsgType":"event","Event":"trade_manage_order_settlement","transaction_id":"4200001817202306108557954584","merchant_id":"1900000109","merchant_trade_no":"abc","pay_time":1699990000,"confirm_receive_method":2,"confirm_receive_time":1699999000,"settlement_time":1700000000}"#;
const ENCRYPT: &str = "Q3stYC6hdFzMh9T8HCvyDDwa1mDGdU9KQiLd3r9+XrThlD5Gfjm5aALKu8x4jSJpeQ68dXDSBWahcgzXGJSbvQa3PKGvxkZU00j+asUmfkVquNS8p8zchxLMJ9JubC+vJvGe0QJKa4ECBgZA1pQlbumh3dWmec6JZBG05wtkVkgEisGMC0XLJDTs5LaZDOjL+W2d6xQiHKhrBcug3UGr5eqL7XNrEdhOWXIWqBqbox8Vz7vb0weIWjPkEvXYCm/RNQon5rjdzm+SG9DO/docuR0Yh2LpmsfBR8pBZiLdAN/Rc/tEOJmp67eR2MshSvXLCINPRUteXhW1ite9OnR53LB3kbXDxUY5+hLwsE2g01t5s3ZLkGle5+u020BNxzjDq5MNnnK8Ukh3dCq4xEte61UPzGssdxgzea8eEzzBBjVw5g+5CKiiHbnFQ/tWuTOF7AL+b/IsE1QyH2zft2IFsTtcTP7eiyXjxkwL3zoeRc+83yHkfBoM0EPPxdUVKiw+A6RYsi+BnVWu/H+nUxdVBhuodCJUZjijP7cwHIFC98g=";
const MSG_SIGNATURE: &str = "15226594554bf73e30153c9f4b8c7225ec06c13e";
const SIGNATURE: &str = "76480565cbe296026c53aaacd1ad523a1ddba24f";

fn key() -> EncodingAesKey {
    EncodingAesKey::parse(KEY).expect("the vector's key parses")
}

fn settings(mode: PushMode) -> PushSettings {
    PushSettings {
        token: SecretString::from(TOKEN),
        key: Some(key()),
        appid: APPID.into(),
        mode,
    }
}

fn safe_query(msg_signature: &str) -> PushQuery {
    PushQuery {
        signature: Some(SIGNATURE.into()),
        timestamp: Some(TIMESTAMP.into()),
        nonce: Some(NONCE.into()),
        echostr: None,
        encrypt_type: Some("aes".into()),
        msg_signature: Some(msg_signature.into()),
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().expect("valid")
}

#[test]
fn the_key_is_43_characters_of_base64_with_lenient_trailing_bits() {
    assert_eq!(hex::encode(key().0), KEY_HEX);
    for bad in [
        "",
        &KEY[..42],
        &format!("{KEY}A"),
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF-",
    ] {
        assert_eq!(
            EncodingAesKey::parse(bad).err(),
            Some(PushError::BadKey),
            "{bad}"
        );
    }
    assert_eq!(format!("{:?}", key()), "EncodingAesKey(..)");
    assert!(!format!("{:?}", settings(PushMode::Safe)).contains(TOKEN));
}

#[test]
fn signatures_match_the_vector() {
    assert_eq!(signature(&[TOKEN, TIMESTAMP, NONCE]), SIGNATURE);
    assert_eq!(signature(&[NONCE, TOKEN, TIMESTAMP]), SIGNATURE);
    assert_eq!(
        signature(&[TOKEN, TIMESTAMP, NONCE, ENCRYPT]),
        MSG_SIGNATURE
    );
}

#[test]
fn seal_and_unseal_match_the_vector() {
    assert_eq!(seal(&key(), RANDOM, MSG, APPID), ENCRYPT);
    assert_eq!(unseal(&key(), ENCRYPT, APPID).as_deref(), Ok(MSG));
}

#[test]
fn a_safe_push_of_the_vector_opens_to_a_typed_settlement() {
    for format in [PushFormat::Json, PushFormat::Xml] {
        let body = sealed_body("gh_00000000000a", ENCRYPT, format);
        let opened = settings(PushMode::Safe)
            .open(&safe_query(MSG_SIGNATURE), &body)
            .expect("opens");
        assert!(opened.authenticated);
        assert_eq!(opened.format, format);
        assert_eq!(opened.message.to_user_name, "gh_00000000000a");
        assert_eq!(opened.message.create_time, Some(at(1_700_000_000)));
        assert_eq!(
            opened.message.event,
            PushEvent::OrderSettlement(OrderSettlement {
                transaction_id: "4200001817202306108557954584".into(),
                merchant_id: "1900000109".into(),
                sub_merchant_id: None,
                merchant_trade_no: "abc".into(),
                pay_time: Some(at(1_699_990_000)),
                shipped_time: None,
                estimated_settlement_time: None,
                confirm_receive_method: Some(ConfirmReceiveMethod::Manual),
                confirm_receive_time: Some(at(1_699_999_000)),
                settlement_time: Some(at(1_700_000_000)),
            })
        );
    }
}

#[test]
fn round_trips_in_both_formats_for_any_message_length() {
    let settlement = OrderSettlement {
        transaction_id: "4200".into(),
        merchant_id: "1900000109".into(),
        merchant_trade_no: "n".into(),
        shipped_time: Some(at(1_700_000_000)),
        estimated_settlement_time: Some(at(1_700_900_000)),
        ..OrderSettlement::default()
    };
    for format in [PushFormat::Xml, PushFormat::Json] {
        let fields = PushMessage::settlement_fields("gh_x", at(1_700_000_001), &settlement);
        let inner = render_body(&fields, format);
        // Lengths around the 32-byte padding boundary all round-trip.
        for extra in 0..40 {
            let msg = format!("{inner}{}", " ".repeat(extra));
            let sealed = seal(&key(), RANDOM, &msg, APPID);
            assert_eq!(unseal(&key(), &sealed, APPID).as_deref(), Ok(msg.as_str()));
        }
        let sealed = seal(&key(), [7; 16], &inner, APPID);
        let q = safe_query(&signature(&[TOKEN, TIMESTAMP, NONCE, &sealed]));
        let opened = settings(PushMode::Safe)
            .open(&q, &sealed_body("gh_x", &sealed, format))
            .expect("opens");
        assert_eq!(
            opened.message.event,
            PushEvent::OrderSettlement(settlement.clone())
        );
    }
}

#[test]
fn a_tampered_ciphertext_a_wrong_appid_or_a_bad_signature_is_refused() {
    let mut bytes = STANDARD.decode(ENCRYPT).expect("base64");
    // CBC: flipping the previous block's last byte flips the padding byte.
    let i = bytes.len() - 17;
    bytes[i] ^= 1;
    let tampered = STANDARD.encode(&bytes);
    assert!(matches!(
        unseal(&key(), &tampered, APPID),
        Err(PushError::Decrypt(_))
    ));
    assert_eq!(
        unseal(&key(), ENCRYPT, "wx0000000000000000"),
        Err(PushError::WrongAppid)
    );
    let other = EncodingAesKey::parse("0123456789abcdefghijklmnopqrstuvwxyzABCDEFG").expect("key");
    assert!(unseal(&other, ENCRYPT, APPID).is_err());
    for junk in ["", "%%%", "AAAA", &STANDARD.encode([0u8; 15])] {
        assert!(unseal(&key(), junk, APPID).is_err(), "{junk}");
    }
    // A tampered body under the original msg_signature.
    let body = sealed_body("gh", &tampered, PushFormat::Json);
    assert_eq!(
        settings(PushMode::Safe).open(&safe_query(MSG_SIGNATURE), &body),
        Err(PushError::BadSignature)
    );
    // Re-signed by someone who knows the token but not the key: still refused.
    let q = safe_query(&signature(&[TOKEN, TIMESTAMP, NONCE, &tampered]));
    assert!(matches!(
        settings(PushMode::Safe).open(&q, &body),
        Err(PushError::Decrypt(_))
    ));
    // Sealed for another mini-program.
    let sealed = seal(&key(), RANDOM, MSG, "wx_other");
    let q = safe_query(&signature(&[TOKEN, TIMESTAMP, NONCE, &sealed]));
    let body = sealed_body("gh", &sealed, PushFormat::Xml);
    assert_eq!(
        settings(PushMode::Safe).open(&q, &body),
        Err(PushError::WrongAppid)
    );
}

#[test]
fn safe_mode_refuses_a_plain_push_and_plain_mode_checks_the_signature() {
    let plain = MSG;
    let mut q = safe_query(MSG_SIGNATURE);
    q.encrypt_type = None;
    assert_eq!(
        settings(PushMode::Safe).open(&q, plain),
        Err(PushError::NotEncrypted)
    );
    let opened = settings(PushMode::Plain).open(&q, plain).expect("opens");
    assert!(!opened.authenticated);
    assert!(matches!(
        opened.message.event,
        PushEvent::OrderSettlement(_)
    ));
    q.signature = Some("0".repeat(40));
    assert_eq!(
        settings(PushMode::Plain).open(&q, plain),
        Err(PushError::BadSignature)
    );
    q.signature = None;
    assert_eq!(
        settings(PushMode::Plain).open(&q, plain),
        Err(PushError::MissingParameter("signature"))
    );
}

#[test]
fn the_handshake_echoes_echostr_only_when_signed() {
    let mut q = PushQuery {
        signature: Some(SIGNATURE.to_uppercase()),
        timestamp: Some(TIMESTAMP.into()),
        nonce: Some(NONCE.into()),
        echostr: Some("4375120948345356249".into()),
        ..PushQuery::default()
    };
    let s = settings(PushMode::Safe);
    assert_eq!(s.handshake(&q).as_deref(), Ok("4375120948345356249"));
    q.nonce = Some("yyyyyy".into());
    assert_eq!(s.handshake(&q), Err(PushError::BadSignature));
}

#[test]
fn events_are_typed_and_unknown_ones_accepted() {
    let xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o]]></FromUserName>\
        <CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>\
        <Event><![CDATA[trade_manage_remind_shipping]]></Event><transaction_id><![CDATA[42]]></transaction_id>\
        <merchant_id>19</merchant_id><merchant_trade_no>n</merchant_trade_no><pay_time>1699990000</pay_time>\
        <msg><![CDATA[请尽快发货]]></msg></xml>";
    let (format, f) = parse_body(xml).expect("parses");
    assert_eq!(format, PushFormat::Xml);
    assert_eq!(
        PushMessage::from_fields(&f).expect("typed").event,
        PushEvent::RemindShipping(RemindShipping {
            transaction_id: "42".into(),
            merchant_id: "19".into(),
            merchant_trade_no: "n".into(),
            pay_time: Some(at(1_699_990_000)),
            msg: "请尽快发货".into(),
        })
    );
    let json = r#"{"ToUserName":"gh_1","MsgType":"event","Event":"trade_manage_remind_access_api","msg":"接入"}"#;
    let (_, f) = parse_body(json).expect("parses");
    assert_eq!(
        PushMessage::from_fields(&f).expect("typed").event,
        PushEvent::RemindAccessApi {
            msg: "接入".into()
        }
    );
    let json =
        r#"{"ToUserName":"gh_1","MsgType":"event","Event":"wxa_media_check","detail":[{"a":1}]}"#;
    let (_, f) = parse_body(json).expect("parses");
    assert_eq!(
        PushMessage::from_fields(&f).expect("typed").event,
        PushEvent::Other {
            msg_type: "event".into(),
            event: "wxa_media_check".into()
        }
    );
    // A settlement whose times do not read, or naming no payment, is refused.
    let bad = r#"{"MsgType":"event","Event":"trade_manage_order_settlement","transaction_id":"1","settlement_time":"soon"}"#;
    let (_, f) = parse_body(bad).expect("parses");
    assert_eq!(
        PushMessage::from_fields(&f),
        Err(PushError::InvalidField {
            field: "settlement_time"
        })
    );
    let none = r#"{"MsgType":"event","Event":"trade_manage_order_settlement"}"#;
    let (_, f) = parse_body(none).expect("parses");
    assert!(PushMessage::from_fields(&f).is_err());
}

#[test]
fn bodies_are_bounded_and_hostile_xml_refused() {
    let big = format!(r#"{{"a":"{}"}}"#, "x".repeat(MAX_PUSH_BODY_BYTES));
    assert!(matches!(parse_body(&big), Err(PushError::TooLarge { .. })));
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><a>&e;</a></xml>"#;
    assert!(matches!(parse_body(xxe), Err(PushError::Malformed(_))));
    for junk in ["", "[]", "\"x\"", "<xml><a><b>1</b></a></xml>", "{"] {
        assert!(parse_body(junk).is_err(), "{junk}");
    }
}
