//! Start-up refusals of the real `paylog serve` binary: weak secrets and simulator
//! mode on a public address end the process with a one-line error and a non-zero
//! exit code, before anything is opened or served.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const GOOD_SECRET: &str = "startup-test-token-secret-0123456789abcdef";

/// `paylog serve` on `data_dir` with `args`, with every `PAYLOG_*` setting this test
/// relies on taken from the arguments only.
fn serve(data_dir: &Path, args: &[&str], rust_log: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_paylog"));
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("RUST_LOG", rust_log);
    for name in [
        "PAYLOG_TOKEN_SECRET",
        "PAYLOG_ADMIN_TOKEN",
        "PAYLOG_LISTEN",
        "PAYLOG_WECHAT_APPID",
        "PAYLOG_WECHAT_MCH_ID",
        "PAYLOG_WECHAT_API_KEY",
        "PAYLOG_WECHAT_SECRET",
        "PAYLOG_WECHAT_SIGN_TYPE",
        "PAYLOG_NOTIFY_URL",
        "PAYLOG_REFUND_NOTIFY_URL",
        "PAYLOG_WECHAT_PAY_URL",
        "PAYLOG_WECHAT_API_URL",
        "PAYLOG_WECHAT_CLIENT_CERT",
        "PAYLOG_WECHAT_CLIENT_KEY",
        "PAYLOG_WECHAT_CLIENT_P12",
    ] {
        cmd.env_remove(name);
    }
    cmd
}

/// Runs a `paylog serve` that must refuse to start; returns its stderr. Refusals
/// happen before serving, so `output()` returns (the test harness's timeout bounds a
/// server that wrongly started).
fn refused(args: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let out: Output = serve(&dir.path().join("data"), args, "off")
        .stdin(Stdio::null())
        .output()
        .expect("run paylog");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("paylog: "), "{stderr}");
    assert!(
        !dir.path().join("data").join("log").exists(),
        "nothing is opened before the settings are checked"
    );
    stderr
}

#[test]
fn a_short_token_secret_is_refused_without_echoing_it() {
    let stderr = refused(&[
        "--listen",
        "127.0.0.1:0",
        "--token-secret",
        "hunter2-but-short",
    ]);
    assert!(stderr.contains("PAYLOG_TOKEN_SECRET"), "{stderr}");
    assert!(stderr.contains("at least 32"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the secret is never echoed: {stderr}"
    );
}

#[test]
fn a_short_admin_token_is_refused_without_echoing_it() {
    let stderr = refused(&[
        "--listen",
        "127.0.0.1:0",
        "--token-secret",
        GOOD_SECRET,
        "--admin-token",
        "admin-short",
    ]);
    assert!(stderr.contains("PAYLOG_ADMIN_TOKEN"), "{stderr}");
    assert!(stderr.contains("at least 32"), "{stderr}");
    assert!(!stderr.contains("admin-short"), "{stderr}");
}

#[test]
fn an_unknown_sign_type_is_refused() {
    let stderr = refused(&[
        "--listen",
        "127.0.0.1:0",
        "--token-secret",
        GOOD_SECRET,
        "--wechat-sign-type",
        "SHA1",
    ]);
    assert!(stderr.contains("PAYLOG_WECHAT_SIGN_TYPE"), "{stderr}");
    assert!(stderr.contains("either"), "{stderr}");
}

#[test]
fn simulator_mode_refuses_a_public_address_without_the_flag() {
    let stderr = refused(&["--listen", "0.0.0.0:0", "--token-secret", GOOD_SECRET]);
    assert!(stderr.contains("simulator"), "{stderr}");
    assert!(
        stderr.contains("--allow-simulator-on-public-address"),
        "{stderr}"
    );
}

/// Complete WeChat merchant settings (test values), then `extra`.
fn wechat<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--token-secret",
        GOOD_SECRET,
        "--wechat-appid",
        "wx1234567890abcdef",
        "--wechat-mch-id",
        "1900000109",
        "--wechat-api-key",
        "192006250b4c09247ec02edce69f6a2d",
        "--wechat-secret",
        "startup-test-app-secret",
        "--notify-url",
        "https://shop.example.com/v1/wechat/pay/notify",
    ];
    args.extend_from_slice(extra);
    args
}

