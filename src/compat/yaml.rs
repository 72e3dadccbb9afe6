//! Reads a values file the way Helm does (go-yaml v2 through sigs.k8s.io/yaml): YAML 1.1 scalar
//! resolution (`yes`/`off` are booleans, `0123` is octal, `0x1F` hex, `1_000` an integer), every
//! number a float64, map keys turned into strings, only the first document read. It also keeps
//! the line of every node, so errors can point into the file.

use std::collections::{BTreeMap, HashSet};

use granit_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

use super::gofmt::go_format_float32;
use super::keypath::KeyPath;
use super::limits::{self, LimitError, MAX_ALIAS_NODES, MAX_DEPTH, MAX_NODES};

/// A parsed values document: the tree and the 1-based line where each node starts.
#[derive(Clone, Debug, Default)]
pub struct LoadedYaml {
    /// The tree, with Helm's types (all numbers float64).
    pub tree: Value,
    /// Line of each node (for a map entry, the line of its key).
    pub lines: BTreeMap<KeyPath, usize>,
    /// How each number was written (`1.20`, `0123`), since the tree keeps only its value.
    pub number_text: BTreeMap<KeyPath, String>,
}

/// Why a values document could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum YamlError {
    /// The text is not valid YAML.
    #[error("line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// The same key appears twice in one map.
    #[error("line {line}: key {key:?} appears twice in the same map")]
    DuplicateKey {
        /// 1-based line of the second occurrence.
        line: usize,
        /// The key.
        key: String,
    },
    /// A map key that cannot become a JSON object key (null, a list or a map).
    #[error("line {line}: a map key must be a string, number or boolean, not {found}")]
    UnsupportedKey {
        /// 1-based line.
        line: usize,
        /// What the key was.
        found: &'static str,
    },
    /// `.nan`/`.inf` cannot be represented in JSON, so Helm fails on them too.
    #[error("line {line}: {text:?} is not a finite number, which values cannot hold")]
    NonFiniteNumber {
        /// 1-based line.
        line: usize,
        /// The scalar as written.
        text: String,
    },
    /// An alias to an anchor that was never defined.
    #[error("line {line}: alias to an unknown anchor")]
    UnknownAlias {
        /// 1-based line.
        line: usize,
    },
    /// A `<<` merge key whose value is not a map or a list of maps.
    #[error("line {line}: a `<<` merge needs a map or a list of maps")]
    BadMerge {
        /// 1-based line.
        line: usize,
    },
    /// The document is too big, too deep or aliases too much (see [`super::limits`]).
    #[error("line {line}: {error}")]
    Limit {
        /// 1-based line where the limit was reached.
        line: usize,
        /// The limit.
        error: LimitError,
    },
}

/// A resolved YAML scalar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    /// `~`, `null`, empty.
    Null,
    /// YAML 1.1 booleans, including `yes`/`no`/`on`/`off`/`y`/`n`.
    Bool(bool),
    /// An integer that fits int64.
    Int(i64),
    /// An integer that only fits uint64.
    Uint(u64),
    /// A float (including `.inf`/`.nan`).
    Float(f64),
    /// Anything else.
    Str(String),
}

/// Resolves a plain (unquoted) scalar with go-yaml v2's rules.
pub(crate) fn resolve_plain(text: &str) -> Scalar {
    resolve_plain_non_string(text).unwrap_or_else(|| Scalar::Str(text.to_owned()))
}

/// Whether a plain scalar with this text reads as a string (the text itself), not as a null,
/// boolean or number; nothing is allocated.
pub(crate) fn plain_reads_as_string(text: &str) -> bool {
    resolve_plain_non_string(text).is_none()
}

