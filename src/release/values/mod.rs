//! Values: Helm-compatible layering of chart defaults, `-f` files and the `--set` family into one
//! value tree that remembers where each value came from, and strict validation of that tree
//! against the gateway and bastion charts before anything is rendered.
//!
//! Layers are applied in Helm's order, by flag *type* rather than command-line position:
//! chart defaults ← each `-f` (in order) ← every `--set-json` ← every `--set` ←
//! every `--set-string` ← every `--set-file` ← every `--set-literal`.
//!
//! Typing matches Helm, because the renderer prints what Helm prints: integers from `--set` are
//! int64; every number from a YAML document (chart defaults included) or `--set-json` is a
//! float64 (`serde_json::Number::from_f64`), after YAML 1.1 scalar resolution.

mod fields;
pub mod merge;
pub mod model;
pub mod path;
pub mod rules;
pub mod sshkey;
pub mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::{Map, Value};

pub use crate::compat::limits;
use crate::compat::limits::{LimitError, NodeBudget, ReadError};
use crate::compat::strvals::{self, StrvalsError, ValueMode};
use crate::compat::yaml::{self, YamlError};
use path::OriginMap;
pub use path::{KeyPath, Segment};
pub use validate::{ValidationError, ValidationErrors, validate};

/// Which of the two tunnel charts a release uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChartKind {
    /// The sshd side, in the local cluster.
    Gateway,
    /// The ssh client side, in the remote cluster.
    Bastion,
}

impl ChartKind {
    /// The chart's name as in its Chart.yaml.
    pub fn name(self) -> &'static str {
        match self {
            ChartKind::Gateway => "gateway",
            ChartKind::Bastion => "bastion",
        }
    }
}

impl fmt::Display for ChartKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A chart name that is neither `gateway` nor `bastion`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown chart {0:?}: expected gateway or bastion")]
pub struct UnknownChart(pub String);

impl FromStr for ChartKind {
    type Err = UnknownChart;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gateway" => Ok(ChartKind::Gateway),
            "bastion" => Ok(ChartKind::Bastion),
            other => Err(UnknownChart(other.to_owned())),
        }
    }
}

/// The kinds of `--set` flag, in the order Helm applies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SetKind {
    /// `--set-json key=JSON`.
    Json,
    /// `--set key=value` (typed like Helm).
    Set,
    /// `--set-string key=value`.
    String,
    /// `--set-file key=path`.
    File,
    /// `--set-literal key=value`.
    Literal,
}

impl SetKind {
    /// Every kind, in the order Helm applies them.
    const HELM_ORDER: [SetKind; 5] = [
        SetKind::Json,
        SetKind::Set,
        SetKind::String,
        SetKind::File,
        SetKind::Literal,
    ];

    /// How this flag's values are read; `read_file` serves `--set-file`.
    fn mode(self, read_file: &mut dyn FnMut(&str) -> Result<String, ReadError>) -> ValueMode<'_> {
        match self {
            SetKind::Json => ValueMode::Json,
            SetKind::Set => ValueMode::Typed,
            SetKind::String => ValueMode::String,
            SetKind::File => ValueMode::File(read_file),
            SetKind::Literal => ValueMode::Literal,
        }
    }

    /// The command-line flag.
    pub fn flag(self) -> &'static str {
        match self {
            SetKind::Json => "--set-json",
            SetKind::Set => "--set",
            SetKind::String => "--set-string",
            SetKind::File => "--set-file",
            SetKind::Literal => "--set-literal",
        }
    }
}

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The chart's own values.yaml.
    ChartDefaults,
    /// A `-f` file (or stdin), with the line of the value where known.
    ValuesFile {
        /// The path as given (`-` for stdin).
        file: String,
        /// 1-based line.
        line: Option<usize>,
    },
    /// The `number`-th flag of its kind (1-based), e.g. the second `--set`.
    Flag {
        /// Which flag.
        kind: SetKind,
        /// 1-based position among flags of that kind.
        number: usize,
    },
    /// A tree supplied by a program (e.g. `serve`), with its label.
    Program {
        /// The caller's label.
        label: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::ChartDefaults => f.write_str("chart defaults"),
            Origin::ValuesFile { file, line } => {
                let name = if file == "-" { "stdin" } else { file.as_str() };
                match line {
                    Some(line) => write!(f, "{name} line {line}"),
                    None => f.write_str(name),
                }
            }
            Origin::Flag { kind, number } => write!(f, "{} #{number}", kind.flag()),
            Origin::Program { label } => f.write_str(label),
        }
    }
}

