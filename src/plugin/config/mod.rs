//! Configuration of `ikp serve`: the original plugin's `config.ini` keys and `SECTION_KEY` environment
//! overrides, plus command-line flags, resolved into one typed [`ServeConfig`].
//!
//! Precedence per key: command-line flag, then environment variable (set-but-empty still overrides, as in the
//! original), then the INI file, then the default. Unknown sections/keys and bad values are errors naming the
//! key and where the value came from. Values of secret keys never appear in errors or `Debug` output.

pub mod ini;
pub mod summary;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Toleration;

use crate::k8s::client::{ClusterConnection, KubeconfigSource, TlsOverrides};
use crate::plugin::mesh::MeshOptions;

/// Default config file, relative to the working directory (the original resolved it against `src/`).
const DEFAULT_CONFIG_FILE: &str = "private/config.ini";
/// Environment variable naming the config file.
const CONFIG_FILE_ENV: &str = "CONFIG_FILE_PATH";

/// Every key the file or environment may set: the original's keys, then the ones added here.
const KEYS: &[(&str, &str)] = &[
    ("app", "name"),
    ("app", "description"),
    ("app", "version"),
    ("app", "api_versions"),
    ("app", "api_docs_path"),
    ("app", "socket_address"),
    ("app", "socket_port"),
    ("app", "socket_mode"),
    ("app", "max_body_bytes"),
    ("app", "shutdown_timeout_seconds"),
    ("app", "header_read_timeout_seconds"),
    ("app", "body_read_timeout_seconds"),
    ("app", "max_connections"),
    ("app", "auth_token_file"),
    ("app", "auth_token"),
    ("log", "level"),
    ("log", "dir"),
    ("log", "rich_enabled"),
    ("log", "requests_enabled"),
    ("log", "format"),
    ("k8s", "kubeconfig_path"),
    ("k8s", "kubeconfig"),
    ("k8s", "client_configuration"),
    ("k8s", "context"),
    ("k8s", "request_timeout_seconds"),
    ("offloading", "namespace_prefix"),
    ("offloading", "namespace_prefix_exclusions"),
    ("offloading", "node_selector"),
    ("offloading", "node_tolerations"),
    ("mesh", "init_container"),
    ("mesh", "startup_probe"),
    ("mesh", "slurm_setup_script"),
    ("tcp_tunnel", "enabled"),
    ("tcp_tunnel", "bastion_namespace"),
    ("tcp_tunnel", "bastion_chart_path"),
    ("tcp_tunnel", "gateway_host"),
    ("tcp_tunnel", "gateway_port"),
    ("tcp_tunnel", "gateway_ssh_private_key"),
    ("ping", "resources"),
    ("ping", "fixed_cpu"),
    ("ping", "fixed_memory"),
    ("ping", "fixed_pods"),
    ("ping", "fixed_accelerators"),
    ("ping", "max_cpu"),
    ("ping", "max_memory"),
    ("ping", "max_pods"),
    ("ping", "max_accelerators"),
    ("ping", "taints"),
    ("replicas", "lease_namespace"),
    ("replicas", "lease_duration_seconds"),
];

/// Upper bound of the `[app]` timeouts (seconds) and connection limit: beyond it a value is a typo.
const MAX_APP_LIMIT: u64 = 1_000_000;

/// Keys whose values are credentials.
const SECRET_KEYS: &[(&str, &str)] = &[
    ("app", "auth_token"),
    ("k8s", "kubeconfig"),
    ("tcp_tunnel", "gateway_ssh_private_key"),
];

/// The environment variable overriding `section.key` (`tcp_tunnel.enabled` → `TCP_TUNNEL_ENABLED`).
fn env_var_name(section: &str, key: &str) -> String {
    format!("{section}_{key}").to_uppercase().replace('.', "_")
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of the config file.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
    },
    /// An environment variable.
    Env {
        /// Its name.
        var: String,
    },
    /// A command-line flag.
    Flag {
        /// The flag, e.g. `--socket-port`.
        flag: &'static str,
    },
    /// The built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { path, line } => write!(f, "{}:{line}", path.display()),
            Self::Env { var } => write!(f, "environment variable {var}"),
            Self::Flag { flag } => write!(f, "flag {flag}"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid INI.
    #[error("config file {path}: {source}")]
    Ini {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: ini::IniError,
    },
    /// A section that no version of the plugin knows.
    #[error(
        "config file {path}: unknown section [{section}] (expected one of app, log, k8s, offloading, mesh, tcp_tunnel, ping)"
    )]
    UnknownSection {
        /// The file.
        path: PathBuf,
        /// The section.
        section: String,
    },
    /// A key that no version of the plugin knows.
    #[error("{origin}: unknown key `{section}.{key}`")]
    UnknownKey {
        /// The section.
        section: String,
        /// The key.
        key: String,
        /// Where it was set.
        origin: Origin,
    },
    /// A value of the wrong shape.
    #[error("{origin}: invalid value {value} for `{key}`: expected {expected}")]
    InvalidValue {
        /// `section.key`.
        key: String,
        /// The value, quoted, or `<redacted>` for secret keys.
        value: String,
        /// Where it was set.
        origin: Origin,
        /// What would have been accepted.
        expected: String,
    },
    /// One item of a well-formed list or object value is not acceptable.
    #[error("{origin}: invalid {item} in `{key}`: expected {expected}")]
    InvalidItem {
        /// `section.key`.
        key: String,
        /// The item, quoted, with what it is (`label key "a b"`).
        item: String,
        /// Where it was set.
        origin: Origin,
        /// What would have been accepted.
        expected: String,
    },
    /// A value that should be JSON but is not (the parser message carries no input text).
    #[error("{origin}: `{key}` is not valid JSON of the expected shape ({expected}): {source}")]
    InvalidJson {
        /// `section.key`.
        key: String,
        /// Where it was set.
        origin: Origin,
        /// What would have been accepted.
        expected: &'static str,
        /// What went wrong.
        #[source]
        source: serde_json::Error,
    },
}

