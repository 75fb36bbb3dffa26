//! `paylog events` prints exactly what was appended, as JSON lines (binary payloads
//! rendered as the JSON of their event).

use std::process::Command;
use std::sync::Arc;

use chrono::Utc;
use paylog_engine::{CommandMeta, Engine};
use paylog_store::{RocksStore, StoreOptions};
use serde_json::Value;
use uuid::Uuid;

use crate::support::{paylog, product_log};

#[tokio::test]
async fn events_prints_every_appended_envelope_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (product_id, appended) = product_log(&dir.path().join("log"), &[5, -2]).await;
    assert_eq!(appended.len(), 3);

    let data_dir = dir.path().to_str().expect("utf-8 path");
    let out = paylog(&["events", "--data-dir", data_dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), appended.len());
    for (line, event) in lines.iter().zip(&appended) {
        assert_eq!(line["position"], event.position);
        assert_eq!(line["stream_id"], event.stream_id.as_str());
        assert_eq!(line["stream_version"], event.stream_version);
        assert_eq!(line["event_type"], event.event_type.as_str());
        assert_eq!(line["command_id"], event.command_id.to_string().as_str());
        // Stored binary, printed as the event's JSON.
        assert_eq!(
            paylog_core::codec::PayloadEncoding::of(&event.payload),
            paylog_core::codec::PayloadEncoding::Binary
        );
        let (_, json) = paylog_core::codec::payload_json(
            &event.event_type,
            event.schema_version,
            &event.payload,
        )
        .expect("renders");
        let payload: Value = serde_json::from_slice(&json).expect("JSON payload");
        assert_eq!(line["payload"], payload);
    }
    assert_eq!(lines[2]["payload"]["stock_after"], 6);

    // --from and --stream select.
    let out = paylog(&["events", "--data-dir", data_dir, "--from", "2"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let stream = format!("product-{product_id}");
    let out = paylog(&[
        "events",
        "--data-dir",
        data_dir,
        "--stream",
        &stream,
        "--from",
        "3",
    ]);
    let only: Vec<&str> = std::str::from_utf8(&out.stdout)
        .expect("utf-8")
        .lines()
        .collect();
    assert_eq!(only.len(), 1);
    assert!(only[0].contains("\"stream_version\":3"));
}

#[test]
fn events_on_a_missing_data_dir_fails_with_a_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope");
    let out = paylog(&["events", "--data-dir", missing.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no event log"), "{stderr}");
    assert!(!missing.exists(), "nothing was created");
}

/// A data dir whose log holds one password user; returns the hash stored.
async fn log_with_a_password_user(dir: &std::path::Path) -> String {
    use paylog_core::UserId;
    use paylog_core::identity::{PasswordHash, Username};
    use paylog_core::user::{Credentials, RegisterUser};
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
    let store = Arc::new(RocksStore::open(dir.join("log"), StoreOptions::default()).expect("open"));
    Engine::new(store.clone())
        .register_user(
            CommandMeta::now(),
            RegisterUser {
                user_id: UserId::from_uuid(Uuid::now_v7()),
                credentials: Credentials::Password {
                    username: Username::parse("alice").expect("username"),
                    password_hash: PasswordHash::parse(hash).expect("hash"),
                },
                at: Utc::now(),
            },
        )
        .await
        .expect("register");
    store.close().await;
    hash.to_owned()
}

/// `paylog import` of `export` into a fresh dir under `parent`.
fn import(parent: &std::path::Path, name: &str, export: &[u8]) -> std::process::Output {
    use std::io::Write as _;
    let target = parent.join(name);
    let mut child = Command::new(env!("CARGO_BIN_EXE_paylog"))
        .args(["import", "--data-dir", target.to_str().expect("utf-8")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn import");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(export)
        .expect("write export");
    child.wait_with_output().expect("import")
}

#[tokio::test]
async fn export_and_events_redact_password_hashes_unless_asked_and_import_round_trips_a_full_export()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let hash = log_with_a_password_user(&data).await;
    let data_dir = data.to_str().expect("utf-8 path");

    for command in ["export", "events"] {
        let out = paylog(&[command, "--data-dir", data_dir]);
        assert!(out.status.success(), "{command}");
        let text = String::from_utf8(out.stdout).expect("utf-8");
        assert!(!text.contains(&hash), "{command} shows the hash: {text}");
        assert!(text.contains("<redacted>"), "{command}: {text}");
        assert!(text.contains("alice"), "only the hash is hidden: {text}");
    }

    let redacted = paylog(&["export", "--data-dir", data_dir]).stdout;
    let refused = import(dir.path(), "from-redacted", &redacted);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("redacted"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let full = paylog(&[
        "export",
        "--data-dir",
        data_dir,
        "--include-password-hashes",
    ]);
    assert!(full.status.success());
    assert!(String::from_utf8_lossy(&full.stdout).contains(&hash));
    let imported = import(dir.path(), "from-full", &full.stdout);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let again = paylog(&[
        "export",
        "--data-dir",
        dir.path().join("from-full").to_str().expect("utf-8"),
        "--include-password-hashes",
    ]);
    assert_eq!(again.stdout, full.stdout, "the full export round-trips");
    // The import built the views: a verify run compares against real ones.
    let verified = paylog(&[
        "replay",
        "--verify",
        "--data-dir",
        dir.path().join("from-full").to_str().expect("utf-8"),
    ]);
    assert!(
        verified.status.success(),
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
}
