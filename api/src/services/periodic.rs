//! The one loop behind every background job (the payment reconciler, the shipping
//! uploader, the settlement checker): run a pass every interval until told to stop.
//! A pass that fails is logged and the next one comes at the next tick: every job is
//! written so that a pass may be repeated or skipped without harm.
//!
//! Each job also keeps a [`JobStatus`]: when its last run started and finished (on
//! the injected clock), how it ended, and its last error, redacted and bounded, for
//! the console's Today page and `/healthz`. A job records a run in its own
//! `run_once` through [`JobStatus::track`], so a run started by the loop, by a test or
//! by an operator shows the same way; a failure of one item inside a run (one order,
//! one shipment) is [`JobStatus::note_error`]ed, since those runs still return `Ok`.

use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use paylog_engine::Clock;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::Error;

/// Longest error text a [`JobStatus`] keeps, in characters: a line on a page, not a
/// dump of a response body.
pub const MAX_JOB_ERROR_CHARS: usize = 300;

/// Query-string and form parameters whose values are secrets or tokens (WeChat's
/// `access_token` of the `/wxa` calls, jscode2session's `secret`, …): their values
/// never reach a status, even from an error text that was not stripped of its URL.
const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "secret",
    "appsecret",
    "js_code",
    "key",
    "sign",
    "password",
    "token",
];

/// How a job's last finished run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    /// The run failed, or some of its items did (see [`JobRun::last_error`]).
    Failed,
}

/// What a job's status shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobRun {
    /// When the last run started (it may still be running).
    pub started_at: Option<DateTime<Utc>>,
    /// When the last run finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// A run is going on now.
    pub running: bool,
    /// How the last finished run ended; `None` before the first one.
    pub outcome: Option<Outcome>,
    /// The last finished run's error, redacted ([`redact`]); `None` when it succeeded.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    run: JobRun,
    /// The last item failure of the run going on.
    noted: Option<String>,
}

/// One job's run status, shared by the job's clones and whoever reads it; cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct JobStatus {
    job: &'static str,
    shared: Arc<Mutex<Shared>>,
}

impl JobStatus {
    /// A job that has not run yet, named `job` (on pages and in `/healthz`).
    pub fn new(job: &'static str) -> Self {
        Self {
            job,
            shared: Arc::default(),
        }
    }

    pub fn job(&self) -> &'static str {
        self.job
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A poisoned lock still holds a consistent status: every write is one assignment.
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The status now.
    pub fn snapshot(&self) -> JobRun {
        self.lock().run.clone()
    }

    /// One item of the run going on failed (the run itself goes on): the run ends
    /// [`Outcome::Failed`] with the last such error.
    pub fn note_error(&self, error: &dyn Display) {
        self.lock().noted = Some(redact(&error.to_string()));
    }

    /// Runs `pass` as one run of the job: its start and end on `clock`, then its
    /// outcome: failed with its error, failed with the last item error noted during
    /// it, or succeeded (which clears the last error).
    pub async fn track<R>(
        &self,
        clock: &dyn Clock,
        pass: impl Future<Output = Result<R, Error>>,
    ) -> Result<R, Error> {
        {
            let mut shared = self.lock();
            shared.run.started_at = Some(clock.now());
            shared.run.running = true;
            shared.noted = None;
        }
        let result = pass.await;
        let mut shared = self.lock();
        let noted = shared.noted.take();
        let error = match &result {
            Err(e) => Some(redact(&e.to_string())),
            Ok(_) => noted,
        };
        shared.run.finished_at = Some(clock.now());
        shared.run.running = false;
        shared.run.outcome = Some(if error.is_some() {
            Outcome::Failed
        } else {
            Outcome::Succeeded
        });
        shared.run.last_error = error;
        drop(shared);
        result
    }
}

/// An error text fit to show: every URL's query dropped, the value of every
/// [`SECRET_PARAMS`] parameter replaced, control characters made spaces, and at most
/// [`MAX_JOB_ERROR_CHARS`] characters.
pub fn redact(text: &str) -> String {
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .map(redact_word)
        .collect();
    let joined = words.join(" ");
    if joined.chars().count() <= MAX_JOB_ERROR_CHARS {
        return joined;
    }
    let mut cut: String = joined.chars().take(MAX_JOB_ERROR_CHARS - 1).collect();
    cut.push('…');
    cut
}

