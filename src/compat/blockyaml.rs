//! A fast reader for the plain block-style YAML that chart templates print: block mappings and
//! sequences indented with spaces, one-line plain and quoted scalars, `|`/`>` block scalars, and
//! one-line flow lists of simple scalars. A document with anything else — anchors, tags, flow
//! maps, multi-line plain or quoted scalars, escapes, tabs, non-ASCII text, document markers,
//! duplicate keys, keys that are not plain text — is declined (`None`) and read by the full YAML
//! 1.1 loader ([`super::yaml`]) instead, which also gives any error its message.
//!
//! Where this reader answers, the answer is the loader's (the differential tests below run both
//! over every Helm reference output and over generated documents); it exists because reading a
//! rendered release back through the general parser cost more than rendering it.

use serde_json::{Map, Value};

use super::readback::plain_json;

/// Deeper documents are left to the full loader (which applies the limits).
const MAX_DEPTH: usize = 32;

/// Reads one document, or `None` when it is outside the subset (the caller then uses the loader).
pub(crate) fn read(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    // Counting is a vectorised pass; the list is then allocated once, at its size.
    let line_count = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut lines = Vec::with_capacity(line_count);
    // One pass over the bytes: each line's indentation, then its content, which must be printable
    // ASCII (a tab, a carriage return or non-ASCII text is the loader's business).
    let mut start = 0;
    loop {
        let mut content_start = start;
        while bytes.get(content_start) == Some(&b' ') {
            content_start += 1;
        }
        let mut end = content_start;
        while let Some(&b) = bytes.get(end) {
            match b {
                b'\n' => break,
                b' '..=b'~' => end += 1,
                _ => return None,
            }
        }
        let indent = content_start - start;
        let content = &text[content_start..end];
        if indent == 0
            && (content.starts_with("---")
                || content.starts_with("...")
                || content.starts_with('%'))
        {
            return None;
        }
        lines.push(Line { indent, content });
        if end == bytes.len() {
            break;
        }
        start = end + 1;
    }
    let mut reader = Reader { lines, pos: 0 };
    let Some(first) = reader.peek() else {
        return Some(Value::Null);
    };
    if first.indent != 0 || is_seq_entry(first.content) {
        return None;
    }
    let map = reader.map(0, 0)?;
    // Everything must have been read: a less indented line or a stray entry is not ours.
    if reader.peek().is_some() {
        return None;
    }
    Some(Value::Object(map))
}

#[derive(Clone, Copy)]
struct Line<'a> {
    /// Leading spaces.
    indent: usize,
    /// The line after them.
    content: &'a str,
}

impl Line<'_> {
    /// Blank or a comment only (outside block scalars, such lines carry nothing).
    fn is_insignificant(&self) -> bool {
        self.content.is_empty() || self.content.starts_with('#')
    }
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
}

fn is_seq_entry(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

/// Splits `key: rest` when the key is plain text that reads as itself; `rest` starts after the
/// colon (empty, or a space and more).
fn split_key(content: &str) -> Option<(&str, &str)> {
    let first = content.bytes().next()?;
    if !first.is_ascii_alphanumeric() {
        return None;
    }
    let end = content
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-')))?;
    let (key, rest) = content.split_at(end);
    let rest = rest.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return None;
    }
    // `yes`, `1` or `null` as a key become "true", "1" or an error: the loader's business.
    super::yaml::plain_reads_as_string(key).then_some((key, rest))
}

/// The text after a key's colon or an entry's dash, without the comment that may end it.
enum Inline<'a> {
    /// Nothing (a nested block, or null).
    Empty,
    /// `|`, `|-`, `>` or `>-`.
    Block { folded: bool, strip: bool },
    /// Any other scalar or flow list, on this line.
    Scalar(&'a str),
}

fn inline(rest: &str) -> Option<Inline<'_>> {
    let text = rest.trim_matches(' ');
    if text.is_empty() || text.starts_with('#') {
        return Some(Inline::Empty);
    }
    let header = text[..comment_start(text).unwrap_or(text.len())].trim_end_matches(' ');
    let block = match header {
        "|" => Some((false, false)),
        "|-" => Some((false, true)),
        ">" => Some((true, false)),
        ">-" => Some((true, true)),
        _ if header.starts_with(['|', '>']) => return None,
        _ => None,
    };
    Some(match block {
        Some((folded, strip)) => Inline::Block { folded, strip },
        None => Inline::Scalar(text),
    })
}

