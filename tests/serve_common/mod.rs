//! Shared by the `tests/serve_*.rs` tests: starts the real `ikp serve` binary on a unix socket or TCP and
//! talks HTTP/1.1 to it the way the InterLink API server does (GET with a JSON body, `Host: unix`,
//! `InterLink-Http-Session`). Every plugin log is written under `target/test-logs/serve/` and checked for
//! secret material when the plugin stops; the bodies of its error replies (status 400 and above) are
//! kept beside it, so `tests/secret_leaks.rs` checks them with the rest of the suite's logs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// Strings that must never appear in a plugin log: Secret values, service-account tokens, private keys.
pub const SECRET_SENTINELS: &[&str] = &[
    "SENTINEL-SECRET-VALUE-7c2e",
    "U0VOVElORUwtU0VDUkVULVZBTFVFLTdjMmU=",
    "SENTINEL-SA-TOKEN-3f9a",
    "SENTINEL-WG-PRIVATE-KEY-91d4",
    "PRIVATE KEY",
];

/// Where the plugin listens.
#[derive(Debug, Clone)]
pub enum Listen {
    /// A unix socket at this path.
    Unix(PathBuf),
    /// TCP on 127.0.0.1 at this port.
    Tcp(u16),
}

/// A running `ikp serve`.
pub struct Plugin {
    child: Option<Child>,
    pub listen: Listen,
    pub log: PathBuf,
    /// The bodies of the error replies this plugin sent, one block per reply.
    pub replies: PathBuf,
    extra_secrets: Vec<String>,
    _dir: tempfile::TempDir,
}

/// How to start the plugin.
pub struct PluginOptions<'a> {
    pub kubeconfig: &'a Path,
    pub tcp: bool,
    pub env: Vec<(&'a str, String)>,
    pub args: Vec<String>,
    pub name: &'a str,
    /// Socket path to use instead of a fresh one.
    pub socket: Option<PathBuf>,
}

