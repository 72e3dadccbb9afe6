//! The shared Kubernetes API helpers (`ikp::k8s::api`) against the project's test control plane.
//!
//! API behaviours relied on: a GET or DELETE of a missing object answers 404 NotFound; a POST of an
//! existing namespace answers 409 AlreadyExists; a label selector on LIST returns exactly the
//! matching objects; a deleted ConfigMap (no finalizers) is gone at once.

mod support;

use std::collections::BTreeMap;

use ikp::k8s::api::{
    create_namespace, delete_by_label, delete_if_present, ensure_namespace, is_not_found,
    namespace_exists,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use support::cluster::TestCluster;

fn config_map(name: &str, labels: &[(&str, &str)], keep: bool) -> ConfigMap {
    let annotations = keep.then(|| BTreeMap::from([("keep".to_owned(), "yes".to_owned())]));
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            annotations,
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn delete_by_label_deletes_exactly_the_selected_and_wanted_objects() {
    let Some((cluster, ns)) = TestCluster::with_namespace("k8s-api-label").await else {
        return;
    };
    let client = cluster.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    for cm in [
        config_map("a", &[("pod", "1")], false),
        config_map("b", &[("pod", "1")], false),
        config_map("kept", &[("pod", "1")], true),
        config_map("other", &[("pod", "2")], false),
    ] {
        api.create(&PostParams::default(), &cm).await.unwrap();
    }
    let not_kept = |meta: &ObjectMeta| {
        meta.annotations
            .as_ref()
            .is_none_or(|a| !a.contains_key("keep"))
    };
    let deleted = delete_by_label::<ConfigMap>(&client, ns.name(), "pod=1", not_kept)
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    let mut left: Vec<String> = api
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|cm| cm.metadata.name.clone())
        .filter(|name| name != "kube-root-ca.crt")
        .collect();
    left.sort();
    assert_eq!(left, ["kept", "other"]);
    // Nothing left to delete is success, with nothing counted.
    let again = delete_by_label::<ConfigMap>(&client, ns.name(), "pod=1", not_kept)
        .await
        .unwrap();
    assert_eq!(again, 0);
    // A missing object: `Ok(false)`, and the raw error is classified as not found.
    assert!(!delete_if_present(&api, "a").await.unwrap());
    assert!(delete_if_present(&api, "other").await.unwrap());
    let err = api.delete("a", &DeleteParams::default()).await.unwrap_err();
    assert!(is_not_found(&err), "{err}");
}

#[tokio::test]
async fn ensure_namespace_creates_once_and_tolerates_an_existing_one() {
    let Some(cluster) = TestCluster::connect().await else {
        return;
    };
    let client = cluster.client();
    // A name of its own, deleted below (the guard of `with_namespace` owns another one).
    let guard = cluster.namespace("k8s-api-ns").await;
    let name = format!("{}-x", guard.name());
    assert!(!namespace_exists(&client, &name).await.unwrap());
    let labels = BTreeMap::from([("ikp.io/test".to_owned(), "yes".to_owned())]);
    assert!(
        ensure_namespace(&client, &name, labels.clone(), "ikp")
            .await
            .unwrap()
    );
    assert!(namespace_exists(&client, &name).await.unwrap());
    assert!(
        !ensure_namespace(&client, &name, labels.clone(), "ikp")
            .await
            .unwrap()
    );
    // Created by someone else in between: AlreadyExists is not an error.
    assert!(
        !create_namespace(&client, &name, labels, "ikp")
            .await
            .unwrap()
    );
    let api: Api<Namespace> = Api::all(client);
    let created = api.get(&name).await.unwrap();
    assert_eq!(
        created
            .metadata
            .labels
            .unwrap()
            .get("ikp.io/test")
            .map(String::as_str),
        Some("yes")
    );
    api.delete(&name, &DeleteParams::background())
        .await
        .unwrap();
}
