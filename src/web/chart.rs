//! Charts drawn on the server as SVG: space used per destination over time (a step line each) and
//! how long runs took (a bar each, coloured by outcome). Pure functions of their data; colours
//! come from the stylesheet (`.s0`…`.s5`, `.ok`, `.warn`, `.bad`), so they follow light and dark.

use crate::history::{RunStatus, StorageEvent};
use chrono::{DateTime, Utc};
use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 74.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// One destination's space used: the value from each time on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub name: String,
    /// (from when, bytes), oldest first.
    pub points: Vec<(DateTime<Utc>, u64)>,
}

/// One run's bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub run_id: i64,
    pub started: DateTime<Utc>,
    pub seconds: f64,
    pub status: RunStatus,
}

/// A coordinate written to a tenth (`12.3`): what `{:.1}` writes, through integer formatting, as
/// core's exact float formatting costs a page of hundreds of points a good share of its time.
/// Halves round away from zero (`{:.1}` rounds them to even), so a value at or within a hair of a
/// half may land a tenth the other way (a tenth of a pixel), and what rounds to zero is `0.0`,
/// never `-0.0`.
struct Tenths(f64);

impl std::fmt::Display for Tenths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[allow(clippy::cast_possible_truncation)]
        let tenths = (self.0 * 10.0).round() as i64;
        let sign = if tenths < 0 { "-" } else { "" };
        let t = tenths.unsigned_abs();
        write!(f, "{sign}{}.{}", t / 10, t % 10)
    }
}

/// Text for SVG markup, escaped as the templates escape it.
fn escape(s: &str) -> String {
    askama::filters::escape(s, askama::filters::Html)
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// Space used on each of `destinations` from `from` to `to`, from history's storage events
/// (events before `from` give the starting value).
pub fn storage_series(
    events: &[StorageEvent],
    destinations: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Series> {
    destinations
        .iter()
        .map(|name| {
            let mut total: i64 = 0;
            let mut points = Vec::new();
            for e in events
                .iter()
                .filter(|e| &e.destination == name && e.at <= to)
            {
                total = total.saturating_add(e.delta).max(0);
                let value = u64::try_from(total).unwrap_or(0);
                if e.at < from {
                    continue;
                }
                points.push((e.at, value));
            }
            // The value held at `from`: everything before it.
            let start: i64 = events
                .iter()
                .filter(|e| &e.destination == name && e.at < from)
                .map(|e| e.delta)
                .sum();
            points.insert(0, (from, u64::try_from(start.max(0)).unwrap_or(0)));
            Series {
                name: name.clone(),
                points,
            }
        })
        .collect()
}

/// A round number at or above `v` (1, 2 or 5 times a power of 1024 or 10), for the top of an axis.
fn nice_ceiling(v: u64) -> u64 {
    if v == 0 {
        return 1;
    }
    let mut unit = 1u64;
    while unit.saturating_mul(1024) <= v {
        unit *= 1024;
    }
    let mut step = 1u64;
    loop {
        for m in [1u64, 2, 5] {
            let top = unit.saturating_mul(step).saturating_mul(m);
            if top >= v {
                return top;
            }
        }
        step = step.saturating_mul(10);
        if step > 10_000 {
            return v;
        }
    }
}

#[allow(clippy::cast_precision_loss)]
fn x_of(t: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let span = (to - from).num_seconds().max(1) as f64;
    LEFT + (W - LEFT - RIGHT) * ((t - from).num_seconds() as f64 / span).clamp(0.0, 1.0)
}

fn open(svg: &mut String, label: &str) {
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet"><title>{}</title>"#,
        escape(label),
        escape(label)
    );
}

/// Horizontal grid lines with their labels, from 0 to `top`.
#[allow(clippy::cast_precision_loss)]
fn grid(svg: &mut String, top: f64, label: impl Fn(f64) -> String) {
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let y = Tenths(H - BOTTOM - (H - BOTTOM - TOP) * f64::from(i) / 4.0);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{y}" y2="{y}"/><text class="axis" x="{}" y="{}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            Tenths(y.0 + 4.0),
            escape(&label(v))
        );
    }
}

