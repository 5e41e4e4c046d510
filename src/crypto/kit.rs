//! The emergency kit, as text: everything a family member needs to get the home back with no
//! Lifeboat and no Home Assistant at hand — the Home Assistant backup keys, which age key the
//! copies are encrypted to (its private half is the kit's other page), where every copy is, and the
//! steps. Printed and kept with the house papers, and a second copy away from the house.

use crate::archive::securetar::ha_key_fingerprint;
use crate::config::{DestinationSpec, EncryptionSpec};
use crate::crypto::recipient_fingerprint;
use crate::secret::Secret;
use chrono::{DateTime, Utc};

/// Renders the kit. `ha_keys` newest first.
pub fn render(
    now: DateTime<Utc>,
    ha_keys: &[Secret],
    encryption: &EncryptionSpec,
    destinations: &[DestinationSpec],
) -> String {
    let mut out = String::new();
    let line = |out: &mut String, s: &str| {
        out.push_str(s);
        out.push('\n');
    };
    line(&mut out, "LIFEBOAT EMERGENCY KIT");
    line(
        &mut out,
        &format!("Made {}", now.format("%Y-%m-%d %H:%M UTC")),
    );
    line(&mut out, "");
    line(
        &mut out,
        "Keep this page with your important papers, and a copy away from the house.",
    );
    line(
        &mut out,
        "Whoever holds it, with the storage logins below, can restore this home.",
    );
    line(&mut out, "");
    line(&mut out, "1. HOME ASSISTANT BACKUP KEYS (newest first)");
    if ha_keys.is_empty() {
        line(
            &mut out,
            "   (none known: backups are not protected by Home Assistant, or add its key",
        );
        line(
            &mut out,
            "    with `lifeboat keys import` and print this kit again)",
        );
    }
    for k in ha_keys {
        line(
            &mut out,
            &format!("   {}    ({})", k.expose(), ha_key_fingerprint(k.expose())),
        );
    }
    line(&mut out, "");
    line(&mut out, "2. THE LOCK ON THE COPIES (age)");
    if let Some(_p) = &encryption.passphrase {
        line(
            &mut out,
            "   The copies are encrypted with a passphrase: it is not printed here.",
        );
        line(
            &mut out,
            "   Write it below, by hand:  ______________________________________",
        );
    }
    for r in &encryption.recipients {
        line(&mut out, &format!("   public key {r}"));
        line(
            &mut out,
            &format!(
                "   ({}) — its private half, AGE-SECRET-KEY-1…, is the page you",
                recipient_fingerprint(r)
            ),
        );
        line(
            &mut out,
            "   printed when the key was made. Without it the copies cannot be opened.",
        );
    }
    line(&mut out, "");
    line(&mut out, "3. WHERE THE COPIES ARE");
    for d in destinations {
        line(
            &mut out,
            &format!("   {:<12} {}", d.name, d.kind.location()),
        );
        line(
            &mut out,
            &format!("   {:<12} lifeboat URL: {}", "", d.kind.url()),
        );
    }
    line(
        &mut out,
        "   (each copy is <date>-<id>.tar.age with a <date>-<id>.manifest.json beside it)",
    );
    line(&mut out, "");
    line(&mut out, "4. GETTING THE HOME BACK");
    line(
        &mut out,
        "   a. Download the newest .tar.age copy (the storage's website works, or",
    );
    line(
        &mut out,
        "      `lifeboat recover --from <URL above> --identity kit.txt --out backup.tar`).",
    );
    line(
        &mut out,
        "   b. Without Lifeboat: install `age` (apt install age / brew install age), then",
    );
    line(
        &mut out,
        "      age -d -i kit.txt -o backup.tar <copy>.tar.age",
    );
    line(
        &mut out,
        "      where kit.txt holds the AGE-SECRET-KEY-1… line.",
    );
    line(
        &mut out,
        "   c. Install Home Assistant on new hardware. At onboarding choose",
    );
    line(
        &mut out,
        "      \"Restore from backup\", upload backup.tar, and when asked type the",
    );
    line(&mut out, "      Home Assistant backup key from section 1.");
    line(
        &mut out,
        "   d. Afterwards, sign in again where Home Assistant asks (cloud accounts,",
    );
    line(&mut out, "      phones running the companion app).");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DestinationKind;

    #[test]
    fn the_kit_holds_keys_locations_and_steps_but_no_storage_secret() {
        let id = age::x25519::Identity::generate();
        let enc = EncryptionSpec {
            recipients: vec![id.to_public()],
            passphrase: None,
        };
        let dests = vec![DestinationSpec {
            name: "b2".into(),
            retention: Default::default(),
            kind: DestinationKind::S3 {
                bucket: "home".into(),
                prefix: "ha/".into(),
                endpoint: Some("https://s3.us-west-004.backblazeb2.com".into()),
                region: "us-west-004".into(),
                access_key_id: "KEYID".into(),
                secret_access_key: Secret::new("very-secret-app-key"),
                path_style: true,
            },
        }];
        let kit = render(
            Utc::now(),
            &[Secret::new("DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044")],
            &enc,
            &dests,
        );
        assert!(kit.contains("DDTV-CESF-QLHM-PM8S-AHHS-BF6M-5044"));
        assert!(kit.contains(&id.to_public().to_string()));
        assert!(
            kit.contains(
                "s3://home/ha?region=us-west-004&endpoint=https://s3.us-west-004.backblazeb2.com"
            ),
            "{kit}"
        );
        assert!(kit.contains("age -d -i kit.txt"));
        assert!(!kit.contains("very-secret-app-key"));
    }
}
