//! The restore-readiness report: what restoring a backup will lose or ask of a person —
//! integrations to sign in again, hardware the new machine must have, addresses it must reach,
//! what the backup does not hold, the version to restore into — read from the backup itself in the
//! single pass ([`gather`]) and worked out from what was read ([`rules`]).
//!
//! The report holds no secret: config entries and add-on options are read to be classified, and
//! only titles, domains, device paths and addresses come out.

pub mod gather;
mod rules;

pub use gather::{Found, Unread};
use serde::{Deserialize, Serialize};

/// One thing a restore needs a person for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The integration, for an item from a config entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The add-on's slug, for an item from an add-on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addon: Option<String>,
    pub title: String,
    /// Why, in a person's words.
    pub why: String,
    /// The device path, address or URL the new machine must match, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// The versions to restore into.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreInto {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homeassistant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervisor: Option<String>,
    pub advice: String,
}

/// How much the home holds; `None` where the file was not read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub integrations: Option<u64>,
    pub devices: Option<u64>,
    pub entities: Option<u64>,
    pub users: Option<u64>,
    pub long_lived_tokens: Option<u64>,
}

/// The report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// Whether Home Assistant's own archive was read (false: it is sealed with a key Lifeboat
    /// does not have, or the backup does not hold it).
    pub looked_inside: bool,
    pub reauth: Vec<Item>,
    pub hardware: Vec<Item>,
    pub network: Vec<Item>,
    pub missing: Vec<Item>,
    /// Integrations Lifeboat does not know: listed, never dropped.
    pub unknown: Vec<Item>,
    pub restore_into: RestoreInto,
    pub counts: Counts,
    /// Files that were too large or not what they should be.
    pub unread: Vec<Unread>,
    /// What limited the report (a sealed archive).
    pub notes: Vec<String>,
}

/// The counts a manifest carries, so a listing can say what a restore needs without a download.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub looked_inside: bool,
    pub reauth: usize,
    pub hardware: usize,
    pub network: usize,
    pub missing: usize,
    pub unknown: usize,
}

impl Readiness {
    /// Works the report out from what the pass found and `backup.json`.
    pub fn build(found: &Found, backup: &super::BackupJson) -> Self {
        rules::build(found, backup)
    }

    /// Adds what a partial backup leaves out of the add-ons installed now (`installed`: slug,
    /// name), which only the source can tell.
    pub fn add_left_out_addons(
        &mut self,
        installed: &[(String, String)],
        backup: &super::BackupJson,
    ) {
        if backup.kind.is_full() {
            return;
        }
        for (slug, name) in installed {
            if backup.addons.iter().any(|a| a.slug == *slug) {
                continue;
            }
            self.missing.push(Item {
                domain: None,
                addon: Some(slug.clone()),
                title: format!("the add-on {}", if name.is_empty() { slug } else { name }),
                why: "installed on this machine but not in this partial backup: after a restore \
                      it is not there; install it again from the add-on store, and its settings \
                      and data start empty"
                    .into(),
                device: None,
            });
        }
    }

    /// Its counts, for the manifest.
    pub fn digest(&self) -> Digest {
        Digest {
            looked_inside: self.looked_inside,
            reauth: self.reauth.len(),
            hardware: self.hardware.len(),
            network: self.network.len(),
            missing: self.missing.len(),
            unknown: self.unknown.len(),
        }
    }

    /// What changed since `before` that a person should hear about now, not in the middle of a
    /// migration: a new sign-in, hardware added or at a new path, something newly left out.
    pub fn news_since(&self, before: &Self) -> Vec<String> {
        if !self.looked_inside || !before.looked_inside {
            return Vec::new();
        }
        let mut news = Vec::new();
        let key = |i: &Item| (i.domain.clone(), i.addon.clone(), i.title.clone());
        for item in &self.reauth {
            if !before.reauth.iter().any(|b| key(b) == key(item)) {
                news.push(format!(
                    "new sign-in: {} ({}) will need signing in again after a restore",
                    item.title,
                    item.domain.as_deref().unwrap_or("?")
                ));
            }
        }
        for item in &self.hardware {
            let same = |b: &Item| key(b) == key(item) && b.device == item.device;
            if before.hardware.iter().any(same) {
                continue;
            }
            // The same thing at a path it no longer has: it moved.
            let gone = before.hardware.iter().find(|b| {
                key(b) == key(item)
                    && !self
                        .hardware
                        .iter()
                        .any(|n| key(n) == key(b) && n.device == b.device)
            });
            match gone {
                Some(b) => news.push(format!(
                    "{} moved from {} to {}",
                    item.title,
                    b.device.as_deref().unwrap_or("?"),
                    item.device.as_deref().unwrap_or("?")
                )),
                None => news.push(format!(
                    "new hardware: {}{}",
                    item.title,
                    item.device
                        .as_deref()
                        .map(|d| format!(" at {d}"))
                        .unwrap_or_default()
                )),
            }
        }
        for item in &self.missing {
            if !before.missing.iter().any(|b| b.title == item.title) {
                news.push(format!("now left out: {}", item.title));
            }
        }
        news
    }
}

