//! The limits that keep hostile or mistaken values from exhausting memory or time. Helm has some
//! of them (list indexes, dotted key nesting, YAML alias expansion); the others bound what Helm
//! leaves unbounded. Every error names the limit it hit. The README's "Limits" table lists them.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

/// Largest values file (`-f`, stdin) or `--set-file` file: 5 MiB, the same bound Helm puts on
/// each file of a chart it loads. Values for the two charts are a few hundred bytes.
pub(crate) const MAX_FILE_BYTES: u64 = 5 * 1024 * 1024;

/// Most nodes (maps, lists and scalars, list padding included) that all the values of one
/// release may create together.
pub const MAX_NODES: usize = 100_000;

/// Most nodes that the aliases of one YAML document may copy in (billion-laughs documents
/// expand to billions).
pub(super) const MAX_ALIAS_NODES: usize = 10_000;

/// Deepest nesting of maps and lists in any value tree.
pub const MAX_DEPTH: usize = 100;

pub use super::strvals::{MAX_INDEX, MAX_NESTED_NAME_LEVEL};

/// Which limit was hit. `Display` names the limit and its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// A file larger than [`MAX_FILE_BYTES`].
    #[error("has more than {MAX_FILE_BYTES} bytes, the limit for a values file (5 MiB)")]
    FileTooLarge,
    /// More than [`MAX_NODES`] nodes.
    #[error(
        "the values create more than {MAX_NODES} nodes (maps, lists, scalars and list padding), the limit for one release"
    )]
    TooManyNodes,
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("the values nest more than {MAX_DEPTH} levels deep, the limit for maps and lists")]
    TooDeep,
    /// Aliases expanding to more than [`MAX_ALIAS_NODES`] nodes.
    #[error(
        "document contains excessive aliasing: aliases expand to more than {MAX_ALIAS_NODES} nodes"
    )]
    ExcessiveAliasing,
}

/// Why a values file (or a `--set-file` file) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The operating system refused.
    #[error("{0}")]
    Io(std::io::Error),
    /// The file is over [`MAX_FILE_BYTES`].
    #[error("{0}")]
    Limit(LimitError),
}

/// Reads UTF-8 text of at most [`MAX_FILE_BYTES`] from `reader`, stopping one byte past the limit
/// (so `/dev/zero` or an endless pipe costs 5 MiB, not all memory).
pub fn read_limited(reader: impl Read) -> Result<String, ReadError> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ReadError::Limit(LimitError::FileTooLarge));
    }
    String::from_utf8(bytes)
        .map_err(|err| ReadError::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, err)))
}

/// Reads a file with [`read_limited`]; a regular file's size is checked before reading.
/// Pipes and devices (`-f <(cmd)`, `/dev/stdin`) are read up to the limit.
pub fn read_file_limited(path: &Path) -> Result<String, ReadError> {
    let file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let metadata = file.metadata().map_err(ReadError::Io)?;
    if metadata.is_dir() {
        return Err(ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory, not a file",
        )));
    }
    if metadata.is_file() && metadata.len() > MAX_FILE_BYTES {
        return Err(ReadError::Limit(LimitError::FileTooLarge));
    }
    read_limited(file)
}

/// Counts what a release's values create, against [`MAX_NODES`].
#[derive(Debug, Clone)]
pub struct NodeBudget {
    remaining: usize,
}

impl Default for NodeBudget {
    fn default() -> Self {
        NodeBudget {
            remaining: MAX_NODES,
        }
    }
}

impl NodeBudget {
    /// Takes `nodes` from the budget; an error once more than [`MAX_NODES`] were taken.
    pub fn take(&mut self, nodes: usize) -> Result<(), LimitError> {
        match self.remaining.checked_sub(nodes) {
            Some(left) => {
                self.remaining = left;
                Ok(())
            }
            None => {
                self.remaining = 0;
                Err(LimitError::TooManyNodes)
            }
        }
    }

    /// Takes the nodes of `value` from the budget.
    pub(crate) fn take_tree(&mut self, value: &Value) -> Result<(), LimitError> {
        let nodes = count_nodes(value, self.remaining.saturating_add(1));
        self.take(nodes)
    }
}

/// The number of nodes of `value` (every map, list and scalar), counting stops at `stop`.
pub fn count_nodes(value: &Value, stop: usize) -> usize {
    if !matches!(value, Value::Array(_) | Value::Object(_)) {
        // A scalar, the common case (every `--set a=b`): no stack to allocate.
        return 1;
    }
    let mut count = 0usize;
    let mut pending = vec![value];
    while let Some(node) = pending.pop() {
        count += 1;
        if count >= stop {
            return count;
        }
        match node {
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => pending.extend(map.values()),
            _ => {}
        }
    }
    count
}

/// How many levels of maps and lists `value` nests (a scalar is 0, `[1]` is 1), counting stops
/// past `stop`.
pub fn depth(value: &Value, stop: usize) -> usize {
    if !matches!(value, Value::Array(_) | Value::Object(_)) {
        return 0;
    }
    let mut deepest = 0usize;
    let mut pending = vec![(value, 0usize)];
    while let Some((node, level)) = pending.pop() {
        let inner = level + 1;
        match node {
            Value::Array(items) => pending.extend(items.iter().map(|child| (child, inner))),
            Value::Object(map) => pending.extend(map.values().map(|child| (child, inner))),
            _ => continue,
        }
        deepest = deepest.max(inner);
        if deepest > stop {
            return deepest;
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_and_depths() {
        let tree = json!({"a": [1, {"b": null}], "c": "x"});
        assert_eq!(count_nodes(&tree, usize::MAX), 6);
        assert_eq!(count_nodes(&tree, 3), 3);
        assert_eq!(depth(&tree, usize::MAX), 3);
        assert_eq!(depth(&json!(1), usize::MAX), 0);
        assert_eq!(count_nodes(&json!("x"), usize::MAX), 1);
        assert_eq!(count_nodes(&json!(null), 1), 1);
        assert_eq!(depth(&json!([]), usize::MAX), 1);
    }

    #[test]
    fn budget_runs_out() {
        let mut budget = NodeBudget::default();
        budget.take(MAX_NODES - 1).expect("below the limit");
        budget.take(1).expect("exactly the limit");
        assert_eq!(budget.take(1), Err(LimitError::TooManyNodes));
    }

    // `-f /dev/zero` used to read until memory ran out.
    #[test]
    fn values_file_from_dev_zero_stops_at_the_limit() {
        let err = read_file_limited(Path::new("/dev/zero")).expect_err("endless");
        assert!(
            matches!(err, ReadError::Limit(LimitError::FileTooLarge)),
            "{err}"
        );
        assert!(err.to_string().contains("5 MiB"), "{err}");
    }

    #[test]
    fn big_regular_file_is_refused_before_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.yaml");
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(MAX_FILE_BYTES + 1).expect("sparse file");
        assert!(matches!(
            read_file_limited(&path),
            Err(ReadError::Limit(LimitError::FileTooLarge))
        ));
        let dir_err = read_file_limited(dir.path()).expect_err("a directory");
        assert!(dir_err.to_string().contains("directory"), "{dir_err}");
    }
}
