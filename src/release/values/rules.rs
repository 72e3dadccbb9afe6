//! The value rules that a JSON Schema cannot express (or not precisely), as pure functions
//! from a value to a typed result or a one-line reason. Both validation and the typed model use
//! them, so the two always agree.

use serde_json::Value;

use crate::compat::gofmt::go_print_number;
use crate::compat::yaml;

/// Go template truthiness (`if`, `and`, `default`): nil, false, 0, "" and empty maps and
/// lists are false; everything else, the string "0" included, is true.
pub(super) fn is_truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(items)) => !items.is_empty(),
        Some(Value::Object(map)) => !map.is_empty(),
    }
}

/// The one rule for keys that the templates read through `default` or test with `if`
/// (`image.tag`, `nameOverride`, `fullnameOverride`, the gateway's `service`, `service.port`,
/// `tunnel` and `tunnel.service`): Go templates take every empty value — null, false, 0, "", an
/// empty list and an empty map — as "not set", and use the chart's default (or leave the section
/// out) whatever the empty value's type. Helm renders them all alike, so ikp accepts them all
/// alike; a value that is not empty must have the key's own type.
pub(super) fn is_empty_value(value: &Value) -> bool {
    !is_truthy(Some(value))
}

/// `nameOverride` / `fullnameOverride`: text, or `None` when empty ([`is_empty_value`]).
pub(super) fn name_override(value: &Value) -> Result<Option<String>, String> {
    match value {
        _ if is_empty_value(value) => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(
            "must be text (quote it, or use --set-string), or empty (null, false, 0, \"\", [] or {}) for the chart's default"
                .into(),
        ),
    }
}

/// What `{{ value }}` prints for a scalar (Go `%v`; nil prints nothing).
pub fn printed(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_print_number(n),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An integer in `min..=max`, given as a number (int64, or a whole float64 from YAML/JSON) or
/// as a plain decimal string (`"30222"`; not `"0123"`, which Kubernetes' YAML reads as octal,
/// nor `"1e3"`).
pub(super) fn integer_in_range(
    value: &Value,
    min: u16,
    max: u16,
    what: &str,
) -> Result<u16, String> {
    // The message is built only for a value that breaks the rule.
    let range = || format!("must be {what} {min}–{max}");
    let number = match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i as f64
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() != 0.0 {
                    return Err(format!(
                        "{}, a whole number (it prints as {})",
                        range(),
                        go_print_number(n)
                    ));
                }
                f
            }
        }
        Value::String(s) => {
            if s.is_empty() {
                return Err(format!("{}, not an empty string", range()));
            }
            if !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("{}, written in decimal digits only", range()));
            }
            if s.starts_with('0') {
                return Err(format!(
                    "{}; a leading zero prints unquoted and Kubernetes reads it as an octal number",
                    range()
                ));
            }
            s.parse::<f64>().unwrap_or(f64::INFINITY)
        }
        Value::Bool(_) => return Err(format!("{}, not a boolean", range())),
        Value::Null => return Err(format!("{}, not null", range())),
        Value::Array(_) => return Err(format!("{}, not a list", range())),
        Value::Object(_) => return Err(format!("{}, not a map", range())),
    };
    if number < f64::from(min) || number > f64::from(max) {
        return Err(range());
    }
    Ok(number as u16)
}

/// True if `text`, written unquoted after `key: ` in a template, reads back (with Kubernetes'
/// YAML 1.1 rules) as the same string. A final line break is allowed: the YAML reader drops it,
/// which changes nothing a consumer of the value cares about.
pub(super) fn reads_back_unquoted(text: &str) -> bool {
    let body = text.trim_end_matches(['\n', '\r']);
    if is_plain_word_text(body) {
        return crate::compat::yaml::plain_reads_as_string(body);
    }
    reads_back_unquoted_by_reader(body)
}

/// Text that can only be a one-line plain scalar where it is printed: it starts with a letter or
/// digit, does not end in a space, and holds nothing but letters, digits, spaces and `._/-+=@`
/// (no `:`, `#`, quote, bracket or line break). Whether it reads back as itself is then only a
/// question of YAML 1.1's scalar resolution (`yes`, `0x1F`, `1e3`…), answered without a document.
fn is_plain_word_text(body: &str) -> bool {
    let bytes = body.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last() != Some(&b' ')
        && bytes.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b' ' | b'.' | b'_' | b'/' | b'-' | b'+' | b'=' | b'@')
        })
}

