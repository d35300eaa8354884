//! Unix milliseconds as UTC text, and spans as short human text.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in unix milliseconds (0 if the clock is before 1970).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `ms` as RFC 3339 UTC with milliseconds: `2026-01-01T00:00:00.000Z`.
pub(crate) fn rfc3339(ms: u64) -> String {
    let (date, time) = split(ms);
    format!("{date}T{time}Z")
}

/// The time of day of `ms`, UTC: `00:00:00.000Z`.
pub(crate) fn time_of_day(ms: u64) -> String {
    let (_, time) = split(ms);
    format!("{time}Z")
}

fn split(ms: u64) -> (String, String) {
    let days = ms / 86_400_000;
    let in_day = ms % 86_400_000;
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    let (y, mo, d) = civil_from_days(days);
    (
        format!("{y:04}-{mo:02}-{d:02}"),
        format!("{h:02}:{m:02}:{s:02}.{milli:03}"),
    )
}

/// Howard Hinnant's `civil_from_days` for days since 1970-01-01 (non-negative).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// A span as its two largest units: `45s`, `3m12s`, `2h5m`, `3d4h`.
pub(crate) fn span(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{}h", s / 86_400, s / 3600 % 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_767_225_601_234), "2026-01-01T00:00:01.234Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(time_of_day(1_767_229_199_999), "00:59:59.999Z");
    }

    #[test]
    fn spans_keep_two_units() {
        assert_eq!(span(999), "0s");
        assert_eq!(span(192_000), "3m12s");
        assert_eq!(span(7_500_000), "2h5m");
        assert_eq!(span(273_600_000), "3d4h");
    }
}
