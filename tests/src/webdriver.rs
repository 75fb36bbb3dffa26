//! A headless chromium driven through chromedriver (W3C WebDriver over HTTP), for
//! the console's browser tests: start the driver on a free port, open a session, go
//! to pages, find elements by CSS selector, type, click, read the page, screenshot.
//!
//! Only the handful of WebDriver commands the tests use, over the reqwest client the
//! tests already have: the WebDriver client crates pull in an ICU dependency tree
//! whose proc-macro features would rebuild the workspace's proc macros (and RocksDB's
//! bindings build) for every developer, which a dozen JSON calls do not justify.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Value, json};

/// How long any wait (the driver starting, an element appearing) may take.
pub const WAIT: Duration = Duration::from_secs(20);
/// Between two polls of a wait.
const POLL: Duration = Duration::from_millis(100);
/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver and one browser session; both end on drop.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    base: String,
    _profile: tempfile::TempDir,
}

/// The chromium and chromedriver binaries (`PAYLOG_CHROMIUM`, `PAYLOG_CHROMEDRIVER`,
/// else Debian's paths), or why there are none.
pub fn binaries() -> Result<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("PAYLOG_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let driver = std::env::var_os("PAYLOG_CHROMEDRIVER")
        .map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from);
    for p in [&chromium, &driver] {
        if !p.exists() {
            bail!("{} is missing: run .ci/setup.sh", p.display());
        }
    }
    Ok((chromium, driver))
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Browser {
    /// Starts chromedriver on a free port and a headless chromium session.
    pub async fn start() -> Result<Browser> {
        let (chromium, driver_bin) = binaries()?;
        let port = free_port()?;
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start chromedriver")?;
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir()?;
        let mut browser = Browser {
            driver,
            http,
            session: String::new(),
            base,
            _profile: profile,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            let ready = browser
                .http
                .get(format!("{}/status", browser.base))
                .send()
                .await
                .ok()
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                break;
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not start within {WAIT:?}");
            }
            tokio::time::sleep(POLL).await;
        }
        let profile_dir = browser._profile.path().display().to_string();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={profile_dir}"),
                ],
            },
        }}});
        let value = browser.call("POST", "/session", Some(caps)).await?;
        browser.session = value["sessionId"]
            .as_str()
            .context("no session id")?
            .to_owned();
        Ok(browser)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let response = req.send().await.context("chromedriver")?;
        let status = response.status();
        let value: Value = response.json().await.context("chromedriver's answer")?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {}", value["value"]);
        }
        Ok(value["value"].clone())
    }

    fn at(&self, path: &str) -> String {
        format!("/session/{}{path}", self.session)
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.call("POST", &self.at("/url"), Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    pub async fn url(&self) -> Result<String> {
        let v = self.call("GET", &self.at("/url"), None).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    pub async fn source(&self) -> Result<String> {
        let v = self.call("GET", &self.at("/source"), None).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The element `css` finds, waiting (bounded) for it to appear.
    pub async fn find(&self, css: &str) -> Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let found = self
                .call(
                    "POST",
                    &self.at("/element"),
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await;
            if let Ok(v) = found
                && let Some(id) = v[ELEMENT].as_str()
            {
                return Ok(id.to_owned());
            }
            if Instant::now() > deadline {
                bail!("no element {css} within {WAIT:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let id = self.find(css).await?;
        self.call(
            "POST",
            &self.at(&format!("/element/{id}/value")),
            Some(json!({ "text": text })),
        )
        .await
        .map(drop)
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        let id = self.find(css).await?;
        self.call("POST", &self.at(&format!("/element/{id}/click")), None)
            .await
            .map(drop)
    }

    /// The text of the element `css` finds.
    pub async fn text(&self, css: &str) -> Result<String> {
        let id = self.find(css).await?;
        let v = self
            .call("GET", &self.at(&format!("/element/{id}/text")), None)
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Polls (bounded) until the page's source contains `needle`.
    pub async fn wait_for_text(&self, needle: &str) -> Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let source = self.source().await?;
            if source.contains(needle) {
                return Ok(source);
            }
            if Instant::now() > deadline {
                bail!("the page never showed {needle:?}: {source}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Saves a PNG of the viewport to `dir/name.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> Result<PathBuf> {
        let v = self.call("GET", &self.at("/screenshot"), None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .context("screenshot base64")?;
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends the session (the driver ends on drop).
    pub async fn quit(mut self) -> Result<()> {
        let at = self.at("");
        let ended = self.call("DELETE", &at, None).await.map(drop);
        self.session.clear();
        ended
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
