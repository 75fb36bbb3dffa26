//! `paylog wxpay v3 …` through `run` with in-memory stdin and stdout, checked
//! against the v3 reference vectors (made with openssl and Python's
//! `cryptography`).

use std::process::ExitCode;

use clap::Parser;
use paylog_api::cli::wxpay::{WxpayCommand, run};
use serde_json::Value;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: WxpayCommand,
}

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/data/wxpay_v3_vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors")).expect("json")
}

fn wxpay(args: &[&str], input: &str) -> anyhow::Result<(ExitCode, String)> {
    let cli = Cli::try_parse_from(["wxpay", "v3"].into_iter().chain(args.iter().copied()))?;
    let mut out = Vec::new();
    let code = run(cli.cmd, input.as_bytes(), &mut out)?;
    Ok((code, String::from_utf8(out).expect("utf-8 output")))
}

/// Writes `text` to a file in `dir`, returning its path as a string.
fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

#[test]
fn sign_request_reproduces_every_request_vector() {
    let v = vectors();
    let dir = tempfile::tempdir().expect("dir");
    let keys = &v["keys"];
    let key = file(
        &dir,
        "key.pem",
        keys["merchant_private_key_pem"].as_str().expect("pem"),
    );
    for case in v["request_signatures"].as_array().expect("cases") {
        let ts = case["timestamp"].to_string();
        let (code, out) = wxpay(
            &[
                "sign-request",
                "--mchid",
                keys["mchid"].as_str().expect("mchid"),
                "--serial",
                keys["merchant_serial"].as_str().expect("serial"),
                "--private-key",
                &key,
                "--method",
                case["method"].as_str().expect("method"),
                "--url",
                case["url"].as_str().expect("url"),
                "--timestamp",
                &ts,
                "--nonce",
                case["nonce"].as_str().expect("nonce"),
            ],
            case["body"].as_str().expect("body"),
        )
        .expect("sign-request");
        assert_eq!(code, ExitCode::SUCCESS);
        let signature = case["signature"].as_str().expect("signature");
        assert!(
            out.contains(&format!("signature=\"{signature}\"")),
            "{}: {out}",
            case["name"]
        );
    }
}

