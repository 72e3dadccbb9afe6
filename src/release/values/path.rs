//! The record of which layer set each path of a value tree.

use super::Origin;
pub use crate::compat::keypath::{KeyPath, Segment};
use std::collections::BTreeMap;
use std::ops::Bound;

/// Removes `path` and every path below it from `map`.
fn remove_subtree<V>(map: &mut BTreeMap<KeyPath, V>, path: &KeyPath) {
    // Paths below `path` sort right after it, so they form one contiguous range.
    let doomed: Vec<KeyPath> = subtree(map, path).map(|(p, _)| p.clone()).collect();
    for p in doomed {
        map.remove(&p);
    }
}

/// The entries at and below `path`, in order (found without copying `path`).
pub(super) fn subtree<'m, 'p, V>(
    map: &'m BTreeMap<KeyPath, V>,
    path: &'p KeyPath,
) -> impl Iterator<Item = (&'m KeyPath, &'m V)> + use<'m, 'p, V> {
    map.range::<KeyPath, _>((Bound::Included(path), Bound::Unbounded))
        .take_while(move |(p, _)| p.starts_with(path))
}

/// Which layer last set each path of the user-supplied values.
///
/// Only scalars, lists and empty maps are recorded: a map that merges into a lower layer's map is
/// not "set" by the upper layer, and its untouched keys keep their own origin.
#[derive(Clone, Debug, Default)]
pub(super) struct OriginMap {
    entries: BTreeMap<KeyPath, Origin>,
    /// How numbers from YAML documents were written (`1.20`, `0x1F`), by exact path.
    literals: BTreeMap<KeyPath, String>,
}

impl OriginMap {
    /// Forgets every origin at or below `path` (the value there was replaced wholesale).
    fn clear_subtree(&mut self, path: &KeyPath) {
        remove_subtree(&mut self.entries, path);
        remove_subtree(&mut self.literals, path);
    }

    /// Remembers how the number at `path` was written in its YAML document.
    pub(super) fn record_literal(&mut self, path: &KeyPath, text: &str) {
        self.literals.insert(path.clone(), text.to_owned());
    }

    /// How the number at exactly `path` was written, if it came from a YAML document.
    pub fn literal(&self, path: &KeyPath) -> Option<&str> {
        self.literals.get(path).map(String::as_str)
    }

    /// Records `origin_at(path)` for `value` at `path` and for every scalar/list below it.
    pub fn record(
        &mut self,
        path: &KeyPath,
        value: &serde_json::Value,
        origin_at: &mut dyn FnMut(&KeyPath) -> Origin,
    ) {
        self.clear_subtree(path);
        self.record_leaves(path, value, origin_at);
    }

    fn record_leaves(
        &mut self,
        path: &KeyPath,
        value: &serde_json::Value,
        origin_at: &mut dyn FnMut(&KeyPath) -> Origin,
    ) {
        match value {
            serde_json::Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    self.record_leaves(&path.key(k), v, origin_at);
                }
            }
            serde_json::Value::Array(items) => {
                self.entries.insert(path.clone(), origin_at(path));
                for (i, v) in items.iter().enumerate() {
                    self.record_leaves(&path.index(i), v, origin_at);
                }
            }
            _ => {
                self.entries.insert(path.clone(), origin_at(path));
            }
        }
    }

    /// The origin of the first value recorded below `path` (for a map whose keys came from
    /// one layer while the map itself was never set as a whole).
    pub(super) fn first_below(&self, path: &KeyPath) -> Option<&Origin> {
        subtree(&self.entries, path)
            .map(|(_, origin)| origin)
            .next()
    }

    /// The origin recorded at `path` or, failing that, at its nearest recorded ancestor.
    pub(super) fn nearest(&self, path: &KeyPath) -> Option<&Origin> {
        let mut at = Some(path.clone());
        while let Some(p) = at {
            if let Some(origin) = self.entries.get(&p) {
                return Some(origin);
            }
            at = p.parent();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_subtree_keeps_siblings() {
        let mut map = OriginMap::default();
        let ssh = KeyPath::root().key("ssh");
        let tree = serde_json::json!({"port": 1, "userName": "u"});
        map.record(&ssh, &tree, &mut |_| Origin::Program { label: "a".into() });
        map.record(&ssh.key("port"), &serde_json::json!(2), &mut |_| {
            Origin::Program { label: "b".into() }
        });
        assert_eq!(
            map.nearest(&ssh.key("port")).map(|o| o.to_string()),
            Some("b".into())
        );
        assert_eq!(
            map.nearest(&ssh.key("userName")).map(|o| o.to_string()),
            Some("a".into())
        );
        map.clear_subtree(&ssh);
        assert!(map.nearest(&ssh.key("userName")).is_none());
    }
}
