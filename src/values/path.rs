//! Key paths into a value tree (`tunnel.gateway.ssh.port`, `resources.claims[0].name`) and the
//! record of which layer set each path.

use std::collections::BTreeMap;
use std::fmt;

use super::Origin;

/// One step of a [`KeyPath`]: a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// A path from the root of a value tree to one node.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyPath(pub Vec<Segment>);

impl KeyPath {
    /// The empty path (the root).
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path extended by a map key.
    pub fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        KeyPath(segments)
    }

    /// This path extended by a list index.
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        KeyPath(segments)
    }

    /// The path one level up, or `None` at the root.
    pub fn parent(&self) -> Option<Self> {
        let (_, rest) = self.0.split_last()?;
        Some(KeyPath(rest.to_vec()))
    }

    /// Whether `self` equals `other` or lies below it.
    pub fn starts_with(&self, other: &KeyPath) -> bool {
        self.0.starts_with(&other.0)
    }

    /// The last map key of the path, if the path ends in a key.
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// Parses the dotted form written by `Display` (`a.b[0].c`). Keys containing `.` or `[`
    /// cannot be told apart in this form; use the segments directly for those.
    pub fn parse_dotted(dotted: &str) -> Self {
        let mut segments = Vec::new();
        for part in dotted.split('.').filter(|p| !p.is_empty()) {
            let (name, mut rest) = match part.find('[') {
                Some(at) => (&part[..at], &part[at..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                segments.push(Segment::Key(name.to_owned()));
            }
            while let Some(close) = rest.find(']') {
                match rest[1..close].parse::<usize>() {
                    Ok(i) => segments.push(Segment::Index(i)),
                    Err(_) => segments.push(Segment::Key(rest[..=close].to_owned())),
                }
                rest = &rest[close + 1..];
            }
        }
        KeyPath(segments)
    }

    /// Looks the path up in a value tree.
    pub fn lookup<'v>(&self, tree: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        let mut node = tree;
        for segment in &self.0 {
            node = match (segment, node) {
                (Segment::Key(k), serde_json::Value::Object(map)) => map.get(k)?,
                (Segment::Index(i), serde_json::Value::Array(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(k) if n == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// Removes `path` and every path below it from `map`.
fn remove_subtree<V>(map: &mut BTreeMap<KeyPath, V>, path: &KeyPath) {
    // Paths below `path` sort right after it, so they form one contiguous range.
    let doomed: Vec<KeyPath> = map
        .range(path.clone()..)
        .take_while(|(p, _)| p.starts_with(path))
        .map(|(p, _)| p.clone())
        .collect();
    for p in doomed {
        map.remove(&p);
    }
}

/// Which layer last set each path of the user-supplied values.
///
/// Only scalars, lists and empty maps are recorded: a map that merges into a lower layer's map is
/// not "set" by the upper layer, and its untouched keys keep their own origin.
#[derive(Clone, Debug, Default)]
pub struct OriginMap {
    entries: BTreeMap<KeyPath, Origin>,
    /// How numbers from YAML documents were written (`1.20`, `0x1F`), by exact path.
    literals: BTreeMap<KeyPath, String>,
}

impl OriginMap {
    /// Forgets every origin at or below `path` (the value there was replaced wholesale).
    pub fn clear_subtree(&mut self, path: &KeyPath) {
        remove_subtree(&mut self.entries, path);
        remove_subtree(&mut self.literals, path);
    }

    /// Remembers how the number at `path` was written in its YAML document.
    pub fn record_literal(&mut self, path: &KeyPath, text: &str) {
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
    pub fn first_below(&self, path: &KeyPath) -> Option<&Origin> {
        self.entries
            .range(path.clone()..)
            .take_while(|(p, _)| p.starts_with(path))
            .map(|(_, origin)| origin)
            .next()
    }

    /// The origin recorded at `path` or, failing that, at its nearest recorded ancestor.
    pub fn nearest(&self, path: &KeyPath) -> Option<&Origin> {
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
    fn display_and_parse_round_trip() {
        let path = KeyPath::root()
            .key("resources")
            .key("claims")
            .index(2)
            .key("name");
        assert_eq!(path.to_string(), "resources.claims[2].name");
        assert_eq!(KeyPath::parse_dotted("resources.claims[2].name"), path);
    }

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
