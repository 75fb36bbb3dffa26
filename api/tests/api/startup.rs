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
