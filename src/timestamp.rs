//! The run's `aggregated_at_utc`: pinned by `--aggregated-at` or `SOURCE_DATE_EPOCH`
//! for reproducible output, otherwise the current second. Calendar rules (month
//! lengths, leap years) are chrono's.

use chrono::{DateTime, NaiveDateTime, Timelike};

use crate::error::{Error, Result};

const FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SS+00:00`; None outside the
/// years chrono can represent.
pub fn format_utc(secs: i64) -> Option<String> {
    DateTime::from_timestamp(secs, 0).map(|t| format!("{}+00:00", t.format(FORMAT)))
}

/// Accepts `YYYY-MM-DDTHH:MM:SS` with `+00:00` or `Z`, a real calendar date and time;
/// written back in the `+00:00` form.
pub fn parse_pinned(ts: &str) -> Result<String> {
    let body = ts
        .strip_suffix("+00:00")
        .or_else(|| ts.strip_suffix('Z'))
        .ok_or_else(|| bad(ts))?;
    // chrono alone would also take unpadded fields ("2026-5-9"); the text is written
    // into every row, so its shape is checked too.
    let shape_ok = body.len() == 19
        && body.bytes().enumerate().all(|(i, c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            _ => c.is_ascii_digit(),
        });
    let parsed = NaiveDateTime::parse_from_str(body, FORMAT).map_err(|_| bad(ts))?;
    // A leap second (:60) parses, but no Python or Arrow reader would accept it back.
    if !shape_ok || parsed.nanosecond() >= 1_000_000_000 {
        return Err(bad(ts));
    }
    Ok(format!("{body}+00:00"))
}

fn bad(ts: &str) -> Error {
    Error::Usage(format!(
        "--aggregated-at expects a real UTC time like 2026-05-09T00:00:00+00:00, got {ts:?}"
    ))
}

/// The timestamp for this run.
pub fn resolve(pinned: Option<&str>) -> Result<String> {
    if let Some(ts) = pinned {
        return parse_pinned(ts);
    }
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        let bad_epoch = || {
            Error::Usage(format!(
                "SOURCE_DATE_EPOCH must be whole seconds since 1970, got {epoch:?}"
            ))
        };
        let secs = epoch.trim().parse::<i64>().map_err(|_| bad_epoch())?;
        return format_utc(secs).ok_or_else(bad_epoch);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    format_utc(now).ok_or_else(|| Error::Internal("the system clock is out of range".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let f = |s| format_utc(s).expect("in range");
        assert_eq!(f(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(f(1_778_284_800), "2026-05-09T00:00:00+00:00");
        assert_eq!(f(951_782_400), "2000-02-29T00:00:00+00:00");
        assert_eq!(f(1_700_000_000), "2023-11-14T22:13:20+00:00");
        assert_eq!(format_utc(i64::MAX), None);
    }

    #[test]
    fn pinned_times_are_checked() {
        assert_eq!(
            parse_pinned("2026-05-09T00:00:00Z").ok().as_deref(),
            Some("2026-05-09T00:00:00+00:00")
        );
        assert!(parse_pinned("2024-02-29T00:00:00+00:00").is_ok());
        assert!(parse_pinned("2026-05-09 00:00:00+00:00").is_err());
        assert!(parse_pinned("2026-13-09T00:00:00+00:00").is_err());
        assert!(parse_pinned("2026-02-31T00:00:00+00:00").is_err());
        assert!(parse_pinned("2025-02-29T00:00:00+00:00").is_err());
        assert!(parse_pinned("2026-04-31T00:00:00+00:00").is_err());
        assert!(parse_pinned("2026-05-09T23:59:60+00:00").is_err());
        assert!(parse_pinned("2026-5-09T00:00:00+00:00").is_err());
        assert!(parse_pinned("yesterday").is_err());
    }
}