impl Readiness {
    /// The sections that list items, with their headings, in the order people act on them.
    pub fn sections(&self) -> [(&'static str, &Vec<Item>); 5] {
        [
            ("Sign in again", &self.reauth),
            ("Hardware to plug in", &self.hardware),
            ("Addresses to keep", &self.network),
            ("Not in this backup", &self.missing),
            ("Unknown integrations", &self.unknown),
        ]
    }

    /// "12 integrations, 7 devices, …" for what was counted (empty when nothing was).
    pub fn counts_line(&self) -> String {
        let c = &self.counts;
        [
            (c.integrations, "integrations"),
            (c.devices, "devices"),
            (c.entities, "entities"),
            (c.users, "users"),
            (c.long_lived_tokens, "long-lived access tokens"),
        ]
        .into_iter()
        .filter_map(|(n, what)| n.map(|n| format!("{n} {what}")))
        .collect::<Vec<_>>()
        .join(", ")
    }

    /// The report as plain lines for a terminal or the text kit, each section under its heading.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for note in &self.notes {
            out.push(format!("note: {note}"));
        }
        for (heading, items) in self.sections() {
            if items.is_empty() {
                continue;
            }
            out.push(format!("{heading}:"));
            for i in items {
                let what = i
                    .domain
                    .as_deref()
                    .map(|d| format!(" ({d})"))
                    .or_else(|| i.addon.as_deref().map(|a| format!(" (add-on {a})")))
                    .unwrap_or_default();
                let device = i
                    .device
                    .as_deref()
                    .map(|d| format!(" [{d}]"))
                    .unwrap_or_default();
                out.push(format!("  - {}{what}{device}: {}", i.title, i.why));
            }
        }
        if let Some(v) = &self.restore_into.homeassistant {
            let sup = self
                .restore_into
                .supervisor
                .as_deref()
                .map(|s| format!(" (made under Supervisor {s})"))
                .unwrap_or_default();
            out.push(format!("Restore into: Home Assistant {v} or newer{sup}"));
        }
        let counts = self.counts_line();
        if !counts.is_empty() {
            out.push(format!("Counts: {counts}"));
        }
        for u in &self.unread {
            out.push(format!("not read: {}: {}", u.file, u.why));
        }
        out
    }
}

impl Digest {
    /// "3 to sign in again, 1 device to plug in", or what limited the report.
    pub fn describe(&self) -> String {
        if !self.looked_inside {
            return "not looked inside (a Home Assistant backup key is missing)".into();
        }
        let mut parts = Vec::new();
        let mut say = |n: usize, one: &str, many: &str| {
            if n > 0 {
                parts.push(format!("{n} {}", if n == 1 { one } else { many }));
            }
        };
        say(self.reauth, "to sign in again", "to sign in again");
        say(self.hardware, "device to plug in", "devices to plug in");
        say(self.network, "address to keep", "addresses to keep");
        say(self.missing, "thing left out", "things left out");
        say(self.unknown, "unknown integration", "unknown integrations");
        if parts.is_empty() {
            "nothing to do after a restore".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(domain: &str, title: &str, device: Option<&str>) -> Item {
        Item {
            domain: Some(domain.into()),
            addon: None,
            title: title.into(),
            why: String::new(),
            device: device.map(str::to_owned),
        }
    }

    #[test]
    fn news_names_a_new_sign_in_a_moved_stick_and_something_newly_left_out() {
        let before = Readiness {
            looked_inside: true,
            hardware: vec![item("zha", "Zigbee", Some("/dev/ttyUSB0"))],
            ..Readiness::default()
        };
        let mut now = before.clone();
        now.reauth.push(item("spotify", "Spotify", None));
        now.hardware[0].device = Some("/dev/ttyUSB1".into());
        now.missing
            .push(item("recorder", "the recorder database", None));
        let news = now.news_since(&before);
        assert_eq!(news.len(), 3, "{news:?}");
        assert!(news[0].contains("Spotify"));
        assert!(news[1].contains("/dev/ttyUSB0 to /dev/ttyUSB1"));
        assert!(news[2].contains("recorder database"));
        assert!(before.news_since(&before).is_empty());
        let mut two = before.clone();
        two.hardware
            .push(item("zha", "Zigbee", Some("/dev/ttyACM0")));
        assert!(
            two.news_since(&two).is_empty(),
            "two devices of one thing are not a move"
        );
        let sealed = Readiness::default();
        assert!(
            now.news_since(&sealed).is_empty(),
            "a sealed report says nothing changed"
        );
    }

    #[test]
    fn the_digest_reads_as_a_sentence() {
        let r = Readiness {
            looked_inside: true,
            reauth: vec![
                item("a", "A", None),
                item("b", "B", None),
                item("c", "C", None),
            ],
            hardware: vec![item("zha", "Z", Some("/dev/x"))],
            ..Readiness::default()
        };
        assert_eq!(
            r.digest().describe(),
            "3 to sign in again, 1 device to plug in"
        );
        assert!(
            Readiness::default()
                .digest()
                .describe()
                .contains("not looked inside")
        );
    }
}