/// [`resolve_plain`] for a scalar that is not a string; `None` for a string.
fn resolve_plain_non_string(text: &str) -> Option<Scalar> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Scalar::Null),
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Some(Scalar::Bool(true));
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Some(Scalar::Bool(false));
        }
        ".nan" | ".NaN" | ".NAN" => return Some(Scalar::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Some(Scalar::Float(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return Some(Scalar::Float(f64::NEG_INFINITY)),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first == b'.' {
        if is_yaml_float(text)
            && let Ok(f) = text.parse::<f64>()
        {
            return Some(Scalar::Float(f));
        }
        return None;
    }
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return None;
    }
    // go-yaml v2 tries a timestamp first; Helm would turn one into an RFC 3339 string. Such
    // text stays a string here (it is only ever a string to the charts).
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    if let Some(i) = go_parse_int(&plain) {
        return match i64::try_from(i) {
            Ok(v) => Some(Scalar::Int(v)),
            Err(_) => u64::try_from(i).ok().map(Scalar::Uint),
        };
    }
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
        && f.is_finite()
    {
        return Some(Scalar::Float(f));
    }
    None
}

/// Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint(s, 0, 64)`: sign, then `0x`, `0o`, `0b` or a
/// leading `0` (octal) prefix. Returns the value if it fits int64 or uint64.
fn go_parse_int(text: &str) -> Option<i128> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    // The prefix is matched in either case; digits of either case are read by the radix parser.
    let bytes = unsigned.as_bytes();
    let prefixed =
        |letter: u8| bytes.len() >= 2 && bytes[0] == b'0' && bytes[1].eq_ignore_ascii_case(&letter);
    let (radix, digits) = if prefixed(b'x') {
        (16, &unsigned[2..])
    } else if prefixed(b'o') {
        (8, &unsigned[2..])
    } else if prefixed(b'b') {
        (2, &unsigned[2..])
    } else if bytes.len() > 1 && bytes[0] == b'0' {
        (8, &unsigned[1..])
    } else {
        (10, unsigned)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    let value = if negative {
        -(i128::try_from(magnitude).ok()?)
    } else {
        i128::try_from(magnitude).ok()?
    };
    if value < i128::from(i64::MIN) || value > i128::from(u64::MAX) {
        return None;
    }
    Some(value)
}

/// go-yaml v2's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(text: &str) -> bool {
    let s = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (number, exponent) = match s.find(['e', 'E']) {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    let number_ok = if let Some(frac) = number.strip_prefix('.') {
        !frac.is_empty() && frac.bytes().all(|b| b.is_ascii_digit())
    } else {
        let (int, frac) = number.split_once('.').unwrap_or((number, ""));
        !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let digits = e.strip_prefix(['-', '+']).unwrap_or(e);
            !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
        }
    };
    number_ok && exponent_ok
}

/// The JSON value Helm ends up with for a resolved scalar (numbers become float64).
fn scalar_to_json(scalar: Scalar, line: usize, text: &str) -> Result<Value, YamlError> {
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => float_value(i as f64, line, text)?,
        Scalar::Uint(u) => float_value(u as f64, line, text)?,
        Scalar::Float(f) => float_value(f, line, text)?,
        Scalar::Str(s) => Value::String(s),
    })
}

fn float_value(f: f64, line: usize, text: &str) -> Result<Value, YamlError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| YamlError::NonFiniteNumber {
            line,
            text: text.to_owned(),
        })
}

/// sigs.k8s.io/yaml's conversion of a non-string map key to a JSON key.
fn key_string(scalar: Scalar, line: usize) -> Result<String, YamlError> {
    Ok(match scalar {
        Scalar::Null => {
            return Err(YamlError::UnsupportedKey {
                line,
                found: "null",
            });
        }
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Uint(u) => u.to_string(),
        Scalar::Float(f) if f.is_nan() => ".nan".into(),
        Scalar::Float(f) if f.is_infinite() => if f > 0.0 { ".inf" } else { "-.inf" }.into(),
        Scalar::Float(f) => go_format_float32(f),
        Scalar::Str(s) => s,
    })
}

fn resolve_scalar(text: &str, style: ScalarStyle, tag_suffix: Option<&str>) -> Scalar {
    match tag_suffix {
        Some("str") | Some("binary") => return Scalar::Str(text.to_owned()),
        Some("null") | Some("bool") | Some("int") | Some("float") => return resolve_plain(text),
        _ => {}
    }
    match style {
        ScalarStyle::Plain => resolve_plain(text),
        _ => Scalar::Str(text.to_owned()),
    }
}

