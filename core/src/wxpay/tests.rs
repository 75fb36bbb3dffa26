//! Reference vectors (`core/tests/data/wxpay_v2_vectors.json`) and property tests.

use proptest::prelude::*;
use serde_json::Value;

use super::*;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/wxpay_v2_vectors.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

fn s<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("case {} lacks string {key}", case["name"]))
}

fn to_fields(v: &Value) -> Fields {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("fields must be an object: {v}"));
    obj.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .unwrap_or_else(|| panic!("{k} not a string"))
                    .to_owned(),
            )
        })
        .collect()
}

fn sign_type_of(case: &Value) -> SignType {
    case["sign_type"].as_str().map_or(SignType::Md5, |t| {
        t.parse().unwrap_or_else(|e| panic!("{e}"))
    })
}

fn check_sign(case: &Value) {
    let key = ApiKey::new(s(case, "key"));
    let fields = to_fields(&case["fields"]);
    if let Some(expected) = case["string_to_sign"].as_str() {
        assert_eq!(string_to_sign(&fields, &key), expected, "{}", case["name"]);
    }
    let st = sign_type_of(case);
    assert_eq!(sign(&fields, &key, st), s(case, "sign"), "{}", case["name"]);
    let mut signed = fields.clone();
    signed.insert("sign".into(), s(case, "sign").into());
    assert_eq!(verify(&signed, &key, st), Ok(()), "{}", case["name"]);
}

fn check_notify(case: &Value) {
    let key = ApiKey::new(s(case, "key"));
    let fields = parse_xml(s(case, "xml")).unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
    let valid = case["valid"]
        .as_bool()
        .unwrap_or_else(|| panic!("{} lacks valid", case["name"]));
    assert_eq!(
        verify(&fields, &key, sign_type_of(case)).is_ok(),
        valid,
        "{}",
        case["name"]
    );
    let merchant = Merchant {
        appid: fields.get("appid").cloned().unwrap_or_default(),
        mch_id: fields.get("mch_id").cloned().unwrap_or_default(),
        key,
        sign_type: sign_type_of(case),
    };
    let typed = PayNotify::parse(s(case, "xml"), &merchant);
    assert_eq!(typed.is_ok(), valid, "{}: {typed:?}", case["name"]);
    if let Ok(n) = typed {
        assert_eq!(n.total_fee.to_string(), fields["total_fee"]);
        assert_eq!(time::format_compact(n.time_end), fields["time_end"]);
    }
}

fn check_request_payment(case: &Value) {
    let key = ApiKey::new(s(case, "key"));
    let f = to_fields(&case["fields"]);
    let st: SignType = f["signType"].parse().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sign(&f, &key, st), s(case, "paySign"), "{}", case["name"]);
    let prepay = f["package"]
        .strip_prefix("prepay_id=")
        .unwrap_or_else(|| panic!("package"));
    let ts: i64 = f["timeStamp"].parse().unwrap_or_else(|e| panic!("{e}"));
    let p = RequestPayment::new(&f["appId"], prepay, ts, &f["nonceStr"], st, &key);
    assert_eq!(p.pay_sign, s(case, "paySign"), "{}", case["name"]);
    assert_eq!(p.signed_fields(), f);
}

fn check_refund_notify(case: &Value) {
    let key = ApiKey::new(s(case, "key"));
    let outer = parse_xml(s(case, "xml")).unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
    let inner = decrypt_req_info(&outer["req_info"], &key)
        .unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
    assert_eq!(
        inner,
        to_fields(&case["decrypted_fields"]),
        "{}",
        case["name"]
    );
    let merchant = Merchant {
        appid: outer["appid"].clone(),
        mch_id: outer["mch_id"].clone(),
        key,
        sign_type: SignType::Md5,
    };
    let n = RefundNotify::parse(s(case, "xml"), &merchant)
        .unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
    assert_eq!(n.refund_fee.to_string(), inner["refund_fee"]);
    assert_eq!(n.out_refund_no, inner["out_refund_no"]);
    if let Some(t) = n.success_time {
        assert_eq!(time::format_spaced(t), inner["success_time"]);
    }
    // Our own encryption must decrypt to the same thing.
    assert_eq!(
        decrypt_req_info(&encrypt_req_info(&inner, &merchant.key), &merchant.key),
        Ok(inner)
    );
}

