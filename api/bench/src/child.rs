//! `paylog serve` as a child process on a free loopback port, for the rows that need
//! the real binary: its peak RSS (`VmHWM` in `/proc/<pid>/status`) is then its own and
//! not the load generator's, and a flood that hurts it cannot hurt the bench.

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::server::TOKEN_SECRET;

/// Below this share of one core over half a second, a child counts as idle.
const IDLE_CPU: f64 = 0.05;

/// How often `/healthz` is asked while a child starts.
const READY_POLL: Duration = Duration::from_millis(20);

/// How long a clean shutdown may take before the child is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Limits that would measure refusals instead of the engine: a few simulated shoppers
/// place many orders each (the anti-hoarding limit), all from 127.0.0.1 (the
/// per-address rate limits). The open-orders limit is `0` (off), as for the in-process
/// server of rows 2–3: a huge limit still counts each shopper's open orders on every
/// placement, a scan that grows with the orders the shopper placed during the run.
const LIFTED_LIMITS: [(&str, &str); 4] = [
    ("--max-open-orders-per-user", "0"),
    ("--rate-limit-orders-per-minute", "0"),
    ("--rate-limit-login-per-minute", "0"),
    ("--rate-limit-register-per-minute", "0"),
];

/// `paylog serve` as a child process on a free loopback port.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// Where its stderr goes (named in errors, read for panics).
    pub log: PathBuf,
}

impl Server {
    /// Starts `exe serve` on `data_dir` with the bench's token secret, `extra` flags,
    /// [`LIFTED_LIMITS`] for those `extra` does not set, and `env`.
    pub fn start(
        exe: &Path,
        data_dir: &Path,
        tag: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        // The port is free now; the race with another process taking it before the
        // child binds is harmless (the child fails and the bench says so).
        let addr = StdListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?;
        let log = data_dir.join(format!("serve-{tag}.log"));
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--token-secret")
            .arg(TOKEN_SECRET)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?);
        for (flag, value) in LIFTED_LIMITS {
            // clap refuses a flag given twice: a row that sets one keeps its own.
            if !extra.contains(&flag) {
                command.args([flag, value]);
            }
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn()?;
        Ok(Self { child, addr, log })
    }

    pub fn exited(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// The child's peak resident set (`VmHWM`), bytes.
    pub fn peak_rss(&self) -> anyhow::Result<f64> {
        self.status_kib("VmHWM:").map(|kib| kib * 1024.0)
    }

    /// The child's resident set now (`VmRSS`), bytes.
    pub fn rss(&self) -> anyhow::Result<f64> {
        self.status_kib("VmRSS:").map(|kib| kib * 1024.0)
    }

    fn status_kib(&self, field: &str) -> anyhow::Result<f64> {
        status_kib(&self.child.id().to_string(), field)
    }

    /// CPU seconds the child has used (user + system), from `/proc/<pid>/stat`.
    fn cpu_secs(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which is in parentheses and may hold spaces).
        let rest = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| anyhow::anyhow!("unreadable /proc/{}/stat", self.child.id()))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
        let ticks = |i: usize| -> anyhow::Result<f64> {
            Ok(fields
                .get(i)
                .ok_or_else(|| anyhow::anyhow!("short /proc/{}/stat", self.child.id()))?
                .parse::<f64>()?)
        };
        // USER_HZ is 100 on Linux for every architecture paylog runs on.
        Ok((ticks(11)? + ticks(12)?) / 100.0)
    }

    /// Waits until two half-second samples in a row show the child below [`IDLE_CPU`].
    pub async fn wait_until_idle(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut quiet = 0;
        let mut last = self.cpu_secs()?;
        while quiet < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.cpu_secs()?;
            quiet = if now - last < IDLE_CPU * 0.5 {
                quiet + 1
            } else {
                0
            };
            last = now;
        }
        Ok(())
    }

    /// Polls `/healthz` until the views have caught up with the log (bounded by
    /// `timeout`); the log head it reported.
    pub async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> anyhow::Result<u64> {
        #[derive(serde::Deserialize)]
        struct Health {
            log_head: u64,
            views_position: u64,
        }
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited()? {
                anyhow::bail!(
                    "paylog serve exited with {status} (see {})",
                    self.log.display()
                );
            }
            if let Ok(response) = http
                .get(format!("http://{}/healthz", self.addr))
                .send()
                .await
                && let Ok(health) = response.json::<Health>().await
                && health.views_position >= health.log_head
            {
                return Ok(health.log_head);
            }
            anyhow::ensure!(
                started.elapsed() < timeout,
                "paylog serve was not ready in time"
            );
            // Fine enough for row 8, which times the start-up against a 2 s target.
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// SIGTERM (a clean shutdown), then SIGKILL if it has not exited in time.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// The bench process's own resident set (`VmRSS`), bytes: what the rows whose server
/// runs in-process can report (it includes the load generator).
pub fn own_rss() -> anyhow::Result<f64> {
    status_kib("self", "VmRSS:").map(|kib| kib * 1024.0)
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_kib(pid: &str, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/{pid}/status"))
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed stage must not leave a server behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
