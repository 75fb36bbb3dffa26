//! Test support: a 3-node NATS JetStream cluster on free loopback ports, in a temp dir,
//! killed when dropped.
//!
//! The `nats-server` binary is `$PAYLOG_NATS_SERVER`, else the one `.ci/setup.sh`
//! installs under `$HOME/.cache/paylog-tools/`. A missing binary fails the test with a
//! message saying so; it is never a silent skip.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tempfile::TempDir;

/// The version `.ci/setup.sh` installs.
const NATS_SERVER_VERSION: &str = "2.12.8";
/// Attempts (one per [`READY_POLL`]) at reaching a JetStream that can place an R3 stream.
const READY_ATTEMPTS: u32 = 300;
const READY_POLL: Duration = Duration::from_millis(100);
/// Longest wait for one request while probing readiness or asking for a leader.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn nats_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PAYLOG_NATS_SERVER") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "PAYLOG_NATS_SERVER={} is not a file; unset it or run .ci/setup.sh",
            path.display()
        );
        return path;
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    let path = PathBuf::from(home)
        .join(".cache/paylog-tools")
        .join(format!("nats-server-{NATS_SERVER_VERSION}"))
        .join("bin/nats-server");
    assert!(
        path.is_file(),
        "no nats-server at {}: run .ci/setup.sh (it installs nats-server \
         {NATS_SERVER_VERSION} there), or point PAYLOG_NATS_SERVER at a nats-server >= 2.12",
        path.display()
    );
    path
}

#[derive(Debug)]
struct Node {
    name: String,
    conf: PathBuf,
    child: Option<Child>,
}

/// Three `nats-server` processes forming one JetStream cluster.
#[derive(Debug)]
pub struct Cluster {
    _dir: TempDir,
    binary: PathBuf,
    nodes: Vec<Node>,
    /// `nats://127.0.0.1:PORT` of each node, in node order.
    pub urls: Vec<String>,
}

fn free_ports(n: usize) -> Vec<u16> {
    // Hold every listener until all ports are picked, so the same port is not handed out twice.
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

impl Cluster {
    /// Starts the cluster and returns once it can place an R3 stream.
    pub async fn start() -> Cluster {
        let binary = nats_server_binary();
        let dir = TempDir::new().expect("temp dir");
        let ports = free_ports(6);
        let routes: Vec<String> = ports[3..]
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let mut nodes = Vec::new();
        let mut urls = Vec::new();
        for i in 0..3 {
            let name = format!("n{i}");
            let node_dir = dir.path().join(&name);
            std::fs::create_dir_all(node_dir.join("js")).expect("node dir");
            let conf = node_dir.join("nats.conf");
            std::fs::write(
                &conf,
                format!(
                    "server_name: {name}\nlisten: 127.0.0.1:{client}\n\
                     jetstream {{ store_dir: \"{js}\", sync_interval: always }}\n\
                     cluster {{\n  name: paylog-test\n  listen: 127.0.0.1:{route}\n  routes: [{routes}]\n}}\n",
                    client = ports[i],
                    js = node_dir.join("js").display(),
                    route = ports[3 + i],
                    routes = routes.join(", "),
                ),
            )
            .expect("write config");
            urls.push(format!("nats://127.0.0.1:{}", ports[i]));
            nodes.push(Node {
                name,
                conf,
                child: None,
            });
        }
        let mut cluster = Cluster {
            _dir: dir,
            binary,
            nodes,
            urls,
        };
        for i in 0..3 {
            cluster.spawn(i);
        }
        cluster.wait_ready().await;
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = node.conf.with_file_name("nats.log");
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&node.conf)
            .arg("-l")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nats-server");
        node.child = Some(child);
    }

    /// Waits until JetStream can create (and delete) an R3 stream: meta leader elected
    /// and every peer known.
    async fn wait_ready(&self) {
        let mut last = String::new();
        for _ in 0..READY_ATTEMPTS {
            match self.probe().await {
                Ok(()) => return,
                Err(e) => last = e,
            }
            tokio::time::sleep(READY_POLL).await;
        }
        panic!("the NATS test cluster never became ready: {last}");
    }

    async fn probe(&self) -> Result<(), String> {
        let client = self.client().await?;
        let name = format!("PROBE{}", uuid::Uuid::new_v4().simple());
        let config = serde_json::json!({
            "name": name, "subjects": [format!("probe.{name}")], "num_replicas": 3,
            "storage": "memory",
        });
        let created = request(&client, &format!("$JS.API.STREAM.CREATE.{name}"), config).await?;
        if created.get("error").is_some() {
            return Err(created.to_string());
        }
        request(
            &client,
            &format!("$JS.API.STREAM.DELETE.{name}"),
            serde_json::json!({}),
        )
        .await?;
        Ok(())
    }

    /// A plain client on every node of the cluster.
    pub async fn client(&self) -> Result<async_nats::Client, String> {
        let connect = async_nats::ConnectOptions::new()
            .connection_timeout(PROBE_TIMEOUT)
            .connect(self.urls.clone());
        match tokio::time::timeout(PROBE_TIMEOUT, connect).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("connect timed out".into()),
        }
    }

    /// The index of the node leading `stream`, if it has a leader right now.
    pub async fn stream_leader(&self, stream: &str) -> Option<usize> {
        let client = self.client().await.ok()?;
        let info = request(
            &client,
            &format!("$JS.API.STREAM.INFO.{stream}"),
            serde_json::json!({}),
        )
        .await
        .ok()?;
        let leader = info.get("cluster")?.get("leader")?.as_str()?.to_owned();
        self.nodes.iter().position(|n| n.name == leader)
    }

    /// SIGKILLs node `i` (no clean shutdown, no flush).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again on its ports and data.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
    }
}

async fn request(
    client: &async_nats::Client,
    subject: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let payload = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(
        PROBE_TIMEOUT,
        client.request(subject.to_owned(), payload.into()),
    )
    .await
    .map_err(|_| "request timed out".to_string())?
    .map_err(|e| e.to_string())?;
    serde_json::from_slice(&answer.payload).map_err(|e| e.to_string())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// One cluster shared by the contract tests that run at the same time (each on its own
/// JetStream stream); it is killed when the last of them drops it.
pub async fn shared() -> Arc<Cluster> {
    static SHARED: tokio::sync::Mutex<Weak<Cluster>> = tokio::sync::Mutex::const_new(Weak::new());
    let mut slot = SHARED.lock().await;
    if let Some(cluster) = slot.upgrade() {
        return cluster;
    }
    let cluster = Arc::new(Cluster::start().await);
    *slot = Arc::downgrade(&cluster);
    cluster
}
