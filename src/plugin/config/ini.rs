//! The INI dialect of Python's `configparser.ConfigParser` with its defaults, as far as the original
//! plugin's `config.ini` files use it: `[section]` headers, `key = value` or `key: value`, keys
//! case-insensitive, full-line `#`/`;` comments, indented continuation lines, `%%` for a literal `%`.
//!
//! One deliberate difference: a `#` or `;` preceded by whitespace starts an inline comment, which is
//! dropped with the whitespace before it (`gateway_port = 30222   # sshd NodePort` is `30222`). Python's
//! default leaves such text in the value, where it could only ever make a port, host or name invalid; a
//! value that needs ` #` or ` ;` (say, inside a JSON string) writes it without the space before it.

use std::collections::BTreeMap;

/// One `key = value` entry, with the line it started on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniValue {
    /// The value with `%%` unescaped and continuation lines joined by `\n`.
    pub value: String,
    /// 1-based line number of the key.
    pub line: usize,
}

/// A parsed file: section name → lower-cased key → value.
pub(super) type IniDocument = BTreeMap<String, BTreeMap<String, IniValue>>;

/// Why a file is not valid INI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IniError {
    /// A key/value line appears before any `[section]` header.
    #[error("line {line}: `{key}` appears before any [section] header")]
    NoSection {
        /// Line number.
        line: usize,
        /// The key.
        key: String,
    },
    /// A line that is neither a header, a comment, a continuation nor `key = value`.
    #[error("line {line}: expected `[section]`, `key = value` or a comment")]
    Malformed {
        /// Line number.
        line: usize,
    },
    /// A section header occurs twice.
    #[error("line {line}: section [{section}] already defined")]
    DuplicateSection {
        /// Line number.
        line: usize,
        /// The section.
        section: String,
    },
    /// A key occurs twice in one section.
    #[error("line {line}: key `{key}` already set in [{section}]")]
    DuplicateKey {
        /// Line number.
        line: usize,
        /// The section.
        section: String,
        /// The key.
        key: String,
    },
    /// A `%` that is not `%%` (ConfigParser would try to interpolate it).
    #[error("line {line}: `{key}` contains a lone `%`; write `%%` for a literal percent sign")]
    LonePercent {
        /// Line number.
        line: usize,
        /// The key.
        key: String,
    },
}

/// Parses INI text.
pub fn parse(text: &str) -> Result<IniDocument, IniError> {
    let mut document = IniDocument::new();
    let mut section: Option<String> = None;
    // The key whose value a following indented line continues.
    let mut open_key: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        if indented && let (Some(sec), Some(key)) = (&section, &open_key) {
            let entry = document
                .get_mut(sec)
                .and_then(|keys| keys.get_mut(key))
                .ok_or(IniError::Malformed { line })?;
            entry.value.push('\n');
            entry
                .value
                .push_str(&unescape(strip_inline_comment(trimmed), line, key)?);
            continue;
        }
        if let Some(name) = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            if document.contains_key(name) {
                return Err(IniError::DuplicateSection {
                    line,
                    section: name.to_owned(),
                });
            }
            document.insert(name.to_owned(), BTreeMap::new());
            section = Some(name.to_owned());
            open_key = None;
            continue;
        }
        let Some(split) = trimmed.find(['=', ':']) else {
            return Err(IniError::Malformed { line });
        };
        let key = trimmed[..split].trim().to_lowercase();
        if key.is_empty() {
            return Err(IniError::Malformed { line });
        }
        let value = unescape(
            strip_inline_comment(trimmed[split + 1..].trim()),
            line,
            &key,
        )?;
        let Some(sec) = &section else {
            return Err(IniError::NoSection { line, key });
        };
        let keys = document.entry(sec.clone()).or_default();
        if keys.contains_key(&key) {
            return Err(IniError::DuplicateKey {
                line,
                section: sec.clone(),
                key,
            });
        }
        keys.insert(key.clone(), IniValue { value, line });
        open_key = Some(key);
    }
    Ok(document)
}

