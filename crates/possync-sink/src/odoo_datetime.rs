//! Odoo's datetime text: `YYYY-MM-DD HH:MM:SS` in UTC, what
//! `fields.Datetime` stores and what the POS front end sends
//! (`serializeDateTime`, `time.datetime_to_str`).

/// Milliseconds since the Unix epoch as Odoo's datetime text (seconds
/// truncated; a time before 1970 is written as the epoch).
pub fn odoo_datetime(at_ms: i64) -> String {
    let secs = at_ms.max(0) / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(odoo_datetime(0), "1970-01-01 00:00:00");
        // 2024-02-29 23:59:59.999 UTC: a leap day, milliseconds dropped.
        assert_eq!(odoo_datetime(1_709_251_199_999), "2024-02-29 23:59:59");
        assert_eq!(odoo_datetime(1_796_256_000_000), "2026-12-03 00:00:00");
        assert_eq!(odoo_datetime(-5), "1970-01-01 00:00:00");
    }
}