enum Frame {
    Map {
        map: Map<String, Value>,
        path: KeyPath,
        anchor: usize,
        pending_key: Option<String>,
        merge_pending: bool,
        /// Keys written in this map (a set: a linear scan made wide maps quadratic).
        explicit_keys: HashSet<String>,
    },
    Seq {
        items: Vec<Value>,
        path: KeyPath,
        anchor: usize,
    },
}

/// Parses the first YAML document of `text` into Helm's value tree.
pub fn load(text: &str) -> Result<LoadedYaml, YamlError> {
    let mut loader = Loader {
        track: true,
        ..Loader::default()
    };
    run(&mut loader, text)?;
    Ok(LoadedYaml {
        tree: loader.root.unwrap_or(Value::Null),
        lines: loader.lines,
        number_text: loader.number_text,
    })
}

/// [`load`]'s tree alone, read by the block reader ([`super::blockyaml`]) when the text is plain
/// block YAML (a chart's `values.yaml` is) and by the loader otherwise. The block reader answers
/// as Kubernetes reads a document back (a whole float is an integer); here every number is a
/// float64 again, as Helm reads values.
pub fn load_values_tree(text: &str) -> Result<Value, YamlError> {
    match super::blockyaml::read(text) {
        Some(tree) => Ok(super::strvals::floats_everywhere(tree)),
        None => load_tree(text),
    }
}

/// [`load`] without the lines and number texts: only the tree (for reading rendered documents back).
pub fn load_tree(text: &str) -> Result<Value, YamlError> {
    let mut loader = Loader::default();
    run(&mut loader, text)?;
    Ok(loader.root.unwrap_or(Value::Null))
}

/// Every document of a YAML stream (`---`-separated), each read as [`load_tree`] reads the first;
/// an empty document is null. The size limits hold for the stream as a whole, so a stream of many
/// small alias bombs is refused like one big one.
pub(super) fn load_stream(text: &str) -> Result<Vec<Value>, YamlError> {
    let mut documents = Vec::new();
    let mut loader = Loader::default();
    for next in Parser::new_from_str(text) {
        let (event, span) = next.map_err(syntax_error)?;
        if let Event::DocumentEnd = event {
            let next = Loader {
                nodes: loader.nodes,
                alias_nodes: loader.alias_nodes,
                ..Loader::default()
            };
            let done = std::mem::replace(&mut loader, next);
            documents.push(done.root.unwrap_or(Value::Null));
        } else {
            loader.event(event, span)?;
        }
    }
    Ok(documents)
}

fn syntax_error(err: granit_parser::ScanError) -> YamlError {
    YamlError::Syntax {
        line: err.marker().line(),
        column: err.marker().col() + 1,
        message: err.info(),
    }
}

fn run(loader: &mut Loader, text: &str) -> Result<(), YamlError> {
    for next in Parser::new_from_str(text) {
        let (event, span) = next.map_err(syntax_error)?;
        if loader.event(event, span)? {
            break;
        }
    }
    Ok(())
}

/// An anchored node, with its size and depth so that aliases can be checked before copying it.
struct Anchored {
    value: Value,
    nodes: usize,
    depth: usize,
}

#[derive(Default)]
struct Loader {
    /// Whether to record lines, number texts and the paths they need.
    track: bool,
    stack: Vec<Frame>,
    anchors: BTreeMap<usize, Anchored>,
    /// Nodes in the tree so far, aliases counted at their expanded size.
    nodes: usize,
    /// Nodes copied in by aliases so far.
    alias_nodes: usize,
    lines: BTreeMap<KeyPath, usize>,
    number_text: BTreeMap<KeyPath, String>,
    root: Option<Value>,
}

/// Where the next node goes.
enum Slot {
    Key,
    Value(KeyPath),
    Merge,
}

/// The slot that the next node of `frame` (the innermost open collection) fills.
fn frame_slot(frame: Option<&Frame>, track: bool) -> Slot {
    if !track {
        // Without tracking, paths are never read: skip building them.
        return match frame {
            Some(Frame::Map {
                merge_pending: true,
                ..
            }) => Slot::Merge,
            Some(Frame::Map {
                pending_key: None, ..
            }) => Slot::Key,
            _ => Slot::Value(KeyPath::root()),
        };
    }
    match frame {
        None => Slot::Value(KeyPath::root()),
        Some(Frame::Map {
            merge_pending: true,
            ..
        }) => Slot::Merge,
        Some(Frame::Map {
            pending_key: Some(key),
            path,
            ..
        }) => Slot::Value(path.key(key)),
        Some(Frame::Map { .. }) => Slot::Key,
        Some(Frame::Seq { items, path, .. }) => Slot::Value(path.index(items.len())),
    }
}

