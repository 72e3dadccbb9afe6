//! Maps objects to API endpoints through discovery, once per group/version/kind per run.

use std::collections::HashMap;

use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope, pinned_kind};

use super::ApplyError;
use super::plan::{ObjectRef, split_api_version};
use crate::k8s::api::is_not_found;

/// Discovery results cached for one command run.
pub(super) struct Resolver {
    client: kube::Client,
    cache: HashMap<(String, String, String), (ApiResource, bool)>,
}

impl Resolver {
    /// A resolver with an empty cache.
    pub fn new(client: kube::Client) -> Self {
        Resolver {
            client,
            cache: HashMap::new(),
        }
    }

    /// API resource of a kind and whether it is namespaced.
    pub async fn resource(
        &mut self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, bool), ApplyError> {
        let (group, version) = split_api_version(api_version);
        let key = (group.to_string(), version.to_string(), kind.to_string());
        if let Some(found) = self.cache.get(&key) {
            return Ok(found.clone());
        }
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found = match pinned_kind(&self.client, &gvk).await {
            Ok((resource, caps)) => (resource, caps.scope == Scope::Namespaced),
            Err(err) if is_not_found(&err) => {
                return Err(ApplyError::UnknownKind {
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                });
            }
            Err(kube::Error::Discovery(_)) => {
                return Err(ApplyError::UnknownKind {
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                });
            }
            Err(source) => {
                return Err(ApplyError::Kube {
                    action: "discover",
                    object: format!("kind {kind} in {api_version}"),
                    source,
                });
            }
        };
        self.cache.insert(key, found.clone());
        Ok(found)
    }

    /// A dynamic API for the object a reference names.
    pub(super) async fn api_for(
        &mut self,
        reference: &ObjectRef,
    ) -> Result<Api<DynamicObject>, ApplyError> {
        let (resource, namespaced) = self
            .resource(&reference.api_version(), &reference.kind)
            .await?;
        Ok(match (&reference.namespace, namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &resource),
            _ => Api::all_with(self.client.clone(), &resource),
        })
    }
}