/// [`reads_back_unquoted`] the long way: `key: <body>` is read back as Kubernetes reads YAML.
fn reads_back_unquoted_by_reader(body: &str) -> bool {
    if body.contains(['\n', '\r']) || body.contains("<no value>") {
        return false;
    }
    let document = format!("k: {body}\nnext: x\n");
    match crate::compat::readback::read_document(&document) {
        Ok(tree) => tree.get("k") == Some(&Value::String(body.to_owned())),
        Err(_) => false,
    }
}

/// Why an unquoted text would not read back as itself, for error messages.
pub(super) fn unquoted_problem(text: &str) -> String {
    let body = text.trim_end_matches(['\n', '\r']);
    if body.contains(['\n', '\r']) {
        return "must be a single line: it is printed unquoted into YAML".into();
    }
    if body.contains("<no value>") {
        return "contains \"<no value>\", which Helm deletes from rendered text".into();
    }
    if body.contains(": ") || body.ends_with(':') {
        return "contains \": \", which breaks the YAML it is printed into unquoted".into();
    }
    if body.contains(" #") || body.starts_with('#') {
        return "contains \" #\", which starts a YAML comment where it is printed unquoted".into();
    }
    match yaml::resolve_plain(body) {
        yaml::Scalar::Str(_) => {
            "is printed unquoted and would not read back as the same text in YAML".into()
        }
        other => format!(
            "is printed unquoted and Kubernetes' YAML reader would take it as {}, not text",
            match other {
                yaml::Scalar::Null => "null",
                yaml::Scalar::Bool(_) => "a boolean",
                _ => "a number",
            }
        ),
    }
}

/// Longest login name shadow's `useradd` accepts.
pub(super) const MAX_LOGIN_NAME: usize = 32;

/// A login name as shadow's `useradd`/`usermod` accept it: a letter or `_`, then letters,
/// digits, `_`, `.` and `-`; at most [`MAX_LOGIN_NAME`] characters.
pub(super) fn login_name(text: &str) -> Result<(), String> {
    let mut chars = text.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok
        || text.len() > MAX_LOGIN_NAME
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(format!(
            "must be a login name: a letter or '_', then letters, digits, '_', '.' or '-', at most {MAX_LOGIN_NAME} characters"
        ));
    }
    Ok(())
}

/// An RFC 1123 host name (letters, digits and '-' in dot-separated labels of at most 63
/// characters, at most 253 in all; a trailing dot allowed).
pub(super) fn is_hostname(text: &str) -> bool {
    let name = text.strip_suffix('.').unwrap_or(text);
    !name.is_empty()
        && name.len() <= crate::k8s::syntax::MAX_SUBDOMAIN
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A dotted-quad IPv4 address.
pub(super) fn is_ipv4(text: &str) -> bool {
    text.parse::<std::net::Ipv4Addr>().is_ok()
}

/// An IPv6 address (without brackets).
pub(super) fn is_ipv6(text: &str) -> bool {
    text.parse::<std::net::Ipv6Addr>().is_ok()
}

pub use crate::k8s::syntax::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_label_value,
};

/// An image repository as a container runtime accepts it: an optional registry host (with
/// port) and lowercase path components separated by `/`; no tag or digest (the chart adds the
/// tag).
pub(super) fn image_repository(text: &str) -> Result<(), String> {
    let rule = "must be an image repository such as docker.io/org/name (lowercase path, optional registry host:port, no tag or digest)";
    if text.is_empty() || text.len() > 255 || text.contains('@') {
        return Err(rule.into());
    }
    let mut parts: Vec<&str> = text.split('/').collect();
    if parts.len() > 1 {
        let first = parts[0];
        if first.contains(['.', ':']) || first == "localhost" {
            let (host, port) = first.split_once(':').unwrap_or((first, ""));
            let port_ok = port.is_empty() || port.bytes().all(|b| b.is_ascii_digit());
            if !is_hostname(host) || !port_ok || (first.contains(':') && port.is_empty()) {
                return Err(rule.into());
            }
            parts.remove(0);
        }
    }
    let component_ok = |c: &str| {
        // [a-z0-9]+ separated by '.', '_', '__' or one or more '-'.
        let bytes = c.as_bytes();
        if bytes.is_empty()
            || !bytes[0].is_ascii_alphanumeric()
            || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
        {
            return false;
        }
        let mut run = String::new();
        for &b in bytes {
            if b.is_ascii_lowercase() || b.is_ascii_digit() {
                if !(run.is_empty()
                    || run == "."
                    || run == "_"
                    || run == "__"
                    || run.bytes().all(|r| r == b'-'))
                {
                    return false;
                }
                run.clear();
            } else if matches!(b, b'.' | b'_' | b'-') {
                run.push(b as char);
            } else {
                return false;
            }
        }
        true
    };
    if parts.is_empty() || !parts.iter().all(|c| component_ok(c)) {
        return Err(rule.into());
    }
    Ok(())
}

