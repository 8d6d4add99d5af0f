//! Exact decimal text ⇄ scaled integers. Catalogue files and Odoo's JSON write
//! rates and prices as decimal numbers (`21`, `5.5`, `12.50`); they are read
//! here from their text, never through a float, so `0.1` is exactly a tenth.

/// Why a decimal could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("`{0}` is not a decimal number")]
    Syntax(String),
    #[error("`{text}` has more than {places} decimal places")]
    TooPrecise { text: String, places: u32 },
    #[error("`{0}` is out of range")]
    Range(String),
}

/// Reads `text` as a decimal and returns it times `10^places`, refusing any
/// digit beyond `places` decimals (that would need rounding, which is not the
/// importer's to decide). Accepts an exponent (`1e-5`), as JSON writers emit.
pub fn parse_scaled(text: &str, places: u32) -> Result<i64, DecimalError> {
    let syntax = || DecimalError::Syntax(text.chars().take(40).collect());
    let t = text.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i32>().map_err(|_| syntax())?),
        None => (t, 0),
    };
    let (int_part, frac_part) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(syntax());
    }
    // digits × 10^(exponent − len(frac)) × 10^places
    let digits: String = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let shift = i64::from(exponent) - frac_part.len() as i64 + i64::from(places);
    let range = || DecimalError::Range(text.chars().take(40).collect());
    let mut value: i128 = 0;
    for b in digits.bytes() {
        value = value.checked_mul(10).and_then(|v| v.checked_add(i128::from(b - b'0'))).ok_or_else(range)?;
    }
    if value == 0 {
        return Ok(0);
    }
    // A non-zero i128 has at most 39 digits: a longer shift cannot succeed,
    // and looping over a huge exponent (`1e999999999`) would only cost time.
    if shift > 39 {
        return Err(range());
    }
    if shift < -39 {
        return Err(DecimalError::TooPrecise { text: text.chars().take(40).collect(), places });
    }
    if shift >= 0 {
        for _ in 0..shift {
            value = value.checked_mul(10).ok_or_else(range)?;
            if value > i128::from(i64::MAX) {
                return Err(range());
            }
        }
    } else {
        for _ in 0..(-shift) {
            if value % 10 != 0 {
                return Err(DecimalError::TooPrecise { text: text.chars().take(40).collect(), places });
            }
            value /= 10;
        }
    }
    let value = if negative { -value } else { value };
    i64::try_from(value).map_err(|_| range())
}

/// `value / 10^places` as the shortest decimal text (`210000`, 4 → `21`).
pub fn format_scaled(value: i64, places: u32) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    // More places than a u64 can scale only comes from unvalidated input.
    let Some(scale) = 10u64.checked_pow(places) else {
        return format!("{value}e-{places}");
    };
    let (whole, frac) = (abs / scale, abs % scale);
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let digits = format!("{frac:0width$}", width = places as usize);
        format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
    }
}

/// Serde support: a decimal field may be written as a JSON string or number;
/// a number is read from its shortest round-trip text, which is the decimal
/// its writer meant.
pub(crate) struct DecimalText(pub String);

impl<'de> serde::Deserialize<'de> for DecimalText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DecimalText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a decimal number or a string holding one")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DecimalText, E> {
                // Rust's `Display` for f64 is the shortest text that reads back
                // as the same float: `0.1` stays `0.1`.
                if v.is_finite() {
                    Ok(DecimalText(v.to_string()))
                } else {
                    Err(E::custom("not a finite number"))
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_scaled("21", 4).unwrap(), 210_000);
        assert_eq!(parse_scaled("5.5", 4).unwrap(), 55_000);
        assert_eq!(parse_scaled("-0.0001", 4).unwrap(), -1);
        assert_eq!(parse_scaled("12.50", 2).unwrap(), 1250);
        assert_eq!(parse_scaled("1e-2", 2).unwrap(), 1);
        assert_eq!(parse_scaled("1.5E1", 0).unwrap(), 15);
        assert_eq!(parse_scaled(".5", 1).unwrap(), 5);
        assert!(matches!(parse_scaled("0.125", 2), Err(DecimalError::TooPrecise { .. })));
        assert!(parse_scaled("1.2.3", 2).is_err());
        assert!(parse_scaled("", 2).is_err());
        assert!(parse_scaled("abc", 2).is_err());
        assert!(parse_scaled("1e40", 2).is_err());
        assert_eq!(parse_scaled("0e999999999", 2).unwrap(), 0);
        assert!(parse_scaled("1e999999999", 2).is_err());
        assert!(parse_scaled("1e-999999999", 2).is_err());
        assert!(parse_scaled("1e99999999999", 2).is_err());
        assert_eq!(format_scaled(210_000, 4), "21");
        assert_eq!(format_scaled(-55_000, 4), "-5.5");
        assert_eq!(format_scaled(5, 2), "0.05");
        assert_eq!(format_scaled(5, 40), "5e-40");
    }
}