/// Why the values could not be put together. Each message is one line that includes its cause;
/// the causes are fields, not chained `source()`s, so printing the chain does not repeat them.
#[derive(Debug, thiserror::Error)]
pub enum ValuesError {
    /// A `-f` file is not valid YAML (or has duplicate keys, NaN, ...).
    #[error("values file {file}: {error}")]
    ValuesFileSyntax {
        /// The file as given.
        file: String,
        /// What is wrong, with its line.
        error: YamlError,
    },
    /// A `-f` file whose top level is not a map.
    #[error("values file {file}: the top level must be a map of keys to values, not {found}")]
    ValuesFileNotAMap {
        /// The file as given.
        file: String,
        /// What the top level is.
        found: &'static str,
    },
    /// A `-f` file that cannot be read (or is over the size limit).
    #[error("cannot read values file {file}: {error}")]
    ValuesFileRead {
        /// The file as given.
        file: String,
        /// Why it cannot be read.
        error: ReadError,
    },
    /// The values of a file or program tree break a limit of [`limits`].
    #[error("values from {label}: {error}")]
    Limit {
        /// The file or program label.
        label: String,
        /// The limit.
        error: LimitError,
    },
    /// A programmatic tree that is not a map.
    #[error("values from {label}: the top level must be a map, not {found}")]
    TreeNotAMap {
        /// The caller's label.
        label: String,
        /// What the top level is.
        found: &'static str,
    },
    /// A `--set`-family argument that cannot be parsed or applied.
    #[error("{} #{number}: {error}", kind.flag())]
    Flag {
        /// Which flag.
        kind: SetKind,
        /// 1-based position among flags of that kind.
        number: usize,
        /// What is wrong.
        error: StrvalsError,
    },
    /// The chart's own values.yaml is broken (a chart bug, not a user error).
    #[error("the chart's values.yaml: {error}")]
    Defaults {
        /// What is wrong.
        error: YamlError,
    },
    /// The chart's own values.yaml is not a map.
    #[error("the chart's values.yaml must be a map, not {found}")]
    DefaultsNotAMap {
        /// What the top level is.
        found: &'static str,
    },
}

enum DocumentSource {
    File(String),
    Program(String),
}

struct DocumentLayer {
    source: DocumentSource,
    tree: Value,
    lines: std::collections::BTreeMap<KeyPath, usize>,
    number_text: std::collections::BTreeMap<KeyPath, String>,
}

/// The user's value layers, in the order given, each remembering where it came from.
/// [`compose`] applies them in Helm's order.
#[derive(Default)]
pub struct ValueLayers {
    documents: Vec<DocumentLayer>,
    flags: Vec<(SetKind, String)>,
    set_file_base: Option<PathBuf>,
}

