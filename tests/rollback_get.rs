//! `ikp rollback` and `ikp get values|manifest|notes` through the binary, against the test control plane.
//!
//! Relies on, from the API server: server-side apply of ConfigMaps, Services, Secrets and Deployments
//! (a field the manager `ikp` no longer applies is removed); deletion of ConfigMaps; list of Secrets by
//! label selector; Secret `data` stored as given (bytes round-trip through base64).

mod support;

use ikp::deploy::{self, ApplyOptions, PlanMeta, ReleasePlan, RenderedManifest, inventory};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::Api;
use kube::api::{Patch, PatchParams};
use support::cluster::TestCluster;

/// `base64 --wrap 0` of a throwaway private key (the Helm reference corpus' test key); it protects nothing.
const PRIVATE_KEY_B64: &str = "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0KYjNCbGJuTnphQzFyWlhrdGRqRUFBQUFBQkc1dmJtVUFBQUFFYm05dVpRQUFBQUFBQUFBQkFBQUFNd0FBQUF0emMyZ3RaVwpReU5UVXhPUUFBQUNDbS9qY3VnR216SFBtNFRFS2dWVmxmNy9MbjdobVV5dXFWWkJHeWdJUTAxZ0FBQUpqTk9RMjV6VGtOCnVRQUFBQXR6YzJndFpXUXlOVFV4T1FBQUFDQ20vamN1Z0dtekhQbTRURUtnVlZsZjcvTG43aG1VeXVxVlpCR3lnSVEwMWcKQUFBRUREc1UyYnV5NDFkbVBqakNTMTlCRndkaU53YnBOTTVEVUlFKzFzSld3SnlLYitOeTZBYWJNYytiaE1RcUJWV1Yvdgo4dWZ1R1pUSzZwVmtFYktBaERUV0FBQUFGV2hsYkcwdGNtVm1MWFJsYzNRdFpXUXlOVFV4T1E9PQotLS0tLUVORCBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0K";

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `ikp ARGS` against the cluster, keeping its stderr for the secret-leak scan.
fn run(cluster: &TestCluster, label: &str, args: &[&str]) -> std::process::Output {
    let output = cluster.ikp().args(args).output().expect("run ikp");
    support::logs::record(label, &output);
    output
}

fn plan(release: &str, namespace: &str, yamls: &[String]) -> ReleasePlan {
    let manifests: Vec<RenderedManifest> = yamls
        .iter()
        .map(|y| RenderedManifest::from_yaml("small/templates/x.yaml", y).expect("fixture YAML"))
        .collect();
    let meta = PlanMeta {
        name: release.to_owned(),
        namespace: namespace.to_owned(),
        chart_name: "small".into(),
        chart_version: "0.1.0".into(),
        app_version: None,
        values_digest: "d".into(),
    };
    ReleasePlan::from_manifests(meta, &manifests, Some("notes of the release".into()))
        .expect("valid manifests")
}

fn config_map(name: &str, data: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n{data}")
}

fn service(name: &str, port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  ports:\n    - port: {port}\n  selector:\n    app: x\n"
    )
}

