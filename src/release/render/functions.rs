//! The Helm (Go template + sprig) functions the charts use, as minijinja filters and functions, with
//! Go's types and printing: a function that takes a string in Go fails on anything else, `default`
//! and `if` treat nil, false, 0, "" and empty collections as empty, and values print with `%v`.

use base64::Engine as _;
use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

use crate::compat::gofmt::go_format_float as format_float_g;
use crate::compat::gojson::go_quote;
use crate::compat::toyaml::{YamlNode, to_yaml};

/// Installs the Helm-compatible filters, functions and value printing into `env`.
pub fn install(env: &mut Environment<'_>) {
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_formatter(|out, _state, value| {
        // Text, the common case, is written as it is, without an intermediate copy.
        let written = match value.as_str() {
            Some(text) => out.write_str(text),
            None => out.write_str(&go_print(value)),
        };
        written.map_err(|err| Error::new(ErrorKind::WriteFailure, err.to_string()))
    });
    env.add_filter("default", default);
    env.add_filter("quote", quote);
    env.add_filter("toYaml", to_yaml_filter);
    env.add_function("toYaml", to_yaml_filter);
    env.add_filter("nindent", nindent);
    env.add_filter("indent", indent);
    env.add_filter("trunc", trunc);
    env.add_filter("trimSuffix", trim_suffix);
    env.add_filter("trimPrefix", trim_prefix);
    env.add_filter("lower", lower);
    env.add_filter("upper", upper);
    env.add_filter("replace", replace);
    env.add_filter("b64enc", b64enc);
    env.add_function("contains", contains);
    env.add_function("printf", printf);
    env.add_function("required", required);
}

/// Go's `%v` of a template value, as Helm prints `{{ value }}`: nil prints nothing (Helm deletes
/// the `<no value>` Go writes), float64 in shortest `%g` form, maps as `map[k:v]`.
fn go_print(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => String::new(),
        _ => go_print_nested(value),
    }
}

fn go_print_nested(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => "<nil>".to_owned(),
        ValueKind::Bool => value.is_true().to_string(),
        ValueKind::Number if !value.is_integer() => {
            format_float_g(f64::try_from(value.clone()).unwrap_or(f64::NAN))
        }
        ValueKind::String | ValueKind::Bytes => value.as_str().unwrap_or_default().to_owned(),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<String> = value
                .try_iter()
                .map(|iter| iter.map(|item| go_print_nested(&item)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(" "))
        }
        ValueKind::Map => {
            let mut entries: Vec<(String, String)> = value
                .try_iter()
                .map(|iter| {
                    iter.map(|key| {
                        let item = value.get_item(&key).unwrap_or(Value::UNDEFINED);
                        (go_print_nested(&key), go_print_nested(&item))
                    })
                    .collect()
                })
                .unwrap_or_default();
            entries.sort();
            let parts: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
        _ => value.to_string(),
    }
}

/// Go's type name of a value, for error messages that match what Helm users know.
fn go_type_name(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => "nil",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int64",
        ValueKind::Number => "float64",
        ValueKind::String | ValueKind::Bytes => "string",
        ValueKind::Seq | ValueKind::Iterable => "[]interface {}",
        ValueKind::Map => "map[string]interface {}",
        _ => "object",
    }
}

/// The string inside `value`, or the error Go templates give when a string parameter gets
/// something else.
fn expect_string<'a>(function: &str, value: &'a Value) -> Result<&'a str, Error> {
    match value.as_str() {
        Some(text) => Ok(text),
        None if value.is_undefined() || value.is_none() => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{function}: invalid value; expected string"),
        )),
        None => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "{function}: wrong type for value; expected string; got {}",
                go_type_name(value)
            ),
        )),
    }
}

/// sprig `default`: the fallback when the value is nil, false, 0, "" or an empty collection.
fn default(value: Value, fallback: Value) -> Value {
    if value.is_true() { value } else { fallback }
}

/// sprig `quote`: Go `%q` of the value's `%v` text; nil gives an empty string without quotes.
fn quote(value: Value) -> String {
    if value.is_undefined() || value.is_none() {
        return String::new();
    }
    go_quote(&go_print_nested(&value))
}

/// Helm `toYaml`: sigs.k8s.io/yaml text without the final newline; "" when it cannot be marshalled.
fn to_yaml_filter(value: Value) -> String {
    match YamlNode::from_template_value(&value) {
        Ok(node) => to_yaml(&node),
        Err(_) => String::new(),
    }
}

/// sprig `indent`: every line prefixed with `width` spaces.
fn indent(value: Value, width: usize) -> Result<String, Error> {
    Ok(indented(expect_string("indent", &value)?, width, ""))
}

