//! The `--set` family, parsed exactly like Helm's `pkg/strvals`: `a.b=1,c[0].d=x`, `\,` and `\.`
//! escapes, `{a,b}` lists, null padding of list gaps, Helm's typing of `--set` values, and the
//! JSON (`--set-json`), file (`--set-file`) and literal (`--set-literal`) variants.
//!
//! Each argument is parsed *into* the values accumulated so far (as Helm does), so an index or a
//! nested key applies to a list or map an earlier layer made, and conflicts with an earlier
//! scalar are errors. Every path that receives a value is reported to the caller, which keeps
//! track of where each value came from.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use super::keypath::{KeyPath, OneLine};
use super::limits::{self, LimitError, MAX_DEPTH, NodeBudget, ReadError};

/// Helm's limit on list indexes (`strvals.MaxIndex`).
pub const MAX_INDEX: usize = 65536;
/// Helm's limit on key nesting (`strvals.MaxNestedNameLevel`).
pub const MAX_NESTED_NAME_LEVEL: usize = 30;

/// Why a `--set`-style argument could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum StrvalsError {
    /// `--set a` or `--set a.b` with no `=`.
    #[error("key {key:?} has no value")]
    NoValue {
        /// The key as far as it was read.
        key: String,
    },
    /// `--set a,b=1`: a key followed by a comma.
    #[error("key {key:?} has no value (cannot end with ,)")]
    NoValueBeforeComma {
        /// The key before the comma.
        key: String,
    },
    /// `--set a.=1`: a map key whose only child has an empty name.
    #[error("key map {key:?} has no value")]
    EmptyKeyMap {
        /// The map's key.
        key: String,
    },
    /// More than [`MAX_NESTED_NAME_LEVEL`] dots.
    #[error(
        "value name nested level is greater than maximum supported nested level of {MAX_NESTED_NAME_LEVEL}"
    )]
    TooDeep,
    /// `a[x]=1`: the index is not an integer.
    #[error("error parsing index: {text:?} is not an integer")]
    BadIndex {
        /// The text between the brackets.
        text: String,
    },
    /// `a[-1]=1`.
    #[error("negative {index} index not allowed")]
    NegativeIndex {
        /// The index.
        index: i64,
    },
    /// `a[70000]=1`.
    #[error("index of {index} is greater than maximum supported index of {MAX_INDEX}")]
    IndexTooLarge {
        /// The index.
        index: usize,
    },
    /// `a[0` or `a[0][1`: the argument ends inside an index.
    #[error(
        "error parsing index: the argument ends in \"{}[{}\" with no closing ']'",
        OneLine(&.key.to_string()),
        OneLine(.text)
    )]
    UnclosedIndex {
        /// The list being indexed.
        key: KeyPath,
        /// The text after the `[`.
        text: String,
    },
    /// A limit on the size or depth of values (see [`super::limits`]).
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// `a[0]x=1`: text after the closing bracket.
    #[error("unexpected data at end of array index: {text:?}")]
    AfterIndex {
        /// The unexpected text.
        text: String,
    },
    /// `a={x,y` without the closing brace.
    #[error("list must terminate with '}}'")]
    UnterminatedList,
    /// `a[0]=1` where an earlier layer made `a` something other than a list.
    #[error("cannot index {path}: it already holds {found}, not a list")]
    NotAList {
        /// The key that should have been a list.
        path: KeyPath,
        /// What it holds.
        found: &'static str,
    },
    /// `a.b=1` where an earlier layer made `a` something other than a map.
    #[error("cannot set a key under {path}: it already holds {found}, not a map")]
    NotAMap {
        /// The key that should have been a map.
        path: KeyPath,
        /// What it holds.
        found: &'static str,
    },
    // The causes below are part of the message, so they are not also chained as `source()`
    // (an error chain printed with `{:#}` would repeat them).
    /// `--set-json a=...` whose value is not JSON.
    #[error("the value of {path} is not valid JSON: {error}")]
    Json {
        /// The key being set.
        path: KeyPath,
        /// The JSON parser's error.
        error: serde_json::Error,
    },
    /// `--set-file a=path` whose file cannot be read.
    #[error("cannot read {file} (for {path}): {error}")]
    File {
        /// The key being set.
        path: KeyPath,
        /// The file named in the argument.
        file: String,
        /// Why it cannot be read.
        error: ReadError,
    },
}

