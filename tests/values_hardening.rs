//! Hostile and mistaken values: each test pins one way values used to misbehave (an argument
//! silently ignored, memory or time without bound, keys that the chart's `default`/`if` treat as
//! empty accepted for some empty values and refused for others, errors that repeat themselves).
//! Every test goes through the public values and render API; the CLI tests run the binary.

use assert_cmd::Command;
use ikp::release::chart;
use ikp::release::pipeline::Renderer;
use ikp::release::render::manifest::format_stream;
use ikp::release::values::{SetKind, ValueLayers, ValuesError, compose};

const GATEWAY_DEFAULTS: &str = include_str!("../charts/gateway/values.yaml");

fn compose_sets(sets: &[(SetKind, &str)]) -> Result<serde_json::Value, ValuesError> {
    let mut layers = ValueLayers::new();
    for (kind, arg) in sets {
        layers.push_set(*kind, arg);
    }
    compose(GATEWAY_DEFAULTS, &layers).map(|values| values.tree)
}

fn values_file(text: &str) -> Result<serde_json::Value, ValuesError> {
    let mut layers = ValueLayers::new();
    layers.push_values_file("values.yaml".into(), text.to_owned())?;
    compose(GATEWAY_DEFAULTS, &layers).map(|values| values.tree)
}

/// The text of an error as the CLI prints it: the whole chain.
fn chain(err: impl std::error::Error + Send + Sync + 'static) -> String {
    format!("{:#}", anyhow::Error::new(err))
}

// `--set 'image.tag[0'` (any unclosed `[`) used to be ignored without a word. Helm 3 fails
// with "error parsing index: EOF".
#[test]
fn set_unclosed_index_is_an_error() {
    for arg in ["image.tag[0", "a[", "a[1][2", "x=1,a[0"] {
        let err =
            compose_sets(&[(SetKind::Set, "ssh.port=2200"), (SetKind::Set, arg)]).expect_err(arg);
        let text = chain(err);
        assert!(
            text.starts_with("--set #2: error parsing index"),
            "{arg}: {text}"
        );
    }
}

// A 342-byte billion-laughs document used to expand to gigabytes before failing; Helm stops it
// with "document contains excessive aliasing".
#[test]
fn billion_laughs_values_file_is_refused_as_excessive_aliasing() {
    let mut doc = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let alias = format!("*{}", pair[0]);
        let items = [alias.as_str(); 9].join(",");
        doc.push_str(&format!("{}: &{} [{items}]\n", pair[1], pair[1]));
    }
    let err = values_file(&doc).expect_err("billion laughs");
    let text = chain(err);
    assert!(
        text.contains("document contains excessive aliasing"),
        "{text}"
    );
    assert!(text.starts_with("values file values.yaml: line "), "{text}");
}

// `--set` with 10,000 nested `[0]` used to take memory quadratic in the depth, then abort.
#[test]
fn set_with_ten_thousand_nested_indexes_is_refused_by_the_depth_limit() {
    let arg = format!("a{}=1", "[0]".repeat(10_000));
    let err = compose_sets(&[(SetKind::Set, &arg)]).expect_err("too deep");
    let text = chain(err);
    assert!(text.contains("more than 100 levels deep"), "{text}");
    let json = format!("a={}1{}", "[".repeat(150), "]".repeat(150));
    assert!(compose_sets(&[(SetKind::Json, &json)]).is_err());
}

// 300 keys `k{i}[65536]=1` (a 4 KB argument) used to allocate 3 GB: each index is within Helm's
// limit, so only a limit on the whole release stops it.
#[test]
fn set_with_many_largest_indexes_is_refused_by_the_node_limit() {
    let arg = (0..300)
        .map(|i| format!("k{i}[65536]=1"))
        .collect::<Vec<_>>()
        .join(",");
    let err = compose_sets(&[(SetKind::Set, &arg)]).expect_err("too many nodes");
    let text = chain(err);
    assert!(text.starts_with("--set #1: "), "{text}");
    assert!(text.contains("more than 100000 nodes"), "{text}");
    // One such index is fine, as in Helm.
    let one = compose_sets(&[(SetKind::Set, "k[65536]=1")]).expect("one big index");
    assert_eq!(one["k"].as_array().map(Vec::len), Some(65_537));
}

// A 350k-key map used to take over a minute (a linear duplicate-key scan per key).
#[test]
fn wide_values_file_is_refused_by_the_node_limit() {
    let doc: String = (0..350_000).map(|i| format!("k{i}: 1\n")).collect();
    let err = values_file(&doc).expect_err("too many nodes");
    let text = chain(err);
    assert!(text.contains("more than 100000 nodes"), "{text}");
}

#[test]
fn wide_values_file_under_the_limit_loads_and_still_finds_duplicates() {
    let mut doc: String = (0..90_000).map(|i| format!("k{i}: 1\n")).collect();
    let tree = values_file(&doc).expect("90,000 keys");
    assert_eq!(tree.as_object().map(|m| m.len()), Some(90_000 + 6));
    doc.push_str("k89999: 2\n");
    let text = chain(values_file(&doc).expect_err("duplicate"));
    assert!(text.contains("\"k89999\" appears twice"), "{text}");
}

