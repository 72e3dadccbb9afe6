//! Reads one rendered document the way kubectl and the API server do (sigs.k8s.io/yaml over go-yaml
//! v2): YAML 1.1 scalars (`off` is false, `0123` is 83), then JSON — so a whole float64 becomes an
//! integer and map keys become strings.

use serde_json::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

use super::yaml11::{PlainScalar, resolve_plain};

/// Why a document is not YAML that Kubernetes can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlReadError {
    /// 1-based line inside the document.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

enum Key {
    Text(String),
    Merge,
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
    },
    Map {
        entries: Map<String, Value>,
        pending_key: Option<Key>,
        anchor: usize,
        line: usize,
    },
}

/// Parses one YAML document into JSON as Kubernetes would receive it. An empty document is null.
pub fn read_document(text: &str) -> Result<Value, YamlReadError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, Value> = std::collections::HashMap::new();
    let mut root: Option<Value> = None;
    let mut documents = 0;
    loop {
        let (event, marker) = parser.next_token().map_err(|err| YamlReadError {
            line: err.marker().line(),
            message: err.info().to_owned(),
        })?;
        let line = marker.line();
        let completed = match event {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlReadError {
                        line,
                        message: "a second YAML document starts here".to_owned(),
                    });
                }
                None
            }
            Event::Scalar(text, style, anchor, tag) => {
                let is_merge_key = matches!(style, TScalarStyle::Plain)
                    && tag.is_none()
                    && text == "<<"
                    && matches!(
                        stack.last(),
                        Some(Frame::Map {
                            pending_key: None,
                            ..
                        })
                    );
                if is_merge_key {
                    if let Some(Frame::Map { pending_key, .. }) = stack.last_mut() {
                        *pending_key = Some(Key::Merge);
                    }
                    continue;
                }
                let value = scalar_value(&text, style, tag.as_ref(), line)?;
                if anchor > 0 {
                    anchors.insert(anchor, value.clone());
                }
                Some(value)
            }
            Event::Alias(anchor) => Some(anchors.get(&anchor).cloned().ok_or(YamlReadError {
                line,
                message: "alias to an unknown anchor".to_owned(),
            })?),
            Event::SequenceStart(anchor, _) => {
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    anchor,
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Frame::Map {
                    entries: Map::new(),
                    pending_key: None,
                    anchor,
                    line,
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match stack.pop() {
                    Some(Frame::Seq { items, anchor }) => (Value::Array(items), anchor),
                    Some(Frame::Map {
                        entries, anchor, ..
                    }) => (Value::Object(entries), anchor),
                    None => {
                        return Err(YamlReadError {
                            line,
                            message: "unbalanced collection end".to_owned(),
                        });
                    }
                };
                if anchor > 0 {
                    anchors.insert(anchor, value.clone());
                }
                Some(value)
            }
        };
        if let Some(value) = completed {
            attach(&mut stack, &mut root, value, line)?;
        }
    }
    Ok(root.unwrap_or(Value::Null))
}

fn attach(
    stack: &mut [Frame],
    root: &mut Option<Value>,
    value: Value,
    line: usize,
) -> Result<(), YamlReadError> {
    match stack.last_mut() {
        None => {
            *root = Some(value);
            Ok(())
        }
        Some(Frame::Seq { items, .. }) => {
            items.push(value);
            Ok(())
        }
        Some(Frame::Map {
            entries,
            pending_key,
            line: map_line,
            ..
        }) => match pending_key.take() {
            None => {
                *pending_key = Some(Key::Text(key_text(&value, line)?));
                Ok(())
            }
            Some(Key::Text(key)) => {
                if entries.contains_key(&key) {
                    return Err(YamlReadError {
                        line,
                        message: format!("mapping key {key:?} appears twice"),
                    });
                }
                entries.insert(key, value);
                Ok(())
            }
            Some(Key::Merge) => {
                let sources = match value {
                    Value::Object(map) => vec![map],
                    Value::Array(items) => items
                        .into_iter()
                        .map(|item| match item {
                            Value::Object(map) => Ok(map),
                            _ => Err(YamlReadError {
                                line,
                                message: "a merge key (<<) takes maps only".to_owned(),
                            }),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => {
                        return Err(YamlReadError {
                            line: *map_line,
                            message: "a merge key (<<) takes a map or a list of maps".to_owned(),
                        });
                    }
                };
                for source in sources {
                    for (key, item) in source {
                        entries.entry(key).or_insert(item);
                    }
                }
                Ok(())
            }
        },
    }
}

/// A map key as sigs.k8s.io/yaml turns it into a JSON object key.
fn key_text(value: &Value, line: usize) -> Result<String, YamlReadError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Ok("null".to_owned()),
        Value::Array(_) | Value::Object(_) => Err(YamlReadError {
            line,
            message: "a mapping key must be a scalar".to_owned(),
        }),
    }
}