/// Describes a JSON value's kind for error messages.
pub(crate) fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// How a parsed value text becomes a value.
pub enum ValueMode<'r> {
    /// `--set`: Helm's typing (bool, null, int64, else string).
    Typed,
    /// `--set-string`: always a string.
    String,
    /// `--set-json`: a JSON value, numbers as float64.
    Json,
    /// `--set-file`: the text is a path; the value is the file's contents.
    File(&'r mut dyn FnMut(&str) -> Result<String, ReadError>),
    /// `--set-literal`: everything after the first `=` is the string value.
    Literal,
}

/// Helm's `typedVal`: `true`/`false` and `null` in any case, `0`, and base-10 int64 text that
/// does not start with `0`; everything else stays a string.
fn typed_value(text: &str) -> Value {
    if text.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if text.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if text.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    if text == "0" {
        return Value::Number(Number::from(0i64));
    }
    if !text.is_empty()
        && !text.starts_with('0')
        && let Some(i) = go_parse_int_base10(text)
    {
        return Value::Number(Number::from(i));
    }
    Value::String(text.to_owned())
}

/// Go's `strconv.ParseInt(s, 10, 64)` (an optional sign, then ASCII digits).
fn go_parse_int_base10(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Rust's parser takes the same grammar (a leading `+` included).
    text.parse::<i64>().ok()
}

/// Go's `strconv.Atoi` as used for list indexes.
fn go_atoi(text: &str) -> Option<i64> {
    go_parse_int_base10(text)
}

