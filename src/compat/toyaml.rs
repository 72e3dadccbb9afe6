//! Helm's `toYaml`: the bytes sigs.k8s.io/yaml writes. That library marshals to JSON first (so every
//! float64 that is a whole number below 1e21 becomes an integer), reads the JSON back with go-yaml v2
//! and writes it with go-yaml v2's emitter: keys in go-yaml's natural order, two-space indentation,
//! lists level with their key, strings quoted only when a YAML 1.1 reader would take them for
//! something else, long lines folded at spaces after column 80.

use std::cmp::Ordering;

use minijinja::value::{Value, ValueKind};

use super::gofmt::go_format_float as format_float_g;
use super::gojson::format_float_json;
use super::yaml;

/// A value after the JSON round trip, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub enum YamlNode {
    /// JSON null.
    Null,
    /// JSON true/false.
    Bool(bool),
    /// A number that reads back as an integer.
    Int(i128),
    /// A number that reads back as a float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    Seq(Vec<YamlNode>),
    /// An object; keys are sorted when written.
    Map(Vec<(String, YamlNode)>),
}

/// Why a value cannot go through `toYaml` (Helm then prints an empty string).
#[derive(Debug, thiserror::Error)]
pub enum ToYamlError {
    /// JSON has no spelling for NaN or the infinities.
    #[error("toYaml: {value} has no JSON form")]
    NonFiniteFloat {
        /// The float, as Go prints it.
        value: String,
    },
    /// A value that does not serialize to JSON (a map with non-string keys, a failing `Serialize`).
    #[error("has no JSON form: {source}")]
    NotJson {
        /// serde_json's reason.
        #[source]
        source: serde_json::Error,
    },
}

impl YamlNode {
    /// A float64 as go-yaml reads back what encoding/json wrote for it.
    fn from_float(value: f64) -> Result<YamlNode, ToYamlError> {
        if !value.is_finite() {
            return Err(ToYamlError::NonFiniteFloat {
                value: format_float_g(value),
            });
        }
        let json = format_float_json(value);
        if json.bytes().all(|b| b.is_ascii_digit() || b == b'-')
            && let Ok(int) = json.parse::<i128>()
            && (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&int)
        {
            // "-0" reads back as the integer 0.
            return Ok(YamlNode::Int(int));
        }
        Ok(YamlNode::Float(value))
    }

    /// Converts a template value (values tree, string, number...) to its JSON form.
    pub(crate) fn from_template_value(value: &Value) -> Result<YamlNode, ToYamlError> {
        Ok(match value.kind() {
            ValueKind::Undefined | ValueKind::None => YamlNode::Null,
            ValueKind::Bool => YamlNode::Bool(value.is_true()),
            ValueKind::Number => {
                if value.is_integer() {
                    match i128::try_from(value.clone()) {
                        Ok(int) => YamlNode::Int(int),
                        Err(_) => YamlNode::Str(value.to_string()),
                    }
                } else {
                    YamlNode::from_float(f64::try_from(value.clone()).unwrap_or(f64::NAN))?
                }
            }
            ValueKind::String | ValueKind::Bytes => {
                YamlNode::Str(value.as_str().map(str::to_owned).unwrap_or_default())
            }
            ValueKind::Seq | ValueKind::Iterable => {
                let mut items = Vec::new();
                if let Ok(iter) = value.try_iter() {
                    for item in iter {
                        items.push(YamlNode::from_template_value(&item)?);
                    }
                }
                YamlNode::Seq(items)
            }
            ValueKind::Map => {
                let mut entries = Vec::new();
                if let Ok(iter) = value.try_iter() {
                    for key in iter {
                        let item = value.get_item(&key).unwrap_or(Value::UNDEFINED);
                        let key = match key.as_str() {
                            Some(text) => text.to_owned(),
                            None => key.to_string(),
                        };
                        entries.push((key, YamlNode::from_template_value(&item)?));
                    }
                }
                YamlNode::Map(entries)
            }
            _ => YamlNode::Str(value.to_string()),
        })
    }

