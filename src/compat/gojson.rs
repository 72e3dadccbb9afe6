//! Go's number and string formatting that the values layer does not already provide: how
//! encoding/json writes a float64 (the first step of `toYaml`), and `%q` quoting for `quote`.
//! (`%v` of a float64 is `super::gofmt::go_format_float`.)

use std::fmt::Write as _;

/// Digits and decimal exponent of a finite, non-zero float in shortest round-trip form:
/// `value = 0.d1d2d3... × 10^point`.
struct ShortestDigits {
    negative: bool,
    digits: String,
    point: i32,
}

fn shortest_digits(value: f64) -> ShortestDigits {
    // Rust's `{:e}` prints the shortest digits that read back as the same float, as Go's strconv does.
    let text = format!("{value:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text.as_str(), "0"));
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    ShortestDigits {
        negative,
        digits,
        point: exponent + 1,
    }
}

/// Plain decimal notation with exactly the significant digits.
fn push_fixed_form(out: &mut String, digits: &str, point: i32) {
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..(-point) {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let point = point as usize;
    if digits.len() <= point {
        out.push_str(digits);
        for _ in digits.len()..point {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..point]);
        out.push('.');
        out.push_str(&digits[point..]);
    }
}

/// How Go's `encoding/json` writes a float64: plain decimals unless the magnitude is below 1e-6 or
/// at least 1e21, where it uses the exponent form with a minimal exponent (`1e-7`, `1e+21`).
pub(super) fn format_float_json(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-6..1e21).contains(&magnitude) {
        let parts = shortest_digits(value);
        let mut out = String::new();
        if parts.negative {
            out.push('-');
        }
        let exponent = parts.point - 1;
        let (first, rest) = parts.digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        let _ = write!(out, "{}", exponent.unsigned_abs());
        return out;
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let parts = shortest_digits(value);
    let mut out = String::new();
    if parts.negative {
        out.push('-');
    }
    push_fixed_form(&mut out, &parts.digits, parts.point);
    out
}

/// Go's `strconv.Quote`: double quotes, with Go escapes for quotes, backslashes, control and
/// non-printing characters. This is Helm's `quote`.
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0B}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7F}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Close to Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
fn is_go_printable(ch: char) -> bool {
    if ch == ' ' {
        return true;
    }
    !(ch.is_control()
        || ch.is_whitespace()
        || matches!(ch, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
        || ('\u{E000}'..='\u{F8FF}').contains(&ch)
        || ('\u{F0000}'..).contains(&ch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go_json() {
        let cases = [
            (1e6, "1000000"),
            (0.5, "0.5"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (123456789.25, "123456789.25"),
            (1e20, "100000000000000000000"),
            (0.000001, "0.000001"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_float_json(value), expected, "formatting {value}");
        }
    }

    #[test]
    fn quote_escapes_like_go() {
        assert_eq!(go_quote("1.0.0"), "\"1.0.0\"");
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("line\nnext\t"), "\"line\\nnext\\t\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
        assert_eq!(go_quote("é ü"), "\"é ü\"");
        assert_eq!(go_quote("\u{a0}"), "\"\\u00a0\"");
    }
}
