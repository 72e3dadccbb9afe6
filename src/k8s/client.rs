//! Building a `kube::Client` for a cluster: the shared `--kubeconfig`/`--kube-context` flags, kubeconfig
//! sources (file, inline text, inference/in-cluster) and TLS overrides applied to the loaded config.
//!
//! Every command that talks to a cluster flattens [`ClientArgs`] and ends up in [`build_config`]; `ikp serve`
//! additionally supplies an inline kubeconfig and TLS overrides from its `[k8s]` config section.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Command-line flags selecting the cluster to talk to; flatten into any subcommand with `#[command(flatten)]`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClientArgs {
    /// Kubeconfig file to use (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster service account).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use instead of its current-context.
    #[arg(long = "kube-context", value_name = "NAME")]
    pub kube_context: Option<String>,
}

impl ClientArgs {
    /// The cluster connection these flags describe, with no TLS overrides.
    pub fn connection(&self) -> ClusterConnection {
        ClusterConnection {
            source: match &self.kubeconfig {
                Some(path) => KubeconfigSource::File(path.clone()),
                None => KubeconfigSource::Infer,
            },
            context: self.kube_context.clone(),
            tls: TlsOverrides::default(),
        }
    }

    /// Loads the kubeconfig these flags select and builds a client from it, with the read and write
    /// timeouts of a command that makes short requests only (see [`COMMAND_IO_TIMEOUT`]).
    pub async fn client(&self) -> Result<kube::Client, KubeClientError> {
        let mut config = build_config(&self.connection()).await?;
        set_command_timeouts(&mut config);
        kube::Client::try_from(config).map_err(|source| KubeClientError::Build { source })
    }
}

/// Where the kubeconfig comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum KubeconfigSource {
    /// A kubeconfig file at this path.
    File(PathBuf),
    /// Kubeconfig text (YAML or JSON) given inline; it holds credentials, so it is never printed.
    Inline(String),
    /// `$KUBECONFIG`, then `~/.kube/config`, then the in-cluster service account.
    Infer,
    /// Only the in-cluster service account (pod environment and mounted token).
    InCluster,
}

impl std::fmt::Debug for KubeconfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
            Self::Infer => f.write_str("Infer"),
            Self::InCluster => f.write_str("InCluster"),
        }
    }
}

/// TLS settings applied on top of whatever the kubeconfig says (the original plugin's
/// `k8s.client_configuration`, done on the loaded config instead of a detached one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOverrides {
    /// `Some(false)` disables server certificate verification.
    pub verify_server: Option<bool>,
    /// PEM file with the CA bundle to trust instead of the kubeconfig's.
    pub ca_cert_file: Option<PathBuf>,
    /// PEM client certificate file.
    pub client_cert_file: Option<PathBuf>,
    /// PEM client key file.
    pub client_key_file: Option<PathBuf>,
}

/// Everything needed to reach one cluster.
#[derive(Debug, Clone)]
pub struct ClusterConnection {
    /// Kubeconfig origin.
    pub source: KubeconfigSource,
    /// Context to use instead of the current-context (ignored in-cluster).
    pub context: Option<String>,
    /// TLS overrides.
    pub tls: TlsOverrides,
}

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
pub enum KubeClientError {
    /// The kubeconfig file could not be read.
    #[error("cannot read kubeconfig {path}: {source}")]
    ReadKubeconfigFile {
        /// The file.
        path: PathBuf,
        /// The I/O error (kube's own message would name the path a second time).
        #[source]
        source: std::io::Error,
    },
    /// The kubeconfig file could not be parsed.
    #[error("cannot load kubeconfig {path}: {source}")]
    ReadKubeconfig {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The inline kubeconfig text is not a valid kubeconfig. The parser's message quotes the input, which
    /// holds credentials, so only the position is kept.
    #[error(
        "inline kubeconfig ({origin}) is not a valid kubeconfig YAML/JSON document (at {position})"
    )]
    ParseInlineKubeconfig {
        /// Where the text came from (config key or env var).
        origin: String,
        /// "line L column C" when the parser reported one, else "unknown position".
        position: String,
    },
    /// The kubeconfig parsed but does not describe a usable cluster/context.
    #[error("kubeconfig {origin}: {source}")]
    ResolveKubeconfig {
        /// File path or "inline".
        origin: String,
        /// What went wrong.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// Neither a kubeconfig nor an in-cluster environment was found.
    #[error(
        "no kubeconfig found ($KUBECONFIG, ~/.kube/config) and not running in a cluster: {source}"
    )]
    Infer {
        /// What went wrong.
        #[source]
        source: kube::config::InferConfigError,
    },
    /// In-cluster configuration was requested but is not available.
    #[error("in-cluster configuration unavailable: {source}")]
    InCluster {
        /// What went wrong.
        #[source]
        source: kube::config::InClusterError,
    },
    /// A TLS override file could not be read.
    #[error("cannot read {what} file {path}: {source}")]
    ReadTlsFile {
        /// Which override (CA certificate, client certificate, client key).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The TLS override file holds no PEM certificate.
    #[error("{path} holds no PEM certificate")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// kube refused to build a client from the config (TLS setup, proxy, ...).
    #[error("cannot build Kubernetes client: {source}")]
    Build {
        /// What went wrong.
        #[source]
        source: kube::Error,
    },
}