/// sprig `nindent`: a newline, then `indent`.
fn nindent(value: Value, width: usize) -> Result<String, Error> {
    Ok(indented(expect_string("nindent", &value)?, width, "\n"))
}

/// `prefix`, then `text` with `width` spaces before each of its lines (sprig's `pad + text` with
/// every `\n` replaced by `\n + pad`), written once into a string of the final size.
fn indented(text: &str, width: usize, prefix: &str) -> String {
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let mut out = String::with_capacity(prefix.len() + text.len() + lines * width);
    out.push_str(prefix);
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        out.extend(std::iter::repeat_n(' ', width));
        out.push_str(line);
    }
    out
}

/// sprig `trunc`: the first `length` bytes (a negative length keeps the last bytes). Go can cut a
/// UTF-8 character in two; the result is then not valid text, which is an error here.
fn trunc(value: Value, length: i64) -> Result<String, Error> {
    let text = expect_string("trunc", &value)?;
    let bytes = text.len() as i64;
    let range = if length < 0 && bytes + length > 0 {
        (bytes + length) as usize..text.len()
    } else if length >= 0 && bytes > length {
        0..length as usize
    } else {
        0..text.len()
    };
    match text.get(range) {
        Some(cut) => Ok(cut.to_owned()),
        None => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "trunc {length}: the value {} would be cut inside a multi-byte UTF-8 character",
                go_quote(text)
            ),
        )),
    }
}

/// strings.TrimSuffix: removes one occurrence of `suffix` at the end.
fn trim_suffix(value: Value, suffix: Value) -> Result<String, Error> {
    let text = expect_string("trimSuffix", &value)?;
    let suffix = expect_string("trimSuffix", &suffix)?;
    Ok(text.strip_suffix(suffix).unwrap_or(text).to_owned())
}

/// strings.TrimPrefix: removes one occurrence of `prefix` at the start.
fn trim_prefix(value: Value, prefix: Value) -> Result<String, Error> {
    let text = expect_string("trimPrefix", &value)?;
    let prefix = expect_string("trimPrefix", &prefix)?;
    Ok(text.strip_prefix(prefix).unwrap_or(text).to_owned())
}

/// strings.ToLower.
fn lower(value: Value) -> Result<String, Error> {
    Ok(expect_string("lower", &value)?.to_lowercase())
}

/// strings.ToUpper.
fn upper(value: Value) -> Result<String, Error> {
    Ok(expect_string("upper", &value)?.to_uppercase())
}

/// sprig `replace OLD NEW`: every occurrence.
fn replace(value: Value, old: Value, new: Value) -> Result<String, Error> {
    let text = expect_string("replace", &value)?;
    let old = expect_string("replace", &old)?;
    let new = expect_string("replace", &new)?;
    Ok(text.replace(old, new))
}

/// sprig `b64enc`: standard base64 of the text's bytes.
fn b64enc(value: Value) -> Result<String, Error> {
    let text = expect_string("b64enc", &value)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(text.as_bytes()))
}

/// sprig `contains SUBSTR TEXT`: whether TEXT contains SUBSTR.
fn contains(substring: Value, text: Value) -> Result<bool, Error> {
    let substring = expect_string("contains", &substring)?;
    let text = expect_string("contains", &text)?;
    Ok(text.contains(substring))
}