// `--set-file x=/dev/zero` used to read 2 GB before failing.
#[test]
fn set_file_from_dev_zero_stops_at_the_size_limit() {
    let err = compose_sets(&[(SetKind::File, "x=/dev/zero")]).expect_err("endless file");
    let text = chain(err);
    assert!(
        text.starts_with("--set-file #1: cannot read /dev/zero (for x): "),
        "{text}"
    );
    assert!(text.contains("limit for a values file (5 MiB)"), "{text}");
}

// `-f /dev/zero` used to read 2 GB before failing.
#[test]
fn values_file_from_dev_zero_stops_at_the_size_limit() {
    let output = Command::cargo_bin("ikp")
        .expect("binary")
        .args(["render", "r", "gateway", "-f", "/dev/zero"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: cannot read values file /dev/zero: has more than {} bytes, the limit for a values file (5 MiB)",
            5 * 1024 * 1024
        )
    );
}

// Errors used to repeat themselves when the chain was printed:
// `--set #1: negative -1 index not allowed: negative -1 index not allowed`.
#[test]
fn values_errors_do_not_repeat_their_cause() {
    let cases: Vec<(Vec<(SetKind, &str)>, &str)> = vec![
        (
            vec![(SetKind::Set, "a[-1]=1")],
            "--set #1: negative -1 index not allowed",
        ),
        (
            vec![(SetKind::Set, "foo")],
            "--set #1: key \"foo\" has no value",
        ),
        (
            vec![(SetKind::File, "ssh.publicKey=nope.pub")],
            "--set-file #1: cannot read nope.pub (for ssh.publicKey): No such file or directory (os error 2)",
        ),
    ];
    for (sets, expected) in cases {
        let err = compose_sets(&sets).expect_err(expected);
        assert_eq!(chain(err), expected);
    }
    let json = chain(compose_sets(&[(SetKind::Json, "a={bad")]).expect_err("bad JSON"));
    assert_eq!(json.matches("key must be a string").count(), 1, "{json}");
    let yaml = chain(values_file("a: [1, 2\n").expect_err("bad YAML"));
    assert_eq!(yaml.matches("line ").count(), 1, "{yaml}");
}

/// Renders a built-in chart with the example key and `extra` flags; the error chain on failure.
fn render(chart_name: &str, extra: &[(SetKind, String)]) -> Result<String, String> {
    let chart = chart::builtin(chart_name).expect("built-in chart");
    let renderer = Renderer::new(chart).map_err(chain)?;
    let mut layers = ValueLayers::new();
    let required: Vec<(SetKind, String)> = match chart_name {
        "gateway" => vec![(
            SetKind::File,
            "ssh.publicKey=examples/id_ed25519.pub".into(),
        )],
        _ => vec![
            (SetKind::Set, "tunnel.gateway.host=gw.example.org".into()),
            (
                SetKind::File,
                "tunnel.gateway.ssh.privateKey=examples/id_ed25519.b64".into(),
            ),
            (
                SetKind::Set,
                "tunnel.service.targetHost=svc.ns.svc.cluster.local".into(),
            ),
        ],
    };
    for (kind, arg) in required.iter().chain(extra) {
        layers.push_set(*kind, arg);
    }
    let release = renderer
        .render("msoff", "default", &layers)
        .map_err(chain)?;
    Ok(format_stream(&release.rendered.manifests))
}

// Keys the templates read through `default` (image.tag, nameOverride) or test with `if`
// (fullnameOverride, the gateway's service, service.port, tunnel, tunnel.service) used to be
// accepted for some empty values and refused for others, although Helm renders every empty
// value — null, false, 0, "", [] and {} — the same way. Each must render exactly like null.
#[test]
fn every_empty_value_of_a_key_read_by_default_or_if_renders_like_null() {
    let keys: &[(&str, &[&str])] = &[
        (
            "gateway",
            &[
                "image.tag",
                "nameOverride",
                "fullnameOverride",
                "service.port",
                "tunnel",
                "tunnel.service",
            ],
        ),
        (
            "bastion",
            &["image.tag", "nameOverride", "fullnameOverride"],
        ),
    ];
    let mut failures = Vec::new();
    for (chart_name, chart_keys) in keys {
        for key in *chart_keys {
            let baseline = render(chart_name, &[(SetKind::Json, format!("{key}=null"))])
                .unwrap_or_else(|e| panic!("{chart_name} {key}=null: {e}"));
            for empty in ["false", "0", "0.0", "\"\"", "[]", "{}"] {
                let flag = format!("{key}={empty}");
                match render(chart_name, &[(SetKind::Json, flag.clone())]) {
                    Ok(out) if out == baseline => {}
                    Ok(_) => failures.push(format!(
                        "{chart_name} --set-json {flag}: output differs from null"
                    )),
                    Err(e) => failures.push(format!("{chart_name} --set-json {flag}: {e}")),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// The explanation goes with the rule: a non-empty value of the wrong type is still refused.
#[test]
fn non_empty_value_of_the_wrong_type_is_still_refused() {
    for (key, value) in [
        ("image.tag", "[\"v1\"]"),
        ("nameOverride", "123"),
        ("fullnameOverride", "true"),
        ("service.port", "{\"a\":1}"),
    ] {
        let err = render("gateway", &[(SetKind::Json, format!("{key}={value}"))]).expect_err(key);
        assert!(err.contains(&format!("gateway value {key} = ")), "{err}");
    }
}