fn is_core_tag(tag: &Tag, name: &str) -> bool {
    tag.suffix == name && (tag.handle == "!!" || tag.handle == "tag:yaml.org,2002:")
        || tag.suffix == format!("tag:yaml.org,2002:{name}")
}

fn scalar_value(
    text: &str,
    style: TScalarStyle,
    tag: Option<&Tag>,
    line: usize,
) -> Result<Value, YamlReadError> {
    if let Some(tag) = tag {
        if is_core_tag(tag, "str") || is_core_tag(tag, "binary") {
            return Ok(Value::String(text.to_owned()));
        }
        let resolved = resolve_plain(text);
        let fits = match &resolved {
            PlainScalar::Int(_) | PlainScalar::Uint(_) => {
                is_core_tag(tag, "int") || is_core_tag(tag, "float")
            }
            PlainScalar::Float(_) => is_core_tag(tag, "float"),
            PlainScalar::Bool(_) => is_core_tag(tag, "bool"),
            PlainScalar::Null => is_core_tag(tag, "null"),
            _ => false,
        };
        if !fits {
            return Err(YamlReadError {
                line,
                message: format!(
                    "cannot read {text:?} with the tag {}{}",
                    tag.handle, tag.suffix
                ),
            });
        }
        return plain_value(text, resolved, line);
    }
    match style {
        TScalarStyle::Plain => plain_value(text, resolve_plain(text), line),
        _ => Ok(Value::String(text.to_owned())),
    }
}

fn plain_value(text: &str, resolved: PlainScalar, line: usize) -> Result<Value, YamlReadError> {
    Ok(match resolved {
        PlainScalar::Null => Value::Null,
        PlainScalar::Bool(b) => Value::Bool(b),
        PlainScalar::Int(i) => Value::Number(Number::from(i)),
        PlainScalar::Uint(u) => Value::Number(Number::from(u)),
        PlainScalar::Float(f) => float_value(f).ok_or_else(|| YamlReadError {
            line,
            message: format!("{text} is not a number JSON can carry"),
        })?,
        PlainScalar::Timestamp | PlainScalar::Merge | PlainScalar::Str => {
            Value::String(text.to_owned())
        }
    })
}

/// What an unquoted scalar with this text reads as, or None when JSON cannot carry it.
pub fn plain_json(text: &str) -> Option<Value> {
    plain_value(text, resolve_plain(text), 0).ok()
}

/// A float as encoding/json writes it and a Go decoder reads it back: whole numbers below 1e21 are
/// integers.
fn float_value(value: f64) -> Option<Value> {
    if !value.is_finite() {
        return None;
    }
    if value.fract() == 0.0 && value.abs() < 1e21 {
        if value >= i64::MIN as f64 && value < i64::MAX as f64 {
            return Some(Value::Number(Number::from(value as i64)));
        }
        if value >= 0.0 && value < u64::MAX as f64 {
            return Some(Value::Number(Number::from(value as u64)));
        }
    }
    Number::from_f64(value).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_1_1_scalars_become_their_json_types() {
        let doc = "a: off\nb: 0123\nc: \"0123\"\nd: 1e3\ne: 30222.5\nf: ~\ng: 1.0.0\nh: yes\n";
        assert_eq!(
            read_document(doc).unwrap(),
            json!({"a": false, "b": 83, "c": "0123", "d": 1000, "e": 30222.5, "f": null, "g": "1.0.0", "h": true})
        );
    }

    #[test]
    fn keys_become_strings_and_duplicates_are_errors() {
        assert_eq!(
            read_document("n: 1\n1: x\n").unwrap(),
            json!({"false": 1, "1": "x"})
        );
        let err = read_document("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn block_scalars_comments_and_anchors() {
        let doc = "args:\n- >-\n  a &&\n  b\n  # kept\nx: &v [1, 2]\nz: *v\nbase: &b {k: 1}\nm:\n  <<: *b\n  j: 2 # comment\n";
        assert_eq!(
            read_document(doc).unwrap(),
            json!({"args": ["a && b # kept"], "x": [1, 2], "z": [1, 2], "base": {"k": 1}, "m": {"k": 1, "j": 2}})
        );
    }

    #[test]
    fn syntax_errors_carry_the_document_line() {
        let doc = "data:\n  A: x\n  B: key: value\n";
        let err = read_document(doc).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(read_document("a: 1\n---\nb: 2\n").is_err());
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(read_document("# only a comment").unwrap(), Value::Null);
    }
}
