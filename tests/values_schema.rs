//! The committed JSON Schemas (`schemas/*.values.schema.json`) are exactly what the typed model
//! generates, are valid draft-07 schemas, are what `ikp schema` prints, and accept/reject values
//! as the charts do. Regenerate them with `IKP_UPDATE_SCHEMAS=1 cargo test --test values_schema`.

use assert_cmd::Command;
use ikp::release::values::ChartKind;
use ikp::release::values::model::{schema, schema_text};
use serde_json::{Value, json};

const CHARTS: [ChartKind; 2] = [ChartKind::Gateway, ChartKind::Bastion];

fn committed_path(kind: ChartKind) -> String {
    format!("schemas/{}.values.schema.json", kind.name())
}

#[test]
fn committed_schemas_match_the_model() {
    let update = std::env::var("IKP_UPDATE_SCHEMAS").is_ok_and(|v| v == "1");
    for kind in CHARTS {
        let path = committed_path(kind);
        let generated = schema_text(kind);
        if update {
            std::fs::write(&path, &generated).expect("write schema");
            println!("updated {path}");
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{path}: {e} (run IKP_UPDATE_SCHEMAS=1 cargo test --test values_schema)")
        });
        assert!(
            committed == generated,
            "{path} differs from the model's schema; run IKP_UPDATE_SCHEMAS=1 cargo test --test values_schema and commit it"
        );
    }
}

#[test]
fn schemas_are_valid_draft07() {
    for kind in CHARTS {
        let schema = schema(kind);
        assert_eq!(
            schema["$schema"],
            json!("http://json-schema.org/draft-07/schema#")
        );
        jsonschema::meta::validate(&schema)
            .unwrap_or_else(|e| panic!("{} schema fails meta-validation: {e}", kind.name()));
        jsonschema::draft7::new(&schema).expect("compiles as draft-07");
    }
    // The meta-validation can fail: a broken schema is caught.
    let broken = json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": 5});
    assert!(jsonschema::meta::validate(&broken).is_err());
}

#[test]
fn ikp_schema_prints_the_committed_schema() {
    for kind in CHARTS {
        let output = Command::cargo_bin("ikp")
            .expect("binary")
            .args(["schema", kind.name()])
            .output()
            .expect("run ikp schema");
        assert!(output.status.success(), "{:?}", output);
        let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        jsonschema::meta::validate(&printed).expect("meta-valid");
        assert_eq!(String::from_utf8_lossy(&output.stdout), schema_text(kind));
    }
    let bad = Command::cargo_bin("ikp")
        .expect("binary")
        .args(["schema", "tcp"])
        .output()
        .expect("run");
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown chart is a usage error"
    );
    assert!(bad.stdout.is_empty());
}

#[test]
fn schema_accepts_and_rejects_like_the_chart() {
    let gateway = jsonschema::draft7::new(&schema(ChartKind::Gateway)).expect("schema");
    let good = json!({
        "image": {"repository": "docker.io/mginfn/openssh-server", "tag": "latest", "pullPolicy": "IfNotPresent"},
        "ssh": {"port": 2222.0, "publicKey": "ssh-ed25519 AAAA x", "userName": "interlink-user"},
        "service": {"port": "30222", "type": "NodePort"},
        "resources": {"limits": {"cpu": "200m", "nvidia.com/gpu": 1.0}, "requests": {"memory": "16Mi"}},
        "tunnel": {"service": {"sourcePort": 8181, "sourceNodePort": 30181}}
    });
    assert!(gateway.is_valid(&good));
    let mut unknown = good.clone();
    unknown["ssh"]["pubKey"] = json!("x");
    assert!(!gateway.is_valid(&unknown));
    let mut bad_port = good.clone();
    bad_port["ssh"]["port"] = json!("0123");
    assert!(!gateway.is_valid(&bad_port));
    let mut bad_policy = good;
    bad_policy["image"]["pullPolicy"] = json!("Sometimes");
    assert!(!gateway.is_valid(&bad_policy));
}

/// Real Helm takes the schemas as `values.schema.json` and accepts the values of every `match`
/// reference case with them. Needs a Helm binary: `IKP_HELM=/path/to/helm cargo test --test
/// values_schema -- --ignored` (shared/tools/install-helm.sh installs v3.19.0 and v4.1.4).
#[test]
#[ignore = "needs a Helm binary in IKP_HELM"]
fn helm_accepts_the_schemas() {
    let helm = std::env::var("IKP_HELM").expect("IKP_HELM=/path/to/helm");
    let scratch = tempfile::tempdir().expect("tempdir");
    for kind in CHARTS {
        let chart = scratch.path().join(kind.name());
        std::fs::create_dir_all(chart.join("templates")).expect("mkdir");
        std::fs::write(
            chart.join("Chart.yaml"),
            format!(
                "apiVersion: v2\nname: {}\nversion: 1.0.0\nappVersion: \"1.0.0\"\n",
                kind.name()
            ),
        )
        .expect("Chart.yaml");
        let defaults = format!("charts/{}/values.yaml", kind.name());
        std::fs::copy(&defaults, chart.join("values.yaml")).expect("values.yaml");
        std::fs::write(chart.join("values.schema.json"), schema_text(kind)).expect("schema");
        std::fs::write(
            chart.join("templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\n",
        )
        .expect("template");
    }
    let mut checked = 0;
    let mut cases: Vec<_> = std::fs::read_dir("tests/fixtures/helm-cases")
        .expect("cases")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    cases.sort();
    for case in cases {
        let expect = std::fs::read_to_string(case.join("expect")).unwrap_or_default();
        if expect.trim() != "match" {
            continue;
        }
        let cmd = std::fs::read_to_string(case.join("cmd")).expect("cmd");
        let args: Vec<String> = cmd.lines().map(str::to_owned).collect();
        if args
            .iter()
            .any(|a| a == "--show-only" || a == "--output-dir")
        {
            continue;
        }
        // As the reference README replays a case: its files and both charts in one directory.
        let workdir = tempfile::tempdir().expect("tempdir");
        for entry in std::fs::read_dir(&case)
            .expect("case")
            .filter_map(Result::ok)
        {
            std::fs::copy(entry.path(), workdir.path().join(entry.file_name())).expect("copy");
        }
        for kind in CHARTS {
            std::os::unix::fs::symlink(
                scratch.path().join(kind.name()),
                workdir.path().join(kind.name()),
            )
            .expect("symlink");
        }
        let output = std::process::Command::new(&helm)
            .args(&args)
            .current_dir(workdir.path())
            .output()
            .expect("run helm");
        assert!(
            output.status.success(),
            "{}: helm rejected the values with our schema: {}",
            case.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} cases run through helm");
    println!("{checked} match cases accepted by {helm} with the schemas");
}