/// An image tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_image_tag(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `image.tag` as the template prints it, or `None` when it is empty ([`is_empty_value`]) and
/// the chart's appVersion is used. `literal` is how a number was written in a
/// values file: a float tag such as `1.20` prints as `1.2`, which is refused.
pub(super) fn image_tag(value: &Value, literal: Option<&str>) -> Result<Option<String>, String> {
    if is_empty_value(value) {
        return Ok(None);
    }
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => {
            let shown = go_print_number(n);
            let exact = match literal {
                Some(written) => written == shown,
                None => n.is_i64() || n.is_u64() || !shown.contains(['.', 'e']),
            };
            if !exact {
                let written = literal
                    .map(|w| format!("written as {w}, "))
                    .unwrap_or_default();
                return Err(format!(
                    "is a number ({written}printed as {shown}); quote the tag in the values file (tag: \"{}\") or use --set-string",
                    literal.unwrap_or(&shown)
                ));
            }
            shown
        }
        _ => {
            return Err(
                "must be an image tag (text), or empty (null, false, 0, \"\", [] or {}) for the chart's appVersion"
                    .into(),
            );
        }
    };
    if !is_image_tag(&text) {
        return Err("must be an image tag: letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128 characters".into());
    }
    Ok(Some(text))
}

/// A Kubernetes resource quantity (`100m`, `1Gi`, `0.5`, `1e3`), as its numeric value.
pub use crate::k8s::syntax::quantity_value as quantity;

/// A container resource name: a standard one or a domain-qualified extended resource.
pub(super) fn is_resource_name(name: &str) -> bool {
    match name.split_once('/') {
        None => {
            matches!(name, "cpu" | "memory" | "ephemeral-storage")
                || name
                    .strip_prefix("hugepages-")
                    .is_some_and(|size| quantity(size).is_some())
        }
        Some((domain, rest)) => {
            is_dns1123_subdomain(domain) && crate::k8s::syntax::is_qualified_name_part(rest)
        }
    }
}

