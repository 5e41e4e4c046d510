//! The emergency kit, as text: everything a family member needs to get the home back with no
//! Lifeboat and no Home Assistant at hand — the Home Assistant backup keys, which age key the
//! copies are encrypted to (its private half is the kit's other page), where every copy is, and the
//! steps. Printed and kept with the house papers, and a second copy away from the house.

use crate::archive::readiness::Readiness;
use crate::archive::securetar::ha_key_fingerprint;
use crate::config::{DestinationSpec, EncryptionSpec};
use crate::crypto::identity::{self, KeyPair};
use crate::crypto::recipient_fingerprint;
use crate::secret::Secret;
use chrono::{DateTime, Utc};

/// A Home Assistant backup key as the kit prints it.
pub struct KitHaKey {
    pub key: Secret,
    pub fingerprint: String,
}

/// An age key the copies are encrypted to.
pub struct KitLock {
    pub recipient: String,
    pub fingerprint: String,
    /// The private half, when it is at hand (just made, or unsealed with the passphrase).
    pub private: Option<Secret>,
    /// The private half in groups for copying by hand (empty when not at hand).
    pub private_groups: Vec<String>,
}

/// A manifest signing key this home has used: every copy it made is signed by one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitSigner {
    /// `lifeboat-sign:` and the hex in groups of eight, as printed.
    pub printed: String,
    pub fingerprint: String,
    /// This box's own (it signs new copies); otherwise an earlier box's.
    pub own: bool,
}

impl From<&crate::signing::SignerInfo> for KitSigner {
    fn from(s: &crate::signing::SignerInfo) -> Self {
        let hex_part = s
            .public
            .strip_prefix(crate::signing::PUBLIC_PREFIX)
            .unwrap_or(&s.public);
        let groups: Vec<&str> = hex_part
            .as_bytes()
            .chunks(8)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        Self {
            printed: format!("{}{}", crate::signing::PUBLIC_PREFIX, groups.join(" ")),
            fingerprint: s.fingerprint.clone(),
            own: s.own,
        }
    }
}

/// Where copies are kept.
pub struct KitPlace {
    pub name: String,
    pub location: String,
    /// What `lifeboat recover --from` takes.
    pub url: String,
}

impl From<&DestinationSpec> for KitPlace {
    fn from(d: &DestinationSpec) -> Self {
        Self {
            name: d.name.clone(),
            location: d.kind.location(),
            url: d.kind.url(),
        }
    }
}

impl From<&crate::destinations::Destination> for KitPlace {
    fn from(d: &crate::destinations::Destination) -> Self {
        Self {
            name: d.name.clone(),
            location: d.location.clone(),
            url: d.url.clone(),
        }
    }
}

/// One of the home server's other sources (a database dump, a config folder): how its copies
/// are named and opened without Lifeboat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KitSource {
    pub name: String,
    /// What it is: `command:pg_dumpall -U postgres`, `dir:/opt/halo/configs`.
    pub what: String,
    /// The copies' names: `<date>-postgres.sql.gz.age`.
    pub copies: String,
    /// The command that opens one.
    pub open: String,
}

impl KitSource {
    /// The kit's lines for source `name` (described as `what`) whose copies hold `spec`.
    pub fn new(name: &str, what: &str, spec: &crate::archive::content::ContentSpec) -> Self {
        use crate::archive::content::{Compression, DumpTool, Kind};
        let copy = format!("<date>-{name}{}.age", spec.suffix());
        let unzip = match spec.compression {
            Compression::Gzip => " | gunzip",
            Compression::None => "",
        };
        let open = match (spec.kind, spec.tool) {
            (Kind::Folder, _) => {
                format!("age -d -i kit.txt {copy}{unzip} | tar -x -p -C <folder to restore into>")
            }
            (Kind::Dump, DumpTool::Postgres) => {
                format!("age -d -i kit.txt {copy}{unzip} | psql -U postgres -d postgres")
            }
            (Kind::Dump, DumpTool::Mariadb) => {
                format!("age -d -i kit.txt {copy}{unzip} | mysql -u root -p")
            }
            (Kind::Dump, DumpTool::Other) => {
                format!("age -d -i kit.txt {copy}{unzip} > {name}.out")
            }
        };
        Self {
            name: name.to_owned(),
            what: what.to_owned(),
            copies: copy,
            open,
        }
    }
}

