//! `paylog wxpay …` through `run` with in-memory stdin and stdout.

use std::process::ExitCode;

use clap::Parser;
use paylog_api::cli::wxpay::{WxpayCommand, run};
use serde_json::Value;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: WxpayCommand,
}

const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/data/wxpay_v2_vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors.json")).expect("json")
}

/// Runs `paylog wxpay ARGS` on `input`; the exit code and stdout, or the error.
fn wxpay(args: &[&str], input: &str) -> anyhow::Result<(ExitCode, String)> {
    let cli = Cli::try_parse_from(std::iter::once("wxpay").chain(args.iter().copied()))?;
    let mut out = Vec::new();
    let code = run(cli.cmd, input.as_bytes(), &mut out)?;
    Ok((code, String::from_utf8(out).expect("utf-8 output")))
}

#[test]
fn sign_matches_every_sign_vector_from_json_and_from_xml() {
    for case in vectors()["sign"].as_array().expect("sign cases") {
        let key = case["key"].as_str().expect("key");
        let st = case["sign_type"].as_str().unwrap_or("MD5");
        let fields = case["fields"].to_string();
        let (code, out) = wxpay(&["sign", "--key", key, "--sign-type", st], &fields).expect("sign");
        assert_eq!(code, ExitCode::SUCCESS);
        assert_eq!(
            out.trim(),
            case["sign"].as_str().expect("sign"),
            "{}",
            case["name"]
        );
    }
    let xml = "<xml><appid>wxd930ea5d5a258f4f</appid><mch_id>10000100</mch_id><device_info>1000</device_info><body>test</body><nonce_str>ibuaiVcKdpRxkhJA</nonce_str><sign>IGNORED</sign></xml>";
    let (_, out) = wxpay(&["sign", "--key", KEY], xml).expect("sign xml");
    assert_eq!(out.trim(), "9A0A8659F005D6984697E2CA0A9CF3B7");
}

#[test]
fn explain_prints_the_signed_string_with_the_key_masked() {
    let fields = vectors()["sign"][0]["fields"].to_string();
    let (_, out) = wxpay(&["sign", "--key", KEY, "--explain"], &fields).expect("sign");
    assert!(out.contains(
        "appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=********"
    ));
    assert!(!out.contains(KEY), "{out}");
    assert!(out.trim_end().ends_with("9A0A8659F005D6984697E2CA0A9CF3B7"));
}

#[test]
fn verify_checks_every_notify_vector() {
    for case in vectors()["notify"].as_array().expect("notify cases") {
        let (code, out) = wxpay(
            &["verify", "--key", case["key"].as_str().expect("key")],
            case["xml"].as_str().expect("xml"),
        )
        .expect("verify runs");
        if case["valid"] == true {
            assert_eq!(
                (code, out.trim()),
                (ExitCode::SUCCESS, "valid"),
                "{}",
                case["name"]
            );
        } else {
            assert_eq!(code, ExitCode::from(1), "{}", case["name"]);
            assert!(
                out.contains("mismatch") && out.contains("expected") && out.contains("given"),
                "{out}"
            );
        }
    }
    let (code, out) = wxpay(
        &["verify", "--key", KEY],
        "<xml><return_code>FAIL</return_code></xml>",
    )
    .expect("runs");
    assert_eq!(code, ExitCode::from(1));
    assert!(out.contains("no sign"), "{out}");
}

#[test]
fn pay_params_match_every_request_payment_vector() {
    for case in vectors()["request_payment"].as_array().expect("cases") {
        let f = &case["fields"];
        let s = |k: &str| f[k].as_str().expect("string field").to_owned();
        let prepay = s("package").trim_start_matches("prepay_id=").to_owned();
        let args = [
            "pay-params",
            "--key",
            case["key"].as_str().expect("key"),
            "--appid",
            &s("appId"),
            "--prepay-id",
            &prepay,
            "--sign-type",
            &s("signType"),
            "--timestamp",
            &s("timeStamp"),
            "--nonce",
            &s("nonceStr"),
        ]
        .map(str::to_owned);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, out) = wxpay(&args, "").expect("pay-params");
        let v: Value = serde_json::from_str(&out).expect("JSON output");
        assert_eq!(v["paySign"], case["paySign"], "{}", case["name"]);
        assert_eq!(v["package"], f["package"]);
        assert_eq!(v["timeStamp"], f["timeStamp"]);
    }
}

#[test]
fn decrypt_refund_matches_every_refund_vector() {
    for case in vectors()["refund_notify"].as_array().expect("cases") {
        let (_, out) = wxpay(
            &[
                "decrypt-refund",
                "--key",
                case["key"].as_str().expect("key"),
            ],
            case["xml"].as_str().expect("xml"),
        )
        .expect("decrypt");
        let v: Value = serde_json::from_str(&out).expect("JSON output");
        assert_eq!(v, case["decrypted_fields"], "{}", case["name"]);
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert!(wxpay(&["sign", "--key", KEY], "not json").is_err());
    assert!(wxpay(&["sign", "--key", KEY], "[1,2]").is_err());
    assert!(wxpay(&["sign", "--key", KEY], "{\"a\": {\"b\": 1}}").is_err());
    assert!(wxpay(&["sign", "--key", KEY, "--sign-type", "RSA"], "{}").is_err());
    assert!(wxpay(&["verify", "--key", KEY], "<!DOCTYPE x><xml/>").is_err());
    assert!(wxpay(&["verify", "--key", KEY], &"x".repeat(100_000)).is_err());
    assert!(
        wxpay(
            &["decrypt-refund", "--key", KEY],
            "<xml><req_info>@@</req_info></xml>"
        )
        .is_err()
    );
    assert!(wxpay(&["decrypt-refund", "--key", KEY], "<xml></xml>").is_err());
    assert!(
        wxpay(&["pay-params", "--key", KEY], "").is_err(),
        "missing --appid"
    );
}
