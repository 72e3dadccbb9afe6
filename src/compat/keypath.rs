//! Key paths into a value tree (`tunnel.gateway.ssh.port`, `resources.claims[0].name`), written
//! and parsed the way Helm's error messages and `--set` spell them.

use std::fmt;
use std::sync::Arc;

/// A map key's text: a name fixed in the program (a field of the values model, no allocation) or a
/// shared copy of one read from input (a path extended by one step shares the keys of the path it
/// extends). Compared, ordered and hashed as its text.
#[derive(Clone, Debug)]
pub enum KeyName {
    /// A name the program holds for its whole run.
    Static(&'static str),
    /// A name read from input.
    Shared(Arc<str>),
}

impl std::ops::Deref for KeyName {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            KeyName::Static(name) => name,
            KeyName::Shared(name) => name,
        }
    }
}

impl From<&str> for KeyName {
    fn from(name: &str) -> Self {
        KeyName::Shared(name.into())
    }
}

impl PartialEq for KeyName {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for KeyName {}

impl PartialOrd for KeyName {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KeyName {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl std::hash::Hash for KeyName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

/// One step of a [`KeyPath`]: a map key or a list index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// A map key.
    Key(KeyName),
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
        self.extended(Segment::Key(key.into()))
    }

    /// A copy of this path with room for one more step, for [`KeyPath::push_static_key`].
    pub fn with_room_for_one(&self) -> Self {
        let mut segments = Vec::with_capacity(self.0.len() + 1);
        segments.extend(self.0.iter().cloned());
        KeyPath(segments)
    }

    /// Extends this path in place by a map key the program names itself.
    pub fn push_static_key(&mut self, key: &'static str) {
        self.0.push(Segment::Key(KeyName::Static(key)));
    }

    /// Removes the last step (nothing at the root).
    pub fn pop(&mut self) {
        self.0.pop();
    }

    /// This path extended by a list index.
    pub fn index(&self, index: usize) -> Self {
        self.extended(Segment::Index(index))
    }

    /// This path and one more step, in one allocation.
    fn extended(&self, last: Segment) -> Self {
        let mut path = self.with_room_for_one();
        path.0.push(last);
        path
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
    pub(crate) fn last_key(&self) -> Option<&str> {
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
                segments.push(Segment::Key(name.into()));
            }
            while let Some(close) = rest.find(']') {
                match rest[1..close].parse::<usize>() {
                    Ok(i) => segments.push(Segment::Index(i)),
                    Err(_) => segments.push(Segment::Key(rest[..=close].into())),
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
                (Segment::Key(k), serde_json::Value::Object(map)) => map.get(&**k)?,
                (Segment::Index(i), serde_json::Value::Array(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }
}

/// Shows text quoted from user input with its control characters escaped (`\n`, `\t`, `\u{1b}`), so
/// an error message that quotes a key or an argument stays one line (and cannot forge a log line).
pub(crate) struct OneLine<'a>(pub &'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_debug())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Written the way Helm spells a path (`a.b[0].c`), with control characters in keys escaped as
/// [`OneLine`] does: a path quoted in an error message must not break the message's line.
impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(k) if n == 0 => write!(f, "{}", OneLine(k))?,
                Segment::Key(k) => write!(f, ".{}", OneLine(k))?,
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
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
    fn set_json_key_with_control_characters_stays_one_line() {
        let path = KeyPath::root().key("a\n\tb").index(0).key("c\u{1b}");
        assert_eq!(path.to_string(), "a\\n\\tb[0].c\\u{1b}");
        let err =
            crate::compat::strvals::parse("a\n\t\u{0}b={", crate::compat::strvals::ValueMode::Json)
                .expect_err("an unterminated JSON value is refused");
        assert!(!err.to_string().contains('\n'), "{err}");
    }
}