impl fmt::Debug for ValueLayers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Flag arguments may hold private keys: show only their shape.
        f.debug_struct("ValueLayers")
            .field("documents", &self.documents.len())
            .field(
                "flags",
                &self.flags.iter().map(|(k, _)| k.flag()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ValueLayers {
    /// No layers: the chart defaults alone.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a `-f` values file (`origin` is the path as given, `-` for stdin).
    pub fn push_values_file(
        &mut self,
        origin: PathBuf,
        contents: String,
    ) -> Result<(), ValuesError> {
        let file = origin.display().to_string();
        let loaded = yaml::load(&contents).map_err(|error| ValuesError::ValuesFileSyntax {
            file: file.clone(),
            error,
        })?;
        let tree = match loaded.tree {
            Value::Null => Value::Object(Map::new()),
            Value::Object(map) => Value::Object(map),
            other => {
                return Err(ValuesError::ValuesFileNotAMap {
                    file,
                    found: strvals::kind_name(&other),
                });
            }
        };
        self.documents.push(DocumentLayer {
            source: DocumentSource::File(file),
            tree,
            lines: loaded.lines,
            number_text: loaded.number_text,
        });
        Ok(())
    }

    /// Adds one `--set`-family argument. It is parsed once, by [`compose`], in Helm's order (as
    /// Helm's `MergeValues` parses each argument into the values merged so far): syntax errors,
    /// conflicts with other layers and unreadable `--set-file` files are all reported there.
    pub fn push_set(&mut self, kind: SetKind, arg: &str) {
        self.flags.push((kind, arg.to_owned()));
    }

    /// Adds a tree built by a program, applied like a values file after the `-f` files pushed
    /// before it.
    pub(crate) fn push_tree(&mut self, origin_label: &str, tree: Value) {
        self.documents.push(DocumentLayer {
            source: DocumentSource::Program(origin_label.to_owned()),
            tree,
            lines: Default::default(),
            number_text: Default::default(),
        });
    }

    /// Directory that relative `--set-file` paths are read from (default: the current one).
    pub fn set_file_base(&mut self, dir: PathBuf) {
        self.set_file_base = Some(dir);
    }

    fn read_set_file(base: Option<&Path>, name: &str) -> Result<String, ReadError> {
        let path = match base {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        };
        limits::read_file_limited(&path)
    }
}

/// The merged values of one release, with the origin of each value.
#[derive(Clone, Debug)]
pub struct Values {
    /// The tree the templates see.
    pub tree: Value,
    origins: OriginMap,
    defaults_origin: Origin,
}

impl Values {
    /// Where the value at `dotted_key` (`a.b[0].c`) came from: the layer that set it or an
    /// enclosing list/scalar, else (for a map) the layer that set its first key, else the chart
    /// defaults if the key exists; `None` if nothing ever set it.
    pub fn origin_of(&self, dotted_key: &str) -> Option<&Origin> {
        self.origin_at(&KeyPath::parse_dotted(dotted_key))
    }

    /// [`Values::origin_of`] for a path given as segments.
    fn origin_at(&self, path: &KeyPath) -> Option<&Origin> {
        if let Some(origin) = self.origins.nearest(path) {
            return Some(origin);
        }
        if let Some(origin) = self.origins.first_below(path) {
            return Some(origin);
        }
        path.lookup(&self.tree).map(|_| &self.defaults_origin)
    }

    /// How the number at exactly `path` was written in a `-f` file (`1.20`, `0x1F`), if it
    /// came from one: the tree holds only its float64 value.
    fn literal_at(&self, path: &KeyPath) -> Option<&str> {
        self.origins.literal(path)
    }

    /// The value at `path`, if present.
    pub fn get(&self, path: &KeyPath) -> Option<&Value> {
        path.lookup(&self.tree)
    }
}

/// Merges the chart defaults and the user's layers the way Helm does.
pub fn compose(defaults_yaml: &str, layers: &ValueLayers) -> Result<Values, ValuesError> {
    compose_over(&parse_defaults(defaults_yaml)?, layers)
}

/// Reads a chart's `values.yaml` into the map the layers are merged over.
pub fn parse_defaults(defaults_yaml: &str) -> Result<Map<String, Value>, ValuesError> {
    match yaml::load_values_tree(defaults_yaml).map_err(|error| ValuesError::Defaults { error })? {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => Ok(map),
        other => Err(ValuesError::DefaultsNotAMap {
            found: strvals::kind_name(&other),
        }),
    }
}

/// [`compose`] over chart defaults already read with [`parse_defaults`] (a renderer reads them once).
pub fn compose_over(
    defaults: &Map<String, Value>,
    layers: &ValueLayers,
) -> Result<Values, ValuesError> {
    let mut user = Map::new();
    let mut origins = OriginMap::default();
    let mut budget = NodeBudget::default();

    for document in &layers.documents {
        let label = || match &document.source {
            DocumentSource::File(f) | DocumentSource::Program(f) => f.clone(),
        };
        let map = match &document.tree {
            Value::Object(map) => map,
            Value::Null => &Map::new(),
            other => {
                return Err(ValuesError::TreeNotAMap {
                    label: label(),
                    found: strvals::kind_name(other),
                });
            }
        };
        // YAML documents were checked while loading; program trees are checked here.
        let limit = |error| ValuesError::Limit {
            label: label(),
            error,
        };
        budget.take_tree(&document.tree).map_err(limit)?;
        if limits::depth(&document.tree, limits::MAX_DEPTH) > limits::MAX_DEPTH {
            return Err(limit(LimitError::TooDeep));
        }
        let map = map.clone();
        merge::merge_maps(&mut user, map, &KeyPath::root(), &mut |path, value| {
            origins.record(path, value, &mut |p| match &document.source {
                DocumentSource::File(file) => Origin::ValuesFile {
                    file: file.clone(),
                    line: document.lines.get(p).copied(),
                },
                DocumentSource::Program(label) => Origin::Program {
                    label: label.clone(),
                },
            });
            let written = path::subtree(&document.number_text, path);
            for (p, text) in written {
                origins.record_literal(p, text);
            }
        });
    }

    let base = layers.set_file_base.as_deref();
    for kind in SetKind::HELM_ORDER {
        let args = layers.flags.iter().filter(|(k, _)| *k == kind);
        for (index, (_, arg)) in args.enumerate() {
            let number = index + 1;
            let mut read = |name: &str| ValueLayers::read_set_file(base, name);
            strvals::parse_into(
                arg,
                &mut user,
                kind.mode(&mut read),
                &mut budget,
                &mut |path, value| {
                    origins.record(path, value, &mut |_| Origin::Flag { kind, number });
                },
            )
            .map_err(|error| ValuesError::Flag {
                kind,
                number,
                error,
            })?;
        }
    }

    Ok(Values {
        tree: Value::Object(merge::coalesce(defaults, user)),
        origins,
        defaults_origin: Origin::ChartDefaults,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Number, json};

    const DEFAULTS: &str = "ssh:\n  port: 2222\n  userName: interlink-user\n  publicKey:\nservice:\n  port: 30222\n  type: NodePort\nresources:\n  limits:\n    cpu: 200m\n";

    fn layers(f: impl FnOnce(&mut ValueLayers)) -> Values {
        let mut l = ValueLayers::new();
        f(&mut l);
        compose(DEFAULTS, &l).expect("compose")
    }

    #[test]
    fn order_is_by_flag_type() {
        // --set-string beats --set whichever comes first; --set beats --set-json.
        let v = layers(|l| {
            l.push_set(SetKind::String, "a=S");
            l.push_set(SetKind::Set, "a=1");
            l.push_set(SetKind::Set, "b=1");
            l.push_set(SetKind::Json, "b=\"J\"");
            l.push_set(SetKind::Literal, "c=L");
            l.push_set(SetKind::String, "c=S");
        });
        assert_eq!(v.tree["a"], json!("S"));
        assert_eq!(v.tree["b"], json!(1));
        assert_eq!(v.tree["c"], json!("L"));
        assert_eq!(
            v.origin_of("a").map(ToString::to_string).as_deref(),
            Some("--set-string #1")
        );
        assert_eq!(
            v.origin_of("b").map(ToString::to_string).as_deref(),
            Some("--set #2")
        );
    }

    #[test]
    fn files_then_sets_with_origins() {
        let v = layers(|l| {
            l.push_values_file(
                "a.yaml".into(),
                "ssh:\n  userName: from-a\n  port: 2201\n".into(),
            )
            .expect("a");
            l.push_values_file("b.yaml".into(), "ssh:\n  userName: from-b\n".into())
                .expect("b");
            l.push_set(SetKind::Set, "service.port=30000");
        });
        assert_eq!(v.tree["ssh"]["userName"], json!("from-b"));
        assert_eq!(v.tree["ssh"]["port"], json!(2201.0));
        assert!(
            v.tree["ssh"]["port"]
                .as_number()
                .is_some_and(Number::is_f64)
        );
        assert!(
            v.tree["service"]["port"]
                .as_number()
                .is_some_and(Number::is_i64)
        );
        let origin = |k: &str| v.origin_of(k).map(ToString::to_string);
        assert_eq!(origin("ssh.userName").as_deref(), Some("b.yaml line 2"));
        assert_eq!(origin("ssh.port").as_deref(), Some("a.yaml line 3"));
        assert_eq!(origin("service.port").as_deref(), Some("--set #1"));
        assert_eq!(origin("service.type").as_deref(), Some("chart defaults"));
        assert_eq!(
            origin("resources.limits.cpu").as_deref(),
            Some("chart defaults")
        );
        assert_eq!(origin("nothing.here"), None);
        assert_eq!(origin("ssh").as_deref(), Some("a.yaml line 3"));
        assert_eq!(
            v.literal_at(&KeyPath::parse_dotted("ssh.port")),
            Some("2201")
        );
        assert_eq!(v.literal_at(&KeyPath::parse_dotted("service.port")), None);
    }

    #[test]
    fn set_json_replaces_and_defaults_refill() {
        let v = layers(|l| {
            l.push_values_file("a.yaml".into(), "ssh:\n  userName: from-a\n".into())
                .expect("a");
            l.push_set(SetKind::Json, r#"ssh={"port":1000000}"#);
        });
        assert_eq!(
            v.tree["ssh"],
            json!({"port": 1000000.0, "userName": "interlink-user", "publicKey": null})
        );
        let origin = |k: &str| v.origin_of(k).map(ToString::to_string);
        assert_eq!(origin("ssh.userName").as_deref(), Some("chart defaults"));
        assert_eq!(origin("ssh.port").as_deref(), Some("--set-json #1"));
    }

    #[test]
    fn null_deletes_defaults_but_keeps_origin() {
        let v = layers(|l| {
            l.push_set(SetKind::Set, "ssh.port=null,resources.limits=null");
        });
        assert_eq!(
            v.tree["ssh"],
            json!({"userName": "interlink-user", "publicKey": null})
        );
        assert_eq!(v.tree["resources"], json!({}));
        assert_eq!(
            v.origin_of("ssh.port").map(ToString::to_string).as_deref(),
            Some("--set #1")
        );
    }

    #[test]
    fn set_file_is_read_relative_to_base() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("k.pub"), "ssh-ed25519 AAAA c\n").expect("write");
        let mut l = ValueLayers::new();
        l.set_file_base(dir.path().to_path_buf());
        l.push_set(SetKind::File, "ssh.publicKey=k.pub");
        let v = compose(DEFAULTS, &l).expect("compose");
        assert_eq!(v.tree["ssh"]["publicKey"], json!("ssh-ed25519 AAAA c\n"));
        l.push_set(SetKind::File, "ssh.userName=missing.txt");
        let err = compose(DEFAULTS, &l).expect_err("missing file");
        assert!(err.to_string().contains("--set-file #2"), "{err}");
        assert!(err.to_string().contains("missing.txt"), "{err}");
    }

    #[test]
    fn values_file_errors() {
        let mut l = ValueLayers::new();
        let err = l
            .push_values_file("list.yaml".into(), "- a\n- b\n".into())
            .expect_err("list");
        assert_eq!(
            err.to_string(),
            "values file list.yaml: the top level must be a map of keys to values, not a list"
        );
        let err = l
            .push_values_file("bad.yaml".into(), "ssh:\n  port: [1, 2\n".into())
            .expect_err("bad");
        assert!(
            err.to_string().starts_with("values file bad.yaml: line "),
            "{err}"
        );
        l.push_values_file("empty.yaml".into(), String::new())
            .expect("empty is fine");
    }

    #[test]
    fn set_errors_name_the_flag_not_the_value() {
        let mut l = ValueLayers::new();
        l.push_set(SetKind::Set, "a=1");
        l.push_set(SetKind::Set, "tunnel.gateway.ssh.privateKey");
        let err = compose(DEFAULTS, &l).expect_err("no =");
        assert_eq!(err.to_string(), "--set #2: key \"privateKey\" has no value");
    }

    #[test]
    fn conflicts_with_files_surface_at_compose() {
        let mut l = ValueLayers::new();
        l.push_values_file("a.yaml".into(), "ssh: 5\n".into())
            .expect("a");
        l.push_set(SetKind::Set, "ssh.port=1");
        let err = compose(DEFAULTS, &l).expect_err("ssh is a number");
        assert_eq!(
            err.to_string(),
            "--set #1: cannot set a key under ssh: it already holds a number, not a map"
        );
    }

    #[test]
    fn program_trees_layer_like_files() {
        let mut l = ValueLayers::new();
        l.push_values_file("a.yaml".into(), "ssh:\n  userName: from-a\n".into())
            .expect("a");
        l.push_tree("serve: pod abc", json!({"ssh": {"userName": "from-serve"}}));
        l.push_set(SetKind::Set, "ssh.port=2200");
        let v = compose(DEFAULTS, &l).expect("compose");
        assert_eq!(v.tree["ssh"]["userName"], json!("from-serve"));
        let origin = |k: &str| v.origin_of(k).map(ToString::to_string);
        assert_eq!(origin("ssh.userName").as_deref(), Some("serve: pod abc"));
        let mut bad = ValueLayers::new();
        bad.push_tree("serve", json!([1]));
        let err = compose(DEFAULTS, &bad).expect_err("not a map");
        assert_eq!(
            err.to_string(),
            "values from serve: the top level must be a map, not a list"
        );
    }

    #[test]
    fn chart_kind_parses() {
        assert_eq!("gateway".parse::<ChartKind>(), Ok(ChartKind::Gateway));
        assert_eq!("bastion".parse::<ChartKind>(), Ok(ChartKind::Bastion));
        assert!("tcp".parse::<ChartKind>().is_err());
    }
}
