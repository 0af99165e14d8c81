//! The run's `aggregated_at_utc`: pinned by `--aggregated-at` or `SOURCE_DATE_EPOCH`
//! for reproducible output, otherwise the current second.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SS+00:00`.
pub fn format_utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
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

/// Accepts `YYYY-MM-DDTHH:MM:SS` with `+00:00` or `Z`; written back in the `+00:00` form.
pub fn parse_pinned(ts: &str) -> Result<String> {
    let body = ts
        .strip_suffix("+00:00")
        .or_else(|| ts.strip_suffix('Z'))
        .ok_or_else(|| bad(ts))?;
    let b = body.as_bytes();
    let shape_ok = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    let num = |r: std::ops::Range<usize>| body[r].parse::<u32>().unwrap_or(u32::MAX);
    if !shape_ok
        || !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 59
    {
        return Err(bad(ts));
    }
    Ok(format!("{body}+00:00"))
}

fn bad(ts: &str) -> Error {
    Error::Usage(format!(
        "--aggregated-at expects a UTC time like 2026-05-09T00:00:00+00:00, got {ts:?}"
    ))
}

/// The timestamp for this run.
pub fn resolve(pinned: Option<&str>) -> Result<String> {
    if let Some(ts) = pinned {
        return parse_pinned(ts);
    }
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        let secs = epoch.trim().parse::<i64>().map_err(|_| {
            Error::Usage(format!(
                "SOURCE_DATE_EPOCH must be whole seconds since 1970, got {epoch:?}"
            ))
        })?;
        return Ok(format_utc(secs));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Ok(format_utc(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(format_utc(1_778_284_800), "2026-05-09T00:00:00+00:00");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00+00:00");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20+00:00");
    }

    #[test]
    fn pinned_times_are_checked() {
        assert_eq!(
            parse_pinned("2026-05-09T00:00:00Z").ok().as_deref(),
            Some("2026-05-09T00:00:00+00:00")
        );
        assert!(parse_pinned("2026-05-09 00:00:00+00:00").is_err());
        assert!(parse_pinned("2026-13-09T00:00:00+00:00").is_err());
        assert!(parse_pinned("yesterday").is_err());
    }
}