/// A one-line scalar or flow list as the loader reads it.
fn scalar(text: &str) -> Option<Value> {
    let (value, after) = match text.as_bytes()[0] {
        b'"' => {
            let body = &text[1..];
            let close = body.find('"')?;
            let content = &body[..close];
            if content.contains('\\') {
                return None;
            }
            (Value::String(content.to_owned()), &body[close + 1..])
        }
        b'\'' => {
            let mut out = String::new();
            let mut chars = text[1..].char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '\'' {
                    if text[1 + i + 1..].starts_with('\'') {
                        out.push('\'');
                        chars.next();
                    } else {
                        end = Some(1 + i + 1);
                        break;
                    }
                } else {
                    out.push(c);
                }
            }
            (Value::String(out), &text[end?..])
        }
        b'[' => flow_list(text)?,
        b'{' => {
            let rest = text.strip_prefix("{}")?;
            (Value::Object(Map::new()), rest)
        }
        first => {
            let negative_number =
                first == b'-' && text.as_bytes().get(1).is_some_and(u8::is_ascii_digit);
            if b"-?:,]}#&*!|>%@`<=".contains(&first) && !negative_number {
                return None;
            }
            let plain = match comment_start(text) {
                Some(comment) => text[..comment].trim_end_matches(' '),
                None => text,
            };
            if has_mapping_colon(plain) {
                return None;
            }
            (plain_json(plain)?, "")
        }
    };
    // Only spaces may follow, or a comment after at least one space.
    let trimmed = after.trim_start_matches(' ');
    if trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < after.len()) {
        Some(value)
    } else {
        None
    }
}

/// Where ` #` (a comment after a space) starts in `text`.
fn comment_start(text: &str) -> Option<usize> {
    text.as_bytes().windows(2).position(|pair| pair == b" #")
}

/// Whether plain text holds `: ` or ends with `:` (it would be a mapping, not a scalar).
fn has_mapping_colon(plain: &str) -> bool {
    let bytes = plain.as_bytes();
    bytes.ends_with(b":") || bytes.windows(2).any(|pair| pair == b": ")
}

/// `[]` or `["a", "b", c]`: double-quoted items without escapes or commas, or plain words.
fn flow_list(text: &str) -> Option<(Value, &str)> {
    let close = text.find(']')?;
    let inner = &text[1..close];
    let mut items = Vec::new();
    if !inner.trim_matches(' ').is_empty() {
        for item in inner.split(',') {
            let item = item.trim_matches(' ');
            if let Some(quoted) = item.strip_prefix('"') {
                let content = quoted.strip_suffix('"')?;
                if content.contains(['"', '\\']) {
                    return None;
                }
                items.push(Value::String(content.to_owned()));
            } else {
                if item.is_empty()
                    || !item
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/'))
                {
                    return None;
                }
                items.push(plain_json(item)?);
            }
        }
    }
    Some((Value::Array(items), &text[close + 1..]))
}

