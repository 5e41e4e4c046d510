//! Retention tables: GFS edge cases, pins, ties, DST, empty history, and invariance to `now`.

use super::*;
use chrono::{TimeDelta, TimeZone};
use rstest::rstest;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn copies(times: &[&str]) -> Vec<Candidate> {
    times
        .iter()
        .map(|t| Candidate {
            id: t.to_string(),
            made: at(t),
            pinned: false,
        })
        .collect()
}

fn kept(decisions: &[Decision]) -> Vec<&str> {
    decisions
        .iter()
        .filter(|d| d.keep)
        .map(|d| d.id.as_str())
        .collect()
}

const UTC: Tz = chrono_tz::UTC;

#[rstest]
#[case::empty_history("daily=7", &[], &[])]
#[case::one_copy_is_the_newest("daily=0", &["2026-01-01T03:00:00Z"], &["2026-01-01T03:00:00Z"])]
#[case::last_n(
    "last=2",
    &["2026-01-01T03:00:00Z", "2026-01-02T03:00:00Z", "2026-01-03T03:00:00Z"],
    &["2026-01-03T03:00:00Z", "2026-01-02T03:00:00Z"]
)]
#[case::daily_keeps_the_newest_of_each_day(
    "daily=2",
    &["2026-01-01T01:00:00Z", "2026-01-01T23:00:00Z", "2026-01-02T01:00:00Z", "2026-01-02T05:00:00Z"],
    &["2026-01-02T05:00:00Z", "2026-01-01T23:00:00Z"]
)]
#[case::days_without_copies_do_not_count(
    "daily=2",
    &["2026-01-01T03:00:00Z", "2026-01-05T03:00:00Z", "2026-01-09T03:00:00Z"],
    &["2026-01-09T03:00:00Z", "2026-01-05T03:00:00Z"]
)]
#[case::month_ends(
    "monthly=3",
    &["2026-01-31T23:59:59Z", "2026-02-01T00:00:00Z", "2026-02-28T23:00:00Z", "2026-03-01T00:00:00Z", "2026-03-31T12:00:00Z"],
    &["2026-03-31T12:00:00Z", "2026-02-28T23:00:00Z", "2026-01-31T23:59:59Z"]
)]
#[case::leap_day(
    "daily=1 monthly=2",
    &["2028-02-29T10:00:00Z", "2028-03-01T10:00:00Z"],
    &["2028-03-01T10:00:00Z", "2028-02-29T10:00:00Z"]
)]
#[case::iso_weeks_cross_years(
    "weekly=2",
    // 2026-12-31 (Thu) and 2027-01-03 (Sun) are both ISO week 2026-W53.
    &["2026-12-27T03:00:00Z", "2026-12-31T03:00:00Z", "2027-01-03T03:00:00Z", "2027-01-04T03:00:00Z"],
    &["2027-01-04T03:00:00Z", "2027-01-03T03:00:00Z"]
)]
#[case::yearly(
    "yearly=2",
    &["2024-06-01T00:00:00Z", "2025-01-01T00:00:00Z", "2025-12-31T23:00:00Z", "2026-02-01T00:00:00Z"],
    &["2026-02-01T00:00:00Z", "2025-12-31T23:00:00Z"]
)]
#[case::ties_keep_one_by_id(
    "daily=1",
    &["2026-01-01T03:00:00Z", "2026-01-01T03:00:00Z"],
    &["2026-01-01T03:00:00Z"]
)]
fn table(#[case] policy: &str, #[case] made: &[&str], #[case] expect: &[&str]) {
    let now = at("2030-01-01T00:00:00Z");
    let d = apply(&Policy::parse(policy).unwrap(), &copies(made), now, UTC);
    assert_eq!(d.len(), made.len());
    assert_eq!(kept(&d), expect, "{policy}");
    for x in &d {
        assert!(!x.reasons.is_empty(), "{} has no reason", x.id);
    }
}

#[test]
fn ties_are_broken_by_id_and_every_copy_is_decided() {
    let mut c = copies(&["2026-01-01T03:00:00Z", "2026-01-01T03:00:00Z"]);
    c[0].id = "a".into();
    c[1].id = "b".into();
    let d = apply(
        &Policy::parse("daily=1").unwrap(),
        &c,
        at("2027-01-01T00:00:00Z"),
        UTC,
    );
    assert_eq!(kept(&d), ["b"]);
    assert_eq!(d[1].reasons, ["outside the policy daily=1"]);
}

#[test]
fn pinned_newest_and_future_copies_are_always_kept() {
    let mut c = copies(&[
        "2020-01-01T00:00:00Z",
        "2026-01-01T00:00:00Z",
        "2026-01-02T00:00:00Z",
        "2026-02-01T00:00:00Z",
    ]);
    c[0].pinned = true;
    let d = apply(
        &Policy::parse("last=1").unwrap(),
        &c,
        at("2026-01-15T00:00:00Z"),
        UTC,
    );
    assert_eq!(kept(&d), ["2026-02-01T00:00:00Z", "2020-01-01T00:00:00Z"]);
    assert!(d[0].reasons.iter().any(|r| r.contains("after now")));
    assert!(d[0].reasons.iter().any(|r| r == "the newest copy"));
    assert_eq!(d[3].reasons, ["pinned"]);
}

