//! Kubernetes resource quantities (`500m`, `64Gi`, `1.5`, `2e3`) as exact integers of milli-units, for
//! adding up node capacity and pod requests without the rounding of [`super::syntax::quantity_value`].

/// Why a quantity string is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum QuantityError {
    /// Not of the form `<number><suffix>`.
    #[error("not a Kubernetes quantity (such as 500m, 2, 1.5Gi or 8e3)")]
    Syntax,
    /// Too large to add up exactly.
    #[error("quantity too large")]
    Overflow,
}

/// Longest quantity text accepted (Kubernetes' own are far shorter).
const MAX_LEN: usize = 64;

/// Parses `text` into milli-units, rounding a fraction of a milli-unit up (as Kubernetes' `MilliValue`).
pub(crate) fn parse_milli(text: &str) -> Result<i128, QuantityError> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_LEN {
        return Err(QuantityError::Syntax);
    }
    let (negative, rest) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let number_len = rest
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(QuantityError::Syntax);
    }
    let mut mantissa: i128 = 0;
    for digit in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(digit - b'0')))
            .ok_or(QuantityError::Overflow)?;
    }
    // value = mantissa * 2^binary * 10^decimal, in units; milli-units add 3 to the decimal exponent.
    let (binary, decimal): (u32, i32) = match suffix {
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "" => (0, 0),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        exponent if exponent.starts_with(['e', 'E']) => {
            let value: i32 = exponent[1..].parse().map_err(|_| QuantityError::Syntax)?;
            if !(-30..=30).contains(&value) {
                return Err(QuantityError::Overflow);
            }
            (0, value)
        }
        _ => return Err(QuantityError::Syntax),
    };
    let fraction_digits = i32::try_from(fraction.len()).map_err(|_| QuantityError::Syntax)?;
    let exponent = decimal + 3 - fraction_digits;
    let mut value = mantissa
        .checked_mul(1i128 << binary)
        .ok_or(QuantityError::Overflow)?;
    if exponent >= 0 {
        value = value
            .checked_mul(10i128.pow(exponent.unsigned_abs()))
            .ok_or(QuantityError::Overflow)?;
    } else {
        let divisor = 10i128
            .checked_pow(exponent.unsigned_abs())
            .ok_or(QuantityError::Overflow)?;
        // Rounded up, as Kubernetes rounds fractional milli-units of requests up.
        value = (value + divisor - 1) / divisor;
    }
    Ok(if negative { -value } else { value })
}

/// CPU in milli-cores as Kubernetes writes it: `4` or `1500m`.
pub(crate) fn format_cpu(milli: i128) -> String {
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

/// Bytes (from milli-bytes, fractions dropped) with the largest binary suffix that divides them: `64Gi`.
pub(crate) fn format_bytes(milli: i128) -> String {
    let bytes = milli / 1000;
    for (suffix, shift) in [("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] {
        let unit = 1i128 << shift;
        if bytes != 0 && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    bytes.to_string()
}

/// A whole count (pods, devices), fractions dropped.
pub(crate) fn format_count(milli: i128) -> String {
    (milli / 1000).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kubernetes_forms() {
        for (text, milli) in [
            ("1", 1000),
            ("500m", 500),
            ("0.5", 500),
            ("1.5Gi", 1_610_612_736_000),
            ("64Gi", 68_719_476_736_000),
            ("128974848", 128_974_848_000),
            ("129e6", 129_000_000_000),
            ("123Mi", 128_974_848_000),
            ("1k", 1_000_000),
            ("250n", 1),
            ("0", 0),
            ("+2", 2000),
            ("-1", -1000),
            (".5", 500),
            ("1E3", 1_000_000),
            ("1.", 1000),
            ("2e-3", 2),
        ] {
            assert_eq!(parse_milli(text), Ok(milli), "{text}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_quantity() {
        for text in ["", "abc", "1.2.3", "1 Gi", "1gi", "Gi", "1e", "--1", "1e+"] {
            assert_eq!(parse_milli(text), Err(QuantityError::Syntax), "{text:?}");
        }
        assert_eq!(
            parse_milli("99999999999999999999999999999999999999Ei"),
            Err(QuantityError::Overflow)
        );
        assert_eq!(parse_milli("1e99"), Err(QuantityError::Overflow));
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_approximate_parser(text in "[-+]?[0-9.]{0,4}(Ki|Mi|m|k|e|E|e-|e+|E3|x|)[0-9]{0,2}") {
            let approximate = crate::k8s::syntax::quantity_value(&text);
            match parse_milli(&text) {
                Ok(milli) => {
                    let value = approximate.expect("both accept");
                    proptest::prop_assert!((milli as f64 / 1000.0 - value).abs() <= 0.001 + value.abs() * 1e-9, "{} {} {}", text, milli, value);
                }
                Err(QuantityError::Syntax) => proptest::prop_assert!(approximate.is_none(), "{}", text),
                Err(QuantityError::Overflow) => {}
            }
        }
    }

    #[test]
    fn formats_as_kubernetes_writes_them() {
        assert_eq!(format_cpu(4000), "4");
        assert_eq!(format_cpu(1500), "1500m");
        assert_eq!(format_bytes(68_719_476_736_000), "64Gi");
        assert_eq!(format_bytes(1_610_612_736_000), "1536Mi");
        assert_eq!(format_bytes(1_000_000), "1000");
        assert_eq!(format_bytes(0), "0");
        assert_eq!(format_count(7999), "7");
    }
}
