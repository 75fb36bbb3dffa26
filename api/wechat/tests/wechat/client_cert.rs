//! The merchant's client certificate: the PEM pair and the PKCS#12 file as WeChat
//! issues it (legacy RC2-40/3DES, password = merchant id) load, bad ones are refused
//! with a message that holds no key material, and a refund goes out with it.

use std::path::PathBuf;

use paylog_wechat::{ClientIdentity, WechatClient};
use secrecy::SecretString;

use super::support::{MCH_ID, client_config, sim_config, spawn_sim};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/client_cert")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text(name: &str) -> String {
    String::from_utf8(fixture(name)).expect("PEM text")
}

fn mch_id() -> SecretString {
    SecretString::from(MCH_ID)
}

/// A client with `identity` is built (the TLS identity is checked then).
async fn builds(identity: ClientIdentity) -> Result<WechatClient, String> {
    let sim = spawn_sim(sim_config()).await;
    let mut config = client_config(&sim, "http://127.0.0.1:9/notify");
    config.client_identity = Some(identity);
    WechatClient::new(config).map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_pem_pair_loads() {
    let key = SecretString::from(text("apiclient_key.pem"));
    let identity =
        ClientIdentity::from_pem_pair(&text("apiclient_cert.pem"), &key).expect("the PEM pair");
    builds(identity).await.expect("a client with the PEM pair");
}

#[tokio::test]
async fn the_legacy_p12_loads_as_wechat_issues_it() {
    // Made by `openssl pkcs12 -export -legacy`: pbeWithSHA1And40BitRC2-CBC for the
    // certificate, 3DES for the key, as apiclient_cert.p12 is.
    let identity = ClientIdentity::from_pkcs12(&fixture("apiclient_cert.p12"), &mch_id())
        .expect("the legacy PKCS#12 file");
    builds(identity)
        .await
        .expect("a client with the P12 identity");
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let key = SecretString::from(text("other_key.pem"));
    let err = ClientIdentity::from_pem_pair(&text("apiclient_cert.pem"), &key)
        .map(drop)
        .expect_err("mismatched key and certificate")
        .to_string();
    assert!(err.contains("unusable certificate or key"), "{err}");
}

#[test]
fn bad_files_are_refused_with_a_reason_and_no_key_material() {
    let key_pem = text("apiclient_key.pem");
    let key = SecretString::from(key_pem.clone());
    let cases = [
        ClientIdentity::from_pkcs12(&fixture("apiclient_cert.p12"), &SecretString::from("wrong"))
            .map(drop)
            .expect_err("wrong password")
            .to_string(),
        ClientIdentity::from_pkcs12(b"not a p12 at all", &mch_id())
            .map(drop)
            .expect_err("garbage")
            .to_string(),
        ClientIdentity::from_pkcs12(&fixture("apiclient_cert.pem"), &mch_id())
            .map(drop)
            .expect_err("a PEM given as P12")
            .to_string(),
        ClientIdentity::from_pem_pair(&key_pem, &key)
            .map(drop)
            .expect_err("the key as certificate")
            .to_string(),
        ClientIdentity::from_pem_pair(
            &text("apiclient_cert.pem"),
            &SecretString::from(text("apiclient_cert.pem")),
        )
        .map(drop)
        .expect_err("the certificate as key")
        .to_string(),
    ];
    assert!(cases[0].contains("password"), "{}", cases[0]);
    assert!(cases[1].contains("PKCS#12"), "{}", cases[1]);
    let body: String = key_pem.lines().nth(1).expect("a base64 line").into();
    for message in &cases {
        assert!(!message.contains(&body), "no key material: {message}");
        assert_eq!(message.lines().count(), 1, "one line: {message}");
    }
}

#[test]
fn a_p12_in_openssl_3s_default_encryption_is_named_as_such() {
    // `openssl pkcs12 -export` without -legacy (PBES2/AES): not what WeChat issues;
    // the refusal says what to use instead rather than failing obscurely.
    let e = ClientIdentity::from_pkcs12(&fixture("modern.p12"), &mch_id())
        .map(drop)
        .expect_err("PBES2 with a SHA-256 MAC")
        .to_string();
    assert!(e.contains("legacy") && e.contains("PEM"), "{e}");
}

#[test]
fn the_identity_never_shows_in_debug() {
    let identity = ClientIdentity::from_pkcs12(&fixture("apiclient_cert.p12"), &mch_id())
        .expect("the legacy PKCS#12 file");
    assert_eq!(format!("{identity:?}"), "ClientIdentity([REDACTED])");
}

#[test]
fn only_wechat_pay_itself_is_its_endpoint() {
    use paylog_wechat::is_wechat_pay_endpoint;
    assert!(is_wechat_pay_endpoint("https://api.mch.weixin.qq.com"));
    assert!(is_wechat_pay_endpoint("https://api2.mch.weixin.qq.com/"));
    assert!(!is_wechat_pay_endpoint("http://127.0.0.1:9000"));
    assert!(!is_wechat_pay_endpoint(
        "https://mch.weixin.qq.com.evil.example"
    ));
    assert!(!is_wechat_pay_endpoint("not a url"));
}