impl Loader {
    /// Handles one event; returns true once the first document is complete.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<bool, YamlError> {
        let line = span.start.line();
        match event {
            Event::DocumentEnd => return Ok(self.root.is_some() || self.stack.is_empty()),
            Event::Scalar(text, style, anchor, tag) => {
                let tag_suffix = tag.as_ref().map(|t| t.suffix().to_owned());
                let slot = self.slot(line)?;
                if let Slot::Key = slot {
                    let is_merge = style == ScalarStyle::Plain && tag.is_none() && text == "<<";
                    let scalar = resolve_scalar(&text, style, tag_suffix.as_deref());
                    let key = key_string(scalar, line)?;
                    self.set_key(key, is_merge, line)?;
                } else {
                    let scalar = resolve_scalar(&text, style, tag_suffix.as_deref());
                    let value = scalar_to_json(scalar, line, &text)?;
                    if let (true, Slot::Value(path), Value::Number(_)) = (self.track, &slot, &value)
                    {
                        self.number_text.insert(path.clone(), text.to_string());
                    }
                    self.count(1, line)?;
                    if anchor != 0 {
                        self.anchor(anchor, &value);
                    }
                    self.place(slot, value, line)?;
                }
            }
            Event::Alias(id) => {
                let slot = self.slot(line)?;
                let anchored = self
                    .anchors
                    .get(&id)
                    .ok_or(YamlError::UnknownAlias { line })?;
                let (nodes, depth) = (anchored.nodes, anchored.depth);
                // Checked before the copy is made: a billion-laughs document never expands.
                self.alias_nodes = self.alias_nodes.saturating_add(nodes);
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(YamlError::Limit {
                        line,
                        error: LimitError::ExcessiveAliasing,
                    });
                }
                self.count(nodes, line)?;
                if self.stack.len() + depth > MAX_DEPTH {
                    return Err(YamlError::Limit {
                        line,
                        error: LimitError::TooDeep,
                    });
                }
                let value = self
                    .anchors
                    .get(&id)
                    .map(|anchored| anchored.value.clone())
                    .ok_or(YamlError::UnknownAlias { line })?;
                match slot {
                    Slot::Key => match value {
                        Value::String(s) => self.set_key(s, false, line)?,
                        Value::Bool(b) => self.set_key(b.to_string(), false, line)?,
                        Value::Number(n) => self.set_key(n.to_string(), false, line)?,
                        Value::Null => {
                            return Err(YamlError::UnsupportedKey {
                                line,
                                found: "null",
                            });
                        }
                        _ => {
                            return Err(YamlError::UnsupportedKey {
                                line,
                                found: "a collection",
                            });
                        }
                    },
                    slot => self.place(slot, value, line)?,
                }
            }
            Event::MappingStart(_, anchor, _) => {
                let path = self.open(line, "a map")?;
                self.enter(line)?;
                self.stack.push(Frame::Map {
                    map: Map::new(),
                    path,
                    anchor,
                    pending_key: None,
                    merge_pending: false,
                    explicit_keys: HashSet::new(),
                });
            }
            Event::SequenceStart(_, anchor, _) => {
                let path = self.open(line, "a list")?;
                self.enter(line)?;
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    path,
                    anchor,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    Some(Frame::Seq { items, anchor, .. }) => (Value::Array(items), anchor),
                    None => return Ok(false),
                };
                if anchor != 0 {
                    self.anchor(anchor, &value);
                }
                let slot = self.slot_for_finished(line)?;
                self.place(slot, value, line)?;
            }
            _ => {}
        }
        Ok(false)
    }

    /// Adds `nodes` to the document's size, against [`MAX_NODES`].
    fn count(&mut self, nodes: usize, line: usize) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err(YamlError::Limit {
                line,
                error: LimitError::TooManyNodes,
            });
        }
        Ok(())
    }

    /// A map or list opens: one more node, one level deeper (against [`MAX_DEPTH`]).
    fn enter(&mut self, line: usize) -> Result<(), YamlError> {
        self.count(1, line)?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::Limit {
                line,
                error: LimitError::TooDeep,
            });
        }
        Ok(())
    }

    /// Remembers an anchored node with its size and depth.
    fn anchor(&mut self, id: usize, value: &Value) {
        let anchored = Anchored {
            nodes: limits::count_nodes(value, MAX_NODES + 1),
            depth: limits::depth(value, MAX_DEPTH),
            value: value.clone(),
        };
        self.anchors.insert(id, anchored);
    }

    /// Decides where the node that starts now belongs, and records its line.
    fn slot(&mut self, line: usize) -> Result<Slot, YamlError> {
        let slot = frame_slot(self.stack.last(), self.track);
        if let Slot::Value(path) = &slot {
            // Map values take the line of their key, recorded in `set_key`.
            if self.track && !matches!(self.stack.last(), Some(Frame::Map { .. })) {
                self.lines.insert(path.clone(), line);
            }
        }
        Ok(slot)
    }

    /// A collection starts: it may not be a key; returns its path.
    fn open(&mut self, line: usize, what: &'static str) -> Result<KeyPath, YamlError> {
        match self.slot(line)? {
            Slot::Key => Err(YamlError::UnsupportedKey { line, found: what }),
            Slot::Value(path) => Ok(path),
            Slot::Merge => Ok(KeyPath::root()),
        }
    }

    /// The slot of a collection that just ended (its parent frame is on top again).
    fn slot_for_finished(&mut self, line: usize) -> Result<Slot, YamlError> {
        match frame_slot(self.stack.last(), self.track) {
            Slot::Key => Err(YamlError::UnsupportedKey {
                line,
                found: "a collection",
            }),
            slot => Ok(slot),
        }
    }

    fn set_key(&mut self, key: String, is_merge: bool, line: usize) -> Result<(), YamlError> {
        if let Some(Frame::Map {
            pending_key,
            merge_pending,
            explicit_keys,
            path,
            ..
        }) = self.stack.last_mut()
        {
            if is_merge {
                *merge_pending = true;
                return Ok(());
            }
            if !explicit_keys.insert(key.clone()) {
                return Err(YamlError::DuplicateKey { line, key });
            }
            if self.track {
                self.lines.insert(path.key(&key), line);
            }
            *pending_key = Some(key);
        }
        Ok(())
    }

    fn place(&mut self, slot: Slot, value: Value, line: usize) -> Result<(), YamlError> {
        match (slot, self.stack.last_mut()) {
            (Slot::Value(_), None) => self.root = Some(value),
            (
                Slot::Value(_),
                Some(Frame::Map {
                    map, pending_key, ..
                }),
            ) => {
                if let Some(key) = pending_key.take() {
                    map.insert(key, value);
                }
            }
            (Slot::Value(_), Some(Frame::Seq { items, .. })) => items.push(value),
            (
                Slot::Merge,
                Some(Frame::Map {
                    map, merge_pending, ..
                }),
            ) => {
                // go-yaml v2 applies a merge where it appears: its keys override earlier ones and
                // later keys override it.
                *merge_pending = false;
                let sources = match value {
                    Value::Object(m) => vec![m],
                    Value::Array(items) => {
                        let mut maps = Vec::new();
                        for item in items {
                            match item {
                                Value::Object(m) => maps.push(m),
                                _ => return Err(YamlError::BadMerge { line }),
                            }
                        }
                        maps
                    }
                    _ => return Err(YamlError::BadMerge { line }),
                };
                for source in sources {
                    for (k, v) in source {
                        map.insert(k, v);
                    }
                }
            }
            (Slot::Key, _) | (Slot::Merge, _) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree(text: &str) -> Value {
        load(text).unwrap_or_else(|e| panic!("{e}")).tree
    }

    #[test]
    fn yaml_1_1_scalars_as_helm_reads_them() {
        let t = tree(
            "a: 0123\nb: 0x1F\nc: yes\nd: off\ne: ~\nf: 1_000\ng: 1e3\nh: 2222.0\ni: +5\nj: 089\nk: '0123'\nl: y\nm: 0o17\nq: -0x1F\no: .5\np:\n",
        );
        assert_eq!(
            t,
            json!({"a": 83.0, "b": 31.0, "c": true, "d": false, "e": null, "f": 1000.0,
                   "g": 1000.0, "h": 2222.0, "i": 5.0, "j": 89.0, "k": "0123", "l": true,
                   "m": 15.0, "q": -31.0, "o": 0.5, "p": null})
        );
        assert!(t["a"].as_number().is_some_and(|n| n.is_f64()));
    }

    #[test]
    fn strings_stay_strings() {
        let t = tree(
            "a: 1.2.3\nb: 12:30\nc: '1e3'\nd: \"yes\"\ne: 0x\nf: -a\ng: !!str 5\nh: |\n  x\n  y\n",
        );
        assert_eq!(
            t,
            json!({"a": "1.2.3", "b": "12:30", "c": "1e3", "d": "yes", "e": "0x", "f": "-a",
                   "g": "5", "h": "x\ny\n"})
        );
    }

    #[test]
    fn keys_become_strings() {
        // go-yaml v2 reads the key `n` as false; sigs.k8s.io/yaml then writes "false".
        assert_eq!(
            tree("n: 1\n5: a\n1.5: b\n"),
            json!({"false": 1.0, "5": "a", "1.5": "b"})
        );
    }

    #[test]
    fn lines_are_recorded() {
        let loaded = load("ssh:\n  port: 1\n  userName: u\nlist:\n  - a\n  - b\n").expect("yaml");
        let line = |p: &str| loaded.lines.get(&KeyPath::parse_dotted(p)).copied();
        assert_eq!(line("ssh"), Some(1));
        assert_eq!(line("ssh.userName"), Some(3));
        assert_eq!(line("list[1]"), Some(6));
        let number = loaded.number_text.get(&KeyPath::parse_dotted("ssh.port"));
        assert_eq!(number.map(String::as_str), Some("1"));
    }

    #[test]
    fn anchors_and_merge_keys() {
        let t = tree("base: &b\n  x: 1\n  z: 2\nother:\n  <<: *b\n  z: 3\ncopy: *b\n");
        assert_eq!(t["other"], json!({"x": 1.0, "z": 3.0}));
        assert_eq!(t["copy"], json!({"x": 1.0, "z": 2.0}));
    }

    #[test]
    fn only_first_document() {
        assert_eq!(tree("a: 1\n---\na: 2\n"), json!({"a": 1.0}));
    }

    #[test]
    fn errors_have_lines() {
        let err = load("ssh:\n  port: [1, 2\n").expect_err("invalid");
        assert!(matches!(err, YamlError::Syntax { .. }), "{err}");
        let err = load("a: 1\na: 2\n").expect_err("duplicate");
        assert_eq!(
            err,
            YamlError::DuplicateKey {
                line: 2,
                key: "a".into()
            }
        );
        assert!(matches!(
            load("a: .nan\n"),
            Err(YamlError::NonFiniteNumber { line: 1, .. })
        ));
        assert!(matches!(
            load("? [a]\n: 1\n"),
            Err(YamlError::UnsupportedKey { .. })
        ));
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(tree(""), Value::Null);
        assert_eq!(tree("# only a comment\n"), Value::Null);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::compat::strvals::floats_everywhere;
    use crate::compat::testing::json_tree;
    use proptest::prelude::*;

    // YAML allows only printable characters unescaped (JSON escapes just C0 controls).
    const PRINTABLE: &str = "[^\\x7F-\\x9F\\x{FFFE}\\x{FFFF}]{0,10}";

    proptest! {
        /// JSON text is YAML: loading it gives the same tree, numbers as float64 (as Helm).
        #[test]
        fn json_text_loads_as_the_same_tree(tree in json_tree(PRINTABLE, PRINTABLE)) {
            let text = serde_json::to_string_pretty(&tree).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let loaded = load(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(loaded.tree, floats_everywhere(tree));
        }

        #[test]
        fn loader_never_panics(text in "[a-z:\\-\\[\\]{}#&*!|>'\" \n0-9.~]{0,60}") {
            let _ = load(&text);
        }
    }
}
