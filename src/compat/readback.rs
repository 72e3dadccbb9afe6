//! Reads one rendered document the way kubectl and the API server do (sigs.k8s.io/yaml over go-yaml
//! v2): YAML 1.1 scalars (`off` is false, `0123` is 83) through the values layer's loader, then the
//! JSON step — a whole float64 below 1e21 is written as an integer, so it reads back as one.

use serde_json::{Number, Value};

use super::yaml::{YamlError, load_stream, load_tree, resolve_plain};

/// Why a document is not YAML that Kubernetes can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlReadError {
    /// 1-based line inside the text read (0 when unknown).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses one YAML document into JSON as Kubernetes would receive it. An empty document is null.
pub fn read_document(text: &str) -> Result<Value, YamlReadError> {
    // Most rendered documents are plain block YAML, read far faster by the block reader; it
    // declines everything else (a `...` line among it), and the loader reads that (and words every
    // error).
    if let Some(tree) = super::blockyaml::read(text) {
        return Ok(tree);
    }
    // go-yaml reads the first document only; text after a `...` end marker would be dropped
    // silently, so it is an error here.
    if let Some(index) = text
        .lines()
        .position(|line| line == "..." || line.starts_with("... "))
        && text
            .lines()
            .skip(index + 1)
            .any(|line| !line.trim().is_empty())
    {
        return Err(YamlReadError {
            line: index + 1,
            message: format!(
                "line {}: a `...` document end is followed by more text, which Kubernetes would ignore",
                index + 1
            ),
        });
    }
    read_document_with_loader(text)
}

/// [`read_document`] by the full YAML 1.1 loader alone (the block reader's reference).
pub(crate) fn read_document_with_loader(text: &str) -> Result<Value, YamlReadError> {
    let tree = load_tree(text).map_err(|err| YamlReadError {
        line: error_line(&err),
        message: err.to_string(),
    })?;
    Ok(json_numbers(tree))
}

/// Parses a YAML stream (`---`-separated documents, as in a `kubectl apply -f` file or a
/// kubeconfig) into JSON, each document as [`read_document`] reads one; an empty document is null.
/// For typed objects, `serde_json::from_value` each document.
pub fn read_documents(text: &str) -> Result<Vec<Value>, YamlReadError> {
    let documents = load_stream(text).map_err(|err| YamlReadError {
        line: error_line(&err),
        message: err.to_string(),
    })?;
    Ok(documents.into_iter().map(json_numbers).collect())
}

fn error_line(error: &YamlError) -> usize {
    match error {
        YamlError::Syntax { line, .. }
        | YamlError::DuplicateKey { line, .. }
        | YamlError::UnsupportedKey { line, .. }
        | YamlError::NonFiniteNumber { line, .. }
        | YamlError::UnknownAlias { line }
        | YamlError::BadMerge { line } => *line,
        #[allow(unreachable_patterns)]
        _ => 0,
    }
}

/// What an unquoted scalar with this text reads as, or None when JSON cannot carry it.
pub(crate) fn plain_json(text: &str) -> Option<Value> {
    use super::yaml::Scalar;
    Some(match resolve_plain(text) {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::Number(Number::from(i)),
        Scalar::Uint(u) => Value::Number(Number::from(u)),
        Scalar::Float(f) => float_value(f)?,
        Scalar::Str(s) => Value::String(s),
    })
}

/// The loader's float64 numbers as encoding/json writes them and a Go decoder reads them back.
fn json_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => float_value(f).unwrap_or(Value::Number(n)),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(json_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, item)| (key, json_numbers(item)))
                .collect(),
        ),
        other => other,
    }
}

/// Whole numbers below 1e21 are integers after the JSON round trip.
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
        let doc = "args:\n- >-\n  a &&\n  b\n  # kept\nx: &v [1, 2]\nz: *v\nj: 2 # comment\n";
        assert_eq!(
            read_document(doc).unwrap(),
            json!({"args": ["a && b # kept"], "x": [1, 2], "z": [1, 2], "j": 2})
        );
    }

    #[test]
    fn syntax_errors_carry_the_document_line() {
        let doc = "data:\n  A: x\n  B: key: value\n";
        let err = read_document(doc).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(read_document("a: 1\n...\nb: 2\n").is_err());
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(read_document("# only a comment").unwrap(), Value::Null);
    }

    #[test]
    fn a_stream_gives_every_document_with_json_numbers() {
        let stream = "a: 1\n---\n# nothing\n---\n- 2.0\n- off\n...\n---\nb: 0x1F\n";
        assert_eq!(
            read_documents(stream).unwrap(),
            [
                json!({"a": 1}),
                Value::Null,
                json!([2, false]),
                json!({"b": 31})
            ]
        );
        assert_eq!(read_documents("").unwrap(), Vec::<Value>::new());
    }

    #[test]
    fn a_stream_error_names_the_stream_line() {
        let err = read_documents("a: 1\n---\nb: 1\nb: 2\n").unwrap_err();
        assert_eq!(err.line, 4, "{err}");
    }

    #[test]
    fn anchors_do_not_reach_into_the_next_document() {
        assert!(read_documents("a: &x 1\n---\nb: *x\n").is_err());
    }

    #[test]
    fn alias_limit_holds_for_the_whole_stream() {
        // Each document alone stays under the alias budget; together they exceed it.
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut name = 'a';
        for next in ['b', 'c'] {
            bomb.push_str(&format!(
                "{next}: &{next} [*{name}, *{name}, *{name}, *{name}, *{name}, *{name}, *{name}, *{name}, *{name}, *{name}]\n"
            ));
            name = next;
        }
        assert!(
            read_document(&bomb).is_ok(),
            "one document is within the limits"
        );
        let stream = vec![bomb; 20].join("---\n");
        let err = read_documents(&stream).unwrap_err();
        assert!(err.message.contains("alias"), "{err}");
    }

    #[test]
    fn unquoted_text_reads_as_yaml_1_1() {
        assert_eq!(plain_json("off"), Some(json!(false)));
        assert_eq!(plain_json("0123"), Some(json!(83)));
        assert_eq!(plain_json("ssh-rsa"), Some(json!("ssh-rsa")));
    }
}