/// Where `ikp serve` listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    /// TCP on `host:port`.
    Tcp {
        /// Host name or IP.
        host: String,
        /// Port (1..=65535).
        port: u16,
    },
    /// A unix domain socket.
    Unix {
        /// Socket file.
        path: PathBuf,
    },
}

impl ListenAddress {
    /// Whether only this host can connect: a unix socket, or TCP on a loopback address or `localhost`.
    fn is_local(&self) -> bool {
        match self {
            Self::Unix { .. } => true,
            Self::Tcp { host, .. } => {
                host.eq_ignore_ascii_case("localhost")
                    || host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        }
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } => write!(f, "http://{host}:{port}"),
            Self::Unix { path } => write!(f, "unix://{}", path.display()),
        }
    }
}

/// `[app]`: identity and listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppConfig {
    /// Title in the OpenAPI document.
    pub name: String,
    /// Description in the OpenAPI document.
    pub description: String,
    /// Version in the OpenAPI document.
    pub version: String,
    /// Listener.
    pub listen: ListenAddress,
    /// Permission bits of the unix socket file.
    pub socket_mode: u32,
    /// Largest accepted request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long in-flight requests may run after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    /// How long a connection may take to send a request's headers, counted from the connection's start or
    /// the end of its previous response (so idle keep-alive connections close after it too).
    pub header_read_timeout: Duration,
    /// How long a request may take to send its whole body.
    pub body_read_timeout: Duration,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Bearer token every request but `/healthz` and `/readyz` must carry, if set.
    pub auth_token: Option<SecretString>,
}

impl AppConfig {
    /// The warning to show when the API is reachable from other hosts (a TCP bind on a non-loopback
    /// address), naming whether requests are authenticated.
    pub fn exposure_warning(&self) -> Option<String> {
        if self.listen.is_local() {
            return None;
        }
        let auth = if self.auth_token.is_some() {
            "requests must carry the bearer token of app.auth_token_file/APP_AUTH_TOKEN, but it travels \
             in clear text over plain HTTP"
        } else {
            "the API is UNAUTHENTICATED: anyone who can reach it can create pods in the remote cluster, \
             read their logs and the Secrets sent with them (set app.auth_token_file, or listen on a unix \
             socket or 127.0.0.1)"
        };
        Some(format!(
            "{} is not a loopback address, so other hosts can connect; {auth}",
            self.listen
        ))
    }
}

/// Verbosity of the plugin's own log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `trace`.
    Trace,
    /// `debug`.
    Debug,
    /// `info`.
    Info,
    /// `warn`/`warning`.
    Warn,
    /// `error`/`critical`.
    Error,
}

impl LogLevel {
    /// The `tracing` directive spelling.
    pub fn as_directive(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Level for the plugin's own targets.
    pub level: LogLevel,
    /// Line format.
    pub format: LogFormat,
    /// Log every request line (method, path, status, latency; never bodies) at INFO instead of DEBUG.
    pub requests_enabled: bool,
}

/// `[k8s]`: the remote cluster.
#[derive(Debug, Clone)]
pub struct K8sConfig {
    /// How to reach it.
    pub connection: ClusterConnection,
    /// Timeout of each non-streaming API call.
    pub request_timeout: Duration,
}

/// `[offloading]`: where and how pods land remotely.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OffloadingConfig {
    /// Prefix of remote namespaces (`<prefix>-<namespace>`); empty = no prefix.
    pub namespace_prefix: String,
    /// Local namespaces that keep their name.
    pub namespace_prefix_exclusions: Vec<String>,
    /// Remote `spec.nodeSelector`.
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Remote `spec.tolerations`.
    pub node_tolerations: Option<Vec<Toleration>>,
}

/// A credential read from config; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// The secret text; callers must not log it.
    pub(super) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// `[tcp_tunnel]` (used by the tunnel hook).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TunnelConfig {
    /// Whether to create a tunnel per TCP container port.
    pub enabled: bool,
    /// Namespace of the bastion releases.
    pub bastion_namespace: String,
    /// Gateway host; empty = tunnel skipped.
    pub gateway_host: String,
    /// Gateway SSH port.
    pub gateway_port: Option<u16>,
    /// Base64 of the SSH private key.
    pub gateway_ssh_private_key: Option<SecretString>,
}