fn date_labels(svg: &mut String, from: DateTime<Utc>, to: DateTime<Utc>, tz: chrono_tz::Tz) {
    let day = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
    let mid = from + (to - from) / 2;
    let mut marks = vec![(from, "start")];
    if day(mid) != day(from) && day(mid) != day(to) {
        marks.push((mid, "middle"));
    }
    if day(to) != day(from) {
        marks.push((to, "end"));
    }
    for (t, anchor) in marks {
        let _ = write!(
            svg,
            r#"<text class="axis" x="{}" y="{}" text-anchor="{anchor}">{}</text>"#,
            Tenths(x_of(t, from, to)),
            H - 8.0,
            t.with_timezone(&tz).format("%b %-d")
        );
    }
}

/// The storage chart: one step line per destination, with a legend.
#[allow(clippy::cast_precision_loss)]
pub fn storage(
    series: &[Series],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: chrono_tz::Tz,
) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .max()
        .unwrap_or(0);
    let top = nice_ceiling(max) as f64;
    let y_of = |v: u64| H - BOTTOM - (H - BOTTOM - TOP) * (v as f64 / top);
    let mut svg = String::new();
    open(
        &mut svg,
        "Space used by Lifeboat's copies on each destination",
    );
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    grid(&mut svg, top, |v| crate::human::size(v.round() as u64));
    date_labels(&mut svg, from, to, tz);
    for (i, s) in series.iter().enumerate() {
        let mut d = String::new();
        let mut last_y = None;
        for (t, v) in &s.points {
            let (x, y) = (Tenths(x_of(*t, from, to)), y_of(*v));
            match last_y {
                None => {
                    let _ = write!(d, "M{x},{}", Tenths(y));
                }
                Some(prev) => {
                    let _ = write!(d, " L{x},{} L{x},{}", Tenths(prev), Tenths(y));
                }
            }
            last_y = Some(y);
        }
        if let Some(y) = last_y {
            let _ = write!(d, " L{},{}", Tenths(W - RIGHT), Tenths(y));
        }
        let now = s.points.last().map_or(0, |p| p.1);
        let _ = write!(
            svg,
            r#"<path class="line s{}" d="{d}"><title>{}: {}</title></path>"#,
            i % 6,
            escape(&s.name),
            crate::human::size(now)
        );
    }
    for (i, s) in series.iter().enumerate() {
        let y = TOP + 14.0 * i as f64;
        let now = s.points.last().map_or(0, |p| p.1);
        let _ = write!(
            svg,
            r#"<rect class="key s{}" x="{}" y="{}" width="10" height="10"/><text class="legend" x="{}" y="{}">{} ({})</text>"#,
            i % 6,
            Tenths(LEFT + 8.0),
            Tenths(y),
            Tenths(LEFT + 22.0),
            Tenths(y + 9.0),
            escape(&s.name),
            crate::human::size(now)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The run-duration chart: one bar per run, oldest on the left.
#[allow(clippy::cast_precision_loss)]
pub fn durations(bars: &[Bar], tz: chrono_tz::Tz) -> String {
    let max = bars.iter().map(|b| b.seconds).fold(0.0f64, f64::max);
    let top = if max <= 0.0 {
        60.0
    } else {
        [
            10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14_400.0,
        ]
        .into_iter()
        .find(|t| *t >= max)
        .unwrap_or(max)
    };
    let mut svg = String::new();
    open(&mut svg, "How long each recent run took");
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    grid(&mut svg, top, |v| {
        crate::human::duration(std::time::Duration::from_secs(v.round() as u64))
    });
    let slot = (W - LEFT - RIGHT) / bars.len().max(1) as f64;
    // Thin bars for many runs, never a slab for a few.
    let width = (slot * 0.7).clamp(1.0, 28.0);
    for (i, b) in bars.iter().enumerate() {
        let h = (H - BOTTOM - TOP) * (b.seconds / top).clamp(0.0, 1.0);
        let class = match b.status {
            RunStatus::Success => "ok",
            RunStatus::Partial | RunStatus::Running => "warn",
            RunStatus::Failed | RunStatus::Interrupted => "bad",
        };
        let _ = write!(
            svg,
            r#"<rect class="bar {class}" x="{}" y="{}" width="{}" height="{}"><title>Run {} on {}: {} ({})</title></rect>"#,
            Tenths(LEFT + slot * i as f64 + (slot - width) / 2.0),
            Tenths(H - BOTTOM - h),
            Tenths(width),
            Tenths(h.max(1.0)),
            b.run_id,
            b.started.with_timezone(&tz).format("%b %-d %H:%M"),
            crate::human::duration(std::time::Duration::from_secs_f64(b.seconds.max(0.0))),
            b.status.as_str()
        );
    }
    if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
        date_labels(&mut svg, first.started, last.started, tz);
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(day: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + day * 86_400, 0).unwrap()
    }

    fn ev(dest: &str, day: i64, delta: i64) -> StorageEvent {
        StorageEvent {
            destination: dest.into(),
            at: t(day),
            delta,
        }
    }

    #[test]
    fn storage_counts_what_came_before_the_window() {
        let events = [
            ev("nas", -5, 100),
            ev("nas", 1, 100),
            ev("<b2>", 2, 50),
            ev("nas", 3, -100),
        ];
        let s = storage_series(&events, &["nas".into(), "<b2>".into()], t(0), t(10));
        assert_eq!(s[0].points, [(t(0), 100), (t(1), 200), (t(3), 100)]);
        assert_eq!(s[1].points, [(t(0), 0), (t(2), 50)]);
        let svg = storage(&s, t(0), t(10), chrono_tz::UTC);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(
            svg.contains("&#60;b2&#62;") && !svg.contains("<b2>"),
            "{svg}"
        );
        assert!(svg.contains("nas (100 B)"), "{svg}");
        assert!(svg.contains(r#"role="img""#));
    }

    #[test]
    fn coordinates_are_written_as_to_a_tenth() {
        // Off the halves (a value within a millionth of one may go either way), exactly what
        // `{:.1}` writes, sign and all.
        for i in -20_000..20_000 {
            let v = f64::from(i) * 0.0371 + 0.0013;
            if ((v * 10.0).fract().abs() - 0.5).abs() < 1e-6 || v.abs() < 0.05 {
                continue;
            }
            assert_eq!(Tenths(v).to_string(), format!("{v:.1}"), "{v}");
        }
        assert_eq!(Tenths(0.0).to_string(), "0.0");
        assert_eq!(Tenths(640.0).to_string(), "640.0");
        // Where `{:.1}` writes "-0.0", zero is zero.
        assert_eq!(Tenths(-0.04).to_string(), "0.0");
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(1000), 1000);
        assert_eq!(nice_ceiling(1500), 2048);
        assert_eq!(nice_ceiling(3 << 30), 5 << 30);
    }

    #[test]
    fn durations_colour_by_outcome() {
        let bars = [
            Bar {
                run_id: 1,
                started: t(0),
                seconds: 90.0,
                status: RunStatus::Success,
            },
            Bar {
                run_id: 2,
                started: t(1),
                seconds: 12.0,
                status: RunStatus::Failed,
            },
        ];
        let svg = durations(&bars, chrono_tz::UTC);
        assert!(svg.contains(r#"class="bar ok""#) && svg.contains(r#"class="bar bad""#));
        assert!(svg.contains("Run 1 on"));
        assert!(durations(&[], chrono_tz::UTC).ends_with("</svg>"));
        let one = durations(&bars[..1], chrono_tz::UTC);
        let label = t(0).format("%b %-d").to_string();
        assert_eq!(one.matches(&format!(">{label}<")).count(), 1, "{one}");
        assert!(
            one.contains(r#"width="28.0""#),
            "one run is a bar, not a slab"
        );
    }
}