    /// Converts a JSON tree (values as the values layer holds them).
    pub fn from_json(value: &serde_json::Value) -> Result<YamlNode, ToYamlError> {
        Ok(match value {
            serde_json::Value::Null => YamlNode::Null,
            serde_json::Value::Bool(b) => YamlNode::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(int) = n.as_i64() {
                    YamlNode::Int(i128::from(int))
                } else if let Some(uint) = n.as_u64() {
                    YamlNode::Int(i128::from(uint))
                } else {
                    YamlNode::from_float(n.as_f64().unwrap_or(f64::NAN))?
                }
            }
            serde_json::Value::String(s) => YamlNode::Str(s.clone()),
            serde_json::Value::Array(items) => YamlNode::Seq(
                items
                    .iter()
                    .map(YamlNode::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            serde_json::Value::Object(map) => YamlNode::Map(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), YamlNode::from_json(v)?)))
                    .collect::<Result<_, ToYamlError>>()?,
            ),
        })
    }
}

/// Helm's `toYaml`: the YAML text without its final newline.
pub fn to_yaml(node: &YamlNode) -> String {
    let mut emitter = Emitter::new();
    emitter.emit_root(node);
    let mut text = emitter.out;
    if text.ends_with('\n') {
        text.pop();
    }
    text
}

/// `value` as a whole YAML document, as `kubectl -o yaml` writes an object (sigs.k8s.io/yaml:
/// JSON first, then go-yaml v2's emitter): the [`to_yaml`] text with its final line break kept.
/// Key order is go-yaml's, not the struct's field order. Non-finite floats become null, as in
/// `serde_json` output.
pub fn to_yaml_document<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, ToYamlError> {
    let json = serde_json::to_value(value).map_err(|source| ToYamlError::NotJson { source })?;
    let mut emitter = Emitter::new();
    emitter.emit_root(&YamlNode::from_json(&json)?);
    Ok(emitter.out)
}

