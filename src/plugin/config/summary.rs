//! The plain-text summary `ikp serve --check-config` prints: one `name: value` line per setting, every
//! section, secrets shown only as "set".

use std::fmt::Write as _;

use super::{LogFormat, ServeConfig};
use crate::k8s::client::KubeconfigSource;

fn on_off(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}

fn list_or_none(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// The summary of `config`; `server` is the remote API server's URL once the kubeconfig was loaded.
pub fn summary(config: &ServeConfig, server: Option<&str>) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: String| {
        let _ = writeln!(out, "{name}: {value}");
    };
    line(
        "config file",
        config
            .file
            .as_ref()
            .map_or_else(|| "none".to_owned(), |p| p.display().to_string()),
    );
    line("listen", config.app.listen.to_string());
    line("socket mode", format!("{:04o}", config.app.socket_mode));
    line("max body bytes", config.app.max_body_bytes.to_string());
    line(
        "shutdown timeout",
        format!("{} s", config.app.shutdown_timeout.as_secs()),
    );
    line(
        "header read timeout",
        format!("{} s", config.app.header_read_timeout.as_secs()),
    );
    line(
        "body read timeout",
        format!("{} s", config.app.body_read_timeout.as_secs()),
    );
    line("max connections", config.app.max_connections.to_string());
    line(
        "authentication",
        if config.app.auth_token.is_some() {
            "bearer token (set)"
        } else {
            "none"
        }
        .to_owned(),
    );
    line("log level", config.log.level.as_directive().to_owned());
    line(
        "log format",
        match config.log.format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
        .to_owned(),
    );
    line(
        "request log",
        if config.log.requests_enabled {
            "every request at info"
        } else {
            "debug only"
        }
        .to_owned(),
    );
    let connection = &config.k8s.connection;
    line(
        "remote kubeconfig",
        match &connection.source {
            KubeconfigSource::File(path) => format!("file {}", path.display()),
            KubeconfigSource::Inline(_) => "inline (k8s.kubeconfig)".to_owned(),
            KubeconfigSource::Infer => {
                "$KUBECONFIG, else ~/.kube/config, else in-cluster".to_owned()
            }
            KubeconfigSource::InCluster => "in-cluster service account".to_owned(),
        },
    );
    line(
        "remote context",
        connection
            .context
            .clone()
            .unwrap_or_else(|| "the kubeconfig's current-context".to_owned()),
    );
    if let Some(server) = server {
        line("remote server", server.to_owned());
    }
    let tls = &connection.tls;
    let mut tls_parts = Vec::new();
    if let Some(verify) = tls.verify_server {
        tls_parts.push(format!("verify server {}", on_off(verify)));
    }
    for (what, path) in [
        ("CA file", &tls.ca_cert_file),
        ("client certificate", &tls.client_cert_file),
        ("client key", &tls.client_key_file),
    ] {
        if let Some(path) = path {
            tls_parts.push(format!("{what} {}", path.display()));
        }
    }
    line("remote TLS overrides", list_or_none(tls_parts));
    line(
        "remote request timeout",
        format!("{} s", config.k8s.request_timeout.as_secs()),
    );
    let offloading = &config.offloading;
    line(
        "namespace prefix",
        if offloading.namespace_prefix.is_empty() {
            "none (remote namespace = local namespace)".to_owned()
        } else {
            format!(
                "{0} (remote namespace = {0}-<local namespace>)",
                offloading.namespace_prefix
            )
        },
    );
    line(
        "namespace prefix exclusions",
        list_or_none(offloading.namespace_prefix_exclusions.iter().cloned()),
    );
    line(
        "node selector",
        list_or_none(
            offloading
                .node_selector
                .iter()
                .flatten()
                .map(|(k, v)| format!("{k}={v}")),
        ),
    );
    line(
        "node tolerations",
        list_or_none(offloading.node_tolerations.iter().flatten().map(|t| {
            let mut text = t.key.clone().unwrap_or_else(|| "*".to_owned());
            match t.operator.as_deref() {
                Some("Exists") => text.push_str(" exists"),
                _ => {
                    let _ = write!(text, "={}", t.value.as_deref().unwrap_or_default());
                }
            }
            if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty()) {
                let _ = write!(text, ":{effect}");
            }
            if let Some(seconds) = t.toleration_seconds {
                let _ = write!(text, " for {seconds} s");
            }
            text
        })),
    );
    line(
        "mesh",
        format!(
            "init container {}, startup probe {}, slurm setup script {}",
            on_off(config.mesh.init_container),
            on_off(config.mesh.startup_probe),
            on_off(config.mesh.slurm_setup_script)
        ),
    );
    let tunnel = &config.tcp_tunnel;
    if tunnel.enabled {
        line("tcp tunnel", "on".to_owned());
        line(
            "tcp tunnel gateway",
            format!(
                "{}:{}",
                tunnel.gateway_host,
                tunnel.gateway_port.map_or_else(
                    || "the bastion chart's default port".to_owned(),
                    |p| p.to_string()
                )
            ),
        );
        line(
            "tcp tunnel bastion namespace",
            tunnel.bastion_namespace.clone(),
        );
        line(
            "tcp tunnel ssh private key",
            if tunnel.gateway_ssh_private_key.is_some() {
                "set"
            } else {
                "not set"
            }
            .to_owned(),
        );
    } else {
        line("tcp tunnel", "off".to_owned());
    }
    let figures = |f: &super::ResourceFigures| {
        let mut parts = Vec::new();
        if let Some(cpu) = f.cpu {
            parts.push(format!("cpu {}", crate::k8s::quantity::format_cpu(cpu)));
        }
        if let Some(memory) = f.memory {
            parts.push(format!(
                "memory {}",
                crate::k8s::quantity::format_bytes(memory)
            ));
        }
        if let Some(pods) = f.pods {
            parts.push(format!("pods {}", crate::k8s::quantity::format_count(pods)));
        }
        for (name, amount) in &f.accelerators {
            parts.push(format!(
                "{name} {}",
                crate::k8s::quantity::format_count(*amount)
            ));
        }
        parts
    };
    line(
        "ping resources",
        match &config.ping.resources {
            super::ResourceReport::Remote { max } if figures(max).is_empty() => {
                "free on the remote nodes offloaded pods may use".to_owned()
            }
            super::ResourceReport::Remote { max } => format!(
                "free on the remote nodes offloaded pods may use, at most {}",
                figures(max).join(", ")
            ),
            super::ResourceReport::Fixed(fixed) => format!("fixed: {}", figures(fixed).join(", ")),
            super::ResourceReport::Off => "not reported".to_owned(),
        },
    );
    line(
        "ping taints",
        match &config.ping.taints {
            None => "not published".to_owned(),
            Some(taints) => list_or_none(taints.iter().map(|t| {
                if t.value.is_empty() {
                    format!("{}:{}", t.key, t.effect)
                } else {
                    format!("{}={}:{}", t.key, t.value, t.effect)
                }
            })),
        },
    );
    line(
        "leader lease",
        format!(
            "{}/{}, taken over {}s after its holder stops renewing",
            config.replicas.lease_namespace,
            super::ReplicasConfig::lease_name(&config.offloading.namespace_prefix),
            config.replicas.lease_duration.as_secs()
        ),
    );
    line(
        "ignored keys",
        list_or_none(config.ignored_keys.iter().cloned()),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::config::{ConfigSources, FlagOverrides, load};

    /// The summary once printed Rust `Debug` structures (`File("…")`, `MeshOptions { … }`) and left out the
    /// tunnel, log format and node selector.
    #[test]
    fn summary_is_plain_text_and_covers_every_section() {
        let env = [
            ("LOG_FORMAT", "json"),
            ("OFFLOADING_NODE_SELECTOR", r#"{"nvidia/gpu-model": "T4"}"#),
            (
                "OFFLOADING_NODE_TOLERATIONS",
                r#"[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]"#,
            ),
            ("K8S_KUBECONFIG_PATH", "/etc/ikp/remote/kubeconfig"),
            ("TCP_TUNNEL_ENABLED", "true"),
            ("TCP_TUNNEL_GATEWAY_HOST", "gw.example.org"),
            ("TCP_TUNNEL_GATEWAY_PORT", "30222"),
            (
                "TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY",
                "c2VjcmV0LWtleS1ieXRlcw==",
            ),
        ];
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let config = load(ConfigSources {
            file: None,
            env: &lookup,
            flags: FlagOverrides::default(),
        })
        .expect("valid");
        let text = summary(&config, Some("https://127.0.0.1:6443"));
        for expected in [
            "log format: json\n",
            "remote kubeconfig: file /etc/ikp/remote/kubeconfig\n",
            "remote server: https://127.0.0.1:6443\n",
            "node selector: nvidia/gpu-model=T4\n",
            "node tolerations: nvidia.com/gpu exists:NoSchedule\n",
            "mesh: init container on, startup probe on, slurm setup script off\n",
            "tcp tunnel: on\n",
            "tcp tunnel gateway: gw.example.org:30222\n",
            "tcp tunnel bastion namespace: tcp-tunnel\n",
            "tcp tunnel ssh private key: set\n",
            "socket mode: 0600\n",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
        for debug_marker in ["{", "}", "Some(", "None", "File(", "\"", "c2VjcmV0"] {
            assert!(!text.contains(debug_marker), "{debug_marker:?} in:\n{text}");
        }
    }
}