impl<'a> PluginOptions<'a> {
    pub fn new(name: &'a str, kubeconfig: &'a Path) -> Self {
        Self {
            kubeconfig,
            tcp: false,
            env: vec![("OFFLOADING_NAMESPACE_PREFIX", String::new())],
            args: Vec::new(),
            name,
            socket: None,
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Secrets of the kubeconfig (client key data, tokens) that must not be logged either.
fn kubeconfig_secrets(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(value) = ikp::compat::readback::read_document(&text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for user in value["users"].as_array().into_iter().flatten() {
        for key in ["client-key-data", "token"] {
            if let Some(secret) = user["user"][key].as_str() {
                out.push(secret.to_owned());
            }
        }
    }
    out
}

impl Plugin {
    /// Starts the plugin and waits until `/healthz` answers.
    pub async fn start(options: PluginOptions<'_>) -> Plugin {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-logs/serve");
        std::fs::create_dir_all(&logs).expect("log dir");
        let log = logs.join(format!("{}-{}.log", options.name, std::process::id()));
        let replies = logs.join(format!(
            "{}-{}.replies.log",
            options.name,
            std::process::id()
        ));
        let log_file = std::fs::File::create(&log).expect("log file");
        let (listen, address_args) = if options.tcp {
            let port = free_port();
            (
                Listen::Tcp(port),
                vec![
                    "--socket-address".to_owned(),
                    "http://127.0.0.1".to_owned(),
                    "--socket-port".to_owned(),
                    port.to_string(),
                ],
            )
        } else {
            let path = options
                .socket
                .clone()
                .unwrap_or_else(|| dir.path().join("run/plugin.sock"));
            (
                Listen::Unix(path.clone()),
                vec![
                    "--socket-address".to_owned(),
                    format!("unix://{}", path.display()),
                ],
            )
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_ikp"));
        command
            .env_clear()
            // The most verbose setting: whatever leaks at any level shows up in the log grep.
            .env("RUST_LOG", "debug,ikp=trace")
            .arg("serve")
            .args(&address_args)
            .arg("--kubeconfig")
            .arg(options.kubeconfig)
            .args(&options.args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("clone log"))
            .stderr(log_file);
        for (key, value) in &options.env {
            command.env(key, value);
        }
        let child = command.spawn().expect("spawn ikp serve");
        let plugin = Plugin {
            child: Some(child),
            listen,
            log,
            replies,
            extra_secrets: kubeconfig_secrets(options.kubeconfig),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = plugin.request("GET", "/healthz", None).await
                && response.status == 200
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "ikp serve did not come up; log:\n{}",
                plugin.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        plugin
    }

    /// Waits until `/readyz` is 200 (cache synced, remote reachable).
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = self.request("GET", "/readyz", None).await.expect("readyz");
            if response.status == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never ready: {}",
                response.text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of metric `name` (a line `name <value>`) from `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .request("GET", "/metrics", None)
            .await
            .expect("metrics")
            .text();
        text.lines()
            .find_map(|line| {
                line.strip_prefix(name)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("metric {name} missing:\n{text}"))
    }

    /// Process id of the running plugin.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("plugin running")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM, waits for exit and checks the log for secrets. Returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("plugin running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("ikp serve did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.assert_no_secrets_logged();
        status
    }

    /// Kills the plugin with SIGKILL (no shutdown: nothing released, nothing finished) and waits for it.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("plugin running");
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn assert_no_secrets_logged(&self) {
        let log = self.log_text();
        for secret in SECRET_SENTINELS
            .iter()
            .map(|s| (*s).to_owned())
            .chain(self.extra_secrets.iter().cloned())
        {
            assert!(
                !log.contains(&secret),
                "plugin log {} contains secret material",
                self.log.display()
            );
        }
    }

    /// Appends an error reply's body to [`replies`](Self::replies).
    fn record_reply(&self, method: &str, path: &str, status: u16, body: &[u8]) {
        use std::io::Write;
        let mut block = format!("== {method} {path} {status}\n").into_bytes();
        block.extend_from_slice(body);
        block.push(b'\n');
        if let Some(dir) = self.replies.parent() {
            std::fs::create_dir_all(dir).expect("log dir");
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.replies)
            .and_then(|mut file| file.write_all(&block))
            .unwrap_or_else(|e| panic!("append to {}: {e}", self.replies.display()));
    }

    /// One request on a fresh connection, the way the InterLink API server sends it.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let response = self
            .send(method, path, body.map(|b| b.to_string().into_bytes()))
            .await?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if status >= 400 {
            self.record_reply(method, path, status, &body);
        }
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    /// Like [`request`](Self::request) with raw bytes, returning the streaming response.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<Incoming>, String> {
        let body = body.unwrap_or_default();
        let host = match &self.listen {
            Listen::Unix(_) => "unix".to_owned(),
            Listen::Tcp(port) => format!("127.0.0.1:{port}"),
        };
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("Host", host)
            .header("Content-Type", "application/json")
            .header("User-Agent", "Go-http-client/1.1")
            .header("InterLink-Http-Session", "Request-test-session")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        match &self.listen {
            Listen::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| e.to_string())?;
                send_on(TokioIo::new(stream), request).await
            }
            Listen::Tcp(port) => {
                let stream = tokio::net::TcpStream::connect(("127.0.0.1", *port))
                    .await
                    .map_err(|e| e.to_string())?;
                send_on(TokioIo::new(stream), request).await
            }
        }
    }
}

async fn send_on<T>(
    io: T,
    request: hyper::Request<Full<Bytes>>,
) -> Result<hyper::Response<Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

impl Drop for Plugin {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A finished response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A create request from `tests/fixtures/serve/<name>.json` for a fresh UID in `namespace`.
pub fn fixture(name: &str, namespace: &str, uid: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/serve/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text.replace("__UID__", uid).replace("__NS__", namespace))
        .expect("fixture JSON")
}

/// A random lowercase UUID.
pub fn new_uid() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut parts = Vec::new();
    for _ in 0..2 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(Instant::now().elapsed().as_nanos());
        parts.push(hasher.finish());
    }
    let hex = format!("{:016x}{:016x}", parts[0], parts[1]);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The `pod` of a create request, as `/status` and `/delete` receive it.
pub fn pod_of(create: &Value) -> Value {
    create["pod"].clone()
}

/// Polls `/status` until `done` accepts the entry.
pub async fn wait_status(
    plugin: &Plugin,
    pod: &Value,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = plugin
            .request("GET", "/status", Some(&Value::Array(vec![pod.clone()])))
            .await
            .expect("status");
        assert_eq!(reply.status, 200, "{}", reply.text());
        let entries = reply.json();
        let entry = entries[0].clone();
        assert!(
            entry["containers"]
                .as_array()
                .is_some_and(|c| !c.is_empty()),
            "containers must never be empty: {entry}"
        );
        if done(&entry) {
            return entry;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last status {entry}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether every container of a status entry is running.
pub fn all_running(entry: &Value) -> bool {
    entry["containers"]
        .as_array()
        .is_some_and(|cs| cs.iter().all(|c| c["state"]["running"].is_object()))
}

/// The live objects (`Kind/name`) in remote namespace `ns` labelled with local pod `uid`: pods and claims
/// being deleted are not counted (kwok removes such pods shortly).
pub async fn owned_objects(client: &kube::Client, ns: &str, uid: &str) -> Vec<String> {
    use kube::ResourceExt as _;
    let lp = kube::api::ListParams::default().labels(&format!("interlink.io/source.pod_uid={uid}"));
    let mut names = Vec::new();
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), ns);
    for pod in pods.list(&lp).await.expect("list pods").items {
        if pod.metadata.deletion_timestamp.is_none() {
            names.push(format!("Pod/{}", pod.name_any()));
        }
    }
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(client.clone(), ns);
    names.extend(
        cms.list(&lp)
            .await
            .expect("list cms")
            .items
            .iter()
            .map(|o| format!("ConfigMap/{}", o.name_any())),
    );
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), ns);
    names.extend(
        secrets
            .list(&lp)
            .await
            .expect("list secrets")
            .items
            .iter()
            .map(|o| format!("Secret/{}", o.name_any())),
    );
    let pvcs: kube::Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        kube::Api::namespaced(client.clone(), ns);
    for pvc in pvcs.list(&lp).await.expect("list pvcs").items {
        if pvc.metadata.deletion_timestamp.is_none() {
            names.push(format!("PersistentVolumeClaim/{}", pvc.name_any()));
        }
    }
    names
}

/// The line of every fake container's log in the test cluster (kwok's ClusterLogs).
pub const LOG_LINE: &str = "ikp test cluster log line";

/// A `/getLogs` body for `container` of `pod`, with `opts` over the defaults InterLink sends.
pub fn log_request(pod: &Value, container: &str, opts: Value) -> Value {
    let mut all = json!({"Tail": 0, "Bytes": 0, "Timestamps": false, "Follow": false, "Previous": false,
                          "SinceSeconds": 0, "SinceTime": "0001-01-01T00:00:00Z"});
    for (k, v) in opts.as_object().expect("object") {
        all[k] = v.clone();
    }
    json!({"Namespace": pod["metadata"]["namespace"], "PodUID": pod["metadata"]["uid"],
           "PodName": pod["metadata"]["name"], "ContainerName": container, "Opts": all})
}
