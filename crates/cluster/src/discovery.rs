//! Discovery, cached per [`crate::Cluster`]: group/version → kinds, filled lazily one
//! group/version at a time and refreshed when a kind is not (yet) known.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use driftless_core::GroupVersionKind;
use kube::Client;
use kube::discovery::{ApiResource, Scope};

/// A served kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

type Kinds = Arc<HashMap<String, Resolved>>;

#[derive(Debug, Default)]
pub(crate) struct Discovery {
    groups: Mutex<HashMap<(String, String), Kinds>>,
}

impl Discovery {
    fn cached(&self, group: &str, version: &str) -> Option<Kinds> {
        let guard = self.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.get(&(group.to_owned(), version.to_owned())).cloned()
    }

    /// The kind, from the cache or (when not cached, or cached without it) from the server.
    pub(crate) async fn resolve(
        &self,
        client: &Client,
        gvk: &GroupVersionKind,
    ) -> Result<Option<Resolved>, kube::Error> {
        if let Some(kinds) = self.cached(&gvk.group, &gvk.version)
            && let Some(r) = kinds.get(&gvk.kind)
        {
            return Ok(Some(r.clone()));
        }
        let kinds = self.fetch(client, &gvk.group, &gvk.version).await?;
        Ok(kinds.get(&gvk.kind).cloned())
    }

    async fn fetch(&self, client: &Client, group: &str, version: &str) -> Result<Kinds, kube::Error> {
        let gv = kube::core::GroupVersion::gv(group, version);
        let mut kinds = HashMap::new();
        match kube::discovery::pinned_group(client, &gv).await {
            Ok(api_group) => {
                for (resource, caps) in api_group.versioned_resources(version) {
                    let namespaced = caps.scope == Scope::Namespaced;
                    kinds.insert(resource.kind.clone(), Resolved { resource, namespaced });
                }
            }
            Err(e) if crate::error::is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
        let kinds = Arc::new(kinds);
        let mut guard = self.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.insert((group.to_owned(), version.to_owned()), kinds.clone());
        Ok(kinds)
    }

    /// Forget a group/version (after a CRD changed it).
    pub(crate) fn invalidate(&self, group: &str, version: &str) {
        let mut guard = self.groups.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.remove(&(group.to_owned(), version.to_owned()));
    }
}