/// Helm's `trunc 63 | trimSuffix "-"`: cut to 63 bytes, then remove one trailing `-`. Cutting
/// inside a multi-byte character gives invalid UTF-8 (as in Helm), returned as `Err` with the
/// lossy text.
pub(super) fn trunc63_trim(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let cut = &bytes[..bytes.len().min(63)];
    let cut = cut.strip_suffix(b"-").unwrap_or(cut);
    String::from_utf8(cut.to_vec()).map_err(|_| String::from_utf8_lossy(cut).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truthiness_like_go_templates() {
        for falsy in [
            json!(null),
            json!(false),
            json!(0),
            json!(0.0),
            json!(""),
            json!({}),
            json!([]),
        ] {
            assert!(!is_truthy(Some(&falsy)), "{falsy}");
        }
        for truthy in [
            json!("0"),
            json!(1),
            json!("x"),
            json!({"a": 1}),
            json!(true),
        ] {
            assert!(is_truthy(Some(&truthy)), "{truthy}");
        }
        assert!(!is_truthy(None));
    }

    proptest::proptest! {
        /// The shortcut for plain word text answers as reading the text back does: on random text
        /// of word and indicator characters, and on YAML 1.1's special words and numbers, which
        /// random text rarely hits.
        #[test]
        fn plain_word_shortcut_agrees_with_the_reader(body in proptest::prop_oneof![
            "[a-zA-Z0-9 ._/+=@:#'\"\\[{,!&*-]{1,24}",
            "(y|Y|yes|No|on|OFF|true|null|Null|~|[-+]?(0x[0-9a-fA-F]{1,4}|0b[01]{1,4}|0o?[0-7]{1,4}|[0-9][0-9_]{0,4}(\\.[0-9]*)?([eE][-+]?[0-9]{1,2})?|[0-9]{1,2}(:[0-5][0-9]){1,2}|\\.inf|\\.nan))",
        ]) {
            if is_plain_word_text(&body) {
                proptest::prop_assert_eq!(
                    crate::compat::yaml::plain_reads_as_string(&body),
                    reads_back_unquoted_by_reader(&body),
                    "{:?}", body
                );
            }
        }
    }

    #[test]
    fn unquoted_read_back() {
        assert!(reads_back_unquoted("ssh-ed25519 AAAAC3Nz comment"));
        assert!(reads_back_unquoted("ssh-ed25519 AAAAC3Nz comment\n"));
        assert!(reads_back_unquoted("svc.ns.svc.cluster.local"));
        for bad in [
            "off",
            "yes",
            "null",
            "123",
            "1e3",
            "a: b",
            "a #b",
            "a\nb",
            "<no value>",
            "~",
            "",
            " x",
            "[x]",
            "x\n---\nkind: Foo",
        ] {
            assert!(!reads_back_unquoted(bad), "{bad:?}");
        }
        assert!(unquoted_problem("off").contains("boolean"));
        assert!(unquoted_problem("key: value").contains(": "));
        assert!(unquoted_problem("a #c").contains("comment"));
    }

    #[test]
    fn names() {
        assert!(is_dns1035_label("msoff-gateway-nodeport"));
        assert!(!is_dns1035_label("my.rel.v1-gateway"));
        assert!(!is_dns1035_label("123-gateway"));
        assert!(!is_dns1035_label("abc-"));
        assert!(is_dns1123_subdomain("my.rel.v1-bastion"));
        assert!(is_label_value(
            "n23456789012345678901234567890123456789012345678901234567890123"
        ));
        assert!(!is_label_value("a-"));
        assert_eq!(trunc63_trim("abc--"), Ok("abc-".into()));
        let s = format!("{}é", "a".repeat(62));
        assert!(trunc63_trim(&s).is_err());
        assert_eq!(trunc63_trim(&"b".repeat(70)), Ok("b".repeat(63)));
    }

    #[test]
    fn hosts_and_logins() {
        assert!(is_hostname(
            "mlaas-inference-service-hep-predictor-00001.mlaas.svc.cluster.local"
        ));
        assert!(is_hostname("gw"));
        assert!(!is_hostname("a b"));
        assert!(!is_hostname("svc:80"));
        assert!(is_ipv4("131.154.98.96"));
        assert!(is_ipv6("::1"));
        assert!(login_name("interlink-user").is_ok());
        assert!(login_name("my user").is_err());
        assert!(login_name("from-a").is_ok());
        assert!(login_name("1user").is_err());
        assert!(login_name("user:x").is_err());
    }

    #[test]
    fn images() {
        assert!(image_repository("docker.io/mginfn/openssh-server").is_ok());
        assert!(image_repository("registry.local/ssh").is_ok());
        assert!(image_repository("localhost:5000/a/b_c").is_ok());
        assert!(image_repository("nginx").is_ok());
        assert!(image_repository("Docker.io/x\"y").is_err());
        assert!(image_repository("repo:tag").is_err());
        assert!(image_repository("").is_err());
        assert!(is_image_tag("v9"));
        assert!(is_image_tag("3.20"));
        assert!(!is_image_tag("-x"));
        assert!(!is_image_tag("a b"));
        assert_eq!(image_tag(&json!(2), None), Ok(Some("2".into())));
        assert_eq!(image_tag(&json!(2.0), Some("2")), Ok(Some("2".into())));
        assert!(image_tag(&json!(1.0), Some("1.0")).is_err_and(|e| e.contains("written as 1.0")));
        assert!(image_tag(&json!(1.2), Some("1.20")).is_err_and(|e| e.contains("quote")));
        assert!(image_tag(&json!(1000000.0), None).is_err());
        for empty in [
            json!(null),
            json!(false),
            json!(0),
            json!(""),
            json!([]),
            json!({}),
        ] {
            assert_eq!(image_tag(&empty, None), Ok(None), "{empty}");
            assert_eq!(name_override(&empty), Ok(None), "{empty}");
        }
        assert!(image_tag(&json!(["v1"]), None).is_err());
        assert!(name_override(&json!(1)).is_err());
    }

    #[test]
    fn quantities() {
        assert_eq!(quantity("100m"), Some(0.1));
        assert_eq!(quantity("16Mi"), Some(16.0 * 1024.0 * 1024.0));
        assert_eq!(quantity("1e3"), Some(1000.0));
        assert_eq!(quantity("0.5"), Some(0.5));
        assert_eq!(quantity("1"), Some(1.0));
        assert_eq!(quantity("abc"), None);
        assert_eq!(quantity("1x"), None);
        assert_eq!(quantity("yes"), None);
        assert!(is_resource_name("nvidia.com/gpu"));
        assert!(is_resource_name("ephemeral-storage"));
        assert!(!is_resource_name("gpu"));
    }
}