/// The TEST-ONLY client certificates of the WeChat client's tests.
fn cert(name: &str) -> String {
    format!(
        "{}/wechat/tests/data/client_cert/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn wechat_pay_itself_without_a_client_certificate_is_refused() {
    // The default pay URL is WeChat's real endpoint: refunds would all fail there.
    let stderr = refused(&wechat(&[]));
    for name in [
        "PAYLOG_WECHAT_CLIENT_P12",
        "PAYLOG_WECHAT_CLIENT_CERT",
        "PAYLOG_WECHAT_CLIENT_KEY",
    ] {
        assert!(stderr.contains(name), "{stderr}");
    }
}

#[test]
fn bad_client_certificate_settings_are_refused_in_one_line() {
    let (p12, pem, key, other) = (
        cert("apiclient_cert.p12"),
        cert("apiclient_cert.pem"),
        cert("apiclient_key.pem"),
        cert("other_key.pem"),
    );
    let leak: String = std::fs::read_to_string(&key)
        .expect("key fixture")
        .lines()
        .nth(1)
        .expect("a base64 line")
        .to_owned();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--wechat-client-p12", "/nonexistent/apiclient_cert.p12"],
            "cannot read",
        ),
        (vec!["--wechat-client-p12", &pem], "PKCS#12"),
        (
            vec!["--wechat-client-cert", &pem],
            "without PAYLOG_WECHAT_CLIENT_KEY",
        ),
        (
            vec!["--wechat-client-key", &key],
            "without PAYLOG_WECHAT_CLIENT_CERT",
        ),
        (
            vec!["--wechat-client-cert", &key, "--wechat-client-key", &key],
            "certificate",
        ),
        (
            vec!["--wechat-client-cert", &pem, "--wechat-client-key", &other],
            "unusable",
        ),
        (
            vec!["--wechat-client-p12", &p12, "--wechat-client-cert", &pem],
            "both",
        ),
    ];
    for (extra, wanted) in cases {
        let mut args = wechat(&[]);
        args.extend(extra.iter().copied());
        let stderr = refused(&args);
        assert!(stderr.contains(wanted), "{extra:?}: {stderr}");
        assert!(!stderr.contains(&leak), "no key material: {stderr}");
    }
}

#[test]
fn without_a_certificate_a_test_double_is_fine_and_its_absence_is_logged_once() {
    let lines = lines_until(
        &wechat(&["--wechat-pay-url", "http://127.0.0.1:9"]),
        "paylog API listening",
    );
    let said: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("no client certificate"))
        .collect();
    assert_eq!(said.len(), 1, "{lines:#?}");
}

#[test]
fn the_legacy_p12_as_wechat_issues_it_lets_wechat_pay_itself_start() {
    let p12 = cert("apiclient_cert.p12");
    let lines = lines_until(
        &wechat(&["--wechat-client-p12", &p12]),
        "paylog API listening",
    );
    assert!(
        lines.iter().any(|l| l.contains("refund notify URL derived")
            && l.contains("https://shop.example.com/v1/wechat/refund/notify")),
        "{lines:#?}"
    );
}

/// Starts `paylog serve`, waits (bounded) for a stderr line containing `wanted`,
/// collecting every line before it, then kills the server.
fn lines_until(args: &[&str], wanted: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = serve(&dir.path().join("data"), args, "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn paylog");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    // Bounded: 600 waits of at most 100 ms each.
    for _ in 0..600 {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let done = line.contains(wanted);
                seen.push(line);
                if done {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        seen.iter().any(|l| l.contains(wanted)),
        "no line with {wanted:?}: {seen:#?}"
    );
    seen
}

#[test]
fn simulator_mode_warns_loudly_on_loopback_and_on_an_allowed_public_address() {
    for args in [
        &["--listen", "127.0.0.1:0", "--token-secret", GOOD_SECRET][..],
        &[
            "--listen",
            "0.0.0.0:0",
            "--token-secret",
            GOOD_SECRET,
            "--allow-simulator-on-public-address",
        ][..],
    ] {
        let lines = lines_until(args, "paylog API listening");
        assert!(
            lines.iter().any(|l| l.contains("WARN")
                && l.contains("SIMULATOR MODE")
                && l.contains("public")),
            "{lines:#?}"
        );
    }
}
