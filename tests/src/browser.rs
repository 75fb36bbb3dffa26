//! A headless chromium for the console's browser tests: Debian's chromedriver on a free
//! loopback port and one `fantoccini` WebDriver session on it. fantoccini speaks the
//! protocol; this module owns only the processes: a bounded wait for the driver to
//! listen, a few tries when another process takes the port first, and on drop the
//! driver's whole process group killed (chromium outlives a killed chromedriver, so
//! killing the driver alone would leave browsers behind after a failed test).

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

/// How long any wait (the driver listening, an element or a text appearing) may take.
pub const WAIT: Duration = Duration::from_secs(20);
/// Between two polls of a wait.
const POLL: Duration = Duration::from_millis(100);
/// Driver starts tried before giving up (a free port can be taken between the probe
/// that found it and the driver binding it).
const START_TRIES: usize = 3;
/// The browser window: wide enough for the console's tables, the README's pictures.
const WINDOW: &str = "--window-size=1280,1000";

/// The chromium and chromedriver binaries (`PAYLOG_CHROMIUM`, `PAYLOG_CHROMEDRIVER`,
/// else Debian's paths), or a one-line reason there are none.
pub fn binaries() -> std::result::Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("PAYLOG_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let driver = std::env::var_os("PAYLOG_CHROMEDRIVER")
        .map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from);
    for p in [&chromium, &driver] {
        if !p.is_file() {
            return Err(format!(
                "{} is missing: run .ci/setup.sh (it installs chromium and chromium-driver)",
                p.display()
            ));
        }
    }
    Ok((chromium, driver))
}

/// A running chromedriver (and the chromium it starts) with one session.
#[derive(Debug)]
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Starts chromedriver on a free port in a process group of its own, and waits
/// (bounded) until it listens; `Ok(None)` when it exited first (the port was taken).
async fn start_driver(driver_bin: &Path) -> Result<Option<(Child, u16)>> {
    let port = free_port()?;
    let mut driver = Command::new(driver_bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .with_context(|| format!("start {}", driver_bin.display()))?;
    let deadline = Instant::now() + WAIT;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(Some((driver, port)));
        }
        if driver.try_wait()?.is_some() {
            return Ok(None);
        }
        if Instant::now() > deadline {
            kill_group(&mut driver);
            bail!("chromedriver did not listen on port {port} within {WAIT:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Kills the driver's process group (the driver and every chromium it started).
fn kill_group(driver: &mut Child) {
    // `std` kills one pid; the group needs kill(2) on -pgid, which bash's builtin does
    // without unsafe code (dash's `kill` takes no negative pid). The driver leads its
    // group (process_group(0)), and chromium stays in it.
    let _ = Command::new("bash")
        .arg("-c")
        .arg(format!("kill -KILL -- -{}", driver.id()))
        .stderr(Stdio::null())
        .status();
    let _ = driver.kill();
    let _ = driver.wait();
}

impl Browser {
    /// Starts chromedriver and a headless chromium session (fresh profile, fixed
    /// window size).
    pub async fn start(chromium: &Path, driver_bin: &Path) -> Result<Browser> {
        let mut started = None;
        for _ in 0..START_TRIES {
            if let Some(s) = start_driver(driver_bin).await? {
                started = Some(s);
                break;
            }
        }
        let Some((mut driver, port)) = started else {
            bail!("chromedriver exited before listening, {START_TRIES} times");
        };
        let profile = tempfile::tempdir()?;
        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", WINDOW,
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let session = tokio::time::timeout(
            WAIT,
            ClientBuilder::new(HttpConnector::new())
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await;
        let client = match session {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                kill_group(&mut driver);
                bail!("chromedriver opened no session: {e}");
            }
            Err(_) => {
                kill_group(&mut driver);
                bail!("chromedriver opened no session within {WAIT:?}");
            }
        };
        Ok(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    /// The element `css` finds, waiting (bounded) for it to appear.
    pub async fn find(&self, css: &str) -> Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no element {css} within {WAIT:?}"))
    }

    /// Types `text` into the field `css` finds.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        self.find(css).await?.send_keys(text).await?;
        Ok(())
    }

    /// Clicks the element `css` finds.
    pub async fn click(&self, css: &str) -> Result<()> {
        self.find(css).await?.click().await?;
        Ok(())
    }

    /// Polls (bounded) until the visible text of the element `css` finds contains
    /// `needle`; returns that text.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.find(css).await?.text().await?;
            if text.contains(needle) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                bail!("{css} never showed {needle:?} within {WAIT:?}; it shows: {text}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The path of the page shown (`/console/today`, without the query).
    pub async fn path(&self) -> Result<String> {
        Ok(self.client.current_url().await?.path().to_owned())
    }

    /// Saves a PNG of the viewport to `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> Result<PathBuf> {
        let png = self.client.screenshot().await?;
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends the session (chromium exits); the driver ends on drop.
    pub async fn close(&self) -> Result<()> {
        self.client.clone().close().await?;
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver);
    }
}
