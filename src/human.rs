//! Quantities as people read them: sizes, durations, rates and how long ago something happened.

use chrono::{DateTime, Utc};

/// Bytes as people read them (`3.7 MiB`).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    #[allow(clippy::cast_precision_loss)]
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A rate in bytes per second (`12.5 MiB/s`).
pub fn rate(bytes_per_second: f64) -> String {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let whole = bytes_per_second.max(0.0).round() as u64;
    format!("{}/s", size(whole))
}

/// A duration in its two largest units (`2 h 5 min`, `3 min 20 s`, `400 ms`).
pub fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{} ms", d.as_millis()),
        1..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// How long ago `then` was, as of `now` (`just now`, `5 minutes ago`, `3 days ago`).
pub fn ago(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - then).num_seconds();
    if secs < 0 {
        return in_(now, then);
    }
    let (n, unit) = match secs {
        0..60 => return "just now".to_owned(),
        60..3600 => (secs / 60, "minute"),
        3600..86_400 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// How far off `then` is, as of `now` (`in 5 minutes`, `in 2 hours`).
pub fn in_(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let secs = (then - now).num_seconds().max(0);
    let (n, unit) = match secs {
        0..60 => return "in under a minute".to_owned(),
        60..3600 => (secs / 60, "minute"),
        3600..86_400 => (secs / 3600, "hour"),
        _ => (secs / 86_400, "day"),
    };
    format!("in {n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sizes() {
        assert_eq!(size(10), "10 B");
        assert_eq!(size(3_870_720), "3.7 MiB");
        assert_eq!(size(1 << 30), "1.0 GiB");
        assert_eq!(rate(1_572_864.0), "1.5 MiB/s");
    }

    #[test]
    fn durations_and_ages() {
        assert_eq!(duration(Duration::from_millis(400)), "400 ms");
        assert_eq!(duration(Duration::from_secs(200)), "3 min 20 s");
        assert_eq!(duration(Duration::from_secs(7500)), "2 h 5 min");
        assert_eq!(duration(Duration::from_secs(90_000)), "1 d 1 h");
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let before = |s| now - chrono::TimeDelta::seconds(s);
        assert_eq!(ago(before(5), now), "just now");
        assert_eq!(ago(before(60), now), "1 minute ago");
        assert_eq!(ago(before(7200), now), "2 hours ago");
        assert_eq!(ago(before(86_400 * 3), now), "3 days ago");
        assert_eq!(ago(before(-7200), now), "in 2 hours");
        assert_eq!(in_(now, before(-30)), "in under a minute");
    }
}
