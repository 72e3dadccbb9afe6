//! How Go's `fmt` prints numbers (`%v`), which is what a template's `{{ .Values.x }}` shows.

/// Formats a float like Go's `strconv.FormatFloat(f, 'g', -1, 64)` (and so `fmt`'s `%v`):
/// shortest round-trip digits, exponent form when the decimal exponent is below -4 or at least 6
/// (Go fixes that bound at 6 for the shortest form), so `1000000` prints as `1e+06`.
pub(crate) fn go_format_float(value: f64) -> String {
    format_g(value, false)
}

/// Formats a float like `strconv.FormatFloat(f, 'g', -1, 32)`: what sigs.k8s.io/yaml does with a
/// float map key.
pub(super) fn go_format_float32(value: f64) -> String {
    format_g(value, true)
}

fn format_g(value: f64, single: bool) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Go's shortest mode.
    let sci = if single {
        format!("{:e}", value as f32)
    } else {
        format!("{value:e}")
    };
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exponent.abs()));
    } else if exponent < 0 {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exponent as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// How a number from the value tree prints in a template: int64 in decimal, float64 per Go `%v`.
pub(crate) fn go_print_number(number: &serde_json::Number) -> String {
    if let Some(i) = number.as_i64() {
        return i.to_string();
    }
    if let Some(u) = number.as_u64() {
        return u.to_string();
    }
    go_format_float(number.as_f64().unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_go_percent_v() {
        // Each pair is what Go's fmt.Sprintf("%v", float64(x)) prints.
        let cases = [
            (2222.0, "2222"),
            (30222.5, "30222.5"),
            (1000000.0, "1e+06"),
            (12345678.0, "1.2345678e+07"),
            (123456.0, "123456"),
            (1.2, "1.2"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-5.0, "-5"),
            (83.0, "83"),
            (1e21, "1e+21"),
            (0.5, "0.5"),
        ];
        for (value, printed) in cases {
            assert_eq!(go_format_float(value), printed, "{value}");
        }
    }

    #[test]
    fn float32_keys() {
        assert_eq!(go_format_float32(1.5), "1.5");
        assert_eq!(go_format_float32(0.1), "0.1");
    }
}