/// Resource figures in milli-units (see [`crate::k8s::quantity`]); `None`/absent = not set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceFigures {
    /// CPU, milli-cores.
    pub cpu: Option<i128>,
    /// Memory, milli-bytes.
    pub memory: Option<i128>,
    /// Pods, milli-pods (a whole number of pods times 1000).
    pub pods: Option<i128>,
    /// Extended resources (`nvidia.com/gpu`, ...), milli-units of whole devices.
    pub accelerators: BTreeMap<String, i128>,
}

/// What the ping (`GET /status` with `[]`) reports as the virtual node's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceReport {
    /// The remote cluster's free resources on the nodes the offloaded pods may use, each figure capped by
    /// the given maximum.
    Remote {
        /// Upper bounds.
        max: ResourceFigures,
    },
    /// Fixed figures; the remote nodes are not watched.
    Fixed(ResourceFigures),
    /// No resources in the answer (the virtual node keeps its configured capacity).
    Off,
}

/// A taint the ping asks the Virtual Kubelet to put on the virtual node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PingTaint {
    /// Taint key.
    pub key: String,
    /// Taint value.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// `[ping]`: what the answer to the InterLink ping carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingConfig {
    /// The resources part.
    pub resources: ResourceReport,
    /// Taints to publish; `None` leaves the virtual node's taints alone, `Some([])` clears them.
    pub taints: Option<Vec<PingTaint>>,
}

impl Default for PingConfig {
    fn default() -> Self {
        Self {
            resources: ResourceReport::Remote {
                max: ResourceFigures::default(),
            },
            taints: None,
        }
    }
}

/// `[replicas]`: how replicas of `ikp serve` with one namespace prefix share the work that must run once
/// (the sweep for leftovers of failed calls), through a `coordination.k8s.io/v1` Lease on the remote cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicasConfig {
    /// Remote namespace of the leader Lease.
    pub lease_namespace: String,
    /// How long the Lease holds without a renewal: a replica that stops renewing is replaced after it.
    pub lease_duration: Duration,
}

impl ReplicasConfig {
    /// Name of the leader Lease of the plugin instance with namespace prefix `prefix`: replicas
    /// with one prefix share it, instances with different prefixes never meet.
    pub(super) fn lease_name(prefix: &str) -> String {
        if prefix.is_empty() {
            "ikp-leader".to_owned()
        } else {
            format!("ikp-leader-{prefix}")
        }
    }
}

/// Default of `replicas.lease_duration_seconds`.
const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// Longest `replicas.lease_duration_seconds`: beyond it a stopped leader blocks the sweep for too long.
const MAX_LEASE_SECONDS: u64 = 3600;

impl Default for ReplicasConfig {
    fn default() -> Self {
        Self {
            lease_namespace: "default".into(),
            lease_duration: DEFAULT_LEASE_DURATION,
        }
    }
}