/// Everything the kit says, for the text and the printable page alike.
pub struct Kit {
    pub made: DateTime<Utc>,
    /// Newest first.
    pub ha_keys: Vec<KitHaKey>,
    pub locks: Vec<KitLock>,
    /// The copies are encrypted with the options' passphrase (never printed).
    pub passphrase: bool,
    pub places: Vec<KitPlace>,
    /// What a restore of the newest verified backup will need, and that backup's date: names
    /// the sign-ins and hardware in the steps.
    pub readiness: Option<(String, Readiness)>,
    /// The home server's other sources, each with how to open its copies.
    pub sources: Vec<KitSource>,
    /// Every signing key the home has used, oldest first.
    pub signers: Vec<KitSigner>,
}

impl Kit {
    /// Gathers the kit. `ha_keys` newest first; `encryption` is what copies are encrypted to now;
    /// `private` holds the private halves at hand, if any.
    pub fn gather(
        made: DateTime<Utc>,
        ha_keys: &[Secret],
        encryption: &EncryptionSpec,
        private: &[KeyPair],
        places: Vec<KitPlace>,
    ) -> Self {
        let locks = encryption
            .recipients
            .iter()
            .map(|r| {
                let pair = private.iter().find(|p| p.recipient() == *r);
                KitLock {
                    recipient: r.to_string(),
                    fingerprint: recipient_fingerprint(r),
                    private: pair.map(KeyPair::secret),
                    private_groups: pair.map(KeyPair::groups).unwrap_or_default(),
                }
            })
            .collect();
        Self {
            made,
            ha_keys: ha_keys
                .iter()
                .map(|k| KitHaKey {
                    key: k.clone(),
                    fingerprint: ha_key_fingerprint(k.expose()),
                })
                .collect(),
            locks,
            passphrase: encryption.passphrase.is_some(),
            places,
            readiness: None,
            sources: Vec::new(),
            signers: Vec::new(),
        }
    }

    /// The kit naming the home server's other sources and how to open their copies.
    #[must_use]
    pub fn with_sources(mut self, sources: Vec<KitSource>) -> Self {
        self.sources = sources;
        self
    }

    /// The kit listing the signing keys the home has used.
    #[must_use]
    pub fn with_signers(mut self, signers: &[crate::signing::SignerInfo]) -> Self {
        self.signers = signers.iter().map(KitSigner::from).collect();
        self
    }

    /// The kit naming what a restore of the newest backup (made `date`) will need.
    #[must_use]
    pub fn with_readiness(mut self, date: String, readiness: Readiness) -> Self {
        self.readiness = Some((date, readiness));
        self
    }

    /// The steps of "getting the home back": fetching and opening a copy, then what to plug in,
    /// which Home Assistant to install, and what to sign in to again, named from the newest
    /// backup's report when there is one.
    pub fn steps(&self) -> Vec<String> {
        let mut steps: Vec<String> = FETCH_STEPS.iter().map(|s| (*s).to_owned()).collect();
        let report = self.readiness.as_ref().filter(|(_, r)| r.looked_inside);
        if let Some((date, _)) = report {
            // The day is enough on paper: "2026-08-17", not the full timestamp.
            let day = date.get(..10).unwrap_or(date);
            steps.push(format!(
                "   (what follows is read from the backup of {day})"
            ));
        }
        match report.map(|(_, r)| &r.hardware).filter(|h| !h.is_empty()) {
            Some(hardware) => {
                steps.push("c. Before restoring, plug into the new machine:".to_owned());
                for i in hardware.iter().take(LISTED) {
                    let device = i.device.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
                    steps.push(format!("   - {}{device}", i.title));
                }
                more(&mut steps, hardware.len());
            }
            None => steps.push(
                "c. Before restoring, plug in the radio sticks and USB devices the old machine had."
                    .to_owned(),
            ),
        }
        let version = report
            .and_then(|(_, r)| r.restore_into.homeassistant.as_deref())
            .map(|v| format!(" {v} or newer"))
            .unwrap_or_default();
        steps.push(format!(
            "d. Install Home Assistant{version} on new hardware. At onboarding choose"
        ));
        steps.push(
            "   \"Restore from backup\", upload backup.tar, and when asked type the".to_owned(),
        );
        steps.push("   Home Assistant backup key from section 1.".to_owned());
        match report.map(|(_, r)| &r.reauth).filter(|a| !a.is_empty()) {
            Some(reauth) => {
                steps.push("e. Afterwards, sign in again where Home Assistant asks:".to_owned());
                for i in reauth.iter().take(LISTED) {
                    let domain = i
                        .domain
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default();
                    steps.push(format!("   - {}{domain}", i.title));
                }
                more(&mut steps, reauth.len());
                steps.push("   and on phones running the companion app.".to_owned());
            }
            None => steps.push(
                "e. Afterwards, sign in again where Home Assistant asks (cloud accounts, phones \
                 running the companion app)."
                    .to_owned(),
            ),
        }
        steps
    }

