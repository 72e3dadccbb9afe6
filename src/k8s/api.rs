//! The Kubernetes API idioms that every caller needs the same way, written once: how an API error
//! is classified (not found, conflict), deleting what a label selects, and making sure a namespace
//! exists. Each returns the `kube::Error` together with what was being done, so callers keep their
//! own error types.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;

/// A failed API call and what it was doing (`delete Secret ns/name`).
#[derive(Debug, thiserror::Error)]
#[error("{action}: {source}")]
pub struct ApiCallError {
    /// What was being done, naming the object or the selector.
    pub action: String,
    /// The client's error.
    #[source]
    pub source: kube::Error,
}

/// The API server answered 404: the object (or its namespace) does not exist.
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_not_found())
}

/// The API server answered 409: the object changed since it was read, a field manager conflict,
/// or (on create) it already exists.
pub(crate) fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_conflict() || status.is_already_exists())
}

/// Deletes one object; `Ok(false)` when it was already gone.
pub async fn delete_if_present<K>(api: &Api<K>, name: &str) -> Result<bool, kube::Error>
where
    K: Clone + DeserializeOwned + Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(err) if is_not_found(&err) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Deletes every object of kind `K` in `namespace` that `selector` matches and `wanted` accepts
/// (judged on its metadata); an object that disappears in between counts as deleted by someone
/// else. Returns how many this call deleted.
pub async fn delete_by_label<K>(
    client: &Client,
    namespace: &str,
    selector: &str,
    wanted: impl Fn(&ObjectMeta) -> bool,
) -> Result<usize, ApiCallError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let listed = api
        .list_metadata(&ListParams::default().labels(selector))
        .await
        .map_err(|source| ApiCallError {
            action: format!("list {kind} in {namespace} with {selector}"),
            source,
        })?;
    let mut deleted = 0;
    for item in listed.items.iter().filter(|item| wanted(&item.metadata)) {
        let name = item.name_any();
        let gone = delete_if_present(&api, &name)
            .await
            .map_err(|source| ApiCallError {
                action: format!("delete {kind} {namespace}/{name}"),
                source,
            })?;
        deleted += usize::from(gone);
    }
    Ok(deleted)
}

/// Whether namespace `name` exists.
pub async fn namespace_exists(client: &Client, name: &str) -> Result<bool, ApiCallError> {
    let api: Api<Namespace> = Api::all(client.clone());
    api.get_opt(name)
        .await
        .map(|found| found.is_some())
        .map_err(|source| ApiCallError {
            action: format!("get Namespace {name}"),
            source,
        })
}

/// Makes sure namespace `name` exists, creating it with `labels` (as `field_manager`) if not.
/// Returns whether this call created it.
pub async fn ensure_namespace(
    client: &Client,
    name: &str,
    labels: BTreeMap<String, String>,
    field_manager: &str,
) -> Result<bool, ApiCallError> {
    if namespace_exists(client, name).await? {
        return Ok(false);
    }
    create_namespace(client, name, labels, field_manager).await
}

/// Creates namespace `name` with `labels` (as `field_manager`). Returns whether this call created
/// it: a namespace that someone else created in between is not an error.
pub async fn create_namespace(
    client: &Client,
    name: &str,
    labels: BTreeMap<String, String>,
    field_manager: &str,
) -> Result<bool, ApiCallError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: (!labels.is_empty()).then_some(labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    let params = PostParams {
        field_manager: Some(field_manager.to_owned()),
        ..PostParams::default()
    };
    match api.create(&params, &namespace).await {
        Ok(_) => Ok(true),
        Err(err) if is_conflict(&err) => Ok(false),
        Err(source) => Err(ApiCallError {
            action: format!("create Namespace {name}"),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api_error(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(Box::new(Status::failure("x", reason).with_code(code)))
    }

    #[test]
    fn not_found_and_conflict_are_told_by_status() {
        assert!(is_not_found(&api_error(404, "NotFound")));
        assert!(!is_not_found(&api_error(409, "Conflict")));
        assert!(is_conflict(&api_error(409, "Conflict")));
        assert!(is_conflict(&api_error(409, "AlreadyExists")));
        assert!(!is_conflict(&api_error(404, "NotFound")));
        assert!(!is_not_found(&kube::Error::LinesCodecMaxLineLengthExceeded));
    }
}