/// `value` without an inline comment: from the first `#` or `;` that follows whitespace (or starts the
/// value) to the end, along with the whitespace before it.
fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    let start = bytes.iter().enumerate().position(|(i, &b)| {
        (b == b'#' || b == b';') && (i == 0 || bytes[i - 1].is_ascii_whitespace())
    });
    match start {
        Some(i) => value[..i].trim_end(),
        None => value,
    }
}

fn unescape(value: &str, line: usize, key: &str) -> Result<String, IniError> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '%' && chars.next() != Some('%') {
            return Err(IniError::LonePercent {
                line,
                key: key.to_owned(),
            });
        }
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value<'a>(doc: &'a IniDocument, section: &str, key: &str) -> &'a str {
        &doc[section][key].value
    }

    #[test]
    fn parses_sections_keys_both_delimiters_and_comments() {
        let doc = parse(
            "# comment\n[app]\nName = plugin\nsocket_port: 4000\n; other comment\n\n[k8s]\nkubeconfig = {\"a\":\n  \"b\"}\n",
        )
        .expect("valid");
        assert_eq!(value(&doc, "app", "name"), "plugin");
        assert_eq!(value(&doc, "app", "socket_port"), "4000");
        assert_eq!(doc["app"]["socket_port"].line, 4);
        assert_eq!(value(&doc, "k8s", "kubeconfig"), "{\"a\":\n\"b\"}");
    }

    #[test]
    fn value_may_contain_delimiters_and_escaped_percent() {
        let doc = parse("[a]\nurl = unix:///var/run/x.sock\nratio = 50%%\n").expect("valid");
        assert_eq!(value(&doc, "a", "url"), "unix:///var/run/x.sock");
        assert_eq!(value(&doc, "a", "ratio"), "50%");
    }

    /// A snippet pasted from the README carries `# ...` after the values; they must not become part of them.
    #[test]
    fn inline_comment_after_whitespace_is_not_part_of_the_value() {
        let doc = parse(
            "[t]\nport = 30222               # the sshd NodePort\nhost = gw.example.org\t; a node\nempty = # nothing\nkeep = a#b;c\njson = {\"a\":\n  \"b\"} # tail\n",
        )
        .expect("valid");
        assert_eq!(value(&doc, "t", "port"), "30222");
        assert_eq!(value(&doc, "t", "host"), "gw.example.org");
        assert_eq!(value(&doc, "t", "empty"), "");
        assert_eq!(value(&doc, "t", "keep"), "a#b;c");
        assert_eq!(value(&doc, "t", "json"), "{\"a\":\n\"b\"}");
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            parse("key = 1\n"),
            Err(IniError::NoSection {
                line: 1,
                key: "key".into()
            })
        );
        assert_eq!(
            parse("[a]\njust text\n"),
            Err(IniError::Malformed { line: 2 })
        );
        assert_eq!(
            parse("[a]\nx=1\n[a]\n"),
            Err(IniError::DuplicateSection {
                line: 3,
                section: "a".into()
            })
        );
        assert_eq!(
            parse("[a]\nx=1\nX=2\n"),
            Err(IniError::DuplicateKey {
                line: 3,
                section: "a".into(),
                key: "x".into()
            })
        );
        assert_eq!(
            parse("[a]\nx=5%\n"),
            Err(IniError::LonePercent {
                line: 2,
                key: "x".into()
            })
        );
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC*") {
            let _ = parse(&text);
        }

        #[test]
        fn round_trips_simple_entries(
            entries in proptest::collection::btree_map("[a-z_]{1,12}", "[A-Za-z0-9/:._\\-]{0,20}", 0..8)
        ) {
            let mut text = String::from("[s]\n");
            for (key, value) in &entries {
                text.push_str(&format!("{key} = {value}\n"));
            }
            let doc = parse(&text).expect("generated INI is valid");
            let section = doc.get("s").expect("section present");
            prop_assert_eq!(section.len(), entries.len());
            for (key, value) in &entries {
                prop_assert_eq!(&section[key].value, value);
            }
        }
    }
}