    /// The kit as a text file.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let mut line = |s: &str| {
            out.push_str(s);
            out.push('\n');
        };
        line("LIFEBOAT EMERGENCY KIT");
        line(&format!("Made {}", self.made.format("%Y-%m-%d %H:%M UTC")));
        line("");
        line("Keep this page with your important papers, and a copy away from the house.");
        line("Whoever holds it, with the storage logins below, can restore this home.");
        line("");
        line("1. HOME ASSISTANT BACKUP KEYS (newest first)");
        if self.ha_keys.is_empty() {
            line("   (none known: backups are not protected by Home Assistant, or add its key");
            line("    with `lifeboat keys import` and print this kit again)");
        }
        for k in &self.ha_keys {
            line(&format!("   {}    ({})", k.key.expose(), k.fingerprint));
        }
        line("");
        line("2. THE LOCK ON THE COPIES (age)");
        if self.passphrase {
            line("   The copies are encrypted with a passphrase: it is not printed here.");
            line("   Write it below, by hand:  ______________________________________");
        }
        if self.locks.is_empty() && !self.passphrase {
            line("   (no key yet: make one on Lifeboat's Emergency kit page)");
        }
        for l in &self.locks {
            line(&format!(
                "   public key {}  ({})",
                l.recipient, l.fingerprint
            ));
            match &l.private {
                Some(p) => {
                    line("   PRIVATE KEY (this opens the copies; save it as kit.txt to use it):");
                    line(&format!("   {}", p.expose()));
                    line(&format!(
                        "   the same, for copying by hand: {}",
                        l.private_groups.join(" ")
                    ));
                }
                None => {
                    line("   its private half, AGE-SECRET-KEY-1…, is on the kit page printed");
                    line("   when the key was made. Without it the copies cannot be opened.");
                }
            }
        }
        line("");
        line("3. WHERE THE COPIES ARE");
        for p in &self.places {
            line(&format!("   {:<12} {}", p.name, p.location));
            line(&format!("   {:<12} lifeboat URL: {}", "", p.url));
        }
        line("   (each copy is <date>-<id>.tar.age with a <date>-<id>.manifest.json beside it)");
        if !self.signers.is_empty() {
            line("   Each manifest is signed. This home's signing keys (a copy signed by any");
            line("   other key was not made here; `lifeboat recover` reads them from this file):");
            for k in &self.signers {
                let whose = if k.own { "this box" } else { "an earlier box" };
                line(&format!("   {}  ({}, {whose})", k.printed, k.fingerprint));
            }
        }
        line("");
        line("4. GETTING THE HOME BACK");
        for step in self.steps() {
            line(&format!("   {step}"));
        }
        if !self.sources.is_empty() {
            line("");
            line("5. THE HOME SERVER'S OTHER DATA (same places, same key)");
            for s in &self.sources {
                line(&format!(
                    "   {} ({}): copies named {}",
                    s.name, s.what, s.copies
                ));
                line(&format!("     {}", s.open));
            }
            for l in PARTS_STEPS {
                line(l);
            }
        }
        out
    }
}

/// How many sign-ins or devices a kit lists before pointing to the dashboard.
const LISTED: usize = 12;

fn more(steps: &mut Vec<String>, n: usize) {
    if n > LISTED {
        steps.push(format!(
            "   and {} more (Lifeboat's \"Moving to new hardware\" page)",
            n - LISTED
        ));
    }
}