/// Turns every number of a JSON tree into a float64, as Go's `encoding/json` does.
pub(super) fn floats_everywhere(value: Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64().and_then(Number::from_f64) {
            Some(f) => Value::Number(f),
            None => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(floats_everywhere).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, floats_everywhere(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Stores `value` under `key`, reusing the map's own key when it is already there.
fn put(data: &mut Map<String, Value>, key: Cow<'_, str>, value: Value) {
    match data.get_mut(&*key) {
        Some(slot) => *slot = value,
        None => {
            data.insert(key.into_owned(), value);
        }
    }
}

/// Where parsing stopped: the normal end of input, or an error.
enum Stop {
    End,
    Fail(StrvalsError),
}

impl From<StrvalsError> for Stop {
    fn from(err: StrvalsError) -> Self {
        Stop::Fail(err)
    }
}

/// Applies one `--set`-style argument to `data`. `on_set` is called with every path that
/// receives a value (and the value), in order. What the argument creates is taken from
/// `budget` (see [`super::limits`]).
pub fn parse_into(
    arg: &str,
    data: &mut Map<String, Value>,
    mode: ValueMode<'_>,
    budget: &mut NodeBudget,
    on_set: &mut dyn FnMut(&KeyPath, &Value),
) -> Result<(), StrvalsError> {
    let mut parser = ArgParser {
        arg,
        pos: 0,
        mode,
        budget,
        on_set,
    };
    loop {
        match parser.key(data, 0, &KeyPath::root()) {
            Ok(()) => continue,
            Err(Stop::End) => return Ok(()),
            Err(Stop::Fail(err)) => return Err(err),
        }
    }
}

struct ArgParser<'m, 'r> {
    arg: &'m str,
    /// Byte offset in `arg` of the next character to read.
    pos: usize,
    mode: ValueMode<'r>,
    budget: &'m mut NodeBudget,
    on_set: &'m mut dyn FnMut(&KeyPath, &Value),
}

/// The result of reading up to a stop character.
struct Run<'m> {
    /// The text read, borrowed from the argument unless an escape had to be removed.
    text: Cow<'m, str>,
    /// The stop character found, or `None` at the end of input.
    stop: Option<char>,
}

enum ListOutcome {
    List(Vec<Value>),
    EndOfInput,
    NotAList,
}

impl<'m> ArgParser<'m, '_> {
    fn literal(&self) -> bool {
        matches!(self.mode, ValueMode::Literal)
    }

    fn peek_char(&self) -> Option<char> {
        self.arg[self.pos..].chars().next()
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.peek_char();
        if let Some(c) = c {
            self.pos += c.len_utf8();
        }
        c
    }

    /// The rest of the argument, all of it taken.
    fn take_rest(&mut self) -> String {
        let rest = self.arg[self.pos..].to_owned();
        self.pos = self.arg.len();
        rest
    }

    /// Reads until one of `stops` (ASCII characters, as all of Helm's are); a backslash escapes the
    /// next character (not in literal mode).
    fn runes_until(&mut self, stops: &[char]) -> Run<'m> {
        debug_assert!(stops.iter().all(char::is_ascii));
        let escapes = !self.literal();
        // One bit per ASCII byte that ends a run of ordinary characters.
        let mut ends = stops.iter().fold(0u128, |mask, &c| mask | 1 << (c as u32));
        if escapes {
            ends |= 1 << u32::from(b'\\');
        }
        let arg: &'m str = self.arg;
        let mut text = Cow::Borrowed("");
        loop {
            // The run of ordinary characters is taken at once, then what ended it is looked at. The
            // search is on bytes: an ASCII byte is always a whole character in UTF-8, so the run
            // ends on a character boundary.
            let rest = &arg[self.pos..];
            let run = rest
                .bytes()
                .position(|b| b < 128 && ends & (1 << b) != 0)
                .unwrap_or(rest.len());
            let piece = &rest[..run];
            if text.is_empty() {
                text = Cow::Borrowed(piece);
            } else {
                text.to_mut().push_str(piece);
            }
            self.pos += run;
            match self.next_char() {
                None => return Run { text, stop: None },
                Some(c) if stops.contains(&c) => {
                    return Run {
                        text,
                        stop: Some(c),
                    };
                }
                Some(_) => match self.next_char() {
                    None => return Run { text, stop: None },
                    Some(escaped) => text.to_mut().push(escaped),
                },
            }
        }
    }

    /// Refuses a path nested deeper than [`MAX_DEPTH`] (Helm limits only the dots, so
    /// `a[0][0]…` could nest without end).
    fn check_depth(path: &KeyPath) -> Result<(), StrvalsError> {
        if path.0.len() > MAX_DEPTH {
            return Err(LimitError::TooDeep.into());
        }
        Ok(())
    }

    /// Takes a new value's nodes from the budget and checks its depth below `path`.
    fn admit(&mut self, path: &KeyPath, value: &Value) -> Result<(), StrvalsError> {
        self.budget.take_tree(value)?;
        if path.0.len() + limits::depth(value, MAX_DEPTH) > MAX_DEPTH {
            return Err(LimitError::TooDeep.into());
        }
        Ok(())
    }

    fn set(
        &mut self,
        data: &mut Map<String, Value>,
        path: &KeyPath,
        key: &str,
        value: Value,
    ) -> Result<(), StrvalsError> {
        // Helm never stores an empty key.
        if key.is_empty() {
            return Ok(());
        }
        let key_path = path.key(key);
        self.admit(&key_path, &value)?;
        (self.on_set)(&key_path, &value);
        data.insert(key.to_owned(), value);
        Ok(())
    }

    fn key(
        &mut self,
        data: &mut Map<String, Value>,
        level: usize,
        path: &KeyPath,
    ) -> Result<(), Stop> {
        Self::check_depth(path)?;
        let stops: &[char] = if self.literal() {
            &['=', '[', '.']
        } else {
            &['=', '[', ',', '.']
        };
        let run = self.runes_until(stops);
        let key = run.text;
        match run.stop {
            None if key.is_empty() => Err(Stop::End),
            None => Err(StrvalsError::NoValue {
                key: key.into_owned(),
            }
            .into()),
            Some('[') => {
                let key_path = path.key(&key);
                let index = self.key_index(&key_path)?;
                // The list is taken out and put back (as Helm does, also when the argument
                // ends early), never copied: copying made `a[0]=1,a[1]=1,…` quadratic.
                let (mut list, created) = match data.get_mut(&*key) {
                    None => (Vec::new(), true),
                    Some(Value::Array(items)) => (std::mem::take(items), false),
                    Some(other) => {
                        return Err(StrvalsError::NotAList {
                            path: key_path,
                            found: kind_name(other),
                        }
                        .into());
                    }
                };
                if created {
                    self.budget.take(1).map_err(StrvalsError::from)?;
                }
                let result = self.list_item(&mut list, index, level, &key_path);
                if !key.is_empty() {
                    let list = Value::Array(list);
                    if created && !matches!(result, Err(Stop::Fail(_))) {
                        (self.on_set)(&key_path, &list);
                    }
                    put(data, key, list);
                }
                result
            }
            Some('=') => self.assign(data, path, &key),
            Some(',') => Err(StrvalsError::NoValueBeforeComma {
                key: key.into_owned(),
            }
            .into()),
            Some(_) => {
                // '.': descend into (or create) a map.
                let level = level + 1;
                if level > MAX_NESTED_NAME_LEVEL {
                    return Err(StrvalsError::TooDeep.into());
                }
                let key_path = path.key(&key);
                let existed = data.contains_key(&*key);
                let mut inner = match data.get_mut(&*key) {
                    None => {
                        self.budget.take(1).map_err(StrvalsError::from)?;
                        Map::new()
                    }
                    Some(Value::Object(map)) => std::mem::take(map),
                    Some(other) => {
                        return Err(StrvalsError::NotAMap {
                            path: key_path,
                            found: kind_name(other),
                        }
                        .into());
                    }
                };
                let result = self.key(&mut inner, level, &key_path);
                let empty = inner.is_empty();
                if (existed || !empty) && !key.is_empty() {
                    put(data, key.clone(), Value::Object(inner));
                }
                match result {
                    Ok(()) if empty => Err(StrvalsError::EmptyKeyMap {
                        key: key.into_owned(),
                    }
                    .into()),
                    other => other,
                }
            }
        }
    }

    /// After `key=`: reads and stores the value.
    fn assign(
        &mut self,
        data: &mut Map<String, Value>,
        path: &KeyPath,
        key: &str,
    ) -> Result<(), Stop> {
        match self.mode {
            ValueMode::Literal => {
                let value = self.take_rest();
                self.set(data, path, key, Value::String(value))?;
                Ok(())
            }
            ValueMode::Json => {
                let value = self.json_value(&path.key(key))?;
                self.set(data, path, key, value)?;
                self.empty_value();
                Ok(())
            }
            _ => match self.value_list(&path.key(key))? {
                ListOutcome::List(items) => {
                    self.set(data, path, key, Value::Array(items))?;
                    Ok(())
                }
                ListOutcome::EndOfInput => {
                    self.set(data, path, key, Value::String(String::new()))?;
                    Err(Stop::End)
                }
                ListOutcome::NotAList => {
                    let text = self.runes_until(&[',']).text;
                    let value = self.read_value(&text, &path.key(key))?;
                    self.set(data, path, key, value)?;
                    Ok(())
                }
            },
        }
    }

    fn read_value(&mut self, text: &str, path: &KeyPath) -> Result<Value, StrvalsError> {
        match &mut self.mode {
            ValueMode::Typed => Ok(typed_value(text)),
            ValueMode::String | ValueMode::Literal | ValueMode::Json => {
                Ok(Value::String(text.to_owned()))
            }
            ValueMode::File(read) => {
                read(text)
                    .map(Value::String)
                    .map_err(|error| StrvalsError::File {
                        path: path.clone(),
                        file: text.to_owned(),
                        error,
                    })
            }
        }
    }

    /// `--set-json`: an empty value is null; otherwise one JSON value, numbers as float64.
    fn json_value(&mut self, path: &KeyPath) -> Result<Value, Stop> {
        if self.empty_value() {
            return Ok(Value::Null);
        }
        // The rest of the argument, without copying it: an argument of many JSON values
        // would otherwise be copied once per value.
        let rest = &self.arg[self.pos..];
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => {
                self.pos += stream.byte_offset();
                Ok(floats_everywhere(value))
            }
            Some(Err(error)) => Err(StrvalsError::Json {
                path: path.clone(),
                error,
            }
            .into()),
            None => Ok(Value::Null),
        }
    }

    /// Skips blanks up to and including a comma. True if no value follows (comma or end).
    fn empty_value(&mut self) -> bool {
        loop {
            match self.peek_char() {
                None => return true,
                Some(',') => {
                    self.pos += 1;
                    return true;
                }
                Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                Some(_) => return false,
            }
        }
    }

    /// `{a,b}` after `=`.
    fn value_list(&mut self, path: &KeyPath) -> Result<ListOutcome, Stop> {
        match self.peek_char() {
            None => return Ok(ListOutcome::EndOfInput),
            Some('{') => self.pos += 1,
            Some(_) => return Ok(ListOutcome::NotAList),
        }
        let mut items = Vec::new();
        loop {
            let run = self.runes_until(&[',', '}']);
            match run.stop {
                None => return Err(StrvalsError::UnterminatedList.into()),
                Some('}') => {
                    if self.peek_char() == Some(',') {
                        self.pos += 1;
                    }
                    let item_path = path.index(items.len());
                    items.push(self.read_value(&run.text, &item_path)?);
                    return Ok(ListOutcome::List(items));
                }
                Some(_) => {
                    let item_path = path.index(items.len());
                    items.push(self.read_value(&run.text, &item_path)?);
                }
            }
        }
    }

    /// Reads `N]` after a `[`; `key` is the list being indexed (for the error message).
    fn key_index(&mut self, key: &KeyPath) -> Result<i64, Stop> {
        let run = self.runes_until(&[']']);
        if run.stop.is_none() {
            // Helm 3 fails with "error parsing index: EOF" here; ignoring the argument would
            // drop a value the user meant to set.
            return Err(StrvalsError::UnclosedIndex {
                key: key.clone(),
                text: run.text.into_owned(),
            }
            .into());
        }
        go_atoi(&run.text).ok_or_else(|| {
            StrvalsError::BadIndex {
                text: run.text.into_owned(),
            }
            .into()
        })
    }

    /// Helm's `setIndex`: stores `value` at `index`, padding the list with nulls.
    fn set_index(
        &mut self,
        list: &mut Vec<Value>,
        index: usize,
        value: Value,
        path: &KeyPath,
        report: bool,
    ) -> Result<(), Stop> {
        if index > MAX_INDEX {
            return Err(StrvalsError::IndexTooLarge { index }.into());
        }
        let item_path = path.index(index);
        if report {
            self.admit(&item_path, &value)?;
        }
        if list.len() <= index {
            let old_len = list.len();
            self.budget
                .take(index - old_len)
                .map_err(StrvalsError::from)?;
            list.resize(index + 1, Value::Null);
            // The null padding is this argument's doing too.
            for padded in old_len..index {
                (self.on_set)(&path.index(padded), &Value::Null);
            }
        }
        if report {
            (self.on_set)(&item_path, &value);
        }
        list[index] = value;
        Ok(())
    }

    /// Helm's `listItem`, after `key[index]`: what follows the closing bracket. `list` is changed
    /// in place as Helm changes it, also when the argument ends early (`Stop::End`).
    fn list_item(
        &mut self,
        list: &mut Vec<Value>,
        index: i64,
        level: usize,
        path: &KeyPath,
    ) -> Result<(), Stop> {
        let Ok(index) = usize::try_from(index) else {
            return Err(StrvalsError::NegativeIndex { index }.into());
        };
        Self::check_depth(path)?;
        let run = self.runes_until(&['[', '.', '=']);
        if !run.text.is_empty() {
            return Err(StrvalsError::AfterIndex {
                text: run.text.into_owned(),
            }
            .into());
        }
        match run.stop {
            None => Err(Stop::End),
            Some('=') => match self.mode {
                ValueMode::Literal => {
                    let value = self.take_rest();
                    self.set_index(list, index, Value::String(value), path, true)
                }
                ValueMode::Json => {
                    let value = self.json_value(&path.index(index))?;
                    self.set_index(list, index, value, path, true)?;
                    self.empty_value();
                    Ok(())
                }
                _ => match self.value_list(&path.index(index))? {
                    ListOutcome::List(items) => {
                        self.set_index(list, index, Value::Array(items), path, true)
                    }
                    ListOutcome::EndOfInput => {
                        self.set_index(list, index, Value::String(String::new()), path, true)
                    }
                    ListOutcome::NotAList => {
                        let text = self.runes_until(&[',']).text;
                        let value = self.read_value(&text, &path.index(index))?;
                        self.set_index(list, index, value, path, true)
                    }
                },
            },
            Some('[') => {
                let item_path = path.index(index);
                let next_index = self.key_index(&item_path)?;
                let mut inner = match list.get_mut(index) {
                    None | Some(Value::Null) => {
                        self.budget.take(1).map_err(StrvalsError::from)?;
                        Vec::new()
                    }
                    Some(Value::Array(items)) => std::mem::take(items),
                    Some(other) => {
                        return Err(StrvalsError::NotAList {
                            path: item_path,
                            found: kind_name(other),
                        }
                        .into());
                    }
                };
                match self.list_item(&mut inner, next_index, level, &item_path) {
                    Ok(()) => self.set_index(list, index, Value::Array(inner), path, false),
                    Err(stop) => {
                        // Helm's inner list shares its items with the outer one: changes made
                        // before the stop stay.
                        if let Some(Value::Array(items)) = list.get_mut(index) {
                            *items = inner;
                        }
                        Err(stop)
                    }
                }
            }
            Some(_) => {
                // '.': a map inside the list. An existing item is changed in place (a non-map
                // there becomes an empty map first), as in Helm.
                let item_path = path.index(index);
                if index < list.len() {
                    let mut inner = match std::mem::take(&mut list[index]) {
                        Value::Object(map) => map,
                        _ => Map::new(),
                    };
                    let result = self.key(&mut inner, level, &item_path);
                    list[index] = Value::Object(inner);
                    result
                } else {
                    self.budget.take(1).map_err(StrvalsError::from)?;
                    let mut inner = Map::new();
                    self.key(&mut inner, level, &item_path)?;
                    self.set_index(list, index, Value::Object(inner), path, false)
                }
            }
        }
    }
}