/// How long to wait for a TCP/TLS connection to the API server (a kubeconfig cannot make it longer).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Read and write timeout of the commands (`apply`, `uninstall`, `diff`, `status`): they only make
/// short requests (their waits poll), so a response that stalls this long means the API server hangs.
///
/// `ikp serve` sets no read timeout on its client: a followed log stream of a quiet container and the
/// pod watch legitimately stay silent for long. Instead every request of its `/create`, `/delete`,
/// `/status` and `/getLogs` (up to the first log byte) is bounded by `request_timeout_seconds`.
const COMMAND_IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Applies [`COMMAND_IO_TIMEOUT`] to `config`; the read timeout counts from each request's last write,
/// not from when a pooled connection went idle.
fn set_command_timeouts(config: &mut kube::Config) {
    config.read_timeout = Some(COMMAND_IO_TIMEOUT);
    config.write_timeout = Some(COMMAND_IO_TIMEOUT);
    config.reset_reader_on_write = true;
}

/// Loads the kubeconfig of `connection` and applies its TLS overrides.
pub async fn build_config(connection: &ClusterConnection) -> Result<kube::Config, KubeClientError> {
    let options = KubeConfigOptions {
        context: connection.context.clone(),
        ..KubeConfigOptions::default()
    };
    let mut config = match &connection.source {
        KubeconfigSource::File(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|source| match source {
                kube::config::KubeconfigError::ReadConfig(io, _) => {
                    KubeClientError::ReadKubeconfigFile {
                        path: path.clone(),
                        source: io,
                    }
                }
                source => KubeClientError::ReadKubeconfig {
                    path: path.clone(),
                    source,
                },
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|source| KubeClientError::ResolveKubeconfig {
                    origin: path.display().to_string(),
                    source,
                })?
        }
        KubeconfigSource::Inline(text) => {
            let kubeconfig = Kubeconfig::from_yaml(text).map_err(|source| {
                KubeClientError::ParseInlineKubeconfig {
                    origin: "k8s.kubeconfig".to_owned(),
                    position: error_position(&source.to_string()),
                }
            })?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|source| KubeClientError::ResolveKubeconfig {
                    origin: "inline".to_owned(),
                    source,
                })?
        }
        KubeconfigSource::Infer if connection.context.is_some() => {
            kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|source| KubeClientError::ResolveKubeconfig {
                    origin: "$KUBECONFIG or ~/.kube/config".to_owned(),
                    source,
                })?
        }
        KubeconfigSource::Infer => kube::Config::infer()
            .await
            .map_err(|source| KubeClientError::Infer { source })?,
        KubeconfigSource::InCluster => {
            kube::Config::incluster().map_err(|source| KubeClientError::InCluster { source })?
        }
    };
    apply_tls_overrides(&mut config, &connection.tls)?;
    // kube fills in its own default (30 s) when the kubeconfig has none; a shorter bound fails fast on
    // an address nothing answers at.
    config.connect_timeout = Some(
        config
            .connect_timeout
            .map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT)),
    );
    Ok(config)
}