fn redact_word(word: &str) -> String {
    // A URL's query can carry a token or a secret: only the scheme, host and path stay.
    let word = match (word.find("://"), word.find('?')) {
        (Some(_), Some(q)) => format!("{}?…", &word[..q]),
        _ => word.to_owned(),
    };
    let mut out = String::new();
    let mut rest = word.as_str();
    while let Some(value_at) = secret_value_at(rest) {
        out.push_str(&rest[..value_at]);
        out.push_str("[redacted]");
        let value_end = rest[value_at..]
            .find(['&', ',', ';', '"', '\'', ')'])
            .map_or(rest.len(), |end| value_at + end);
        rest = &rest[value_end..];
    }
    out.push_str(rest);
    out
}

/// Where the value of the first [`SECRET_PARAMS`] parameter in `text` starts.
fn secret_value_at(text: &str) -> Option<usize> {
    // ASCII lower-casing keeps every byte where it was.
    let lower = text.to_ascii_lowercase();
    SECRET_PARAMS
        .iter()
        .filter_map(|name| {
            let needle = format!("{name}=");
            lower
                .match_indices(&needle)
                .map(|(at, _)| at)
                // A whole parameter name (`api_key=` is one), not the tail of a word
                // (`monkey=` is not).
                .find(|&at| {
                    lower[..at]
                        .chars()
                        .next_back()
                        .is_none_or(|c| !c.is_ascii_alphanumeric())
                })
                .map(|at| at + needle.len())
        })
        .min()
}

/// Runs `pass` every `interval` (the first at once) until `stop` turns true; a tick
/// missed while a pass ran late is not made up for. `job` names it in the log. The
/// pass records itself in the job's [`JobStatus`] (its `run_once` tracks the run).
pub fn spawn_every<F, Fut, R>(
    job: &'static str,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    mut pass: F,
) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, Error>> + Send,
{
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = ticker.tick() => {}
            }
            if let Err(e) = pass().await {
                tracing::warn!(job, error = %e, "background run failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(DateTime<Utc>);

    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    #[test]
    fn redaction_drops_queries_and_secret_values_and_bounds_the_length() {
        let text = "error sending request for url \
            (https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=S3CRET&js_code=c)";
        let shown = redact(text);
        assert!(
            !shown.contains("S3CRET") && !shown.contains("appid=wx1"),
            "{shown}"
        );
        assert!(shown.contains("https://api.weixin.qq.com/sns/jscode2session?…"));
        for (text, secret) in [
            ("bad answer: access_token=T0KEN&x=1", "T0KEN"),
            ("SECRET=abc, then token=xyz", "xyz"),
            ("password=hunter2 key=K3Y;", "K3Y"),
            ("password=hunter2 key=K3Y;", "hunter2"),
            ("api_key=K3Y", "K3Y"),
        ] {
            let shown = redact(text);
            assert!(!shown.contains(secret), "{text} → {shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
        // Only whole parameter names: `monkey=` is not a key.
        assert_eq!(redact("monkey=banana"), "monkey=banana");
        assert_eq!(redact("line one\nline\ttwo"), "line one line two");
        let long = redact(&"茶".repeat(MAX_JOB_ERROR_CHARS * 2));
        assert_eq!(long.chars().count(), MAX_JOB_ERROR_CHARS);
        assert!(long.ends_with('…'));
    }

    #[tokio::test]
    async fn a_run_records_its_times_and_outcome_and_a_good_run_clears_the_error() {
        let status = JobStatus::new("job");
        assert_eq!(status.snapshot(), JobRun::default());
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let failed = status
            .track(&Fixed(at), async {
                Err::<(), _>(Error::Misuse("down: https://h/p?access_token=T0K3N"))
            })
            .await;
        assert!(failed.is_err());
        let run = status.snapshot();
        assert_eq!((run.started_at, run.finished_at), (Some(at), Some(at)));
        assert_eq!(run.outcome, Some(Outcome::Failed));
        let error = run.last_error.expect("an error");
        assert!(
            error.contains("down") && !error.contains("T0K3N"),
            "{error}"
        );
        // An item failure inside a run that returns Ok is a failed run too.
        let noted = status.clone();
        let ok = status
            .track(&Fixed(at), async move {
                noted.note_error(&"order 1: timed out");
                Ok::<_, Error>(7)
            })
            .await;
        assert_eq!(ok.ok(), Some(7));
        let run = status.snapshot();
        assert_eq!(run.outcome, Some(Outcome::Failed));
        assert_eq!(run.last_error.as_deref(), Some("order 1: timed out"));
        // A clean run clears it.
        let later = at + chrono::Duration::minutes(5);
        let ok = status
            .track(&Fixed(later), async { Ok::<_, Error>(()) })
            .await;
        assert!(ok.is_ok());
        let run = status.snapshot();
        assert_eq!(run.outcome, Some(Outcome::Succeeded));
        assert_eq!(run.last_error, None);
        assert_eq!(run.finished_at, Some(later));
        assert!(!run.running);
    }
}
