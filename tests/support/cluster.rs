//! The test control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok) as seen from a test.
//!
//! `tests/cluster/up` starts it and exports `IKP_TEST_KUBECONFIG`; `make test` does that around
//! `cargo test`. A test asks for the cluster, then for its own namespace:
//!
//! ```ignore
//! mod support;
//! use support::cluster::TestCluster;
//!
//! #[tokio::test]
//! async fn my_test() {
//!     // `None`: skipped, message printed. The namespace is deleted again when `ns` drops.
//!     let Some((cluster, ns)) = TestCluster::with_namespace("my-test").await else { return };
//!     let cms: kube::Api<ConfigMap> = kube::Api::namespaced(cluster.client(), ns.name());
//!     cluster.ikp().args(["apply", "--namespace", ns.name()]).assert().success();
//! }
//! ```
//!
//! When the cluster is not configured, `connect` panics under `CI=true` and otherwise returns `None`
//! after printing a SKIPPED line to the real stderr (visible even for passing tests). When it is
//! configured but unreachable, `connect` always panics: a stale `IKP_TEST_KUBECONFIG` is a mistake.
//!
//! Only `IKP_TEST_KUBECONFIG` is read, never `KUBECONFIG`: the tests create and delete namespaces, and
//! must not do that to whatever cluster a developer's shell happens to point at.
//!
//! Namespaces carry the label `ikp.test/namespace=true`; `IKP_TEST_KEEP_NAMESPACES=1` keeps them after the
//! test for inspection.

use std::collections::hash_map::RandomState;
use std::env;
use std::ffi::OsString;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

/// Environment variable holding the test cluster's kubeconfig path (exported by `tests/cluster/up`).
pub const KUBECONFIG_ENV: &str = "IKP_TEST_KUBECONFIG";

/// Label put on every namespace made by [`TestCluster::namespace`].
pub const NAMESPACE_LABEL: &str = "ikp.test/namespace";

const HOW_TO_START: &str = "run `make test`, or start the cluster with `eval \"$(tests/cluster/up)\"` and \
     run `cargo test` in that shell (stop it with `tests/cluster/down`)";

/// How long to wait for the controller-manager to create a new namespace's `default` ServiceAccount.
const SERVICE_ACCOUNT_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to the running test cluster.
#[derive(Clone)]
pub struct TestCluster {
    client: Client,
    kubeconfig: PathBuf,
}

impl TestCluster {
    /// Connects to the cluster named by `IKP_TEST_KUBECONFIG`; `None` means "skip this test" (never in CI).
    pub async fn connect() -> Option<TestCluster> {
        let Some(path) = env::var_os(KUBECONFIG_ENV).filter(|p| !p.is_empty()) else {
            let why = format!("{KUBECONFIG_ENV} is not set, so there is no test cluster");
            if running_in_ci() {
                panic!("{why}; in CI the cluster tests must run: {HOW_TO_START}");
            }
            report_skip(&why);
            return None;
        };
        let kubeconfig = PathBuf::from(path);
        match try_connect(&kubeconfig).await {
            Ok(client) => Some(TestCluster { client, kubeconfig }),
            Err(err) => panic!(
                "test cluster from {KUBECONFIG_ENV}={} is not usable: {err}; {HOW_TO_START}",
                kubeconfig.display()
            ),
        }
    }

    /// [`connect`](Self::connect) plus a fresh [`namespace`](Self::namespace): the usual start of a test.
    pub async fn with_namespace(prefix: &str) -> Option<(TestCluster, TestNamespace)> {
        let cluster = TestCluster::connect().await?;
        let ns = cluster.namespace(prefix).await;
        Some((cluster, ns))
    }