impl<'a> Reader<'a> {
    /// The next line that carries something (skipping blank and comment lines).
    fn peek(&mut self) -> Option<Line<'a>> {
        while let Some(line) = self.lines.get(self.pos) {
            if !line.is_insignificant() {
                return Some(*line);
            }
            self.pos += 1;
        }
        None
    }

    /// A block mapping whose keys are at `indent`; the current line is its first entry.
    fn map(&mut self, indent: usize, depth: usize) -> Option<Map<String, Value>> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut map = Map::new();
        while let Some(line) = self.peek() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || is_seq_entry(line.content) {
                return None;
            }
            let (key, rest) = split_key(line.content)?;
            self.pos += 1;
            let value = self.value(rest, indent, true, depth)?;
            if map.insert(key.to_owned(), value).is_some() {
                return None;
            }
        }
        Some(map)
    }

    /// A block sequence whose dashes are at `indent`; the current line is its first entry.
    fn seq(&mut self, indent: usize, depth: usize) -> Option<Vec<Value>> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut items = Vec::new();
        while let Some(line) = self.peek() {
            if line.indent < indent || (line.indent == indent && !is_seq_entry(line.content)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let rest = &line.content[1..];
            let after_dash = rest.trim_start_matches(' ');
            if after_dash.is_empty() || after_dash.starts_with('#') {
                self.pos += 1;
                items.push(self.nested(indent, false, depth)?);
                continue;
            }
            if is_seq_entry(after_dash) {
                return None;
            }
            if split_key(after_dash).is_some() {
                // `- key: value`: a map whose keys line up with this first key.
                let key_indent = indent + 1 + (rest.len() - after_dash.len());
                self.lines[self.pos] = Line {
                    indent: key_indent,
                    content: after_dash,
                };
                items.push(Value::Object(self.map(key_indent, depth + 1)?));
                continue;
            }
            self.pos += 1;
            items.push(self.value(rest, indent, false, depth)?);
        }
        Some(items)
    }

    /// The value after a key's colon (`in_map`) or an entry's dash, at `indent`.
    fn value(&mut self, rest: &str, indent: usize, in_map: bool, depth: usize) -> Option<Value> {
        match inline(rest)? {
            Inline::Empty => self.nested(indent, in_map, depth),
            Inline::Block { folded, strip } => self.block_scalar(indent, folded, strip),
            Inline::Scalar(text) => {
                let value = scalar(text)?;
                // A more indented line would continue the scalar (or be an error).
                match self.peek() {
                    Some(next) if next.indent > indent => None,
                    _ => Some(value),
                }
            }
        }
    }

    /// What follows an empty value: a more indented block (or, after a key, a sequence at the
    /// key's own indentation), else null.
    fn nested(&mut self, indent: usize, in_map: bool, depth: usize) -> Option<Value> {
        let Some(next) = self.peek() else {
            return Some(Value::Null);
        };
        let seq_here = in_map && next.indent == indent && is_seq_entry(next.content);
        if next.indent <= indent && !seq_here {
            return Some(Value::Null);
        }
        if is_seq_entry(next.content) {
            Some(Value::Array(self.seq(next.indent, depth + 1)?))
        } else {
            Some(Value::Object(self.map(next.indent, depth + 1)?))
        }
    }

    /// A `|` or `>` scalar whose header is on a line at `parent` indentation.
    fn block_scalar(&mut self, parent: usize, folded: bool, strip: bool) -> Option<Value> {
        let first = *self.lines.get(self.pos)?;
        if first.content.is_empty() || first.indent <= parent {
            return None;
        }
        let content_indent = first.indent;
        let start = self.pos;
        // One past the last line with content; blank lines after it belong to no one.
        let mut end = start;
        while let Some(line) = self.lines.get(self.pos) {
            if line.content.is_empty() {
                // Spaces on an otherwise empty line may be content: the loader's business.
                if line.indent != 0 {
                    return None;
                }
                self.pos += 1;
                continue;
            }
            if line.indent < content_indent {
                if line.indent > parent {
                    return None;
                }
                break;
            }
            self.pos += 1;
            end = self.pos;
        }
        let lines = &self.lines[start..end];
        // Folding around blank or more indented lines has rules of its own.
        if folded
            && lines
                .iter()
                .any(|line| line.content.is_empty() || line.indent > content_indent)
        {
            return None;
        }
        let mut text = String::new();
        for (index, line) in lines.iter().enumerate() {
            if index > 0 {
                text.push(if folded { ' ' } else { '\n' });
            }
            if !line.content.is_empty() {
                text.extend(std::iter::repeat_n(' ', line.indent - content_indent));
                text.push_str(line.content);
            }
        }
        if !strip {
            text.push('\n');
        }
        Some(Value::String(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::readback::read_document_with_loader;

    /// The full loader's reading, for comparison.
    /// The loader's reading, never this reader's.
    fn full(text: &str) -> Option<Value> {
        read_document_with_loader(text).ok()
    }

    fn assert_same(text: &str) {
        if let Some(fast) = read(text) {
            assert_eq!(Some(fast), full(text), "document:\n{text}");
        }
    }

    #[test]
    fn reads_the_shapes_templates_print() {
        let doc = "# Source: x\napiVersion: v1\nkind: Deployment\nmetadata:\n  name: a\n  labels:\n    app.kubernetes.io/version: \"1.0.0\"\n    note: 'it''s'\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: c\n          command: [\"/bin/sh\", \"-c\"]\n          args:\n          - >-\n            a &&\n            b\n            # kept\n          ports:\n          - containerPort: 8080\n            protocol: TCP\n      empty: {}\n      list: []\n      switch: off\n";
        let fast = read(doc).expect("in the subset");
        assert_eq!(Some(fast), full(doc));
    }

    #[test]
    fn literal_blocks_keep_their_lines() {
        for doc in [
            "a: |\n  x\n\n    y\n  z\nb: 1\n",
            "a: |-\n  x\n  y\n\n\nb: 1\n",
            "a: |\n  x\n",
            "a:\n- |\n  x\n- y\n",
        ] {
            assert!(read(doc).is_some(), "{doc}");
            assert_same(doc);
        }
    }

    #[test]
    fn declines_what_it_does_not_know() {
        for doc in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: {b: 1}\n",
            "a: \"x\\ty\"\n",
            "a: b\n  c\n",
            "a: 1\na: 2\n",
            "yes: 1\n",
            "a: b: c\n",
            "a:\tb\n",
            "---\na: 1\n",
            "a: |+\n  x\n",
            "a: >\n  x\n\n  y\n",
            "- a\n",
            "a: \"b\"c\n",
            "a: é\n",
        ] {
            assert_eq!(read(doc), None, "{doc}");
        }
    }

    /// Nearly every document of the Helm reference outputs is read here, and read as the loader
    /// reads it.
    #[test]
    fn helm_reference_documents_read_as_the_loader_reads_them() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/helm-cases");
        let mut documents = 0;
        let mut read_here = 0;
        for entry in std::fs::read_dir(&root).unwrap() {
            let stdout = entry.unwrap().path().join("stdout");
            let Ok(text) = std::fs::read_to_string(&stdout) else {
                continue;
            };
            for document in text.split("---\n").filter(|d| !d.trim().is_empty()) {
                documents += 1;
                let Some(fast) = read(document) else {
                    continue;
                };
                read_here += 1;
                assert_eq!(
                    Some(fast),
                    full(document),
                    "{}:\n{document}",
                    stdout.display()
                );
            }
        }
        assert!(documents > 100, "only {documents} documents");
        // Left to the loader: a value on the line after its key (`resources:` then `null`), and
        // one case's stdout that is not YAML.
        assert!(
            documents - read_here <= 3,
            "{} of {documents} documents left to the full loader",
            documents - read_here
        );
    }

    const KEYS: &[&str] = &[
        "a",
        "b",
        "name",
        "app.kubernetes.io/name",
        "x-1",
        "yes",
        "1",
        "n",
        "on",
        "a_b",
        "-a",
        "<<",
    ];
    const VALUES: &[&str] = &[
        "",
        "1",
        "-1",
        "+1",
        "0123",
        "0x1F",
        "1_000",
        "1e3",
        "1.5",
        "8080.0",
        ".inf",
        ".nan",
        "~",
        "null",
        "off",
        "yes",
        "y",
        "No",
        "text",
        "a b",
        "a #b",
        "a#b",
        "a: b",
        "a:",
        ":a",
        "a:b",
        "\"q\"",
        "\"q\" # c",
        "\"a\\\"b\"",
        "\"a\"b",
        "'it''s'",
        "'a",
        "'a'b",
        "[]",
        "[ ]",
        "[\"x\", y]",
        "[x,]",
        "[1, 2]",
        "[\"a,b\"]",
        "{}",
        "{a: 1}",
        "&x y",
        "*x",
        "!!str 1",
        "|",
        "|-",
        ">",
        ">-",
        ">+",
        "|2",
        "# c",
        "- x",
        "-",
        "2001-12-14",
        "@x",
        "`x`",
        "%x",
        "?x",
        "x ",
        "\"x\"  ",
        "[a] x",
        "{} # c",
        "-.5",
        "=",
    ];

    fn document(lines: &[(usize, usize, usize, u8)]) -> String {
        let mut out = String::new();
        for (indent, key, value, kind) in lines {
            let pad = " ".repeat(*indent);
            let key = KEYS[key % KEYS.len()];
            let value = VALUES[value % VALUES.len()];
            match kind % 6 {
                0 | 1 => out.push_str(&format!("{pad}{key}: {value}\n")),
                2 => out.push_str(&format!("{pad}- {value}\n")),
                3 => out.push_str(&format!("{pad}- {key}: {value}\n")),
                4 => out.push_str(&format!("{pad}{value}\n")),
                _ => out.push_str(&format!("{pad}{key}:\n")),
            }
        }
        out
    }

    /// The line recipes [`document`] turns into a document.
    fn document_lines() -> impl proptest::strategy::Strategy<Value = Vec<(usize, usize, usize, u8)>>
    {
        proptest::collection::vec(
            (
                0usize..7,
                proptest::num::usize::ANY,
                proptest::num::usize::ANY,
                proptest::num::u8::ANY,
            ),
            0..12,
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        /// Wherever this reader answers, its answer is the loader's (and it never accepts text the
        /// loader refuses).
        #[test]
        fn answers_only_what_the_loader_answers(
            lines in document_lines(),
        ) {
            let doc = document(&lines);
            if let Some(fast) = read(&doc) {
                proptest::prop_assert_eq!(Some(fast), full(&doc), "document:\n{}", doc);
            }
        }

        /// Read as values (every number a float64), the answer is the loader's tree too.
        #[test]
        fn values_read_as_the_loader_reads_them(
            lines in document_lines(),
        ) {
            let doc = document(&lines);
            let fast = crate::compat::yaml::load_values_tree(&doc).ok();
            let loader = crate::compat::yaml::load_tree(&doc).ok();
            proptest::prop_assert_eq!(fast, loader, "document:\n{}", doc);
        }
    }

    /// The charts' own `values.yaml` files take the block reader's path, and read as the loader
    /// reads them.
    #[test]
    fn chart_values_files_are_read_by_the_block_reader() {
        for text in [
            include_str!("../../charts/gateway/values.yaml"),
            include_str!("../../charts/bastion/values.yaml"),
        ] {
            assert!(read(text).is_some());
            assert_eq!(
                crate::compat::yaml::load_values_tree(text).expect("values"),
                crate::compat::yaml::load(text).expect("values").tree
            );
        }
    }
}
