//! Unclean shutdown: nothing acknowledged is ever lost.
//!
//! This binary is both sides of the test (`harness = false`, its own `main`). With
//! `PAYLOG_CRASH_CHILD=<dir>` set it is the child: it opens the store in `<dir>`, appends
//! from several tasks as fast as it can and prints one line per acknowledged append. Without
//! it, it is the parent: it runs the child, reads acknowledgements for a while, SIGKILLs it
//! mid-append, reopens the store and checks that every acknowledged event is there, that
//! positions are gapless and versions contiguous. It does this for several rounds on the
//! same directory, so recovery after a crash is itself crashed into.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use paylog_store::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, RocksStore, StoreOptions, StreamAppend,
};
use uuid::Uuid;

const CHILD_ENV: &str = "PAYLOG_CRASH_CHILD";
const ROUNDS: usize = 3;
/// The parent kills the child after this many acknowledgements (or the deadline).
const ACKS_BEFORE_KILL: usize = 400;
const DEADLINE: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return child(Path::new(&dir));
    }
    match parent() {
        Ok(()) => {
            println!("crash: 1 passed, 0 failed");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("crash: FAILED: {message}");
            println!("crash: 0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}

/// One acknowledged append as the child reported it.
#[derive(Debug, Clone)]
struct Ack {
    command_id: Uuid,
    first: u64,
    last: u64,
}

fn parent() -> Result<(), String> {
    let dir = tempfile::TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
    let mut all_acks = Vec::new();
    for round in 1..=ROUNDS {
        let acks = run_and_kill(&exe, dir.path())?;
        if acks.is_empty() {
            return Err(format!("round {round}: the child acknowledged nothing"));
        }
        println!(
            "crash: round {round}: killed the child after {} acknowledged appends",
            acks.len()
        );
        all_acks.extend(acks);
        verify(dir.path(), &all_acks).map_err(|e| format!("round {round}: {e}"))?;
    }
    Ok(())
}

/// Runs the child until it has acknowledged enough appends, then SIGKILLs it (std's
/// `Child::kill` is SIGKILL on unix) and collects every acknowledgement it printed.
fn run_and_kill(exe: &Path, dir: &Path) -> Result<Vec<Ack>, String> {
    let mut child = Command::new(exe)
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn child: {e}"))?;
    let stdout = child.stdout.take().ok_or("child has no stdout")?;
    // Read on a thread so the deadline holds even if the child goes quiet.
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acks = Vec::new();
    let started = Instant::now();
    while acks.len() < ACKS_BEFORE_KILL {
        let Some(left) = DEADLINE.checked_sub(started.elapsed()) else {
            break;
        };
        match rx.recv_timeout(left) {
            Ok(line) => acks.push(parse_ack(&line)?),
            Err(_) => break,
        }
    }
    child.kill().map_err(|e| format!("kill child: {e}"))?;
    let status = child.wait().map_err(|e| format!("wait child: {e}"))?;
    // Lines already in the pipe were acknowledged before the kill: they count too.
    let _ = reader.join();
    while let Ok(line) = rx.try_recv() {
        acks.push(parse_ack(&line)?);
    }
    if status.success() {
        return Err("the child exited by itself instead of being killed".into());
    }
    Ok(acks)
}

fn parse_ack(line: &str) -> Result<Ack, String> {
    let bad = || format!("unexpected line from the child: {line:?}");
    let mut parts = line.split_whitespace();
    if parts.next() != Some("ack") {
        return Err(bad());
    }
    let command_id = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let first = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let last = parts.next().and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    Ok(Ack {
        command_id,
        first,
        last,
    })
}

/// Reopens the store and checks it against every acknowledgement so far.
fn verify(dir: &Path, acks: &[Ack]) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let store =
            RocksStore::open(dir, StoreOptions::default()).map_err(|e| format!("reopen: {e}"))?;
        let head = store.head();
        let mut versions: HashMap<String, u64> = HashMap::new();
        let mut by_position = HashMap::new();
        let mut after = 0;
        loop {
            let page = store
                .read_all(after, 500)
                .await
                .map_err(|e| format!("read: {e}"))?;
            let Some(last) = page.last() else { break };
            after = last.position;
            for event in page {
                if event.position != by_position.len() as u64 + 1 {
                    return Err(format!(
                        "gap: position {} after {}",
                        event.position,
                        by_position.len()
                    ));
                }
                let version = versions.entry(event.stream_id.clone()).or_insert(0);
                *version += 1;
                if event.stream_version != *version {
                    return Err(format!(
                        "stream {} jumps to version {}",
                        event.stream_id, event.stream_version
                    ));
                }
                by_position.insert(event.position, event.command_id);
            }
        }
        if by_position.len() as u64 != head {
            return Err(format!(
                "head is {head} but the log holds {} events",
                by_position.len()
            ));
        }
        for ack in acks {
            for position in ack.first..=ack.last {
                if by_position.get(&position) != Some(&ack.command_id) {
                    return Err(format!(
                        "acknowledged position {position} of {} is lost",
                        ack.command_id
                    ));
                }
            }
        }
        for (stream_id, version) in &versions {
            let stored = store
                .stream_version(stream_id)
                .await
                .map_err(|e| e.to_string())?;
            if stored != *version {
                return Err(format!(
                    "stream {stream_id}: head {stored}, log says {version}"
                ));
            }
        }
        println!(
            "crash: verified {head} events, {} acknowledged appends",
            acks.len()
        );
        Ok(())
    })
}

/// The child: append forever from several tasks, print each acknowledgement.
fn child(dir: &Path) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("child: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let store = match RocksStore::open(dir, StoreOptions::default()) {
            Ok(store) => Arc::new(store),
            Err(e) => {
                eprintln!("child: open: {e}");
                return ExitCode::FAILURE;
            }
        };
        let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
        let mut tasks = Vec::new();
        for task in 0..8u32 {
            let (store, stdout) = (Arc::clone(&store), Arc::clone(&stdout));
            tasks.push(tokio::spawn(async move {
                for i in 0u64.. {
                    let request = crash_request(task, i);
                    let command_id = request.command_id;
                    let Ok(outcome) = store.append(request).await else {
                        return;
                    };
                    // The append is acknowledged: only now may the parent hear of it.
                    let Ok(mut out) = stdout.lock() else { return };
                    let line = format!(
                        "ack {command_id} {} {}",
                        outcome.first_position, outcome.last_position
                    );
                    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                        return;
                    }
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
        ExitCode::SUCCESS
    })
}

fn crash_request(task: u32, i: u64) -> AppendRequest {
    let event = |n: u64| NewEvent {
        event_type: "CrashTested".into(),
        schema_version: 1,
        payload: format!("task {task} append {i} event {n}").into_bytes(),
    };
    AppendRequest {
        command_id: Uuid::new_v4(),
        correlation_id: Uuid::new_v4(),
        causation_id: None,
        streams: vec![
            StreamAppend {
                stream_id: format!("task-{task}"),
                expected: ExpectedVersion::Any,
                events: vec![event(0), event(1)],
            },
            StreamAppend {
                stream_id: format!("shared-{}", i % 4),
                expected: ExpectedVersion::Any,
                events: vec![event(2)],
            },
        ],
    }
}
