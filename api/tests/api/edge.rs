//! The accept loop under hostile clients, over real sockets on 127.0.0.1: a client
//! sending its headers one byte at a time is cut off by the header-read timeout, and
//! SIGTERM with such a client connected ends the process within the shutdown deadline.
//! Every wait is a bounded loop.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use paylog_api::app::Application;
use paylog_api::config::ServeArgs;
use tokio::net::TcpListener;

const SLOW_REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

/// Whether the server closed `stream` (EOF, a reset, or an answer it never asked for).
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        // EOF (0) or an answer (e.g. 408) both mean the server gave up on us.
        Ok(0) | Ok(_) => true,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Sends one header byte per `pause` (never finishing the headers) until the server
/// closes the connection; the number of bytes sent, or `None` if it never did within
/// `max_bytes`.
fn send_slowly(stream: &mut TcpStream, pause: Duration, max_bytes: usize) -> Option<usize> {
    stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .expect("read timeout");
    let bytes = SLOW_REQUEST.iter().chain(std::iter::repeat(&b'a'));
    for (sent, byte) in bytes.take(max_bytes).enumerate() {
        if stream.write_all(&[*byte]).is_err() || closed_by_server(stream) {
            return Some(sent);
        }
        std::thread::sleep(pause);
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_one_header_byte_at_a_time_is_cut_off() {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let listen = listener.local_addr().expect("address");
    let data_dir = dir.path().join("data");
    let args = ServeArgs::from_flags([
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
        "--listen".as_ref(),
        listen.to_string().as_ref(),
        "--token-secret".as_ref(),
        "edge-test-token-secret-0123456789abcdef".as_ref(),
        "--password-hash-threads".as_ref(),
        "1".as_ref(),
        "--password-hash-queue".as_ref(),
        "1".as_ref(),
        "--max-open-orders-per-user".as_ref(),
        "10".as_ref(),
        "--header-read-timeout".as_ref(),
        "300ms".as_ref(),
        "--max-connections".as_ref(),
        "16".as_ref(),
        "--shutdown-deadline".as_ref(),
        "1s".as_ref(),
        "--rate-limit-login-per-minute".as_ref(),
        "0".as_ref(),
        "--rate-limit-register-per-minute".as_ref(),
        "0".as_ref(),
        "--rate-limit-orders-per-minute".as_ref(),
        "0".as_ref(),
    ])
    .expect("settings");
    let app = Application::build(args, listener).await.expect("build app");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stop_rx.await;
    }));

    let cut_after = tokio::task::spawn_blocking(move || {
        let mut slow = TcpStream::connect(listen).expect("connect");
        // At most 200 bytes, 50 ms apart: ten seconds against a 300 ms timeout.
        send_slowly(&mut slow, Duration::from_millis(50), 200)
    })
    .await
    .expect("slow client");
    assert!(
        cut_after.is_some(),
        "the slow client was never cut off by the header-read timeout"
    );

    // A normal client is served all along.
    let answered = tokio::task::spawn_blocking(move || {
        let mut client = TcpStream::connect(listen).expect("connect");
        client
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .expect("write");
        let mut answer = String::new();
        let _ = client.read_to_string(&mut answer);
        answer
    })
    .await
    .expect("client");
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");

    let _ = stop_tx.send(());
    server.await.expect("server task").expect("stopped cleanly");
}

/// Polls `GET /healthz` on `port` until it answers (bounded: 600 × 100 ms).
fn wait_serving(port: u16, child: &mut std::process::Child) {
    for _ in 0..600 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("paylog serve exited: {status}");
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("paylog serve never answered");
}

#[test]
fn sigterm_with_a_slow_client_connected_exits_within_the_shutdown_deadline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_paylog"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--token-secret", "edge-test-token-secret-0123456789abcdef"])
        // The timeouts alone would keep the slow clients for two minutes.
        .args([
            "--header-read-timeout",
            "120s",
            "--request-timeout",
            "120s",
            "--shutdown-deadline",
            "500ms",
        ])
        .env("RUST_LOG", "warn")
        .env_remove("PAYLOG_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn paylog serve");
    wait_serving(port, &mut child);

    // One client stalls in its headers, another in its body (a request in flight,
    // which a graceful shutdown waits for).
    let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    slow.write_all(&SLOW_REQUEST[..10])
        .expect("a few header bytes");
    let mut slow_body = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    slow_body
        .write_all(
            b"POST /v1/auth/password HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user",
        )
        .expect("headers and a few body bytes");
    // Let the server read them before the signal.
    std::thread::sleep(Duration::from_millis(200));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());

    // Bounded: 200 × 50 ms, far beyond the 500 ms deadline, far below the header timeout.
    let mut exited = None;
    for _ in 0..200 {
        if let Some(status) = child.try_wait().expect("try_wait") {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = slow.shutdown(Shutdown::Both);
    let _ = slow_body.shutdown(Shutdown::Both);
    let Some(status) = exited else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("paylog serve did not exit within the shutdown deadline");
    };
    assert!(status.success(), "{status}");
}
