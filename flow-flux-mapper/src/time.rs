//! RFC 3339 timestamps, as Kubernetes writes them, to unix milliseconds.
//!
//! Kubernetes emits `metav1.Time` as `2026-07-01T10:00:00Z` and `metav1.MicroTime` with a
//! fraction (`2026-07-01T10:00:00.123456Z`); hand-written objects may carry an offset
//! (`+02:00`). That is all this parser accepts: anything else is `None`, never a panic, so an
//! unreadable time only leaves a field out.

/// Parses an RFC 3339 date-time to unix milliseconds (fraction truncated to milliseconds).
///
/// `None` for malformed input and for instants before 1970 (the contract's times are unsigned).
#[must_use]
pub fn rfc3339_to_unix_ms(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        || bytes.get(13) != Some(&b':')
        || bytes.get(16) != Some(&b':')
    {
        return None;
    }
    let year = digits(bytes, 0, 4)?;
    let month = digits(bytes, 5, 2)?;
    let day = digits(bytes, 8, 2)?;
    let hour = digits(bytes, 11, 2)?;
    let minute = digits(bytes, 14, 2)?;
    let second = digits(bytes, 17, 2)?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }

    let mut at = 19;
    let mut millis = 0;
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 3 {
                millis = millis * 10 + i64::from(bytes[at] - b'0');
            }
            at += 1;
        }
        let len = at - start;
        if len == 0 {
            return None;
        }
        for _ in len..3 {
            millis *= 10;
        }
    }

    let offset_seconds = match bytes.get(at..)? {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = digits(bytes, at + 1, 2)?;
            let minutes = digits(bytes, at + 4, 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = hours * 3600 + minutes * 60;
            if *sign == b'+' { magnitude } else { -magnitude }
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    let ms = seconds.checked_mul(1000)?.checked_add(millis)?;
    u64::try_from(ms).ok()
}

/// Reads `len` ASCII digits at `at` as a number.
fn digits(bytes: &[u8], at: usize, len: usize) -> Option<i64> {
    bytes.get(at..at + len)?.iter().try_fold(0_i64, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

const fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

const fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a Go duration (`time.Duration.String()`: `2.412s`, `1m30.5s`, `1h0m0s`, `350ms`,
/// `0s`) to whole milliseconds, truncating below, in integer arithmetic as Go does. `None`
/// for anything else, a negative duration included, and for an overflow.
#[must_use]
pub(crate) fn go_duration_ms(text: &str) -> Option<u64> {
    // Nanoseconds per unit; units longest first, so `ms` is not read as `m` then `s`.
    const UNITS: [(&str, u128); 8] = [
        ("ns", 1),
        ("us", 1_000),
        ("\u{b5}s", 1_000),
        ("\u{3bc}s", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
    ];
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut nanos: u128 = 0;
    while !rest.is_empty() {
        let whole_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (whole, tail) = rest.split_at(whole_len);
        let (fraction, tail) = match tail.strip_prefix('.') {
            Some(after) => after.split_at(
                after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len()),
            ),
            None => ("", tail),
        };
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let (unit, scale) = UNITS.iter().find(|(unit, _)| tail.starts_with(unit))?;
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        // Digits beyond nanosecond precision of the largest unit cannot change the result.
        let fraction = &fraction[..fraction.len().min(13)];
        let mut part = whole.checked_mul(*scale)?;
        if !fraction.is_empty() {
            let digits: u128 = fraction.parse().ok()?;
            let exp = u32::try_from(fraction.len()).ok()?;
            part = part.checked_add(digits * scale / 10u128.pow(exp))?;
        }
        nanos = nanos.checked_add(part)?;
        rest = &tail[unit.len()..];
    }
    u64::try_from(nanos / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::go_duration_ms;
    use super::rfc3339_to_unix_ms as parse;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration_ms("2.412s"), Some(2412));
        assert_eq!(go_duration_ms("1m30.5s"), Some(90_500));
        assert_eq!(go_duration_ms("1h0m0s"), Some(3_600_000));
        assert_eq!(go_duration_ms("350ms"), Some(350));
        assert_eq!(go_duration_ms("1.5\u{b5}s"), Some(0));
        assert_eq!(go_duration_ms("0s"), Some(0));
        assert_eq!(go_duration_ms("4.35s"), Some(4350), "no float rounding");
        assert_eq!(go_duration_ms(".5s"), Some(500));
        for bad in [
            "",
            "s",
            "1",
            "-1s",
            "1d",
            "1.2.3s",
            ".s",
            "1s2",
            "5 s",
            "99999999999999999999999999999999999999999h",
        ] {
            assert_eq!(go_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn kubernetes_forms() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("2026-07-01T10:00:00Z"), Some(1_782_900_000_000));
        assert_eq!(parse("2026-07-01T10:00:00.5Z"), Some(1_782_900_000_500));
        assert_eq!(
            parse("2026-07-01T10:00:00.123456Z"),
            Some(1_782_900_000_123)
        );
        assert_eq!(parse("2026-07-01T12:00:00+02:00"), Some(1_782_900_000_000));
        assert_eq!(
            parse("2026-07-01T09:30:00.250-00:30"),
            Some(1_782_900_000_250)
        );
        assert_eq!(parse("2024-02-29T00:00:00z"), Some(1_709_164_800_000));
        assert_eq!(parse("2000-03-01T00:00:00Z"), Some(951_868_800_000));
    }

    #[test]
    fn rejects_without_panicking() {
        for bad in [
            "",
            "2026-07-01",
            "2026-07-01T10:00:00",
            "2026-13-01T10:00:00Z",
            "2026-02-29T10:00:00Z",
            "2026-07-01T24:00:00Z",
            "2026-07-01T10:60:00Z",
            "2026-07-01T10:00:60Z",
            "2026-07-01T10:00:00.Z",
            "2026-07-01T10:00:00+2:00",
            "2026-07-01T10:00:00+24:00",
            "2026-07-01T10:00:00Zjunk",
            "1969-12-31T23:59:59Z",
            "２０２6-07-01T10:00:00Z",
            "+026-07-01T10:00:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(
            parse("2026-07-01T10:00:00.99999999999999999999999999Z"),
            Some(1_782_900_000_999)
        );
    }
}