/// The whole configuration of `ikp serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// `[app]`.
    pub app: AppConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[k8s]`.
    pub k8s: K8sConfig,
    /// `[offloading]`.
    pub offloading: OffloadingConfig,
    /// `[mesh]`.
    pub mesh: MeshOptions,
    /// `[tcp_tunnel]`.
    pub tcp_tunnel: TunnelConfig,
    /// `[ping]`.
    pub ping: PingConfig,
    /// `[replicas]`.
    pub replicas: ReplicasConfig,
    /// Keys that were set but have no effect here (logged at start-up).
    pub ignored_keys: Vec<String>,
}

/// Command-line values, each overriding one key.
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    /// `--socket-address` → `app.socket_address`.
    pub socket_address: Option<String>,
    /// `--socket-port` → `app.socket_port`.
    pub socket_port: Option<String>,
    /// `--socket-mode` → `app.socket_mode`.
    pub socket_mode: Option<String>,
    /// `--max-body-bytes` → `app.max_body_bytes`.
    pub max_body_bytes: Option<String>,
    /// `--log-level` → `log.level`.
    pub log_level: Option<String>,
    /// `--log-format` → `log.format`.
    pub log_format: Option<String>,
    /// `--kubeconfig` → `k8s.kubeconfig_path`.
    pub kubeconfig: Option<PathBuf>,
    /// `--kube-context` → `k8s.context`.
    pub kube_context: Option<String>,
}

/// The inputs of [`load`].
pub struct ConfigSources<'a> {
    /// `--config`; else `$CONFIG_FILE_PATH`; else [`DEFAULT_CONFIG_FILE`] if it exists.
    pub file: Option<PathBuf>,
    /// Environment lookup (the process environment in production, a map in tests).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Command-line overrides.
    pub flags: FlagOverrides,
}

struct Raw<'a> {
    file: Option<(PathBuf, ini::IniDocument)>,
    env: &'a dyn Fn(&str) -> Option<String>,
    flags: BTreeMap<(&'static str, &'static str), (String, &'static str)>,
}

struct RawValue {
    key: String,
    value: String,
    origin: Origin,
    secret: bool,
}

impl RawValue {
    fn invalid(&self, expected: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            key: self.key.clone(),
            value: if self.secret {
                "<redacted>".to_owned()
            } else {
                format!("{:?}", self.value)
            },
            origin: self.origin.clone(),
            expected: expected.into(),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        serde_json::from_str(&self.value).map_err(|source| ConfigError::InvalidJson {
            key: self.key.clone(),
            origin: self.origin.clone(),
            expected,
            source,
        })
    }

    fn boolean(&self) -> Result<bool, ConfigError> {
        parse_bool(&self.value)
            .ok_or_else(|| self.invalid("a boolean (true/false, yes/no, on/off, 1/0)"))
    }

    fn number<T: std::str::FromStr>(&self, expected: &str) -> Result<T, ConfigError> {
        self.value
            .trim()
            .parse()
            .map_err(|_| self.invalid(expected))
    }
}

impl Raw<'_> {
    fn get(&self, section: &'static str, key: &'static str) -> Option<RawValue> {
        let secret = SECRET_KEYS.contains(&(section, key));
        let full = format!("{section}.{key}");
        if let Some((value, flag)) = self.flags.get(&(section, key)) {
            return Some(RawValue {
                key: full,
                value: value.clone(),
                origin: Origin::Flag { flag },
                secret,
            });
        }
        let var = env_var_name(section, key);
        if let Some(value) = (self.env)(&var) {
            return Some(RawValue {
                key: full,
                value,
                origin: Origin::Env { var },
                secret,
            });
        }
        let (path, doc) = self.file.as_ref()?;
        let entry = doc.get(section)?.get(key)?;
        Some(RawValue {
            key: full,
            value: entry.value.clone(),
            origin: Origin::File {
                path: path.clone(),
                line: entry.line,
            },
            secret,
        })
    }

    fn string(&self, section: &'static str, key: &'static str, default: &str) -> String {
        self.get(section, key)
            .map_or_else(|| default.to_owned(), |raw| raw.value)
    }
}

/// Parses a ConfigParser-style boolean.
fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

fn read_file(path: &Path) -> Result<ini::IniDocument, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let doc = ini::parse(&text).map_err(|source| ConfigError::Ini {
        path: path.to_owned(),
        source,
    })?;
    for (section, keys) in &doc {
        if !KEYS.iter().any(|(s, _)| s == section) {
            return Err(ConfigError::UnknownSection {
                path: path.to_owned(),
                section: section.clone(),
            });
        }
        for (key, entry) in keys {
            if !KEYS.contains(&(section.as_str(), key.as_str())) {
                return Err(ConfigError::UnknownKey {
                    section: section.clone(),
                    key: key.clone(),
                    origin: Origin::File {
                        path: path.to_owned(),
                        line: entry.line,
                    },
                });
            }
        }
    }
    Ok(doc)
}

/// Reads the file (if any), applies environment and flags, and validates every key.
pub fn load(sources: ConfigSources<'_>) -> Result<ServeConfig, ConfigError> {
    let file_path = match sources.file {
        Some(path) => Some(path),
        None => match (sources.env)(CONFIG_FILE_ENV) {
            Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
            _ => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        },
    };
    let file = match file_path {
        Some(path) => {
            let doc = read_file(&path)?;
            Some((path, doc))
        }
        None => None,
    };
    let mut flags = BTreeMap::new();
    let f = sources.flags;
    let mut put = |section, key, value: Option<String>, flag| {
        if let Some(value) = value {
            flags.insert((section, key), (value, flag));
        }
    };
    put(
        "app",
        "socket_address",
        f.socket_address,
        "--socket-address",
    );
    put("app", "socket_port", f.socket_port, "--socket-port");
    put("app", "socket_mode", f.socket_mode, "--socket-mode");
    put(
        "app",
        "max_body_bytes",
        f.max_body_bytes,
        "--max-body-bytes",
    );
    put("log", "level", f.log_level, "--log-level");
    put("log", "format", f.log_format, "--log-format");
    put(
        "k8s",
        "kubeconfig_path",
        f.kubeconfig.map(|p| p.display().to_string()),
        "--kubeconfig",
    );
    put("k8s", "context", f.kube_context, "--kube-context");
    let raw = Raw {
        file,
        env: sources.env,
        flags,
    };
    resolve(&raw)
}

fn resolve(raw: &Raw<'_>) -> Result<ServeConfig, ConfigError> {
    let mut ignored_keys = Vec::new();
    for (section, key) in [
        ("app", "api_versions"),
        ("app", "api_docs_path"),
        ("log", "dir"),
        ("log", "rich_enabled"),
        ("tcp_tunnel", "bastion_chart_path"),
    ] {
        if raw.get(section, key).is_some() {
            ignored_keys.push(format!("{section}.{key}"));
        }
    }
    Ok(ServeConfig {
        file: raw.file.as_ref().map(|(path, _)| path.clone()),
        app: resolve_app(raw)?,
        log: resolve_log(raw)?,
        k8s: resolve_k8s(raw)?,
        offloading: resolve_offloading(raw)?,
        mesh: resolve_mesh(raw)?,
        tcp_tunnel: resolve_tunnel(raw)?,
        ping: resolve_ping(raw)?,
        replicas: resolve_replicas(raw)?,
        ignored_keys,
    })
}

fn resolve_replicas(raw: &Raw<'_>) -> Result<ReplicasConfig, ConfigError> {
    let defaults = ReplicasConfig::default();
    let lease_namespace = match raw.get("replicas", "lease_namespace") {
        Some(v) => {
            let name = v.value.trim().to_owned();
            if !is_dns_label(&name) {
                return Err(v.invalid(DNS_LABEL_EXPECTED));
            }
            name
        }
        None => defaults.lease_namespace,
    };
    let lease_duration = match raw.get("replicas", "lease_duration_seconds") {
        Some(v) => {
            let expected = format!("a number of seconds from 1 to {MAX_LEASE_SECONDS}");
            let seconds: u64 = v.number(&expected)?;
            if !(1..=MAX_LEASE_SECONDS).contains(&seconds) {
                return Err(v.invalid(expected));
            }
            Duration::from_secs(seconds)
        }
        None => defaults.lease_duration,
    };
    Ok(ReplicasConfig {
        lease_namespace,
        lease_duration,
    })
}

fn resolve_app(raw: &Raw<'_>) -> Result<AppConfig, ConfigError> {
    let address = raw.get("app", "socket_address");
    let listen = match &address {
        Some(addr) if addr.value.trim().starts_with("unix://") => {
            let path = addr.value.trim().trim_start_matches("unix://");
            if path.is_empty() || !path.starts_with('/') {
                return Err(addr.invalid("unix:///absolute/path/to/socket"));
            }
            ListenAddress::Unix { path: path.into() }
        }
        Some(addr) => {
            let host = addr
                .value
                .trim()
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_matches('/');
            if host.is_empty() || host.contains(['/', ' ']) {
                return Err(addr.invalid("unix:///path, http://host or a bare host name/IP"));
            }
            let port = match raw.get("app", "socket_port") {
                Some(port) => port.number::<u16>("a TCP port 1..65535").and_then(|p| {
                    if p == 0 {
                        Err(port.invalid("a TCP port 1..65535"))
                    } else {
                        Ok(p)
                    }
                })?,
                None => {
                    return Err(ConfigError::InvalidValue {
                        key: "app.socket_port".into(),
                        value: "(unset)".into(),
                        origin: Origin::Default,
                        expected: "a TCP port 1..65535 when app.socket_address is not unix://"
                            .into(),
                    });
                }
            };
            ListenAddress::Tcp {
                host: host.to_owned(),
                port,
            }
        }
        None => ListenAddress::Unix {
            path: "/var/run/.plugin.sock".into(),
        },
    };
    let socket_mode = match raw.get("app", "socket_mode") {
        Some(mode) => u32::from_str_radix(mode.value.trim().trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| mode.invalid("octal permission bits such as 0600 or 0660"))?,
        None => 0o600,
    };
    let max_body_bytes = match raw.get("app", "max_body_bytes") {
        Some(v) => v
            .number::<usize>("a positive number of bytes")
            .and_then(|n| {
                if n == 0 {
                    Err(v.invalid("a positive number of bytes"))
                } else {
                    Ok(n)
                }
            })?,
        None => 32 * 1024 * 1024,
    };
    let shutdown_timeout = match raw.get("app", "shutdown_timeout_seconds") {
        Some(v) => Duration::from_secs(v.number("a number of seconds")?),
        None => Duration::from_secs(30),
    };
    let positive = |key, default: u64, expected: &str| match raw.get("app", key) {
        Some(v) => v.number::<u64>(expected).and_then(|n| {
            if n == 0 || n > MAX_APP_LIMIT {
                Err(v.invalid(expected))
            } else {
                Ok(n)
            }
        }),
        None => Ok(default),
    };
    let seconds = "a number of seconds from 1 to 1000000";
    let header_read_timeout =
        Duration::from_secs(positive("header_read_timeout_seconds", 30, seconds)?);
    let body_read_timeout =
        Duration::from_secs(positive("body_read_timeout_seconds", 60, seconds)?);
    let max_connections = usize::try_from(positive(
        "max_connections",
        512,
        "a number of connections from 1 to 1000000",
    )?)
    .unwrap_or(usize::MAX);
    let auth_token = resolve_auth_token(raw)?;
    Ok(AppConfig {
        name: raw.string("app", "name", "interlink-kubernetes-plugin"),
        description: raw.string("app", "description", "InterLink Kubernetes plugin"),
        version: raw.string("app", "version", env!("CARGO_PKG_VERSION")),
        listen,
        socket_mode,
        max_body_bytes,
        shutdown_timeout,
        header_read_timeout,
        body_read_timeout,
        max_connections,
        auth_token,
    })
}

/// Shortest accepted bearer token: shorter ones are guessable.
const MIN_AUTH_TOKEN_LEN: usize = 16;

/// The bearer token from `app.auth_token` (meant for the environment variable `APP_AUTH_TOKEN`) or the
/// file named by `app.auth_token_file`; errors never show the token.
fn resolve_auth_token(raw: &Raw<'_>) -> Result<Option<SecretString>, ConfigError> {
    let non_empty = |key| raw.get("app", key).filter(|v| !v.value.trim().is_empty());
    let expected = "a bearer token of at least 16 visible ASCII characters (no spaces)";
    let (token, origin, expected) = match (non_empty("auth_token"), non_empty("auth_token_file")) {
        (Some(inline), Some(file)) => {
            return Err(file.invalid(format!(
                "unset, because app.auth_token is also set ({}); set only one",
                inline.origin
            )));
        }
        (Some(inline), None) => (inline.value.trim().to_owned(), inline, expected.to_owned()),
        (None, Some(file)) => {
            let path = PathBuf::from(file.value.trim());
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::ReadFile {
                path: path.clone(),
                source,
            })?;
            (
                text.trim().to_owned(),
                file,
                format!("a file holding {expected}"),
            )
        }
        (None, None) => return Ok(None),
    };
    if token.len() < MIN_AUTH_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        // The value shown is the file name for auth_token_file and `<redacted>` for auth_token.
        return Err(origin.invalid(expected));
    }
    Ok(Some(SecretString(token)))
}

fn resolve_log(raw: &Raw<'_>) -> Result<LogConfig, ConfigError> {
    let level = match raw.get("log", "level") {
        Some(v) => match v.value.trim().to_ascii_lowercase().as_str() {
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" | "warning" => LogLevel::Warn,
            "error" | "critical" => LogLevel::Error,
            _ => return Err(v.invalid("one of trace, debug, info, warning, error, critical")),
        },
        None => LogLevel::Info,
    };
    let format = match raw.get("log", "format") {
        Some(v) => match v.value.trim().to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => return Err(v.invalid("text or json")),
        },
        None => LogFormat::Text,
    };
    let requests_enabled = match raw.get("log", "requests_enabled") {
        Some(v) => v.boolean()?,
        None => false,
    };
    if let Some(v) = raw.get("log", "rich_enabled") {
        v.boolean()?;
    }
    Ok(LogConfig {
        level,
        format,
        requests_enabled,
    })
}

/// The original's `k8s.client_configuration` keys (attributes of the Python client's `Configuration`).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientConfiguration {
    verify_ssl: Option<bool>,
    ssl_ca_cert: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
}

fn resolve_k8s(raw: &Raw<'_>) -> Result<K8sConfig, ConfigError> {
    let inline = raw
        .get("k8s", "kubeconfig")
        .filter(|v| !v.value.trim().is_empty());
    let path = raw
        .get("k8s", "kubeconfig_path")
        .filter(|v| !v.value.trim().is_empty());
    let source = match (path, inline) {
        (Some(path), inline) => {
            let file = PathBuf::from(path.value.trim());
            match inline {
                // As in the original, the inline kubeconfig is the fallback for a missing file; it is kept
                // in memory instead of being written there.
                Some(text) if !file.exists() => KubeconfigSource::Inline(text.value),
                _ => KubeconfigSource::File(file),
            }
        }
        (None, Some(text)) => KubeconfigSource::Inline(text.value),
        (None, None) => KubeconfigSource::Infer,
    };
    let tls = match raw
        .get("k8s", "client_configuration")
        .filter(|v| !v.value.trim().is_empty())
    {
        Some(v) => {
            let parsed: ClientConfiguration =
                v.json("an object with verify_ssl, ssl_ca_cert, cert_file, key_file")?;
            TlsOverrides {
                verify_server: parsed.verify_ssl,
                ca_cert_file: parsed.ssl_ca_cert,
                client_cert_file: parsed.cert_file,
                client_key_file: parsed.key_file,
            }
        }
        None => TlsOverrides::default(),
    };
    let request_timeout = match raw.get("k8s", "request_timeout_seconds") {
        Some(v) => Duration::from_secs(v.number::<u64>("a positive number of seconds").and_then(
            |n| {
                if n == 0 {
                    Err(v.invalid("a positive number of seconds"))
                } else {
                    Ok(n)
                }
            },
        )?),
        None => Duration::from_secs(30),
    };
    Ok(K8sConfig {
        connection: ClusterConnection {
            source,
            context: raw
                .get("k8s", "context")
                .map(|v| v.value)
                .filter(|c| !c.is_empty()),
            tls,
        },
        request_timeout,
    })
}

/// A toleration as the original accepted it (snake_case keyword arguments) or in Kubernetes' camelCase.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TolerationInput {
    key: Option<String>,
    operator: Option<String>,
    value: Option<String>,
    effect: Option<String>,
    #[serde(alias = "tolerationSeconds")]
    toleration_seconds: Option<i64>,
}

fn resolve_offloading(raw: &Raw<'_>) -> Result<OffloadingConfig, ConfigError> {
    let namespace_prefix = raw
        .string("offloading", "namespace_prefix", "")
        .trim()
        .to_owned();
    if let Some(v) = raw.get("offloading", "namespace_prefix")
        && !namespace_prefix.is_empty()
        && !is_dns_label(&namespace_prefix)
    {
        return Err(v.invalid(DNS_LABEL_EXPECTED));
    }
    let non_empty = |key| {
        raw.get("offloading", key)
            .filter(|v| !v.value.trim().is_empty())
    };
    let namespace_prefix_exclusions = match non_empty("namespace_prefix_exclusions") {
        Some(v) => {
            let names: Vec<String> = v.json("a JSON list of namespace names")?;
            if let Some(bad) = names.iter().find(|name| !is_dns_label(name)) {
                return Err(ConfigError::InvalidItem {
                    key: v.key.clone(),
                    item: format!("{bad:?}"),
                    origin: v.origin.clone(),
                    expected: format!("namespace names, each {DNS_LABEL_EXPECTED}"),
                });
            }
            names
        }
        None => Vec::new(),
    };
    let node_selector = match non_empty("node_selector") {
        Some(v) => {
            let selector: BTreeMap<String, String> =
                v.json("a JSON object of label names to values")?;
            for (key, value) in &selector {
                if !crate::k8s::syntax::is_label_key(key) {
                    return Err(ConfigError::InvalidItem {
                        key: v.key.clone(),
                        item: format!("label key {key:?}"),
                        origin: v.origin.clone(),
                        expected: "label keys such as nvidia.com/gpu or zone (an optional DNS \
                                   subdomain and '/', then at most 63 letters, digits, '-', '_', '.')"
                            .to_owned(),
                    });
                }
                if !crate::k8s::syntax::is_label_value(value) {
                    return Err(ConfigError::InvalidItem {
                        key: v.key.clone(),
                        item: format!("label value {value:?} of {key:?}"),
                        origin: v.origin.clone(),
                        expected: "label values of at most 63 letters, digits, '-', '_', '.', \
                                   starting and ending with a letter or digit"
                            .to_owned(),
                    });
                }
            }
            Some(selector)
        }
        None => None,
    };
    let node_tolerations = match non_empty("node_tolerations") {
        Some(v) => {
            let items: Vec<TolerationInput> = v.json(
                "a JSON list of {key, operator, value, effect, toleration_seconds} objects",
            )?;
            Some(
                items
                    .into_iter()
                    .map(|t| Toleration {
                        key: t.key,
                        operator: t.operator,
                        value: t.value,
                        effect: t.effect,
                        toleration_seconds: t.toleration_seconds,
                    })
                    .collect(),
            )
        }
        None => None,
    };
    Ok(OffloadingConfig {
        namespace_prefix,
        namespace_prefix_exclusions,
        node_selector,
        node_tolerations,
    })
}

fn resolve_mesh(raw: &Raw<'_>) -> Result<MeshOptions, ConfigError> {
    let defaults = MeshOptions::default();
    let flag = |key, default| match raw.get("mesh", key) {
        Some(v) => v.boolean(),
        None => Ok(default),
    };
    Ok(MeshOptions {
        init_container: flag("init_container", defaults.init_container)?,
        startup_probe: flag("startup_probe", defaults.startup_probe)?,
        slurm_setup_script: flag("slurm_setup_script", defaults.slurm_setup_script)?,
    })
}

fn resolve_tunnel(raw: &Raw<'_>) -> Result<TunnelConfig, ConfigError> {
    let enabled = match raw.get("tcp_tunnel", "enabled") {
        Some(v) => v.boolean()?,
        None => false,
    };
    let gateway_port = match raw
        .get("tcp_tunnel", "gateway_port")
        .filter(|v| !v.value.trim().is_empty())
    {
        Some(v) => Some(v.number::<u16>("a TCP port 1..65535").and_then(|p| {
            if p == 0 {
                Err(v.invalid("a TCP port 1..65535"))
            } else {
                Ok(p)
            }
        })?),
        None => None,
    };
    let bastion_namespace = match raw.get("tcp_tunnel", "bastion_namespace") {
        Some(v) => {
            let name = v.value.trim();
            if !is_dns_label(name) {
                return Err(v.invalid(DNS_LABEL_EXPECTED));
            }
            name.to_owned()
        }
        None => "tcp-tunnel".to_owned(),
    };
    Ok(TunnelConfig {
        enabled,
        bastion_namespace,
        gateway_host: raw
            .string("tcp_tunnel", "gateway_host", "")
            .trim()
            .to_owned(),
        gateway_port,
        gateway_ssh_private_key: raw
            .get("tcp_tunnel", "gateway_ssh_private_key")
            .filter(|v| !v.value.trim().is_empty())
            .map(|v| SecretString(v.value.trim().to_owned())),
    })
}

/// What a namespace name (or prefix) must be.
const DNS_LABEL_EXPECTED: &str =
    "a DNS label (lower-case letters, digits and '-', at most 63 characters)";

/// The taint key the Virtual Kubelet owns and never takes from a ping.
const SYSTEM_TAINT_KEY: &str = "virtual-node.interlink/no-schedule";

fn resolve_ping(raw: &Raw<'_>) -> Result<PingConfig, ConfigError> {
    let set = |key| raw.get("ping", key).filter(|v| !v.value.trim().is_empty());
    let figures =
        |keys: [&'static str; 4]| -> Result<(ResourceFigures, Option<RawValue>), ConfigError> {
            let mut figures = ResourceFigures::default();
            let mut first = None;
            for (i, key) in keys.into_iter().enumerate() {
                let Some(v) = set(key) else { continue };
                if i == 3 {
                    let map: BTreeMap<String, String> = v.json(
                    "a JSON object of extended resource names to whole numbers, such as {\"nvidia.com/gpu\": \"4\"}",
                )?;
                    for (name, amount) in map {
                        if !name.contains('/') {
                            return Err(v.invalid(format!(
                            "extended resource names with a domain (such as nvidia.com/gpu), not {name:?}"
                        )));
                        }
                        figures.accelerators.insert(name, count(&v, &amount)?);
                    }
                } else {
                    let value = match i {
                        2 => count(&v, &v.value)?,
                        _ => quantity(&v)?,
                    };
                    match i {
                        0 => figures.cpu = Some(value),
                        1 => figures.memory = Some(value),
                        _ => figures.pods = Some(value),
                    }
                }
                first.get_or_insert(v);
            }
            Ok((figures, first))
        };
    let (fixed, fixed_key) = figures([
        "fixed_cpu",
        "fixed_memory",
        "fixed_pods",
        "fixed_accelerators",
    ])?;
    let (max, max_key) = figures(["max_cpu", "max_memory", "max_pods", "max_accelerators"])?;
    let mode = raw.get("ping", "resources");
    let mode_text = mode.as_ref().map_or_else(
        || "remote".to_owned(),
        |v| v.value.trim().to_ascii_lowercase(),
    );
    let resources = match mode_text.as_str() {
        "remote" => {
            if let Some(v) = fixed_key {
                return Err(
                    v.invalid("no value: fixed_* keys apply only with ping.resources = fixed")
                );
            }
            ResourceReport::Remote { max }
        }
        "fixed" => {
            if let Some(v) = max_key {
                return Err(
                    v.invalid("no value: max_* keys apply only with ping.resources = remote")
                );
            }
            if fixed_key.is_none() {
                return Err(ConfigError::InvalidValue {
                    key: "ping.fixed_cpu".into(),
                    value: "(unset)".into(),
                    origin: Origin::Default,
                    expected: "at least one of ping.fixed_cpu, fixed_memory, fixed_pods, fixed_accelerators with ping.resources = fixed".into(),
                });
            }
            ResourceReport::Fixed(fixed)
        }
        "off" => {
            if let Some(v) = fixed_key.or(max_key) {
                return Err(v.invalid(
                    "no value: fixed_* and max_* keys do not apply with ping.resources = off",
                ));
            }
            ResourceReport::Off
        }
        _ => {
            return Err(ConfigError::InvalidValue {
                key: "ping.resources".into(),
                value: format!("{:?}", mode.as_ref().map_or("", |v| v.value.as_str())),
                origin: mode.map_or(Origin::Default, |v| v.origin),
                expected: "remote, fixed or off".into(),
            });
        }
    };
    let taints = match raw.get("ping", "taints") {
        Some(v) if !v.value.trim().is_empty() => {
            let taints: Vec<PingTaint> =
                v.json("a JSON list of {\"key\", \"value\", \"effect\"} objects")?;
            for taint in &taints {
                if taint.key.trim().is_empty() || taint.key == SYSTEM_TAINT_KEY {
                    return Err(v.invalid(format!(
                        "taint keys that are not empty and not {SYSTEM_TAINT_KEY} (the Virtual Kubelet keeps that one itself)"
                    )));
                }
                if !matches!(
                    taint.effect.as_str(),
                    "NoSchedule" | "PreferNoSchedule" | "NoExecute"
                ) {
                    return Err(v.invalid(format!(
                        "effect NoSchedule, PreferNoSchedule or NoExecute for taint {:?}, not {:?}",
                        taint.key, taint.effect
                    )));
                }
            }
            Some(taints)
        }
        _ => None,
    };
    Ok(PingConfig { resources, taints })
}

/// A non-negative quantity in milli-units.
fn quantity(v: &RawValue) -> Result<i128, ConfigError> {
    crate::k8s::quantity::parse_milli(&v.value)
        .ok()
        .filter(|q| *q >= 0)
        .ok_or_else(|| v.invalid("a non-negative Kubernetes quantity such as 64, 500m or 256Gi"))
}

/// A non-negative whole number (pods, devices) in milli-units.
fn count(v: &RawValue, text: &str) -> Result<i128, ConfigError> {
    crate::k8s::quantity::parse_milli(text)
        .ok()
        .filter(|q| *q >= 0 && q % 1000 == 0)
        .ok_or_else(|| {
            let mut err = v.invalid("a non-negative whole number");
            if let ConfigError::InvalidValue { value, .. } = &mut err {
                *value = format!("{text:?}");
            }
            err
        })
}

/// Whether `s` is an RFC 1123 label.
fn is_dns_label(s: &str) -> bool {
    crate::k8s::syntax::is_dns1123_label(s)
}

#[cfg(test)]
mod tests;