/// sprig `required MESSAGE VALUE`: fails with MESSAGE when VALUE is nil or "".
fn required(message: Value, value: Value) -> Result<Value, Error> {
    let missing = value.is_undefined() || value.is_none() || value.as_str() == Some("");
    if missing {
        let message = message
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| go_print(&message));
        return Err(Error::new(ErrorKind::InvalidOperation, message));
    }
    Ok(value)
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s`, `%v`, `%d`, `%q` and `%%`.
fn printf(_state: &State, format: Value, args: Rest<Value>) -> Result<String, Error> {
    let format = expect_string("printf", &format)?;
    let mut out = String::with_capacity(format.len() + 16);
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next();
        if verb == Some('%') {
            out.push('%');
            continue;
        }
        let Some(verb) = verb else {
            out.push_str("%!(NOVERB)");
            break;
        };
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        match verb {
            's' | 'v' => out.push_str(&go_print_nested(arg)),
            'd' if arg.is_integer() => out.push_str(&go_print_nested(arg)),
            'q' => out.push_str(&go_quote(&go_print_nested(arg))),
            other => out.push_str(&format!(
                "%!{other}({}={})",
                go_type_name(arg),
                go_print_nested(arg)
            )),
        }
    }
    let extra: Vec<String> = args
        .map(|arg| format!("{}={}", go_type_name(arg), go_print_nested(arg)))
        .collect();
    if !extra.is_empty() {
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, ctx: Value) -> Result<String, Error> {
        let mut env = Environment::new();
        install(&mut env);
        env.render_str(template, ctx)
    }

    proptest::proptest! {
        /// `indent` and `nindent` are sprig's: the pad before the text and after every line break.
        #[test]
        fn indent_is_sprigs(text in "[a-z \n]{0,20}", width in 0usize..6) {
            let pad = " ".repeat(width);
            let sprig = format!("{pad}{}", text.replace('\n', &format!("\n{pad}")));
            proptest::prop_assert_eq!(indent(Value::from(text.as_str()), width).unwrap(), sprig.clone());
            proptest::prop_assert_eq!(
                nindent(Value::from(text.as_str()), width).unwrap(),
                format!("\n{sprig}")
            );
        }
    }

    fn ctx() -> Value {
        Value::from_pairs([
            ("f", Value::from(2222.0)),
            ("big", Value::from(1_000_000.0)),
            ("i", Value::from(1_000_000_i64)),
            ("zero", Value::from(0_i64)),
            ("szero", Value::from("0")),
            ("empty", Value::from("")),
            ("nil", Value::UNDEFINED),
            ("s", Value::from("abc--")),
            (
                "m",
                Value::from_pairs([("b", Value::from(1_i64)), ("a", Value::from("x"))]),
            ),
        ])
    }

    #[test]
    fn numbers_print_like_go() {
        assert_eq!(
            render("{{ f }} {{ big }} {{ i }}", ctx()).unwrap(),
            "2222 1e+06 1000000"
        );
        assert_eq!(render("{{ nil }}|{{ m }}", ctx()).unwrap(), "|map[a:x b:1]");
    }

    #[test]
    fn default_and_truthiness_follow_helm() {
        assert_eq!(
            render("{{ zero | default('d') }} {{ szero | default('d') }} {{ empty | default('d') }} {{ nil | default('d') }}", ctx()).unwrap(),
            "d 0 d d"
        );
        assert_eq!(
            render("{% if szero %}t{% else %}f{% endif %}", ctx()).unwrap(),
            "t"
        );
        assert_eq!(
            render("{% if zero %}t{% else %}f{% endif %}", ctx()).unwrap(),
            "f"
        );
    }

    #[test]
    fn quote_of_nil_is_empty_and_numbers_use_percent_v() {
        assert_eq!(
            render(
                "[{{ nil | quote }}] {{ big | quote }} {{ s | quote }}",
                ctx()
            )
            .unwrap(),
            "[] \"1e+06\" \"abc--\""
        );
    }

    #[test]
    fn string_functions_need_strings() {
        assert_eq!(render("{{ s | trimSuffix('-') }}", ctx()).unwrap(), "abc-");
        assert!(render("{{ i | trunc(3) }}", ctx()).is_err());
        let err = render("{{ nil | lower }}", ctx()).unwrap_err();
        assert!(err.to_string().contains("expected string"), "{err}");
        assert!(render("{{ contains(i, s) }}", ctx()).is_err());
        assert_eq!(render("{{ contains('bc', s) }}", ctx()).unwrap(), "true");
    }

    #[test]
    fn trunc_counts_bytes() {
        assert_eq!(render("{{ 'abcdef' | trunc(3) }}", ctx()).unwrap(), "abc");
        assert_eq!(render("{{ 'abcdef' | trunc(-2) }}", ctx()).unwrap(), "ef");
        assert!(render("{{ 'aé' | trunc(2) }}", ctx()).is_err());
        assert_eq!(render("{{ 'aé' | trunc(3) }}", ctx()).unwrap(), "aé");
    }

    #[test]
    fn printf_and_indent() {
        assert_eq!(
            render("{{ printf('%s-%s', 'a', f) }}", ctx()).unwrap(),
            "a-2222"
        );
        assert_eq!(
            render("{{ 'a\nb' | nindent(2) }}", ctx()).unwrap(),
            "\n  a\n  b"
        );
        assert_eq!(render("{{ 'x' | b64enc }}", ctx()).unwrap(), "eA==");
    }

    #[test]
    fn required_fails_on_nil_and_empty() {
        let err = render("{{ required('need it', nil) }}", ctx()).unwrap_err();
        assert!(err.to_string().contains("need it"));
        assert!(render("{{ required('need it', empty) }}", ctx()).is_err());
        assert_eq!(
            render("{{ required('need it', zero) }}", ctx()).unwrap(),
            "0"
        );
    }
}