/// go-yaml v2's order for map keys: runs of digits compare as numbers, letters before other
/// characters at the first difference.
fn go_yaml_key_order(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let a_letter = ar[i].is_alphabetic();
        let b_letter = br[i].is_alphabetic();
        if a_letter && b_letter {
            return ar[i].cmp(&br[i]);
        }
        if a_letter || b_letter {
            return if b_letter {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let mut a_num: i64 = 0;
        let mut b_num: i64 = 0;
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    a_num = 1;
                    b_num = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            a_num = a_num
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            b_num = b_num
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if a_num != b_num {
            return a_num.cmp(&b_num);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

/// What go-yaml's emitter learns from a scalar's text before picking a style.
struct ScalarAnalysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// go-yaml's `is_printable`; characters outside the Basic Multilingual Plane count as unprintable.
fn is_printable(c: char) -> bool {
    let code = c as u32;
    code == 0x0A
        || (0x20..=0x7E).contains(&code)
        || (0xA0..=0xD7FF).contains(&code)
        || ((0xE000..=0xFFFD).contains(&code) && code != 0xFEFF)
}

fn analyze_scalar(text: &str) -> ScalarAnalysis {
    if text.is_empty() {
        return ScalarAnalysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = text.chars().collect();
    let mut block_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    let mut previous_space = false;
    let mut previous_break = false;

    if text.starts_with("---") || text.starts_with("...") {
        block_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = i + 1 >= chars.len() || is_blank_or_break(chars[i + 1]);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special_characters = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == chars.len() {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == chars.len() {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blank_or_break(c);
    }
    let mut analysis = ScalarAnalysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        analysis.block_plain_allowed = false;
    }
    if trailing_space {
        analysis.block_allowed = false;
    }
    if break_space {
        analysis.block_plain_allowed = false;
        analysis.single_quoted_allowed = false;
    }
    if space_break || special_characters {
        analysis.block_plain_allowed = false;
        analysis.single_quoted_allowed = false;
        analysis.block_allowed = false;
    }
    if line_breaks || block_indicators {
        analysis.block_plain_allowed = false;
    }
    analysis
}

fn is_blank_or_break(c: char) -> bool {
    is_blank(c) || is_break(c) || c == '\0'
}

const BEST_WIDTH: usize = 80;
const BEST_INDENT: i32 = 2;

/// A small port of the parts of go-yaml v2's emitter that block-style output needs.
struct Emitter {
    out: String,
    column: usize,
    indent: i32,
    whitespace: bool,
    indention: bool,
}

impl Emitter {
    fn new() -> Self {
        Emitter {
            out: String::new(),
            column: 0,
            indent: -1,
            whitespace: true,
            indention: true,
        }
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in indicator.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) -> i32 {
        let saved = self.indent;
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
        saved
    }

    fn emit_root(&mut self, node: &YamlNode) {
        self.emit_node(node, false, false);
        // The implicit document end: finish the last line.
        self.write_indent();
    }

    /// `mapping_context`: the node is a mapping value; `simple_key`: the node is a mapping key.
    fn emit_node(&mut self, node: &YamlNode, mapping_context: bool, simple_key: bool) {
        match node {
            YamlNode::Seq(items) if items.is_empty() => self.emit_empty_flow("[", "]"),
            YamlNode::Map(entries) if entries.is_empty() => self.emit_empty_flow("{", "}"),
            YamlNode::Seq(items) => self.emit_block_sequence(items, mapping_context),
            YamlNode::Map(entries) => self.emit_block_mapping(entries),
            scalar => self.emit_scalar(scalar, simple_key),
        }
    }

    fn emit_empty_flow(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.write_indicator(close, false, false, false);
    }

    fn emit_block_sequence(&mut self, items: &[YamlNode], mapping_context: bool) {
        let saved = self.increase_indent(false, mapping_context && !self.indention);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.emit_node(item, false, false);
        }
        self.indent = saved;
    }

    fn emit_block_mapping(&mut self, entries: &[(String, YamlNode)]) {
        let saved = self.increase_indent(false, false);
        let mut sorted: Vec<&(String, YamlNode)> = entries.iter().collect();
        sorted.sort_by(|a, b| go_yaml_key_order(&a.0, &b.0));
        for (key, value) in sorted {
            self.write_indent();
            let key_node = YamlNode::Str(key.clone());
            if is_simple_key(key) {
                self.emit_node(&key_node, false, true);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.emit_node(&key_node, false, false);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.emit_node(value, true, false);
        }
        self.indent = saved;
    }

    fn emit_scalar(&mut self, node: &YamlNode, simple_key: bool) {
        let (text, requested) = match node {
            YamlNode::Null => ("null".to_owned(), ScalarStyle::Plain),
            YamlNode::Bool(b) => (b.to_string(), ScalarStyle::Plain),
            YamlNode::Int(i) => (i.to_string(), ScalarStyle::Plain),
            YamlNode::Float(f) => (yaml_float(*f), ScalarStyle::Plain),
            YamlNode::Str(s) => (s.clone(), string_style(s)),
            YamlNode::Seq(_) | YamlNode::Map(_) => return,
        };
        let analysis = analyze_scalar(&text);
        let mut style = requested;
        if style == ScalarStyle::Plain
            && (!analysis.block_plain_allowed || (text.is_empty() && simple_key))
        {
            style = ScalarStyle::SingleQuoted;
        }
        if style == ScalarStyle::SingleQuoted && !analysis.single_quoted_allowed {
            style = ScalarStyle::DoubleQuoted;
        }
        if style == ScalarStyle::Literal && (!analysis.block_allowed || simple_key) {
            style = ScalarStyle::DoubleQuoted;
        }
        let saved = self.increase_indent(true, false);
        let allow_breaks = !simple_key;
        match style {
            ScalarStyle::Plain => self.write_plain(&text, allow_breaks),
            ScalarStyle::SingleQuoted => self.write_single_quoted(&text, allow_breaks),
            ScalarStyle::DoubleQuoted => self.write_double_quoted(&text, allow_breaks),
            ScalarStyle::Literal => self.write_literal(&text),
        }
        let _ = analysis.multiline;
        self.indent = saved;
    }

    fn write_plain(&mut self, text: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > BEST_WIDTH && !next_is_space {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                self.indention = false;
                spaces = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single_quoted(&mut self, text: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < chars.len()
                    && !next_is_space
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
            }
        }
        self.write_indicator("'", false, false, false);
    }

    fn write_double_quoted(&mut self, text: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{07}' => self.put('a'),
                    '\u{08}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{0B}' => self.put('v'),
                    '\u{0C}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1B}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{A0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    other => {
                        let code = other as u32;
                        let (marker, width) = if code <= 0xFF {
                            ('x', 2)
                        } else if code <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(marker);
                        for digit in format!("{code:0width$X}").chars() {
                            self.put(digit);
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < chars.len()
                {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
    }

    fn write_literal(&mut self, text: &str) {
        self.write_indicator("|", true, false, false);
        let chars: Vec<char> = text.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.put(char::from(b'0' + BEST_INDENT as u8));
        }
        match chars.last() {
            Some(&last) if is_break(last) => {
                if chars.len() == 1 || is_break(chars[chars.len() - 2]) {
                    self.put('+');
                }
            }
            _ => self.put('-'),
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.put_break();
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                    breaks = false;
                }
                self.put(c);
                self.indention = false;
            }
        }
    }
}

/// The style go-yaml v2's encoder asks for: literal for multi-line text, plain when the text reads
/// back as the same string, double quotes otherwise.
fn string_style(text: &str) -> ScalarStyle {
    if text.contains('\n') {
        ScalarStyle::Literal
    } else if written_plain(text) {
        ScalarStyle::Plain
    } else {
        ScalarStyle::DoubleQuoted
    }
}

/// A cursor over ASCII text for the two patterns go-yaml's encoder quotes.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn eat(&mut self, wanted: impl Fn(u8) -> bool) -> bool {
        match self.bytes.get(self.at) {
            Some(&b) if wanted(b) => {
                self.at += 1;
                true
            }
            _ => false,
        }
    }

    /// Eats between `min` and `max` bytes matching `wanted`; false when fewer than `min`.
    fn eat_run(&mut self, wanted: impl Fn(u8) -> bool + Copy, min: usize, max: usize) -> bool {
        let mut count = 0;
        while count < max && self.eat(wanted) {
            count += 1;
        }
        count >= min
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

fn digit(b: u8) -> bool {
    b.is_ascii_digit()
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`: a YAML 1.1 sexagesimal float.
fn is_base60_float(text: &str) -> bool {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    c.eat(|b| b == b'-' || b == b'+');
    if !c.eat(digit) {
        return false;
    }
    c.eat_run(|b| digit(b) || b == b'_', 0, usize::MAX);
    let mut groups = 0;
    while c.eat(|b| b == b':') {
        // `[0-5]?[0-9]`: one digit, or two with the first 0-5.
        let first = c.bytes.get(c.at).copied();
        let second = c.bytes.get(c.at + 1).copied();
        match (first, second) {
            (Some(f), Some(s)) if (b'0'..=b'5').contains(&f) && digit(s) => c.at += 2,
            (Some(f), _) if digit(f) => c.at += 1,
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if c.eat(|b| b == b'.') {
        c.eat_run(|b| digit(b) || b == b'_', 0, usize::MAX);
    }
    c.done()
}

/// go-yaml v2's timestamp pattern: `YYYY-M-D`, optionally followed by a time and a zone.
fn is_timestamp(text: &str) -> bool {
    let mut c = Cursor {
        bytes: text.as_bytes(),
        at: 0,
    };
    let blank = |b: u8| b == b' ' || b == b'\t';
    let date = c.eat_run(digit, 4, 4)
        && c.eat(|b| b == b'-')
        && c.eat_run(digit, 1, 2)
        && c.eat(|b| b == b'-')
        && c.eat_run(digit, 1, 2);
    if !date {
        return false;
    }
    if c.done() {
        return true;
    }
    if !(c.eat(|b| b == b'T' || b == b't') || c.eat_run(blank, 1, usize::MAX)) {
        return false;
    }
    let time = c.eat_run(digit, 1, 2)
        && c.eat(|b| b == b':')
        && c.eat_run(digit, 1, 2)
        && c.eat(|b| b == b':')
        && c.eat_run(digit, 1, 2);
    if !time {
        return false;
    }
    if c.eat(|b| b == b'.') {
        c.eat_run(digit, 0, usize::MAX);
    }
    if c.done() {
        return true;
    }
    c.eat_run(blank, 0, usize::MAX);
    if c.eat(|b| b == b'Z') {
        return c.done();
    }
    if !(c.eat(|b| b == b'-' || b == b'+') && c.eat_run(digit, 1, 2)) {
        return false;
    }
    if c.eat(|b| b == b':') && !c.eat_run(digit, 2, 2) {
        return false;
    }
    c.done()
}

/// Whether go-yaml writes this string without quotes: it must read back as a string, and not look
/// like a timestamp or a YAML 1.1 sexagesimal number (`1:20`).
fn written_plain(text: &str) -> bool {
    yaml::plain_reads_as_string(text) && !is_timestamp(text) && !is_base60_float(text)
}

/// go-yaml v2 writes a key inline unless it is long or spans lines.
fn is_simple_key(key: &str) -> bool {
    key.chars().count() <= 128 && !key.chars().any(is_break)
}

/// How go-yaml v2 writes a float: Go's shortest `%g`, with YAML's names for the infinities.
fn yaml_float(value: f64) -> String {
    match format_float_g(value).as_str() {
        "+Inf" => ".inf".to_owned(),
        "-Inf" => "-.inf".to_owned(),
        "NaN" => ".nan".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The hand-written matchers accept exactly what go-yaml's regexes accept.
        #[test]
        fn timestamp_and_base60_match_go_yaml_regexes(text in "[-+0-9:._ \tTtZz]{0,24}", date in "[0-9]{4}-[0-9]{1,3}-[0-9]{1,2}[Tt \t]{0,2}[0-9:.]{0,10}[ Z+-]{0,2}[0-9:]{0,5}") {
            let base60 = regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").unwrap();
            let timestamp = regex::Regex::new(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$").unwrap();
            for t in [&text, &date] {
                proptest::prop_assert_eq!(is_base60_float(t), base60.is_match(t), "base60 {:?}", t);
                proptest::prop_assert_eq!(is_timestamp(t), timestamp.is_match(t), "timestamp {:?}", t);
            }
        }
    }
    use serde_json::json;

    fn yaml_of(value: serde_json::Value) -> String {
        to_yaml(&YamlNode::from_json(&value).expect("finite"))
    }

    #[test]
    fn resources_block_sorts_keys_and_quotes_numeric_strings() {
        let resources = json!({
            "requests": {"memory": "64Mi", "ephemeral-storage": "128Mi", "cpu": "250m"},
            "limits": {"nvidia.com/gpu": 1.0, "memory": "128Mi", "ephemeral-storage": "256Mi", "cpu": "0.5"}
        });
        assert_eq!(
            yaml_of(resources),
            "limits:\n  cpu: \"0.5\"\n  ephemeral-storage: 256Mi\n  memory: 128Mi\n  nvidia.com/gpu: 1\nrequests:\n  cpu: 250m\n  ephemeral-storage: 128Mi\n  memory: 64Mi"
        );
    }

    #[test]
    fn lists_sit_level_with_their_key() {
        let value =
            json!({"claims": [null, null, "x"], "nested": [{"name": "gpu", "b": [1, [2, 3]]}]});
        assert_eq!(
            yaml_of(value),
            "claims:\n- null\n- null\n- x\nnested:\n- b:\n  - 1\n  - - 2\n    - 3\n  name: gpu"
        );
    }

    #[test]
    fn scalars_at_the_top_and_empty_collections() {
        assert_eq!(yaml_of(json!(null)), "null");
        assert_eq!(yaml_of(json!("abc")), "abc");
        assert_eq!(yaml_of(json!({})), "{}");
        assert_eq!(yaml_of(json!({"a": {}, "b": []})), "a: {}\nb: []");
        assert_eq!(yaml_of(json!(1000000.0)), "1000000");
        assert_eq!(yaml_of(json!(1234567.5)), "1.2345675e+06");
        assert_eq!(yaml_of(json!(0.5)), "0.5");
        assert_eq!(yaml_of(json!(1e21)), "1e+21");
    }

    #[test]
    fn strings_are_quoted_only_when_they_would_read_as_something_else() {
        assert_eq!(yaml_of(json!({"a": "1"})), "a: \"1\"");
        assert_eq!(yaml_of(json!({"a": "1e3"})), "a: \"1e3\"");
        assert_eq!(yaml_of(json!({"a": "yes"})), "a: \"yes\"");
        assert_eq!(yaml_of(json!({"a": ""})), "a: \"\"");
        assert_eq!(yaml_of(json!({"a": " sp "})), "a: ' sp '");
        assert_eq!(yaml_of(json!({"a": "x: y"})), "a: 'x: y'");
        assert_eq!(yaml_of(json!({"a": "- x"})), "a: '- x'");
        assert_eq!(yaml_of(json!({"a": "it's"})), "a: it's");
        assert_eq!(yaml_of(json!({"a": "'q"})), "a: '''q'");
        assert_eq!(yaml_of(json!({"a": "tab\there"})), "a: \"tab\\there\"");
        assert_eq!(yaml_of(json!({"a": "1:20"})), "a: \"1:20\"");
        assert_eq!(yaml_of(json!({"a": "l1\nl2"})), "a: |-\n  l1\n  l2");
        assert_eq!(yaml_of(json!({"a": "l1\n"})), "a: |\n  l1");
        assert_eq!(yaml_of(json!({"a": "l1\n\n"})), "a: |+\n  l1\n");
        assert_eq!(yaml_of(json!({"a": "l1 \nl2"})), "a: \"l1 \\nl2\"");
        assert_eq!(yaml_of(json!({"1": "x"})), "\"1\": x");
        assert_eq!(yaml_of(json!({"a": "2001-12-14"})), "a: \"2001-12-14\"");
        assert_eq!(yaml_of(json!({"a": "0123"})), "a: \"0123\"");
        assert_eq!(yaml_of(json!({"a": "off"})), "a: \"off\"");
    }

    #[test]
    fn a_document_keeps_its_final_line_breaks_and_reads_back() {
        let value = json!({"z": [1, 2.5], "a": "l1\n\n", "m": {"k": "off"}, "t": "2001-12-14"});
        let text = to_yaml_document(&value).unwrap();
        assert_eq!(
            text,
            "a: |+\n  l1\n\nm:\n  k: \"off\"\nt: \"2001-12-14\"\nz:\n- 1\n- 2.5\n"
        );
        assert_eq!(
            crate::compat::readback::read_document(&text).unwrap(),
            value
        );
        assert_eq!(to_yaml_document(&json!("x")).unwrap(), "x\n");
        assert_eq!(to_yaml_document(&f64::NAN).unwrap(), "null\n");
    }

    #[test]
    fn a_map_without_string_keys_is_not_a_document() {
        let map = std::collections::BTreeMap::from([((1, 2), "x")]);
        let err = to_yaml_document(&map).unwrap_err();
        assert!(err.to_string().starts_with("has no JSON form: "), "{err}");
    }

    #[test]
    fn long_plain_strings_fold_after_column_80() {
        let words = "word ".repeat(30);
        let text = words.trim_end();
        let out = yaml_of(json!({"k": text}));
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.len() > 1, "{out}");
        assert!(lines[1].starts_with("  word"), "{out}");
        assert!(lines[0].chars().count() > BEST_WIDTH, "{out}");
    }

    #[test]
    fn key_order_is_go_yaml_natural_order() {
        let mut keys = vec!["b10", "b9", "a", "B", "_x", "a-b", "ab"];
        keys.sort_by(|a, b| go_yaml_key_order(a, b));
        assert_eq!(keys, vec!["_x", "B", "a", "a-b", "ab", "b9", "b10"]);
    }
}
