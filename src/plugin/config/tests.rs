use std::collections::HashMap;

use super::*;

fn load_with(
    ini: Option<&str>,
    env: &[(&str, &str)],
    flags: FlagOverrides,
) -> Result<ServeConfig, ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = ini.map(|text| {
        let path = dir.path().join("config.ini");
        std::fs::write(&path, text).expect("write config");
        path
    });
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = move |name: &str| env.get(name).cloned();
    load(ConfigSources {
        file,
        env: &lookup,
        flags,
    })
}

#[test]
fn sample_file_loads_with_the_documented_values() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.sample.ini"))
        .expect("sample");
    let config = load_with(Some(&text), &[], FlagOverrides::default()).expect("sample is valid");
    assert_eq!(
        config.app.listen,
        ListenAddress::Unix {
            path: "/var/run/.plugin.sock".into()
        }
    );
    assert_eq!(config.app.socket_mode, 0o600);
    assert_eq!(config.offloading.namespace_prefix, "offloading");
    assert_eq!(config.log.level, LogLevel::Info);
    assert!(
        config.mesh.init_container && config.mesh.startup_probe && !config.mesh.slurm_setup_script
    );
    assert!(!config.tcp_tunnel.enabled);
    assert_eq!(config.tcp_tunnel.gateway_ssh_private_key, None);
    assert_eq!(
        config.k8s.connection.source,
        KubeconfigSource::File("private/k8s/kubeconfig.yaml".into())
    );
}

/// The `[tcp_tunnel]` snippet as the README shows it, inline comments included, is a valid config.
#[test]
fn tunnel_snippet_with_inline_comments_loads() {
    let ini = "[tcp_tunnel]\nenabled = true\ngateway_host = gw.example.org      # a node of the local cluster\n\
               gateway_port = 30222               # the gateway's sshd NodePort\nbastion_namespace = tcp-tunnel ; where\n";
    let config = load_with(Some(ini), &[], FlagOverrides::default()).expect("valid");
    assert_eq!(config.tcp_tunnel.gateway_host, "gw.example.org");
    assert_eq!(config.tcp_tunnel.gateway_port, Some(30222));
    assert_eq!(config.tcp_tunnel.bastion_namespace, "tcp-tunnel");
}

#[test]
fn env_overrides_file_and_flag_overrides_env() {
    let ini = "[app]\nsocket_address = http://0.0.0.0\nsocket_port = 4000\n";
    let config = load_with(
        Some(ini),
        &[("APP_SOCKET_PORT", "4100")],
        FlagOverrides::default(),
    )
    .expect("valid");
    assert_eq!(
        config.app.listen,
        ListenAddress::Tcp {
            host: "0.0.0.0".into(),
            port: 4100
        }
    );
    let flags = FlagOverrides {
        socket_port: Some("4200".into()),
        ..FlagOverrides::default()
    };
    let config = load_with(Some(ini), &[("APP_SOCKET_PORT", "4100")], flags).expect("valid");
    assert_eq!(
        config.app.listen,
        ListenAddress::Tcp {
            host: "0.0.0.0".into(),
            port: 4200
        }
    );
}

#[test]
fn empty_env_value_still_overrides_as_in_the_original() {
    let ini = "[offloading]\nnamespace_prefix = offloading\n";
    let config = load_with(
        Some(ini),
        &[("OFFLOADING_NAMESPACE_PREFIX", "")],
        FlagOverrides::default(),
    )
    .expect("valid");
    assert_eq!(config.offloading.namespace_prefix, "");
}

#[test]
fn unknown_key_and_section_are_named_with_their_line() {
    let err = load_with(
        Some("[app]\nname = x\nsocket_adress = unix:///x\n"),
        &[],
        FlagOverrides::default(),
    )
    .expect_err("typo");
    let message = err.to_string();
    assert!(
        message.contains("app.socket_adress") && message.contains("config.ini:3"),
        "{message}"
    );
    let err =
        load_with(Some("[apps]\nname = x\n"), &[], FlagOverrides::default()).expect_err("section");
    assert!(err.to_string().contains("[apps]"), "{err}");
}