#[test]
fn every_reference_vector_passes() {
    let v = vectors();
    let sections = v
        .as_object()
        .unwrap_or_else(|| panic!("vectors.json must be an object"));
    let mut checked = 0;
    for (section, cases) in sections {
        let Some(cases) = cases.as_array() else {
            continue;
        };
        let check: fn(&Value) = match section.as_str() {
            "sign" => check_sign,
            "notify" => check_notify,
            "request_payment" => check_request_payment,
            "refund_notify" => check_refund_notify,
            other => panic!("vectors.json has a section {other:?} this test does not know"),
        };
        for case in cases {
            check(case);
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} cases found");
}

#[test]
fn a_notify_signed_with_a_wrong_key_or_for_another_merchant_is_refused() {
    let key = ApiKey::new("right");
    let mut f = Fields::new();
    for (k, v) in [
        ("appid", "wx1"),
        ("mch_id", "m1"),
        ("openid", "o"),
        ("out_trade_no", "T1"),
        ("transaction_id", "42"),
        ("total_fee", "100"),
        ("time_end", "20240101120000"),
        ("return_code", "SUCCESS"),
        ("result_code", "SUCCESS"),
    ] {
        f.insert(k.into(), v.into());
    }
    let merchant = Merchant {
        appid: "wx1".into(),
        mch_id: "m1".into(),
        key: key.clone(),
        sign_type: SignType::Md5,
    };
    let mut good = f.clone();
    sign_fields(&mut good, &key, SignType::Md5).expect("md5");
    assert!(PayNotify::parse(&to_xml(&good), &merchant).is_ok());
    let mut bad = f.clone();
    sign_fields(&mut bad, &ApiKey::new("wrong"), SignType::Md5).expect("md5");
    assert_eq!(
        PayNotify::parse(&to_xml(&bad), &merchant),
        Err(WxPayError::SignMismatch)
    );
    assert_eq!(
        PayNotify::parse(&to_xml(&f), &merchant),
        Err(WxPayError::MissingSign)
    );
    let other = Merchant {
        appid: "wx2".into(),
        ..merchant
    };
    assert!(matches!(
        PayNotify::parse(&to_xml(&good), &other),
        Err(WxPayError::WrongMerchant { .. })
    ));
}

#[test]
fn an_unsigned_fail_response_is_a_communication_error_and_a_signed_fail_must_verify() {
    let m = Merchant {
        appid: "wx1".into(),
        mch_id: "m1".into(),
        key: ApiKey::new("k"),
        sign_type: SignType::Md5,
    };
    let unsigned = "<xml><return_code>FAIL</return_code><return_msg>签名错误</return_msg></xml>";
    assert_eq!(
        verify_response(unsigned, &m),
        Err(WxPayError::ReturnFail("签名错误".into()))
    );
    let mut f = Fields::new();
    f.insert("return_code".into(), "SUCCESS".into());
    f.insert("result_code".into(), "FAIL".into());
    f.insert("err_code".into(), "ORDERPAID".into());
    let mut forged = f.clone();
    forged.insert("sign".into(), "00".into());
    assert_eq!(
        verify_response(&to_xml(&forged), &m),
        Err(WxPayError::SignMismatch)
    );
    sign_fields(&mut f, &m.key, SignType::Md5).expect("md5");
    assert!(matches!(
        verify_response(&to_xml(&f), &m),
        Err(WxPayError::Business {
            code: ErrCode::OrderPaid,
            ..
        })
    ));
}

proptest! {
    #[test]
    fn parser_and_verifier_never_panic(body in ".{0,400}") {
        let m = Merchant { appid: "a".into(), mch_id: "m".into(), key: ApiKey::new("k"), sign_type: SignType::Md5 };
        let _ = parse_xml(&body);
        let _ = verify_response(&body, &m);
        let _ = PayNotify::parse(&body, &m);
        let _ = RefundNotify::parse(&body, &m);
        let _ = decrypt_req_info(&body, &m.key);
    }

    #[test]
    fn xml_like_input_never_panics(body in "(<[a-z/!?]{0,4}[a-z]{0,3}>|<!\\[CDATA\\[|\\]\\]>|&[a-z#0-9]{0,4};|[a-z0-9 ]){0,40}") {
        let m = Merchant { appid: "a".into(), mch_id: "m".into(), key: ApiKey::new("k"), sign_type: SignType::Md5 };
        let _ = parse_xml(&body);
        let _ = verify_response(&body, &m);
    }

    #[test]
    fn any_fields_round_trip_and_sign(fields in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{0,20}", 0..8)) {
        let key = ApiKey::new("k");
        let mut f: Fields = fields;
        f.remove("sign");
        f.remove("sign_type");
        prop_assert_eq!(parse_xml(&to_xml(&f)), Ok(f.clone()));
        sign_fields(&mut f, &key, SignType::HmacSha256).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(verify(&f, &key, SignType::HmacSha256), Ok(()));
    }
}