/// Parses one argument into a fresh map (for tests and for callers without earlier layers).
pub fn parse(arg: &str, mode: ValueMode<'_>) -> Result<Value, StrvalsError> {
    let mut data = Map::new();
    parse_into(
        arg,
        &mut data,
        mode,
        &mut NodeBudget::default(),
        &mut |_, _| {},
    )?;
    Ok(Value::Object(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(arg: &str) -> Value {
        parse(arg, ValueMode::Typed).unwrap_or_else(|e| panic!("{arg}: {e}"))
    }

    fn set_err(arg: &str) -> StrvalsError {
        match parse(arg, ValueMode::Typed) {
            Ok(v) => panic!("{arg} parsed as {v}"),
            Err(e) => e,
        }
    }

    fn int(i: i64) -> Value {
        Value::Number(Number::from(i))
    }

    #[test]
    fn typing_rules() {
        // helm-rendering.md "`--set` typing": each row is text -> the value Helm stores.
        let cases: Vec<(&str, Value)> = vec![
            ("true", json!(true)),
            ("TRUE", json!(true)),
            ("False", json!(false)),
            ("null", Value::Null),
            ("NULL", Value::Null),
            ("0", int(0)),
            ("+5", int(5)),
            ("-5", int(-5)),
            ("-0", int(0)),
            ("1000000", int(1_000_000)),
            ("0123", json!("0123")),
            ("007", json!("007")),
            ("00", json!("00")),
            ("1e3", json!("1e3")),
            ("1.5", json!("1.5")),
            ("0x1F", json!("0x1F")),
            ("1_000", json!("1_000")),
            ("yes", json!("yes")),
            ("~", json!("~")),
            ("9223372036854775808", json!("9223372036854775808")),
            ("", json!("")),
        ];
        for (text, expected) in cases {
            assert_eq!(typed_value(text), expected, "typed_value({text:?})");
            let parsed = set(&format!("a={text}"));
            assert_eq!(parsed["a"], expected, "--set a={text}");
        }
        assert!(set("a=5")["a"].as_number().is_some_and(Number::is_i64));
    }

    // See: https://github.com/helm/helm/issues/1707 — big ints must not become floats.
    #[test]
    fn set_large_int_helm_1707() {
        assert_eq!(set("big=9223372036854775807")["big"], int(i64::MAX));
        assert_eq!(set("port=1000000")["port"], int(1_000_000));
    }

    // See: https://github.com/helm/helm/issues/2952 — `\,` keeps a comma in a value.
    #[test]
    fn set_escaped_comma_helm_2952() {
        assert_eq!(
            set(r"ssh.publicKey=a\,b"),
            json!({"ssh": {"publicKey": "a,b"}})
        );
        assert_eq!(set("a=x,b=y"), json!({"a": "x", "b": "y"}));
    }

    #[test]
    fn set_escaped_dot_in_key() {
        assert_eq!(
            set(r"resources.limits.nvidia\.com/gpu=1"),
            json!({"resources": {"limits": {"nvidia.com/gpu": 1}}})
        );
        assert_eq!(set(r"a.b\.c=1"), json!({"a": {"b.c": 1}}));
    }

    // See: https://github.com/helm/helm/pull/2545 — `a[0].b=` indexes lists, gaps are null.
    #[test]
    fn set_list_index_helm_2545() {
        assert_eq!(set("x[2]=v"), json!({"x": [null, null, "v"]}));
        assert_eq!(set("x[0].name=v"), json!({"x": [{"name": "v"}]}));
        assert_eq!(set("x[0].a=1,x[0].b=2"), json!({"x": [{"a": 1, "b": 2}]}));
        assert_eq!(set("x[1][0]=a"), json!({"x": [null, ["a"]]}));
        assert_eq!(set("x[1]=a,x[0]=b"), json!({"x": ["b", "a"]}));
    }

    #[test]
    fn set_brace_lists() {
        assert_eq!(set("claims={a,b}"), json!({"claims": ["a", "b"]}));
        assert_eq!(
            set("l={1,true,x},m=2"),
            json!({"l": [1, true, "x"], "m": 2})
        );
        // Helm quirk: `{}` is a list with one empty string.
        assert_eq!(set("l={}"), json!({"l": [""]}));
        assert!(matches!(set_err("l={a,b"), StrvalsError::UnterminatedList));
    }

    #[test]
    fn set_empty_and_null() {
        assert_eq!(set("a="), json!({"a": ""}));
        assert_eq!(set("a=null"), json!({"a": null}));
        assert_eq!(set("a=,b=1"), json!({"a": "", "b": 1}));
    }

    #[test]
    fn set_errors() {
        assert!(
            matches!(set_err("ssh.publicKey"), StrvalsError::NoValue { key } if key == "publicKey")
        );
        assert!(matches!(
            set_err("a,b=1"),
            StrvalsError::NoValueBeforeComma { .. }
        ));
        assert!(
            matches!(set_err("resources.claims[x]=1"), StrvalsError::BadIndex { text } if text == "x")
        );
        assert!(matches!(
            set_err("a[-1]=1"),
            StrvalsError::NegativeIndex { index: -1 }
        ));
        assert!(matches!(
            set_err("a[70000]=1"),
            StrvalsError::IndexTooLarge { index: 70000 }
        ));
        assert!(matches!(
            set_err("a[0]x=1"),
            StrvalsError::AfterIndex { .. }
        ));
        assert!(matches!(set_err("a.=1"), StrvalsError::EmptyKeyMap { .. }));
        let deep = format!("{}=1", vec!["k"; 32].join("."));
        assert!(matches!(set_err(&deep), StrvalsError::TooDeep));
    }

    #[test]
    fn set_conflicts_with_earlier_values() {
        let mut data = Map::new();
        data.insert("service".into(), json!({"port": 1}));
        data.insert("ssh".into(), json!(1));
        let err = parse_into(
            "service[0]=1",
            &mut data,
            ValueMode::Typed,
            &mut NodeBudget::default(),
            &mut |_, _| {},
        )
        .expect_err("service is a map");
        assert!(
            matches!(err, StrvalsError::NotAList { found: "a map", .. }),
            "{err}"
        );
        let err = parse_into(
            "ssh.port=1",
            &mut data,
            ValueMode::Typed,
            &mut NodeBudget::default(),
            &mut |_, _| {},
        )
        .expect_err("ssh is a number");
        assert!(
            matches!(
                err,
                StrvalsError::NotAMap {
                    found: "a number",
                    ..
                }
            ),
            "{err}"
        );
        parse_into(
            "service.type=x",
            &mut data,
            ValueMode::Typed,
            &mut NodeBudget::default(),
            &mut |_, _| {},
        )
        .expect("merge");
        assert_eq!(data["service"], json!({"port": 1, "type": "x"}));
    }

    #[test]
    fn helm_eof_quirks() {
        // `a[0]` with nothing after ends the argument silently, as in Helm.
        assert_eq!(set("a[0]"), json!({"a": []}));
        // A key ending in a dot sets nothing.
        assert_eq!(set("a."), json!({}));
        // `a[0].b=` ends inside the map: Helm keeps the list as it was.
        assert_eq!(set("a[0].b="), json!({"a": []}));
        // ... but an item that already exists is changed in place.
        assert_eq!(set("a[0].c=1,a[0].b="), json!({"a": [{"c": 1, "b": ""}]}));
    }

    // `--set 'image.tag[0'` used to be ignored without a word; Helm 3 fails with
    // "error parsing index: EOF".
    #[test]
    fn set_unclosed_index_is_an_error() {
        for arg in [
            "image.tag[0",
            "a[1",
            "a[",
            "x=1,a[0",
            "a[0][1",
            "a[0][",
            "a[0].b[2",
        ] {
            let err = set_err(arg);
            assert!(
                matches!(err, StrvalsError::UnclosedIndex { .. }),
                "{arg}: {err}"
            );
            assert!(err.to_string().starts_with("error parsing index"), "{err}");
        }
        assert_eq!(
            set_err("image.tag[0").to_string(),
            "error parsing index: the argument ends in \"image.tag[0\" with no closing ']'"
        );
        assert!(matches!(
            parse("a[0", ValueMode::Json),
            Err(StrvalsError::UnclosedIndex { .. })
        ));
    }

    // A fuzzed `--set` argument ending in `[` plus control characters printed them raw, so the
    // one-line error spanned several lines.
    #[test]
    fn unclosed_index_with_control_characters_is_one_line() {
        let message = set_err("a\nb[\u{b}\0\n").to_string();
        assert!(!message.contains(['\n', '\0', '\u{b}']), "{message:?}");
        assert_eq!(
            message,
            "error parsing index: the argument ends in \"a\\nb[\\u{b}\\0\\n\" with no closing ']'"
        );
    }

    #[test]
    fn string_mode_never_converts() {
        let v = parse("a=null,b=1,c=true,d={1,2}", ValueMode::String).expect("parse");
        assert_eq!(
            v,
            json!({"a": "null", "b": "1", "c": "true", "d": ["1", "2"]})
        );
    }

    #[test]
    fn literal_mode_keeps_commas_and_backslashes() {
        let v = parse(r"ssh.publicKey=a,b\,c=d", ValueMode::Literal).expect("parse");
        assert_eq!(v, json!({"ssh": {"publicKey": r"a,b\,c=d"}}));
        let v = parse("x[1]=a,b", ValueMode::Literal).expect("parse");
        assert_eq!(v, json!({"x": [null, "a,b"]}));
    }

    #[test]
    fn json_mode_uses_floats() {
        let v = parse(r#"ssh={"port":1000000,"userName":"u"}"#, ValueMode::Json).expect("parse");
        assert_eq!(v, json!({"ssh": {"port": 1000000.0, "userName": "u"}}));
        assert!(v["ssh"]["port"].as_number().is_some_and(Number::is_f64));
        // Blanks after a JSON value are skipped; blanks before a key are part of the key (as in Helm).
        let v = parse("a=1,b=[1,2] , c=", ValueMode::Json).expect("parse");
        assert_eq!(v, json!({"a": 1.0, "b": [1.0, 2.0], " c": null}));
        let v = parse("a=", ValueMode::Json).expect("parse");
        assert_eq!(v, json!({"a": null}));
        assert!(matches!(
            parse("a={bad", ValueMode::Json),
            Err(StrvalsError::Json { .. })
        ));
    }

    #[test]
    fn file_mode_reads_files() {
        let mut read = |p: &str| -> Result<String, ReadError> {
            match p {
                "key.pub" => Ok("ssh-ed25519 AAAA x\n".into()),
                _ => Err(ReadError::Io(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file",
                ))),
            }
        };
        let v = parse("ssh.publicKey=key.pub", ValueMode::File(&mut read)).expect("parse");
        assert_eq!(v, json!({"ssh": {"publicKey": "ssh-ed25519 AAAA x\n"}}));
        let err = parse("a=missing", ValueMode::File(&mut read)).expect_err("missing");
        assert!(
            matches!(err, StrvalsError::File { ref file, .. } if file == "missing"),
            "{err}"
        );
    }

    #[test]
    fn reports_every_set_path() {
        let mut seen = Vec::new();
        let mut data = Map::new();
        parse_into(
            "a.b=1,c[1].d=2,e={x}",
            &mut data,
            ValueMode::Typed,
            &mut NodeBudget::default(),
            &mut |p, _| seen.push(p.to_string()),
        )
        .expect("parse");
        assert_eq!(seen, vec!["a.b", "c[1].d", "c[0]", "c", "e"]);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::compat::testing::json_tree;
    use proptest::prelude::*;

    /// Escapes a key for the key part of a `--set` argument.
    fn escape_key(key: &str) -> String {
        let mut out = String::new();
        for c in key.chars() {
            if matches!(c, '\\' | '=' | '[' | ',' | '.') {
                out.push('\\');
            }
            out.push(c);
        }
        out
    }

    proptest! {
        #[test]
        fn set_json_round_trips(tree in prop::collection::btree_map(".{1,10}", json_tree(".{1,8}", ".{0,12}"), 0..5)) {
            let arg = tree
                .iter()
                .map(|(k, v)| format!("{}={}", escape_key(k), v))
                .collect::<Vec<_>>()
                .join(",");
            let parsed = parse(&arg, ValueMode::Json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let expected = Value::Object(tree.into_iter().collect());
            prop_assert_eq!(parsed, expected);
        }

        #[test]
        fn set_never_panics(arg in ".{0,40}") {
            let _ = parse(&arg, ValueMode::Typed);
            let _ = parse(&arg, ValueMode::Json);
            let _ = parse(&arg, ValueMode::Literal);
        }
    }
}
