//! A retention policy as a person writes it: one line of `rule=count` words, the same on the
//! options page, in `lifeboat.toml` and on the command line — `last=3 daily=7 weekly=4 monthly=12
//! yearly=3 within=2d`. An empty line (or `all`) keeps every copy.

use std::fmt;
use std::time::Duration;

/// How many copies to keep, per kind of bucket, and for how long to keep everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// The newest N copies.
    pub last: u32,
    /// The newest copy in each of the newest N hours that have one.
    pub hourly: u32,
    /// … days.
    pub daily: u32,
    /// … ISO weeks.
    pub weekly: u32,
    /// … calendar months.
    pub monthly: u32,
    /// … calendar years.
    pub yearly: u32,
    /// Every copy made within this long before now.
    pub within: Option<Duration>,
}

/// The words a policy is made of, in the order they are shown.
const RULES: [&str; 7] = [
    "last", "hourly", "daily", "weekly", "monthly", "yearly", "within",
];

impl Policy {
    /// Whether this policy keeps every copy (nothing is ever deleted).
    pub fn keeps_everything(&self) -> bool {
        *self == Self::default()
    }

    /// Parses `last=3 daily=7 …` (words separated by spaces or commas, in any order).
    ///
    /// # Errors
    /// A message naming the word that is wrong and what is accepted.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = Self::default();
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("all") {
            return Ok(p);
        }
        let mut seen = Vec::new();
        for word in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
        {
            let Some((rule, value)) = word.split_once('=') else {
                return Err(format!(
                    "{word:?} is not a rule; write rule=count, like daily=7 (rules: {})",
                    RULES.join(", ")
                ));
            };
            let rule = rule.trim().to_ascii_lowercase();
            if seen.contains(&rule) {
                return Err(format!("{rule} is given twice"));
            }
            let count = |v: &str| {
                v.trim().parse::<u32>().map_err(|_| {
                    format!("{rule}={v}: the count must be a whole number, like {rule}=7")
                })
            };
            match rule.as_str() {
                "last" => p.last = count(value)?,
                "hourly" => p.hourly = count(value)?,
                "daily" => p.daily = count(value)?,
                "weekly" => p.weekly = count(value)?,
                "monthly" => p.monthly = count(value)?,
                "yearly" => p.yearly = count(value)?,
                "within" => {
                    p.within =
                        Some(parse_duration(value).map_err(|e| format!("within={value}: {e}"))?)
                }
                other => {
                    return Err(format!("{other:?} is not a rule; use {}", RULES.join(", ")));
                }
            }
            seen.push(rule);
        }
        Ok(p)
    }
}

/// `90m`, `36h`, `14d`, `8w` (a number and one unit).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| "add a unit: m, h, d or w (like 2d)".to_owned())?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| "start with a whole number, like 2d".to_owned())?;
    let secs = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("{unit:?} is not a unit; use m, h, d or w")),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// A duration in the largest unit that divides it: `2w`, `3d`, `36h`, `90m`.
pub fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s > 0 && s % (7 * 86_400) == 0 => format!("{}w", s / (7 * 86_400)),
        s if s > 0 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s => format!("{}m", s / 60),
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.keeps_everything() {
            return f.write_str("all");
        }
        let mut words = Vec::new();
        for (rule, n) in [
            ("last", self.last),
            ("hourly", self.hourly),
            ("daily", self.daily),
            ("weekly", self.weekly),
            ("monthly", self.monthly),
            ("yearly", self.yearly),
        ] {
            if n > 0 {
                words.push(format!("{rule}={n}"));
            }
        }
        if let Some(d) = self.within {
            words.push(format!("within={}", duration_text(d)));
        }
        f.write_str(&words.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        let p = Policy::parse("last=3, daily=7 weekly=4 monthly=12 yearly=2 within=2d").unwrap();
        assert_eq!(p.last, 3);
        assert_eq!(p.within, Some(Duration::from_secs(2 * 86_400)));
        assert_eq!(
            p.to_string(),
            "last=3 daily=7 weekly=4 monthly=12 yearly=2 within=2d"
        );
        assert_eq!(Policy::parse(&p.to_string()).unwrap(), p);
        assert!(Policy::parse("").unwrap().keeps_everything());
        assert!(Policy::parse(" all ").unwrap().keeps_everything());
        assert_eq!(
            Policy::parse("within=36h").unwrap().to_string(),
            "within=36h"
        );
    }

    #[test]
    fn refuses_what_it_cannot_read_and_says_why() {
        for (bad, says) in [
            ("daily", "write rule=count"),
            ("daily=seven", "whole number"),
            ("daily=-1", "whole number"),
            ("fortnightly=2", "is not a rule"),
            ("daily=7 daily=3", "given twice"),
            ("within=2", "add a unit"),
            ("within=2y", "not a unit"),
            ("within=d", "whole number"),
        ] {
            let e = Policy::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