#[test]
fn a_policy_that_keeps_everything_deletes_nothing() {
    let c = copies(&["2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"]);
    let d = apply(&Policy::default(), &c, at("2026-01-01T00:00:00Z"), UTC);
    assert!(d.iter().all(|x| x.keep));
}

#[test]
fn within_keeps_everything_recent() {
    let c = copies(&[
        "2026-01-01T00:00:00Z",
        "2026-01-09T00:00:00Z",
        "2026-01-09T12:00:00Z",
        "2026-01-10T00:00:00Z",
    ]);
    let d = apply(
        &Policy::parse("within=1d").unwrap(),
        &c,
        at("2026-01-10T00:00:00Z"),
        UTC,
    );
    assert_eq!(
        kept(&d),
        [
            "2026-01-10T00:00:00Z",
            "2026-01-09T12:00:00Z",
            "2026-01-09T00:00:00Z"
        ]
    );
    assert!(d[1].reasons[0].contains("within the last 1d"));
}

#[test]
fn days_follow_the_home_time_zone() {
    // 23:30 UTC on 1 March is 00:30 on 2 March in Berlin: a different day there.
    let c = copies(&["2026-03-01T22:00:00Z", "2026-03-01T23:30:00Z"]);
    let now = at("2026-06-01T00:00:00Z");
    let p = Policy::parse("daily=2").unwrap();
    assert_eq!(kept(&apply(&p, &c, now, UTC)), ["2026-03-01T23:30:00Z"]);
    assert_eq!(
        kept(&apply(&p, &c, now, chrono_tz::Europe::Berlin)).len(),
        2
    );
}

#[test]
fn dst_changes_do_not_break_days_or_hours() {
    let ny = chrono_tz::America::New_York;
    // 2026-11-01: clocks go back at 02:00 EDT; 01:xx happens twice (05:xx and 06:xx UTC).
    let c = copies(&[
        "2026-11-01T05:10:00Z", // 01:10 EDT
        "2026-11-01T05:50:00Z", // 01:50 EDT
        "2026-11-01T06:10:00Z", // 01:10 EST
        "2026-11-01T07:10:00Z", // 02:10 EST
    ]);
    let now = at("2026-12-01T00:00:00Z");
    let hourly = apply(&Policy::parse("hourly=10").unwrap(), &c, now, ny);
    // Local hour 01 holds three copies (both 01:xx's): one kept for it, one for 02.
    assert_eq!(
        kept(&hourly),
        ["2026-11-01T07:10:00Z", "2026-11-01T06:10:00Z"]
    );
    // A spring-forward day has 23 hours and is still one day.
    let spring = copies(&["2026-03-08T06:00:00Z", "2026-03-09T03:59:00Z"]);
    let daily = apply(&Policy::parse("daily=5").unwrap(), &spring, now, ny);
    assert_eq!(kept(&daily), ["2026-03-09T03:59:00Z"]);
}

/// Two years of copies at irregular times.
fn history_of_copies() -> Vec<Candidate> {
    let start = Utc.with_ymd_and_hms(2025, 1, 1, 2, 17, 0).unwrap();
    (0..730)
        .map(|i| {
            let t = start + TimeDelta::hours(i * 24 + (i * 7) % 5);
            Candidate {
                id: format!("c{i:04}"),
                made: t,
                pinned: i == 100,
            }
        })
        .collect()
}

#[rstest]
#[case("last=3")]
#[case("daily=7 weekly=4 monthly=12 yearly=3")]
#[case("hourly=48 daily=30")]
#[case("last=1 weekly=52")]
fn decisions_do_not_change_with_now(#[case] policy: &str) {
    let p = Policy::parse(policy).unwrap();
    let c = history_of_copies();
    let base = apply(
        &p,
        &c,
        at("2027-01-02T00:00:00Z"),
        chrono_tz::Europe::Berlin,
    );
    for shift in [1, 24 * 30, 24 * 365 * 5] {
        let later = at("2027-01-02T00:00:00Z") + TimeDelta::hours(shift);
        assert_eq!(
            apply(&p, &c, later, chrono_tz::Europe::Berlin),
            base,
            "{policy} with now shifted by {shift}h"
        );
    }
}

#[test]
fn a_classic_gfs_policy_keeps_what_it_names() {
    let p = Policy::parse("daily=7 weekly=4 monthly=12 yearly=3").unwrap();
    let d = apply(&p, &history_of_copies(), at("2027-01-02T00:00:00Z"), UTC);
    let snapshot: Vec<String> = d
        .iter()
        .filter(|x| x.keep)
        .map(|x| {
            format!(
                "{} {} — {}",
                x.id,
                x.made.format("%Y-%m-%d %H:%M"),
                x.reasons.join("; ")
            )
        })
        .collect();
    insta::assert_snapshot!(snapshot.join("\n"));
}