#[test]
fn bad_values_name_key_value_origin_and_expectation() {
    let err = load_with(
        Some("[app]\nsocket_address = http://localhost\nsocket_port = 70000\n"),
        &[],
        FlagOverrides::default(),
    )
    .expect_err("port out of range");
    let message = err.to_string();
    assert!(
        message.contains("app.socket_port")
            && message.contains("\"70000\"")
            && message.contains("1..65535"),
        "{message}"
    );
    let err = load_with(
        None,
        &[("MESH_INIT_CONTAINER", "maybe")],
        FlagOverrides::default(),
    )
    .expect_err("bool");
    let message = err.to_string();
    assert!(
        message.contains("MESH_INIT_CONTAINER") && message.contains("mesh.init_container"),
        "{message}"
    );
    let err =
        load_with(None, &[("LOG_LEVEL", "loud")], FlagOverrides::default()).expect_err("level");
    assert!(err.to_string().contains("log.level"), "{err}");
}

/// `bastion_namespace = Bad_NS` passed the config check, and then every tunnel `/create` failed with 502.
#[test]
fn bastion_namespace_must_be_a_dns_label() {
    let err = load_with(
        Some("[tcp_tunnel]\nbastion_namespace = Bad_NS\n"),
        &[],
        FlagOverrides::default(),
    )
    .expect_err("bad namespace");
    let message = err.to_string();
    assert!(
        message.contains("tcp_tunnel.bastion_namespace")
            && message.contains("\"Bad_NS\"")
            && message.contains("config.ini:2")
            && message.contains("DNS label"),
        "{message}"
    );
}

