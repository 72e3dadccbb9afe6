//! `ikp serve`: the InterLink plugin HTTP API.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use ikp::k8s::client::ClientArgs;
use ikp::plugin::config::{self, ConfigSources, FlagOverrides, LogFormat, ServeConfig};
use ikp::plugin::offload::service::{NoTunnel, TunnelHook};
use ikp::plugin::tunnel::{BastionTunnel, TunnelSettings};

/// Flags of `ikp serve`. Each overrides the config key named in its help; see config.sample.ini.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  # Check a configuration and the remote kubeconfig, print a summary and exit
  ikp serve --config config.ini --kubeconfig remote.yaml --check-config

  # Also ask the remote API server for every permission the plugin needs
  ikp serve --config config.ini --kubeconfig remote.yaml --check-config --connect

  # Serve on TCP port 4000 instead of the configuration's unix socket, logging JSON
  ikp serve --config config.ini --socket-address http://0.0.0.0 --socket-port 4000 --log-format json")]
pub(super) struct ServeCmd {
    /// Config file (INI, the original plugin's keys) [default: $CONFIG_FILE_PATH, else private/config.ini if present].
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Listen address: unix:///path or http://host (app.socket_address).
    #[arg(long, value_name = "ADDRESS")]
    socket_address: Option<String>,
    /// TCP port when not on a unix socket (app.socket_port).
    #[arg(long, value_name = "PORT")]
    socket_port: Option<String>,
    /// Octal permission bits of the unix socket file, e.g. 0660 (app.socket_mode).
    #[arg(long, value_name = "MODE")]
    socket_mode: Option<String>,
    /// Largest accepted request body in bytes (app.max_body_bytes).
    #[arg(long, value_name = "BYTES")]
    max_body_bytes: Option<String>,
    /// trace, debug, info, warning (or warn), error, critical (log.level; critical logs what error does);
    /// RUST_LOG overrides it.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// text or json (log.format).
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Remote cluster (k8s.kubeconfig_path, k8s.context).
    #[command(flatten)]
    kube: ClientArgs,
    /// Validate the configuration and the remote kubeconfig and context, print a summary and exit.
    #[arg(long)]
    check_config: bool,
    /// With --check-config: also reach the remote API server and ask it (SelfSubjectAccessReview) for
    /// every permission the configuration needs; print one line per missing permission, exit 1 if any.
    #[arg(long, requires = "check_config")]
    connect: bool,
}

/// Runs `ikp serve`.
pub(super) fn run(cmd: ServeCmd, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let env = |name: &str| std::env::var(name).ok();
    let config = config::load(ConfigSources {
        file: cmd.config,
        env: &env,
        flags: FlagOverrides {
            socket_address: cmd.socket_address,
            socket_port: cmd.socket_port,
            socket_mode: cmd.socket_mode,
            max_body_bytes: cmd.max_body_bytes,
            log_level: cmd.log_level,
            log_format: cmd.log_format,
            kubeconfig: cmd.kube.kubeconfig,
            kube_context: cmd.kube.kube_context,
        },
    })
    .context("invalid configuration")?;
    // The tunnel renders a sample bastion release now, so bad [tcp_tunnel] values stop the start-up.
    let tunnel_settings = config
        .tcp_tunnel
        .enabled
        .then(|| TunnelSettings::from_config(&config.tcp_tunnel))
        .transpose()
        .context("invalid configuration")?;
    let tunnel: Arc<dyn TunnelHook> = match &tunnel_settings {
        Some(settings) => {
            Arc::new(BastionTunnel::new(settings.clone()).context("invalid configuration")?)
        }
        None => Arc::new(NoTunnel),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if cmd.check_config {
        return runtime.block_on(check_config(&config, cmd.connect, out));
    }
    init_tracing(&config);
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %config.file.as_ref().map_or_else(|| "(none)".to_owned(), |p| p.display().to_string()),
        listen = %config.app.listen,
        namespace_prefix = %config.offloading.namespace_prefix,
        "starting ikp serve"
    );
    for key in &config.ignored_keys {
        tracing::warn!(key = %key, "config key accepted for compatibility but has no effect");
    }
    if let Some(settings) = &tunnel_settings {
        tracing::info!(
            gateway_host = %settings.gateway_host,
            bastion_namespace = %settings.bastion_namespace,
            "tcp tunnel enabled: one bastion release per TCP container port"
        );
    }
    runtime.block_on(ikp::plugin::serve::run(config, tunnel))?;
    Ok(ExitCode::SUCCESS)
}

/// `--check-config`: loads the remote kubeconfig and context as `serve` would (without connecting), prints
/// the summary; with `--connect`, asks the API server for every permission the configuration needs.
async fn check_config(
    config: &ServeConfig,
    connect: bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    let kube_config = ikp::k8s::client::build_config(&config.k8s.connection)
        .await
        .context("invalid configuration")?;
    let server = kube_config.cluster_url.to_string();
    write!(
        out,
        "{}",
        ikp::plugin::config::summary::summary(config, Some(&server))
    )?;
    if let Some(warning) = config.app.exposure_warning() {
        eprintln!("warning: {warning}");
    }
    if !connect {
        return Ok(ExitCode::SUCCESS);
    }
    let client = kube::Client::try_from(kube_config)
        .map_err(|source| ikp::k8s::client::KubeClientError::Build { source })?;
    let required = ikp::plugin::permissions::required(config);
    let missing = ikp::plugin::permissions::missing(&client, &required)
        .await
        .with_context(|| format!("cannot ask {server} for the plugin's permissions"))?;
    for permission in &missing {
        writeln!(out, "missing permission: {permission}")?;
    }
    writeln!(
        out,
        "permissions: {} of {} granted",
        required.len() - missing.len(),
        required.len()
    )?;
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn init_tracing(config: &ServeConfig) {
    let level = config.log.level.as_directive();
    // The configured level applies to ikp itself; libraries stay at warn so nothing they log at debug (such
    // as request URLs with tokens in proxies) ends up in the plugin log by accident.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("warn,ikp={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