/// Revision 1, an upgrade that changes two objects and adds one, then `ikp rollback rb 1`: the live
/// objects hold revision 1's fields again, the added object is pruned, and the history has 3 revisions.
/// A rollback to a revision that does not exist fails on one line and changes nothing; `--dry-run` changes
/// nothing either.
#[tokio::test]
async fn rollback_restores_revision_one_and_prunes_what_the_upgrade_added() {
    let Some((cluster, ns)) = TestCluster::with_namespace("rollback").await else {
        return;
    };
    let client = cluster.client();
    let ns_name = ns.name();
    let rev1 = plan(
        "rb",
        ns_name,
        &[config_map("rb-cm", "  A: \"1\"\n"), service("rb-svc", 80)],
    );
    let rev2 = plan(
        "rb",
        ns_name,
        &[
            config_map("rb-cm", "  A: \"2\"\n  B: added\n"),
            service("rb-svc", 8080),
            config_map("rb-extra", "  X: \"1\"\n"),
        ],
    );
    for plan in [&rev1, &rev2] {
        deploy::apply_release(&client, plan, &ApplyOptions::default(), &mut ())
            .await
            .expect("apply");
    }
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), ns_name);
    let svcs: Api<Service> = Api::namespaced(client.clone(), ns_name);
    let data_of = |cm: ConfigMap| cm.data.unwrap_or_default();
    let port_of = |svc: Service| svc.spec.and_then(|s| s.ports).expect("ports")[0].port;

    // A revision that does not exist: one line naming it and the kept ones, exit 1, nothing changed.
    let missing = run(
        &cluster,
        "rollback to 9",
        &["rollback", "rb", "9", "-n", ns_name],
    );
    assert_eq!(missing.status.code(), Some(1), "{}", stderr_of(&missing));
    let err = stderr_of(&missing);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no revision 9") && err.contains("kept revisions: 1, 2"),
        "{err}"
    );
    let record = inventory::load_existing(&client, ns_name, "rb")
        .await
        .expect("record");
    assert_eq!(record.revisions.len(), 2);
    assert_eq!(data_of(cms.get("rb-cm").await.expect("cm"))["A"], "2");

    // --dry-run: the server's verdict, the prune named, nothing changed or recorded.
    let dry = run(
        &cluster,
        "rollback dry run",
        &["rollback", "rb", "1", "-n", ns_name, "--dry-run"],
    );
    assert!(dry.status.success(), "{}", stderr_of(&dry));
    let text = stdout_of(&dry);
    assert!(
        text.contains(&format!(
            "ConfigMap {ns_name}/rb-extra pruned (server dry run)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "ConfigMap {ns_name}/rb-cm configured (server dry run)"
        )),
        "{text}"
    );
    assert!(cms.get_opt("rb-extra").await.expect("get").is_some());
    let record = inventory::load_existing(&client, ns_name, "rb")
        .await
        .expect("record");
    assert_eq!(record.revisions.len(), 2);

    let rolled = run(
        &cluster,
        "rollback to 1",
        &[
            "rollback",
            "rb",
            "1",
            "-n",
            ns_name,
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    assert!(rolled.status.success(), "{}", stderr_of(&rolled));
    assert!(
        stdout_of(&rolled).contains("rolled back to revision 1 as revision 3"),
        "{}",
        stdout_of(&rolled)
    );
    // The fields revision 1 applied, live again; the field only revision 2 applied is gone.
    let data = data_of(cms.get("rb-cm").await.expect("cm"));
    assert_eq!(data.get("A").map(String::as_str), Some("1"), "{data:?}");
    assert!(!data.contains_key("B"), "{data:?}");
    assert_eq!(port_of(svcs.get("rb-svc").await.expect("svc")), 80);
    assert!(
        cms.get_opt("rb-extra").await.expect("get").is_none(),
        "the object revision 1 did not have is pruned"
    );

    let history = run(
        &cluster,
        "history after rollback",
        &["history", "rb", "-n", ns_name, "-o", "json"],
    );
    let history: serde_json::Value = serde_json::from_slice(&history.stdout).expect("JSON");
    let rows = history.as_array().expect("array");
    assert_eq!(rows.len(), 3, "{history}");
    assert_eq!(rows[2]["status"], "deployed");
    assert_eq!(rows[2]["description"], "Rollback to 1");
    assert_eq!(rows[1]["status"], "superseded");

    // Revision 3 recorded revision 1's manifest: `get manifest` of both is the same.
    let manifest_of = |revision: &str| {
        let out = run(
            &cluster,
            "get manifest",
            &[
                "get",
                "manifest",
                "rb",
                "-n",
                ns_name,
                "--revision",
                revision,
            ],
        );
        assert!(out.status.success(), "{}", stderr_of(&out));
        stdout_of(&out)
    };
    assert_eq!(manifest_of("1"), manifest_of("3"));
    assert!(manifest_of("2").contains("name: rb-extra"));
    let notes = run(
        &cluster,
        "get notes",
        &["get", "notes", "rb", "-n", ns_name],
    );
    assert_eq!(stdout_of(&notes), "NOTES:\nnotes of the release\n");

    // Revisions trimmed by --history-max take their data Secrets along.
    let options = ApplyOptions {
        history_max: 2,
        ..ApplyOptions::default()
    };
    deploy::apply_release(&client, &rev2, &options, &mut ())
        .await
        .expect("apply");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns_name);
    let listed = secrets
        .list_metadata(&kube::api::ListParams::default().labels("ikp.io/release-data=rb"))
        .await
        .expect("list");
    let mut names: Vec<String> = listed
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    names.sort();
    assert_eq!(names, ["ikp.release.rb.v3", "ikp.release.rb.v4"]);

    // A data Secret deleted outside ikp: one line naming the revision and the Secret.
    secrets
        .delete("ikp.release.rb.v3", &Default::default())
        .await
        .expect("delete");
    let gone = run(
        &cluster,
        "get of a revision whose data is gone",
        &["get", "values", "rb", "-n", ns_name, "--revision", "3"],
    );
    assert_eq!(gone.status.code(), Some(1));
    let err = stderr_of(&gone);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("revision 3") && err.contains("ikp.release.rb.v3 does not exist"),
        "{err}"
    );
}