    /// A client with cluster-admin rights (`system:masters`).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Path of the test cluster's kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// Creates a namespace `<prefix>-<random>` that is deleted when the returned guard drops.
    ///
    /// Returns only once the namespace's `default` ServiceAccount exists: the ServiceAccount admission
    /// plugin is on, and rejects pods in a namespace the controller-manager has not populated yet.
    pub async fn namespace(&self, prefix: &str) -> TestNamespace {
        let api: Api<Namespace> = Api::all(self.client());
        let name = loop {
            let candidate = unique_name(prefix);
            let ns = Namespace {
                metadata: ObjectMeta {
                    name: Some(candidate.clone()),
                    labels: Some([(NAMESPACE_LABEL.to_string(), "true".to_string())].into()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            };
            match api.create(&PostParams::default(), &ns).await {
                Ok(_) => break candidate,
                Err(kube::Error::Api(status)) if status.is_already_exists() => continue,
                Err(err) => panic!("creating test namespace {candidate}: {err}"),
            }
        };
        let guard = TestNamespace {
            name,
            kubeconfig: self.kubeconfig.clone(),
        };
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client(), &guard.name);
        let deadline = Instant::now() + SERVICE_ACCOUNT_TIMEOUT;
        loop {
            match accounts.get_opt("default").await {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Ok(None) => panic!(
                    "namespace {}: no `default` ServiceAccount after {SERVICE_ACCOUNT_TIMEOUT:?}; \
                     is kube-controller-manager running?",
                    guard.name
                ),
                Err(err) => panic!(
                    "namespace {}: reading ServiceAccount default: {err}",
                    guard.name
                ),
            }
        }
        guard
    }

    /// The `ikp` binary of this crate, with `KUBECONFIG` pointing at the test cluster.
    pub fn ikp(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_ikp"));
        cmd.env("KUBECONFIG", &self.kubeconfig)
            // In-cluster settings would take precedence in some client setups; a test never wants them.
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT");
        cmd
    }
}

/// A namespace owned by one test; dropping it deletes the namespace (also when the test panics).
pub struct TestNamespace {
    name: String,
    kubeconfig: PathBuf,
}

impl TestNamespace {
    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if env::var_os("IKP_TEST_KEEP_NAMESPACES").is_some_and(|v| !v.is_empty()) {
            report(&format!("kept test namespace {}", self.name));
            return;
        }
        // Drop cannot await, and blocking the test's own runtime here could deadlock it, so the delete
        // runs on a private runtime, in its own thread, with its own client.
        let name = self.name.clone();
        let kubeconfig = self.kubeconfig.clone();
        let deleted = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = try_connect(&kubeconfig).await?;
                let api: Api<Namespace> = Api::all(client);
                match api.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => Ok(()),
                    Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
                    Err(err) => Err(err.to_string()),
                }
            })
        })
        .join();
        match deleted {
            Ok(Ok(())) => {}
            Ok(Err(err)) => report(&format!(
                "could not delete test namespace {}: {err}",
                self.name
            )),
            Err(_) => report(&format!("deleting test namespace {} panicked", self.name)),
        }
    }
}

/// Polls `probe` every 100 ms until it yields `Some`; panics naming `what` after `timeout`.
///
/// For state the cluster reaches asynchronously (a pod turning Running, a controller's object appearing).
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn try_connect(kubeconfig: &Path) -> Result<Client, String> {
    let file = Kubeconfig::read_from(kubeconfig).map_err(|e| format!("reading kubeconfig: {e}"))?;
    let config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("loading kubeconfig: {e}"))?;
    let client = Client::try_from(config).map_err(|e| format!("building client: {e}"))?;
    tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
        .await
        .map_err(|_| "apiserver did not answer /version within 10 s".to_string())?
        .map_err(|e| format!("GET /version: {e}"))?;
    Ok(client)
}

fn running_in_ci() -> bool {
    env::var_os("CI")
        .map(|v: OsString| v.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|v| !matches!(v.as_str(), "" | "0" | "false" | "no"))
}

/// Writes to the process's real stderr: libtest captures `eprintln!` of passing tests, and a skip must
/// never be silent.
fn report(message: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("<test>")
        .to_string();
    let _ = writeln!(std::io::stderr(), "[{test}] {message}");
}

fn report_skip(why: &str) {
    report(&format!(
        "SKIPPED (needs the test cluster): {why}; {HOW_TO_START}"
    ));
}

/// `prefix` reduced to a DNS label fragment, plus a random suffix; at most 63 characters.
fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut cleaned: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    cleaned = cleaned.trim_matches('-').to_string();
    if cleaned.is_empty() {
        cleaned.push_str("test");
    }
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!("{cleaned}-{:08x}", hasher.finish() as u32)
}
