//! Kubernetes' syntax rules for names, label keys and values, data keys, environment variable names,
//! port names and quantities (k8s.io/apimachinery/pkg/util/validation), shared by the values checks,
//! the rendered-object checks and the offloading names.
//!
//! They are byte loops rather than regexes on purpose: every `ikp render` process runs them once, and
//! compiling the equivalent regexes cost more than the whole render.

/// TCP and UDP port numbers.
pub const PORTS: std::ops::RangeInclusive<u16> = 1..=65535;
/// The API server's default `--service-node-port-range`: the node ports a Service may ask for.
pub(crate) const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;
/// Longest DNS-1123 / DNS-1035 label.
const MAX_LABEL: usize = 63;
/// Longest DNS-1123 subdomain.
pub(crate) const MAX_SUBDOMAIN: usize = 253;

fn alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?` of any length.
fn label_syntax(bytes: &[u8]) -> bool {
    !bytes.is_empty()
        && bytes.iter().all(|&b| alnum_lower(b) || b == b'-')
        && alnum_lower(bytes[0])
        && alnum_lower(bytes[bytes.len() - 1])
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$` and at most 63 bytes.
pub fn is_dns1123_label(text: &str) -> bool {
    text.len() <= MAX_LABEL && label_syntax(text.as_bytes())
}

/// Dot-separated DNS-1123 label syntax, at most 253 bytes in all (apimachinery does not limit the
/// parts to 63).
pub fn is_dns1123_subdomain(text: &str) -> bool {
    text.len() <= MAX_SUBDOMAIN && text.as_bytes().split(|&b| b == b'.').all(label_syntax)
}

/// A DNS-1123 label that starts with a letter (what a Service name must be).
pub fn is_dns1035_label(text: &str) -> bool {
    is_dns1123_label(text) && text.as_bytes()[0].is_ascii_lowercase()
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` of at most 63 bytes: the name part of a label key, and
/// a non-empty label value.
pub(crate) fn is_qualified_name_part(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_LABEL
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

/// A label value: empty, or a qualified name part.
pub fn is_label_value(text: &str) -> bool {
    text.is_empty() || is_qualified_name_part(text)
}

/// A label or annotation key: an optional DNS-1123 subdomain prefix and `/`, then a qualified name
/// part.
pub(crate) fn is_label_key(key: &str) -> bool {
    match key.bytes().rposition(|b| b == b'/') {
        Some(slash) => {
            is_dns1123_subdomain(&key[..slash]) && is_qualified_name_part(&key[slash + 1..])
        }
        None => is_qualified_name_part(key),
    }
}

/// A ConfigMap or Secret key: `[-._a-zA-Z0-9]+`, at most 253 bytes.
pub(crate) fn is_config_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_SUBDOMAIN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// An environment variable name: `[-._a-zA-Z][-._a-zA-Z0-9]*`.
pub(crate) fn is_env_var_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && !bytes[0].is_ascii_digit()
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A named port: a DNS-1123 label of at most 15 bytes.
pub(crate) fn is_port_name(name: &str) -> bool {
    name.len() <= 15 && is_dns1123_label(name)
}

/// The amount a Kubernetes quantity (`500m`, `1.5Gi`, `2e3`) stands for, or `None` when the text is
/// not a quantity. Approximate (f64): enough to compare a request with a limit.
pub fn quantity_value(text: &str) -> Option<f64> {
    let split = text
        .bytes()
        .position(|b| !(b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let digits = number.strip_prefix(['+', '-']).unwrap_or(number);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let well_formed = !(whole.is_empty() && fraction.is_empty())
        && whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            10f64.powi(digits.parse().ok()?)
        }
    };
    Some(number * factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex::Regex;

    // The regexes apimachinery states its rules with; the byte checks must agree with them.
    fn agrees(check: fn(&str) -> bool, pattern: &str, max: usize, text: &str) -> bool {
        let regex = Regex::new(pattern).unwrap();
        check(text) == (text.len() <= max && regex.is_match(text))
    }

    const TEXT: &str = "[-a-zA-Z0-9_./+]{0,70}";

    proptest! {
        #[test]
        fn dns1123_label_matches_the_regex(text in TEXT) {
            prop_assert!(agrees(is_dns1123_label, r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", 63, &text));
        }

        #[test]
        fn dns1123_subdomain_matches_the_regex(text in "[-a-z0-9.]{0,70}") {
            prop_assert!(agrees(
                is_dns1123_subdomain,
                r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                253,
                &text
            ));
        }

        #[test]
        fn dns1035_label_matches_the_regex(text in TEXT) {
            prop_assert!(agrees(is_dns1035_label, r"^[a-z]([-a-z0-9]*[a-z0-9])?$", 63, &text));
        }

        #[test]
        fn label_value_matches_the_regex(text in TEXT) {
            prop_assert!(agrees(is_label_value, r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", 63, &text));
        }

        #[test]
        fn config_key_matches_the_regex(text in TEXT) {
            prop_assert!(agrees(is_config_key, r"^[-._a-zA-Z0-9]+$", 253, &text));
        }

        #[test]
        fn env_name_matches_the_regex(text in TEXT) {
            prop_assert!(agrees(is_env_var_name, r"^[-._a-zA-Z][-._a-zA-Z0-9]*$", usize::MAX, &text));
        }

        #[test]
        fn quantity_syntax_matches_the_regex(text in "[-+]?[0-9.]{0,4}(Ki|Mi|m|k|e|E|e-|e+|E3|x|)[0-9]{0,2}") {
            let regex = Regex::new(r"^([+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$").unwrap();
            prop_assert_eq!(quantity_value(&text).is_some(), regex.is_match(&text), "{}", text);
        }
    }

    #[test]
    fn examples() {
        assert!(is_dns1035_label("msoff-gateway-nodeport"));
        assert!(!is_dns1035_label("my.rel.v1-gateway"));
        assert!(!is_dns1035_label("123-gateway"));
        assert!(is_dns1123_subdomain("my.rel.v1-bastion"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(is_label_key("app.kubernetes.io/name"));
        assert!(!is_label_key("app.kubernetes.io/"));
        assert!(!is_label_key("Bad_Prefix/name"));
        assert!(is_port_name("ssh"));
        assert!(!is_port_name("a-very-long-port-name"));
        assert_eq!(quantity_value("500m"), Some(0.5));
        assert_eq!(quantity_value("1Gi"), Some(1024f64.powi(3)));
        assert_eq!(quantity_value("2e3"), Some(2000.0));
        assert_eq!(quantity_value(".5"), Some(0.5));
        assert_eq!(quantity_value("1."), Some(1.0));
        assert_eq!(quantity_value("1Gb"), None);
        assert_eq!(quantity_value("."), None);
        assert_eq!(quantity_value(""), None);
        assert_eq!(quantity_value("1e"), None);
    }
}