/// Opening a copy kept in parts: only the other sources' copies can be (their size is not known
/// in advance), on a drive reached through rclone ([`crate::destinations::parts`]).
const PARTS_STEPS: &[&str] = &[
    "   A copy over 32 MiB on a drive reached through rclone is kept in parts",
    "   (<copy>.part-00001, .part-00002, ...). Download them into one folder and",
    "   read them with cat in place of the copy; the numbers keep them in order:",
    "     cat <copy>.part-* | age -d -i kit.txt > backup.tar",
    "   then go on from backup.tar as the line above goes on from age -d.",
];

/// Fetching and opening a copy: the first steps of getting the home back.
const FETCH_STEPS: &[&str] = &[
    "a. Download the newest .tar.age copy (the storage's website works, or",
    "   `lifeboat recover --from <URL above> --identity kit.txt --out backup.tar`).",
    "b. Without Lifeboat: install `age` (apt install age / brew install age), then",
    "   age -d -i kit.txt -o backup.tar <copy>.tar.age",
    "   where kit.txt holds the AGE-SECRET-KEY-1… line. From a cloud drive",
    "   connected through rclone (an rclone: place above), with rclone set up",
    "   for that drive on the laptop (rclone config, or rclone authorize):",
    "   rclone cat <remote:folder>/<copy>.tar.age | age -d -i kit.txt > backup.tar",
];