/// `ikp get values` of a bastion release shows the values as given, the private key redacted unless
/// `--show-secrets`; the record ConfigMap never holds the key, the revision's Secret holds the data; a
/// revision recorded without data (an older record) is a one-line error naming the revision.
#[tokio::test]
async fn get_values_redacts_the_private_key_and_old_revisions_say_what_is_missing() {
    let Some((cluster, ns)) = TestCluster::with_namespace("get-values").await else {
        return;
    };
    let ns_name = ns.name();
    let key_flag = format!("tunnel.gateway.ssh.privateKey={PRIVATE_KEY_B64}");
    let apply = run(
        &cluster,
        "apply bastion",
        &[
            "apply",
            "bas",
            "bastion",
            "-n",
            ns_name,
            "--set",
            "tunnel.gateway.host=10.0.0.1",
            "--set",
            "tunnel.service.targetHost=svc.ns.svc.cluster.local",
            "--set",
            &key_flag,
        ],
    );
    assert!(apply.status.success(), "{}", stderr_of(&apply));

    let values = run(
        &cluster,
        "get values",
        &["get", "values", "bas", "-n", ns_name, "-o", "json"],
    );
    assert!(values.status.success(), "{}", stderr_of(&values));
    let shown: serde_json::Value = serde_json::from_slice(&values.stdout).expect("JSON");
    assert_eq!(shown["tunnel"]["gateway"]["host"], "10.0.0.1");
    assert!(
        shown["tunnel"]["gateway"]["ssh"]["privateKey"]
            .as_str()
            .is_some_and(|k| k.starts_with("redacted:sha256:")),
        "{shown}"
    );
    // Only what the user gave: no chart defaults.
    assert!(shown.get("image").is_none(), "{shown}");
    let table = run(
        &cluster,
        "get values",
        &["get", "values", "bas", "-n", ns_name],
    );
    assert!(
        stdout_of(&table).starts_with("USER-SUPPLIED VALUES:\n"),
        "{}",
        stdout_of(&table)
    );
    assert!(!stdout_of(&table).contains(PRIVATE_KEY_B64));

    let all = run(
        &cluster,
        "get values --all",
        &["get", "values", "bas", "-n", ns_name, "--all", "-o", "yaml"],
    );
    let all = ikp::compat::readback::read_document(&stdout_of(&all)).expect("YAML");
    assert_eq!(all["image"]["repository"], "docker.io/finalgene/openssh");
    assert!(!all.to_string().contains(PRIVATE_KEY_B64));

    let plain = run(
        &cluster,
        "get values --show-secrets",
        &[
            "get",
            "values",
            "bas",
            "-n",
            ns_name,
            "--show-secrets",
            "-o",
            "json",
        ],
    );
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).expect("JSON");
    assert_eq!(
        plain["tunnel"]["gateway"]["ssh"]["privateKey"],
        PRIVATE_KEY_B64
    );
    let manifest = run(
        &cluster,
        "get manifest",
        &["get", "manifest", "bas", "-n", ns_name],
    );
    let text = stdout_of(&manifest);
    assert!(
        text.contains("kind: Secret") && text.contains("***"),
        "{text}"
    );
    assert!(!text.contains(PRIVATE_KEY_B64), "{text}");

    // Where it is kept: the record names a Secret of type ikp.io/release.v1; the ConfigMap holds no key.
    let cms: Api<ConfigMap> = Api::namespaced(cluster.client(), ns_name);
    let record_cm = cms.get("ikp.release.bas").await.expect("record");
    let record_text = serde_json::to_string(&record_cm.data).expect("JSON");
    assert!(!record_text.contains(PRIVATE_KEY_B64));
    assert!(!record_text.contains("LS0tLS1CRUdJTi"));
    let secrets: Api<Secret> = Api::namespaced(cluster.client(), ns_name);
    let data = secrets
        .get("ikp.release.bas.v1")
        .await
        .expect("data Secret");
    assert_eq!(data.type_.as_deref(), Some("ikp.io/release.v1"));

    // An older record: revision 1 without the name of its data.
    let mut json: serde_json::Value = serde_json::from_str(
        record_cm
            .data
            .as_ref()
            .and_then(|d| d.get("release.json"))
            .expect("release.json"),
    )
    .expect("record JSON");
    json["revisions"][0]
        .as_object_mut()
        .expect("revision")
        .remove("data");
    let patch = serde_json::json!({"data": {"release.json": json.to_string()}});
    cms.patch(
        "ikp.release.bas",
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .expect("patch record");
    for what in ["values", "manifest", "notes"] {
        let old = run(
            &cluster,
            "get of an old revision",
            &["get", what, "bas", "-n", ns_name],
        );
        assert_eq!(old.status.code(), Some(1), "{what}");
        let err = stderr_of(&old);
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(
            err.contains("revision 1 of release \"bas\""),
            "{what}: {err}"
        );
    }
    let rollback = run(
        &cluster,
        "rollback to an old revision",
        &["rollback", "bas", "1", "-n", ns_name],
    );
    assert_eq!(rollback.status.code(), Some(1));
    assert!(
        stderr_of(&rollback).contains("revision 1"),
        "{}",
        stderr_of(&rollback)
    );

    // Uninstall takes the revision data along.
    let uninstall = run(&cluster, "uninstall", &["uninstall", "bas", "-n", ns_name]);
    assert!(uninstall.status.success(), "{}", stderr_of(&uninstall));
    assert!(
        secrets
            .get_opt("ikp.release.bas.v1")
            .await
            .expect("get")
            .is_none()
    );
}

/// An install interrupted after writing its revision's data but before its record leaves a data Secret
/// and no record: `uninstall` answers "not found" and still deletes the Secret.
///
/// Relies on: list and delete of Secrets by label selector.
#[tokio::test]
async fn uninstall_without_a_record_still_removes_revision_data() {
    let Some((cluster, ns)) = TestCluster::with_namespace("orphan-data").await else {
        return;
    };
    let client = cluster.client();
    let interrupted = plan("gone", ns.name(), &[config_map("gone-cm", "  A: \"1\"\n")]);
    let data = deploy::RevisionData::of_plan(&interrupted);
    let name = deploy::stored::save(&client, ns.name(), "gone", 1, &data)
        .await
        .expect("save data");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    assert!(secrets.get_opt(&name).await.expect("get").is_some());
    let err = deploy::uninstall_release(
        &client,
        ns.name(),
        "gone",
        &deploy::UninstallOptions {
            wait: false,
            timeout: std::time::Duration::from_secs(30),
        },
        &mut (),
    )
    .await
    .expect_err("no record");
    assert!(
        matches!(err, deploy::ApplyError::ReleaseNotFound { .. }),
        "{err}"
    );
    assert!(secrets.get_opt(&name).await.expect("get").is_none());
}