/// Builds a client for `connection`.
pub async fn build_client(connection: &ClusterConnection) -> Result<kube::Client, KubeClientError> {
    let config = build_config(connection).await?;
    kube::Client::try_from(config).map_err(|source| KubeClientError::Build { source })
}

/// A one-line account of a client error: the API server's message with its HTTP code and reason, or the
/// innermost transport cause. kube's own `Display` of an API error appends the whole `Status` debug dump.
pub(crate) fn describe_error(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => format!(
            "{} (HTTP {}, {})",
            status.message, status.code, status.reason
        ),
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            let mut cause: &dyn std::error::Error = err;
            while let Some(next) = cause.source() {
                cause = next;
            }
            format!("cannot reach the Kubernetes API server: {cause}")
        }
        other => other.to_string(),
    }
}

/// Extracts "line L column C" from a YAML parser message without keeping any quoted input.
fn error_position(message: &str) -> String {
    let Some(start) = message.find("line ") else {
        return "unknown position".to_owned();
    };
    let words: Vec<&str> = message[start..].split_whitespace().take(4).collect();
    match words.as_slice() {
        ["line", line, "column", column]
            if line.chars().all(|c| c.is_ascii_digit())
                && column
                    .trim_end_matches([':', ','])
                    .chars()
                    .all(|c| c.is_ascii_digit()) =>
        {
            format!("line {line} column {}", column.trim_end_matches([':', ',']))
        }
        _ => "unknown position".to_owned(),
    }
}

fn apply_tls_overrides(
    config: &mut kube::Config,
    tls: &TlsOverrides,
) -> Result<(), KubeClientError> {
    if let Some(verify) = tls.verify_server {
        config.accept_invalid_certs = !verify;
    }
    if let Some(path) = &tls.ca_cert_file {
        config.root_cert = Some(read_pem_certificates(path)?);
        config.root_cert_file = None;
    }
    if let Some(path) = &tls.client_cert_file {
        ensure_readable(path, "client certificate")?;
        config.auth_info.client_certificate = Some(path.display().to_string());
        config.auth_info.client_certificate_data = None;
    }
    if let Some(path) = &tls.client_key_file {
        ensure_readable(path, "client key")?;
        config.auth_info.client_key = Some(path.display().to_string());
        config.auth_info.client_key_data = None;
    }
    Ok(())
}

fn ensure_readable(path: &Path, what: &'static str) -> Result<(), KubeClientError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|source| KubeClientError::ReadTlsFile {
            what,
            path: path.to_owned(),
            source,
        })
}