/// The last group of a key as the kit check asks for it: the last of the age key's printed
/// groups, or the Home Assistant key's last group of four.
pub fn last_group(key: &str) -> String {
    if key.starts_with("AGE-SECRET-KEY-1") {
        identity::groups(key).pop().unwrap_or_default()
    } else {
        key.rsplit('-').next().unwrap_or_default().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DestinationKind;
    use crate::destinations::kinds::s3::S3Spec;

    /// Issue 38: the kit lists every signing key the home has used, in a form `lifeboat recover`
    /// reads back from the kit file.
    #[test]
    fn the_kit_lists_the_signing_keys_so_recover_can_read_them_back() {
        use crate::signing::{SigningKey, public_keys_in};
        let enc = EncryptionSpec {
            recipients: Vec::new(),
            passphrase: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut v = crate::crypto::vault::Vault::open(dir.path()).unwrap();
        let own = v.signing_key(Utc::now(), &[3; 32]).unwrap().public();
        let earlier = SigningKey::from_seed(&[4; 32]).unwrap().public();
        v.trust_signer(earlier, Utc::now()).unwrap();
        let text = Kit::gather(Utc::now(), &[], &enc, &[], Vec::new())
            .with_signers(&v.signers())
            .text();
        assert_eq!(public_keys_in(&text), vec![own, earlier], "{text}");
        assert!(text.contains(&own.fingerprint()) && text.contains("an earlier box"));
    }

    #[test]
    fn the_kit_says_how_to_open_the_other_sources_copies() {
        use crate::archive::content::{Compression, ContentSpec, DumpTool, Kind};
        let enc = EncryptionSpec {
            recipients: vec![KeyPair::generate().recipient()],
            passphrase: None,
        };
        let pg = ContentSpec {
            kind: Kind::Dump,
            compression: Compression::Gzip,
            tool: DumpTool::Postgres,
        };
        let dir = ContentSpec {
            kind: Kind::Folder,
            compression: Compression::None,
            tool: DumpTool::Other,
        };
        let text = Kit::gather(Utc::now(), &[], &enc, &[], Vec::new())
            .with_sources(vec![
                KitSource::new("postgres", "command:pg_dumpall -U postgres", &pg),
                KitSource::new("configs", "dir:/opt/halo/configs", &dir),
            ])
            .text();
        assert!(text.contains(
            "age -d -i kit.txt <date>-postgres.sql.gz.age | gunzip | psql -U postgres -d postgres"
        ));
        assert!(text.contains("age -d -i kit.txt <date>-configs.tar.age | tar -x -p -C"));
        assert!(text.contains("\n     cat <copy>.part-* | age -d -i kit.txt > backup.tar\n"));
        assert!(
            !Kit::gather(Utc::now(), &[], &enc, &[], Vec::new())
                .text()
                .contains("OTHER DATA")
        );
    }

    #[test]
    fn the_kit_holds_keys_locations_and_steps_but_no_storage_secret() {
        let pair = KeyPair::generate();
        let other = KeyPair::generate();
        let enc = EncryptionSpec {
            recipients: vec![pair.recipient(), other.recipient()],
            passphrase: None,
        };
        let dests = [DestinationSpec {
            name: "b2".into(),
            retention: Default::default(),
            kind: DestinationKind::S3(S3Spec {
                bucket: "home".into(),
                prefix: "ha/".into(),
                endpoint: Some("https://s3.us-west-004.backblazeb2.com".into()),
                region: "us-west-004".into(),
                access_key_id: "KEYID".into(),
                secret_access_key: Secret::new("very-secret-app-key"),
                path_style: true,
            }),
        }];
        let kit = Kit::gather(
            Utc::now(),
            &[Secret::new("DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044")],
            &enc,
            &[],
            dests.iter().map(KitPlace::from).collect(),
        )
        .text();
        assert!(kit.contains("DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044"));
        assert!(kit.contains(&pair.recipient().to_string()));
        assert!(
            !kit.contains(pair.secret().expose()),
            "no private key was at hand"
        );
        assert!(
            kit.contains(
                "s3://home/ha?region=us-west-004&endpoint=https://s3.us-west-004.backblazeb2.com"
            ),
            "{kit}"
        );
        assert!(kit.contains("age -d -i kit.txt"));
        assert!(!kit.contains("very-secret-app-key"));
        // With a private half at hand it is printed, whole and in groups; the other lock is not.
        let places = dests.iter().map(KitPlace::from).collect();
        let with = Kit::gather(Utc::now(), &[], &enc, std::slice::from_ref(&pair), places).text();
        assert!(with.contains(pair.secret().expose()));
        assert!(with.contains(&pair.groups().join(" ")));
        assert!(!with.contains(other.secret().expose()));
        assert_eq!(
            last_group(pair.secret().expose()),
            *pair.groups().last().unwrap()
        );
        assert_eq!(last_group("DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044"), "5044");
    }

    #[test]
    fn the_steps_name_the_sign_ins_and_hardware_of_the_newest_backup() {
        use crate::archive::readiness::{Item, Readiness, RestoreInto};
        let item = |domain: &str, title: &str, device: Option<&str>| Item {
            domain: Some(domain.into()),
            addon: None,
            title: title.into(),
            why: String::new(),
            device: device.map(str::to_owned),
        };
        let enc = EncryptionSpec {
            recipients: vec![KeyPair::generate().recipient()],
            passphrase: None,
        };
        let plain = Kit::gather(Utc::now(), &[], &enc, &[], Vec::new());
        let generic = plain.steps().join("\n");
        assert!(
            generic.contains("sign in again where Home Assistant asks (cloud"),
            "{generic}"
        );
        let many: Vec<Item> = (0..15)
            .map(|i| item("x", &format!("Account {i}"), None))
            .collect();
        let report = Readiness {
            looked_inside: true,
            reauth: [vec![item("spotify", "Living room Spotify", None)], many].concat(),
            hardware: vec![item(
                "zha",
                "Sonoff",
                Some("/dev/serial/by-id/usb-ITead-if00"),
            )],
            restore_into: RestoreInto {
                homeassistant: Some("2026.11.2".into()),
                ..RestoreInto::default()
            },
            ..Readiness::default()
        };
        let text = plain
            .with_readiness("2026-11-30T03:00:00.000007+00:00".into(), report.clone())
            .text();
        assert!(
            text.contains("read from the backup of 2026-11-30)"),
            "{text}"
        );
        assert!(
            text.contains("- Sonoff: /dev/serial/by-id/usb-ITead-if00"),
            "{text}"
        );
        assert!(
            text.contains("Install Home Assistant 2026.11.2 or newer"),
            "{text}"
        );
        assert!(text.contains("- Living room Spotify (spotify)"), "{text}");
        assert!(
            text.contains("and 4 more"),
            "twelve listed, the rest counted: {text}"
        );
        // A report that could not look inside names nothing.
        let sealed = Readiness {
            looked_inside: false,
            ..report
        };
        let kit =
            Kit::gather(Utc::now(), &[], &enc, &[], Vec::new()).with_readiness("d".into(), sealed);
        assert!(!kit.text().contains("Sonoff"));
    }
}