#[test]
fn verify_and_decrypt_a_notify_vector_and_say_why_a_tampered_one_fails() {
    let v = vectors();
    let dir = tempfile::tempdir().expect("dir");
    let keys = &v["keys"];
    let public_key = file(
        &dir,
        "pub_key.pem",
        keys["wechatpay_public_key_pem"].as_str().expect("pem"),
    );
    let case = v["notifies"]
        .as_array()
        .expect("notifies")
        .iter()
        .find(|c| c["expect"] == "ok" && c["headers"]["Wechatpay-Serial"] == keys["public_key_id"])
        .expect("a public-key notify")
        .clone();
    let h = &case["headers"];
    let now = case["now"].to_string();
    let a: Vec<String> = [
        "verify",
        "--timestamp",
        h["Wechatpay-Timestamp"].as_str().expect("ts"),
        "--nonce",
        h["Wechatpay-Nonce"].as_str().expect("nonce"),
        "--signature",
        h["Wechatpay-Signature"].as_str().expect("sig"),
        "--serial",
        h["Wechatpay-Serial"].as_str().expect("serial"),
        "--public-key",
        &public_key,
        "--public-key-id",
        keys["public_key_id"].as_str().expect("id"),
        "--now",
        &now,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let body = case["body"].as_str().expect("body");
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let (code, out) = wxpay(&refs, body).expect("verify");
    assert_eq!(code, ExitCode::SUCCESS, "{out}");
    assert!(out.starts_with("valid"), "{out}");
    // One byte more (a re-serialised body) and it no longer verifies.
    let (code, out) = wxpay(&refs, &format!("{body} ")).expect("verify");
    assert_eq!(code, ExitCode::from(1));
    assert!(
        out.starts_with("invalid: the signature does not verify"),
        "{out}"
    );

    let (code, out) = wxpay(
        &[
            "decrypt",
            "--apiv3-key",
            keys["apiv3_key"].as_str().expect("key"),
        ],
        body,
    )
    .expect("decrypt");
    assert_eq!(code, ExitCode::SUCCESS);
    let decrypted: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(decrypted["event_type"], case["event_type"]);
    let plaintext: Value =
        serde_json::from_str(case["plaintext"].as_str().expect("plaintext")).expect("json");
    assert_eq!(
        decrypted["resource"]["out_trade_no"],
        plaintext["out_trade_no"]
    );

    // The v2 key as the APIv3 key: a tag mismatch that names its usual cause.
    let e = wxpay(
        &[
            "decrypt",
            "--apiv3-key",
            keys["v2_api_key"].as_str().expect("key"),
        ],
        body,
    )
    .expect_err("wrong key");
    assert!(
        format!("{e:#}").contains("v2 API key used as the APIv3 key"),
        "{e:#}"
    );
}

#[test]
fn pay_params_match_the_vector_and_bad_input_is_one_line() {
    let v = vectors();
    let dir = tempfile::tempdir().expect("dir");
    let key = file(
        &dir,
        "key.pem",
        v["keys"]["merchant_private_key_pem"].as_str().expect("pem"),
    );
    let case = &v["pay_params"][0];
    let ts = case["timestamp"].to_string();
    let (code, out) = wxpay(
        &[
            "pay-params",
            "--appid",
            case["appid"].as_str().expect("appid"),
            "--prepay-id",
            case["prepay_id"].as_str().expect("prepay"),
            "--private-key",
            &key,
            "--timestamp",
            &ts,
            "--nonce",
            case["nonce"].as_str().expect("nonce"),
        ],
        "",
    )
    .expect("pay-params");
    assert_eq!(code, ExitCode::SUCCESS);
    let params: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(params, case["params"]);

    let not_a_key = file(
        &dir,
        "cert.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let e = wxpay(
        &[
            "pay-params",
            "--appid",
            "wx1",
            "--prepay-id",
            "wx2",
            "--private-key",
            &not_a_key,
        ],
        "",
    )
    .expect_err("a certificate is not a private key");
    let message = format!("{e:#}");
    assert!(message.contains("not a private key"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

#[test]
fn keygen_writes_two_usable_key_pairs_and_refuses_an_existing_directory() {
    let dir = tempfile::tempdir().expect("dir");
    let out_dir = dir.path().join("keys");
    let out = out_dir.display().to_string();
    let (code, _) = wxpay(&["keygen", "--out", &out], "").expect("keygen");
    assert_eq!(code, ExitCode::SUCCESS);
    let (code, signed) = wxpay(
        &[
            "pay-params",
            "--appid",
            "wx1",
            "--prepay-id",
            "wx2",
            "--private-key",
            &out_dir.join("apiclient_key.pem").display().to_string(),
        ],
        "",
    )
    .expect("the generated key signs");
    assert_eq!(code, ExitCode::SUCCESS);
    let params: paylog_core::wxpay_v3::MiniProgramPayParams =
        serde_json::from_str(&signed).expect("json");
    let public = std::fs::read_to_string(out_dir.join("apiclient_pub.pem")).expect("pub");
    params
        .verify(&paylog_core::wxpay_v3::RsaVerifyingKey::from_pem("pub", &public).expect("pem"))
        .expect("the pair matches");
    assert!(out_dir.join("wechatpay_key.pem").is_file());
    assert!(out_dir.join("pub_key.pem").is_file());
    assert!(
        wxpay(&["keygen", "--out", &out], "").is_err(),
        "never overwrites"
    );
}

#[test]
fn the_simulator_takes_a_given_wechat_pay_key_and_id() {
    use paylog_api::cli::wxpay_sim::WxpaySimArgs;

    #[derive(Parser)]
    struct SimCli {
        #[command(flatten)]
        args: WxpaySimArgs,
    }
    let dir = tempfile::tempdir().expect("dir");
    let keys = dir.path().join("keys");
    let out = keys.display().to_string();
    wxpay(&["keygen", "--out", &out], "").expect("keygen");
    let key = keys.join("wechatpay_key.pem").display().to_string();
    let id = "PUB_KEY_ID_0114232923052024060500000000000042";
    let cli = SimCli::try_parse_from([
        "wxpay-sim",
        "--wechatpay-private-key",
        &key,
        "--public-key-id",
        id,
    ])
    .expect("flags");
    let config = cli.args.sim_config().expect("config");
    let v3 = config.v3.expect("v3");
    assert_eq!(v3.public_key_id.as_str(), id);
    let served = v3.public_key_pem().expect("pem");
    let written = std::fs::read_to_string(keys.join("pub_key.pem")).expect("pub");
    assert_eq!(
        served.trim(),
        written.trim(),
        "the given key is the one served"
    );

    let cli = SimCli::try_parse_from(["wxpay-sim", "--public-key-id", id]);
    assert!(cli.is_err(), "an id needs its key");
    let bad = SimCli::try_parse_from([
        "wxpay-sim",
        "--wechatpay-private-key",
        &key,
        "--public-key-id",
        "not-an-id",
    ])
    .expect("flags")
    .args
    .sim_config()
    .expect_err("a bad id is refused");
    assert!(format!("{bad:#}").contains("--public-key-id"), "{bad:#}");
}
