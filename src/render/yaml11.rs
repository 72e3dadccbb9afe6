//! YAML 1.1 scalar resolution as Kubernetes' YAML readers do it (sigs.k8s.io/yaml on go-yaml v2):
//! which type an unquoted scalar has (`off` is a boolean, `0123` is octal 83, `1e3` is a float).
//! Both `toYaml` (to decide when a string needs quotes) and the manifest checker use it.

use std::sync::LazyLock;

use regex::Regex;

/// What an unquoted (plain) scalar means to a YAML 1.1 reader.
#[derive(Debug, Clone, PartialEq)]
pub enum PlainScalar {
    /// `~`, `null`, `Null`, `NULL` or empty.
    Null,
    /// `true`/`false`, `yes`/`no`, `on`/`off`, `y`/`n` in their usual spellings.
    Bool(bool),
    /// A signed integer (decimal, `0x`, `0o`, `0b` or a leading-zero octal).
    Int(i64),
    /// An integer too large for i64 but within u64.
    Uint(u64),
    /// A float, including `.inf` and `.nan`.
    Float(f64),
    /// A date or date-time, which go-yaml reads as a timestamp.
    Timestamp,
    /// The merge key `<<`.
    Merge,
    /// Anything else: a string.
    Str,
}

static FLOAT_SYNTAX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").expect("valid float regex")
});
static BASE60_FLOAT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").expect("valid base-60 regex")
});
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?$",
    )
    .expect("valid timestamp regex")
});

/// Resolves an unquoted scalar the way go-yaml v2 does.
pub fn resolve_plain(text: &str) -> PlainScalar {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return PlainScalar::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return PlainScalar::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return PlainScalar::Bool(false);
        }
        ".nan" | ".NaN" | ".NAN" => return PlainScalar::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return PlainScalar::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return PlainScalar::Float(f64::NEG_INFINITY),
        "<<" => return PlainScalar::Merge,
        _ => {}
    }
    let first = text.as_bytes()[0];
    match first {
        b'.' => match text.parse::<f64>() {
            Ok(value) if FLOAT_SYNTAX.is_match(text) => PlainScalar::Float(value),
            _ => PlainScalar::Str,
        },
        b'+' | b'-' | b'0'..=b'9' => resolve_number(text),
        _ => PlainScalar::Str,
    }
}

fn resolve_number(text: &str) -> PlainScalar {
    if TIMESTAMP.is_match(text) {
        return PlainScalar::Timestamp;
    }
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    if let Some(value) = parse_go_int(&plain) {
        return value;
    }
    if FLOAT_SYNTAX.is_match(&plain)
        && let Ok(value) = plain.parse::<f64>()
    {
        return PlainScalar::Float(value);
    }
    PlainScalar::Str
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `ParseUint(s, 0, 64)`: base from the prefix
/// (`0x`, `0o`, `0b`, a bare leading `0` for octal), optional sign for the signed form.
fn parse_go_int(text: &str) -> Option<PlainScalar> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(rest) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, rest)
    } else if let Some(rest) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, rest)
    } else if let Some(rest) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, rest)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            return Some(PlainScalar::Int((magnitude as i128).wrapping_neg() as i64));
        }
        return None;
    }
    if let Ok(value) = i64::try_from(magnitude) {
        return Some(PlainScalar::Int(value));
    }
    // ParseUint does not take a sign, so only unsigned text reaches u64.
    if text.starts_with('+') {
        return None;
    }
    Some(PlainScalar::Uint(magnitude))
}

/// Whether go-yaml writes this string without quotes: it must read back as a string and not look
/// like a YAML 1.1 sexagesimal number (`1:20`).
pub fn plain_reads_as_string(text: &str) -> bool {
    resolve_plain(text) == PlainScalar::Str && !BASE60_FLOAT.is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_1_1_scalars_resolve_like_go_yaml_v2() {
        assert_eq!(resolve_plain("off"), PlainScalar::Bool(false));
        assert_eq!(resolve_plain("Yes"), PlainScalar::Bool(true));
        assert_eq!(resolve_plain("y"), PlainScalar::Bool(true));
        assert_eq!(resolve_plain("0123"), PlainScalar::Int(83));
        assert_eq!(resolve_plain("0x1F"), PlainScalar::Int(31));
        assert_eq!(resolve_plain("1_000"), PlainScalar::Int(1000));
        assert_eq!(resolve_plain("-5"), PlainScalar::Int(-5));
        assert_eq!(resolve_plain("+5"), PlainScalar::Int(5));
        assert_eq!(resolve_plain("09"), PlainScalar::Float(9.0));
        assert_eq!(resolve_plain("1e3"), PlainScalar::Float(1000.0));
        assert_eq!(resolve_plain("1.5"), PlainScalar::Float(1.5));
        assert_eq!(resolve_plain(".5"), PlainScalar::Float(0.5));
        assert_eq!(resolve_plain("~"), PlainScalar::Null);
        assert_eq!(resolve_plain(""), PlainScalar::Null);
        assert_eq!(resolve_plain("2001-12-14"), PlainScalar::Timestamp);
        assert_eq!(
            resolve_plain("18446744073709551615"),
            PlainScalar::Uint(u64::MAX)
        );
        assert_eq!(resolve_plain("100m"), PlainScalar::Str);
        assert_eq!(resolve_plain("1Gi"), PlainScalar::Str);
        assert_eq!(resolve_plain("ssh-rsa"), PlainScalar::Str);
        assert_eq!(resolve_plain("<<"), PlainScalar::Merge);
        assert_eq!(resolve_plain("1.2.3"), PlainScalar::Str);
    }

    #[test]
    fn sexagesimal_text_is_quoted() {
        assert!(!plain_reads_as_string("1:20"));
        assert!(plain_reads_as_string("a:20"));
        assert!(plain_reads_as_string("Etc/UTC"));
    }
}