/// Splits a PEM bundle into DER certificates, the form `kube::Config::root_cert` holds.
fn read_pem_certificates(path: &Path) -> Result<Vec<Vec<u8>>, KubeClientError> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(path).map_err(|source| KubeClientError::ReadTlsFile {
        what: "CA certificate",
        path: path.to_owned(),
        source,
    })?;
    let mut certificates = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        match (&mut body, line) {
            (None, "-----BEGIN CERTIFICATE-----") => body = Some(String::new()),
            (Some(collected), "-----END CERTIFICATE-----") => {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(collected.as_bytes())
                    .map_err(|_| KubeClientError::NoCertificate {
                        path: path.to_owned(),
                    })?;
                certificates.push(der);
                body = None;
            }
            (Some(collected), data) => collected.push_str(data),
            (None, _) => {}
        }
    }
    if certificates.is_empty() {
        return Err(KubeClientError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
clusters:
- name: one
  cluster: {server: "https://one.example:6443", insecure-skip-tls-verify: false}
- name: two
  cluster: {server: "https://two.example:6443"}
users:
- name: u
  user: {token: "not-a-real-token"}
contexts:
- name: first
  context: {cluster: one, user: u, namespace: ns1}
- name: second
  context: {cluster: two, user: u}
current-context: first
"#;

    fn connection(source: KubeconfigSource, context: Option<&str>) -> ClusterConnection {
        ClusterConnection {
            source,
            context: context.map(str::to_owned),
            tls: TlsOverrides::default(),
        }
    }

    #[tokio::test]
    async fn inline_kubeconfig_uses_current_context_or_the_named_one() {
        let config = build_config(&connection(
            KubeconfigSource::Inline(KUBECONFIG.into()),
            None,
        ))
        .await
        .expect("valid inline kubeconfig");
        assert_eq!(config.cluster_url.host(), Some("one.example"));
        assert_eq!(config.default_namespace, "ns1");
        let config = build_config(&connection(
            KubeconfigSource::Inline(KUBECONFIG.into()),
            Some("second"),
        ))
        .await
        .expect("valid context");
        assert_eq!(config.cluster_url.host(), Some("two.example"));
    }

    #[tokio::test]
    async fn unknown_context_is_an_error() {
        let err = build_config(&connection(
            KubeconfigSource::Inline(KUBECONFIG.into()),
            Some("nope"),
        ))
        .await
        .expect_err("context does not exist");
        assert!(
            matches!(err, KubeClientError::ResolveKubeconfig { .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn file_source_reads_the_file_and_names_it_when_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kubeconfig.yaml");
        std::fs::write(&path, KUBECONFIG).expect("write");
        let config = build_config(&connection(KubeconfigSource::File(path.clone()), None))
            .await
            .expect("file kubeconfig");
        assert_eq!(config.cluster_url.host(), Some("one.example"));
        let missing = dir.path().join("missing.yaml");
        let err = build_config(&connection(KubeconfigSource::File(missing.clone()), None))
            .await
            .expect_err("missing file");
        assert!(
            err.to_string().contains(&missing.display().to_string()),
            "{err}"
        );
    }

    #[tokio::test]
    async fn inline_errors_do_not_repeat_the_content() {
        let secret = "token: super-secret-value\n: : :";
        let err = build_config(&connection(KubeconfigSource::Inline(secret.into()), None))
            .await
            .expect_err("garbage");
        assert!(!err.to_string().contains("super-secret-value"), "{err}");
        assert!(err.to_string().contains("line 2 column 1"), "{err}");
        assert!(!format!("{:?}", KubeconfigSource::Inline(secret.into())).contains("super-secret"));
    }

    #[tokio::test]
    async fn tls_overrides_apply_to_the_loaded_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        // Any base64 body will do: the bytes are only handed to rustls when connecting.
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nAAEC\nAwQ=\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let mut conn = connection(KubeconfigSource::Inline(KUBECONFIG.into()), None);
        conn.tls = TlsOverrides {
            verify_server: Some(false),
            ca_cert_file: Some(ca),
            ..TlsOverrides::default()
        };
        let config = build_config(&conn).await.expect("config");
        // The W-5 bug of the original: overrides replaced the whole config. Here the server stays.
        assert_eq!(config.cluster_url.host(), Some("one.example"));
        assert!(config.accept_invalid_certs);
        assert_eq!(config.root_cert, Some(vec![vec![0, 1, 2, 3, 4]]));
    }

    #[tokio::test]
    async fn clients_have_connect_read_and_write_timeouts() {
        let config = build_config(&connection(
            KubeconfigSource::Inline(KUBECONFIG.into()),
            None,
        ))
        .await
        .expect("config");
        assert_eq!(config.connect_timeout, Some(CONNECT_TIMEOUT));
        let mut command = config.clone();
        set_command_timeouts(&mut command);
        assert_eq!(command.read_timeout, Some(COMMAND_IO_TIMEOUT));
        assert_eq!(command.write_timeout, Some(COMMAND_IO_TIMEOUT));
        assert!(command.reset_reader_on_write);
    }

    #[tokio::test]
    async fn ca_file_without_certificate_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not pem").expect("write");
        let mut conn = connection(KubeconfigSource::Inline(KUBECONFIG.into()), None);
        conn.tls.ca_cert_file = Some(ca.clone());
        let err = build_config(&conn).await.expect_err("no certificate");
        assert!(
            matches!(err, KubeClientError::NoCertificate { .. }),
            "{err}"
        );
    }
}