#[test]
fn namespace_exclusions_and_node_selector_items_are_checked() {
    let err = load_with(
        None,
        &[(
            "OFFLOADING_NAMESPACE_PREFIX_EXCLUSIONS",
            r#"["kube-system", "Bad NS"]"#,
        )],
        FlagOverrides::default(),
    )
    .expect_err("bad exclusion");
    let message = err.to_string();
    assert!(
        message.contains("offloading.namespace_prefix_exclusions")
            && message.contains("\"Bad NS\""),
        "{message}"
    );
    let err = load_with(
        None,
        &[("OFFLOADING_NODE_SELECTOR", r#"{"gpu model": "T4"}"#)],
        FlagOverrides::default(),
    )
    .expect_err("bad label key");
    assert!(err.to_string().contains("label key \"gpu model\""), "{err}");
    let err = load_with(
        None,
        &[("OFFLOADING_NODE_SELECTOR", r#"{"gpu": "T4 large"}"#)],
        FlagOverrides::default(),
    )
    .expect_err("bad label value");
    assert!(
        err.to_string().contains("label value \"T4 large\""),
        "{err}"
    );
}

#[test]
fn tcp_mode_requires_a_port_and_strips_the_scheme() {
    let err = load_with(
        None,
        &[("APP_SOCKET_ADDRESS", "http://0.0.0.0")],
        FlagOverrides::default(),
    )
    .expect_err("no port");
    assert!(err.to_string().contains("app.socket_port"), "{err}");
    let config = load_with(
        None,
        &[
            ("APP_SOCKET_ADDRESS", "https://plugin/"),
            ("APP_SOCKET_PORT", "4000"),
        ],
        FlagOverrides::default(),
    )
    .expect("valid");
    assert_eq!(config.app.listen.to_string(), "http://plugin:4000");
    let err = load_with(
        None,
        &[("APP_SOCKET_ADDRESS", "unix://relative.sock")],
        FlagOverrides::default(),
    )
    .expect_err("relative socket path");
    assert!(err.to_string().contains("app.socket_address"), "{err}");
}

#[test]
fn json_options_parse_including_snake_case_tolerations() {
    let ini = r#"[offloading]
namespace_prefix_exclusions = ["kube-system", "default"]
node_selector = {"nvidia/gpu-model": "T4"}
node_tolerations = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, {"key": "a", "operator": "Equal", "value": "b", "effect": "NoExecute", "toleration_seconds": 30}, {"key": "c", "tolerationSeconds": 5}]
"#;
    let config = load_with(Some(ini), &[], FlagOverrides::default()).expect("valid");
    assert_eq!(
        config.offloading.namespace_prefix_exclusions,
        ["kube-system", "default"]
    );
    assert_eq!(
        config
            .offloading
            .node_selector
            .as_ref()
            .and_then(|s| s.get("nvidia/gpu-model"))
            .map(String::as_str),
        Some("T4")
    );
    let tolerations = config.offloading.node_tolerations.expect("tolerations");
    assert_eq!(tolerations.len(), 3);
    assert_eq!(tolerations[1].toleration_seconds, Some(30));
    assert_eq!(tolerations[2].toleration_seconds, Some(5));
    let err = load_with(
        None,
        &[(
            "OFFLOADING_NODE_TOLERATIONS",
            r#"[{"key": "x", "tolerationSecs": 1}]"#,
        )],
        FlagOverrides::default(),
    )
    .expect_err("unknown toleration field");
    assert!(
        err.to_string().contains("offloading.node_tolerations"),
        "{err}"
    );
}

#[test]
fn client_configuration_maps_to_tls_overrides_of_the_same_kubeconfig() {
    let ini = "[k8s]\nkubeconfig_path = /etc/remote.yaml\nclient_configuration = {\"verify_ssl\": false, \"ssl_ca_cert\": \"/ca.pem\"}\n";
    let config = load_with(Some(ini), &[], FlagOverrides::default()).expect("valid");
    assert_eq!(
        config.k8s.connection.source,
        KubeconfigSource::File("/etc/remote.yaml".into())
    );
    assert_eq!(config.k8s.connection.tls.verify_server, Some(false));
    assert_eq!(
        config.k8s.connection.tls.ca_cert_file,
        Some("/ca.pem".into())
    );
    let err = load_with(
        None,
        &[("K8S_CLIENT_CONFIGURATION", r#"{"host": "http://evil"}"#)],
        FlagOverrides::default(),
    )
    .expect_err("unsupported attribute");
    assert!(
        err.to_string().contains("k8s.client_configuration"),
        "{err}"
    );
}

#[test]
fn inline_kubeconfig_is_the_fallback_for_a_missing_file() {
    let config = load_with(
        None,
        &[
            ("K8S_KUBECONFIG_PATH", "/does/not/exist.yaml"),
            ("K8S_KUBECONFIG", "{\"apiVersion\": \"v1\"}"),
        ],
        FlagOverrides::default(),
    )
    .expect("valid");
    assert!(matches!(
        config.k8s.connection.source,
        KubeconfigSource::Inline(_)
    ));
    let config = load_with(None, &[], FlagOverrides::default()).expect("valid");
    assert_eq!(config.k8s.connection.source, KubeconfigSource::Infer);
    let flags = FlagOverrides {
        kubeconfig: Some("/flag.yaml".into()),
        kube_context: Some("ctx".into()),
        ..FlagOverrides::default()
    };
    let config = load_with(None, &[], flags).expect("valid");
    assert_eq!(
        config.k8s.connection.source,
        KubeconfigSource::File("/flag.yaml".into())
    );
    assert_eq!(config.k8s.connection.context.as_deref(), Some("ctx"));
}

#[test]
fn secret_values_never_appear_in_errors_or_debug() {
    let key = "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0K";
    let config = load_with(
        None,
        &[("TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY", key)],
        FlagOverrides::default(),
    )
    .expect("valid");
    assert_eq!(
        config
            .tcp_tunnel
            .gateway_ssh_private_key
            .as_ref()
            .map(SecretString::expose),
        Some(key)
    );
    assert!(!format!("{config:?}").contains(key));
    let raw = RawValue {
        key: "tcp_tunnel.gateway_ssh_private_key".into(),
        value: key.into(),
        origin: Origin::Default,
        secret: true,
    };
    assert!(!raw.invalid("x").to_string().contains(key));
}

#[test]
fn socket_mode_is_octal() {
    let flags = FlagOverrides {
        socket_mode: Some("0660".into()),
        ..FlagOverrides::default()
    };
    assert_eq!(
        load_with(None, &[], flags).expect("valid").app.socket_mode,
        0o660
    );
    let flags = FlagOverrides {
        socket_mode: Some("0999".into()),
        ..FlagOverrides::default()
    };
    let err = load_with(None, &[], flags).expect_err("not octal");
    assert!(err.to_string().contains("--socket-mode"), "{err}");
}

#[test]
fn explicit_missing_file_is_an_error() {
    let lookup = |_: &str| None;
    let err = load(ConfigSources {
        file: Some("/nonexistent/config.ini".into()),
        env: &lookup,
        flags: FlagOverrides::default(),
    })
    .expect_err("missing");
    assert!(err.to_string().contains("/nonexistent/config.ini"), "{err}");
}

#[test]
fn env_var_names_follow_the_original_rule() {
    assert_eq!(env_var_name("app", "socket_address"), "APP_SOCKET_ADDRESS");
    assert_eq!(
        env_var_name("tcp_tunnel", "gateway_ssh_private_key"),
        "TCP_TUNNEL_GATEWAY_SSH_PRIVATE_KEY"
    );
}

#[test]
fn non_loopback_tcp_bind_warns_that_the_api_is_unauthenticated() {
    for (host, local) in [
        ("127.0.0.1", true),
        ("localhost", true),
        ("[::1]", true),
        ("127.5.6.7", true),
        ("0.0.0.0", false),
        ("[::]", false),
        ("10.0.0.5", false),
        ("plugin.example.org", false),
    ] {
        let ini = format!("[app]\nsocket_address = http://{host}\nsocket_port = 4000\n");
        let config = load_with(Some(&ini), &[], FlagOverrides::default()).expect("valid");
        assert_eq!(config.app.listen.is_local(), local, "{host}");
        let warning = config.app.exposure_warning();
        assert_eq!(warning.is_none(), local, "{host}: {warning:?}");
        if let Some(warning) = warning {
            assert!(
                warning.contains("UNAUTHENTICATED") && warning.contains(host),
                "{warning}"
            );
        }
    }
    let config = load_with(None, &[], FlagOverrides::default()).expect("default");
    assert!(config.app.listen.is_local() && config.app.exposure_warning().is_none());
}

#[test]
fn auth_token_comes_from_a_file_or_the_environment_and_never_shows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("token");
    std::fs::write(&file, "SENTINEL-TOKEN-0123456789\n").expect("write");
    let ini = format!(
        "[app]\nsocket_address = http://0.0.0.0\nsocket_port = 4000\nauth_token_file = {}\n",
        file.display()
    );
    let config = load_with(Some(&ini), &[], FlagOverrides::default()).expect("valid");
    let token = config.app.auth_token.as_ref().expect("token");
    assert_eq!(token.expose(), "SENTINEL-TOKEN-0123456789");
    assert!(!format!("{config:?}").contains("SENTINEL-TOKEN"));
    let warning = config.app.exposure_warning().expect("exposed");
    assert!(
        warning.contains("bearer token") && !warning.contains("SENTINEL"),
        "{warning}"
    );

    let config = load_with(
        None,
        &[("APP_AUTH_TOKEN", "SENTINEL-ENV-TOKEN-0123456789")],
        FlagOverrides::default(),
    )
    .expect("valid");
    assert_eq!(
        config.app.auth_token.as_ref().map(SecretString::expose),
        Some("SENTINEL-ENV-TOKEN-0123456789")
    );

    for (env, what) in [
        (vec![("APP_AUTH_TOKEN", "SENTINEL-short")], "APP_AUTH_TOKEN"),
        (
            vec![("APP_AUTH_TOKEN", "SENTINEL has spaces in it")],
            "APP_AUTH_TOKEN",
        ),
        (
            vec![
                ("APP_AUTH_TOKEN", "SENTINEL-ENV-TOKEN-0123456789"),
                ("APP_AUTH_TOKEN_FILE", "/nonexistent"),
            ],
            "set only one",
        ),
        (
            vec![("APP_AUTH_TOKEN_FILE", "/nonexistent/token")],
            "/nonexistent/token",
        ),
    ] {
        let err = load_with(None, &env, FlagOverrides::default()).expect_err("refused");
        let text = err.to_string();
        assert!(text.contains(what) && !text.contains("SENTINEL"), "{text}");
    }
    std::fs::write(&file, "SENTINEL-short\n").expect("write");
    let err = load_with(
        None,
        &[("APP_AUTH_TOKEN_FILE", file.to_str().expect("utf-8"))],
        FlagOverrides::default(),
    )
    .expect_err("short");
    let text = err.to_string();
    assert!(
        text.contains("a file holding a bearer token") && !text.contains("SENTINEL"),
        "{text}"
    );
}

#[test]
fn connection_limits_have_defaults_and_refuse_zero() {
    let config = load_with(None, &[], FlagOverrides::default()).expect("default");
    assert_eq!(config.app.header_read_timeout, Duration::from_secs(30));
    assert_eq!(config.app.body_read_timeout, Duration::from_secs(60));
    assert_eq!(config.app.max_connections, 512);
    for key in [
        "APP_HEADER_READ_TIMEOUT_SECONDS",
        "APP_BODY_READ_TIMEOUT_SECONDS",
        "APP_MAX_CONNECTIONS",
    ] {
        for bad in ["0", "-1", "ten", "99999999999"] {
            let err = load_with(None, &[(key, bad)], FlagOverrides::default()).expect_err(bad);
            assert!(err.to_string().contains(key), "{err}");
        }
    }
}

#[test]
fn ping_section_modes_caps_and_taints() {
    let config = load_with(None, &[], FlagOverrides::default()).expect("defaults");
    assert_eq!(config.ping, PingConfig::default());
    let config = load_with(
        Some("[ping]\nmax_cpu = 2500m\nmax_accelerators = {\"nvidia.com/gpu\": \"1\"}\n"),
        &[(
            "PING_TAINTS",
            r#"[{"key": "remote/gpu", "value": "yes", "effect": "NoExecute"}]"#,
        )],
        FlagOverrides::default(),
    )
    .expect("caps");
    let ResourceReport::Remote { max } = &config.ping.resources else {
        panic!("remote expected")
    };
    assert_eq!(max.cpu, Some(2500));
    assert_eq!(max.accelerators.get("nvidia.com/gpu"), Some(&1000));
    assert_eq!(config.ping.taints.as_ref().map(Vec::len), Some(1));
    let config = load_with(
        None,
        &[("PING_RESOURCES", "fixed"), ("PING_FIXED_MEMORY", "2Ti")],
        FlagOverrides::default(),
    )
    .expect("fixed");
    assert_eq!(
        config.ping.resources,
        ResourceReport::Fixed(ResourceFigures {
            memory: Some((2i128 << 40) * 1000),
            ..ResourceFigures::default()
        })
    );
    let config =
        load_with(None, &[("PING_RESOURCES", "OFF")], FlagOverrides::default()).expect("off");
    assert_eq!(config.ping.resources, ResourceReport::Off);
}

#[test]
fn bad_ping_values_name_the_key_and_the_expectation() {
    for (env, needle) in [
        (
            ("PING_RESOURCES", "sometimes"),
            "`ping.resources`: expected remote, fixed or off",
        ),
        (
            ("PING_MAX_CPU", "lots"),
            "`ping.max_cpu`: expected a non-negative Kubernetes quantity",
        ),
        (
            ("PING_MAX_PODS", "1.5"),
            "`ping.max_pods`: expected a non-negative whole number",
        ),
        (
            ("PING_FIXED_CPU", "4"),
            "fixed_* keys apply only with ping.resources = fixed",
        ),
        (
            ("PING_MAX_ACCELERATORS", r#"{"gpu": "1"}"#),
            "extended resource names with a domain",
        ),
        (
            ("PING_TAINTS", r#"[{"key": "k", "effect": "Never"}]"#),
            "effect NoSchedule",
        ),
        (
            (
                "PING_TAINTS",
                r#"[{"key": "virtual-node.interlink/no-schedule", "effect": "NoSchedule"}]"#,
            ),
            "the Virtual Kubelet keeps that one itself",
        ),
        (
            ("PING_TAINTS", r#"[{"key": "k"}]"#),
            "`ping.taints` is not valid JSON",
        ),
    ] {
        let err = load_with(None, &[env], FlagOverrides::default()).expect_err(needle);
        let message = err.to_string();
        assert!(message.contains(needle), "{message}");
        assert!(message.contains("environment variable PING_"), "{message}");
    }
    let err = load_with(
        None,
        &[("PING_RESOURCES", "fixed")],
        FlagOverrides::default(),
    )
    .expect_err("no figures");
    assert!(
        err.to_string().contains("at least one of ping.fixed_cpu"),
        "{err}"
    );
}
