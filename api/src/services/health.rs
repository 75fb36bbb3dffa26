//! Health: whether the process runs (liveness) and whether it can do its job
//! (readiness): the event log accepts writes, the projector has no unrecovered
//! failure and is caught up within a bound, and WeChat's configuration is loaded.

use std::sync::Arc;

use paylog_projections::{ProjectorStatus, Views};
use paylog_store::EventStore;

use super::periodic::{JobRun, JobStatus, redact};

/// How far (in events) the views may trail the log by default and still be ready.
pub const DEFAULT_READY_MAX_LAG_EVENTS: u64 = 1000;

/// The health service; cheap to clone.
#[derive(Debug, Clone)]
pub struct Health {
    store: Arc<dyn EventStore>,
    views: Views,
    projector: ProjectorStatus,
    wechat_loaded: bool,
    max_lag_events: u64,
    /// The background jobs' run statuses (the reconciler, the uploader, the
    /// settlement checker).
    jobs: Vec<JobStatus>,
}

/// What readiness found. `problems` is empty exactly when the server is ready; each
/// entry is a stable code (`store_not_writable`, `projector_failing`,
/// `views_behind`, `wechat_not_loaded`). The projector's error text is logged by the
/// projector, never sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub log_head: u64,
    pub views_position: u64,
    pub problems: Vec<&'static str>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Health {
    pub fn new(
        store: Arc<dyn EventStore>,
        views: Views,
        projector: ProjectorStatus,
        wechat_loaded: bool,
        max_lag_events: u64,
    ) -> Self {
        Self {
            store,
            views,
            projector,
            wechat_loaded,
            max_lag_events,
            jobs: Vec::new(),
        }
    }

    /// The background jobs whose runs [`Health::jobs`] reports.
    pub fn with_jobs(mut self, jobs: Vec<JobStatus>) -> Self {
        self.jobs = jobs;
        self
    }

    /// Each background job's name and last run (started, finished, outcome, last
    /// error, redacted), in the order given.
    pub fn jobs(&self) -> Vec<(&'static str, JobRun)> {
        self.jobs.iter().map(|j| (j.job(), j.snapshot())).collect()
    }

    /// The projector's unrecovered error, redacted like a job's (for operators only:
    /// readiness reports it as a code).
    pub fn projector_error(&self) -> Option<String> {
        self.projector.last_error().map(|e| redact(&e))
    }

    /// Checks every readiness condition (cheap: no I/O beyond atomics and locks).
    pub fn readiness(&self) -> Readiness {
        let log_head = self.store.head();
        let views_position = self.views.position();
        let mut problems = Vec::new();
        if !self.store.is_writable() {
            problems.push("store_not_writable");
        }
        if self.projector.last_error().is_some() {
            problems.push("projector_failing");
        }
        if log_head.saturating_sub(views_position) > self.max_lag_events {
            problems.push("views_behind");
        }
        if !self.wechat_loaded {
            problems.push("wechat_not_loaded");
        }
        Readiness {
            log_head,
            views_position,
            problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paylog_projections::Projector;
    use paylog_store::{
        AppendRequest, ExpectedVersion, NewEvent, RocksStore, StoreOptions, StreamAppend,
    };
    use uuid::Uuid;

    fn open(path: std::path::PathBuf) -> Arc<RocksStore> {
        Arc::new(RocksStore::open(path, StoreOptions::default()).expect("open"))
    }

    #[tokio::test]
    async fn ready_until_the_views_fall_behind_or_the_log_stops_taking_writes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open(dir.path().join("log"));
        let views = Views::open(dir.path().join("views")).expect("views");
        // The projector follows another, empty log: its status stays clean and these
        // views stay at position 0 whatever is appended to `store`.
        let projector = Projector::spawn(open(dir.path().join("empty-log")), views.clone());
        let health = Health::new(store.clone(), views, projector.status(), true, 0);
        assert_eq!(health.readiness().problems, Vec::<&str>::new());
        assert!(health.readiness().is_ready());

        store
            .append(AppendRequest {
                command_id: Uuid::now_v7(),
                correlation_id: Uuid::now_v7(),
                causation_id: None,
                streams: vec![StreamAppend {
                    stream_id: "product-1".into(),
                    expected: ExpectedVersion::NoStream,
                    events: vec![NewEvent {
                        event_type: "ProductCreated".into(),
                        schema_version: 1,
                        payload: b"{}".to_vec(),
                    }],
                }],
            })
            .await
            .expect("append");
        assert_eq!(health.readiness().problems, vec!["views_behind"]);

        store.close().await;
        let readiness = health.readiness();
        assert!(
            readiness.problems.contains(&"store_not_writable"),
            "{readiness:?}"
        );

        let unconfigured = Health {
            wechat_loaded: false,
            max_lag_events: u64::MAX,
            ..health
        };
        assert!(
            unconfigured
                .readiness()
                .problems
                .contains(&"wechat_not_loaded")
        );
        projector.shutdown().await;
    }
}
