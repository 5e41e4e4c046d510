//! From what the pass found to the report's sections. Which integrations sign in through a browser
//! or with a cloud password comes from Home Assistant's own code (`ha_domains.txt`, written by
//! `scripts/ha-domains.py` from the integrations Home Assistant 2025.4.4 ships); which ones hold
//! hardware or addresses, from the config entry fields those integrations write.

use super::gather::{AddonJson, ConfigEntry, Found, is_homeassistant};
use super::{Counts, Item, Readiness, RestoreInto};
use crate::archive::BackupJson;
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::LazyLock;

/// How an integration Home Assistant ships signs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    OAuth,
    Login,
    Known,
}

static DOMAINS: LazyLock<HashMap<&'static str, Kind>> = LazyLock::new(|| {
    include_str!("ha_domains.txt")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(' '))
        .map(|(domain, kind)| {
            let kind = match kind {
                "oauth" => Kind::OAuth,
                "login" => Kind::Login,
                _ => Kind::Known,
            };
            (domain, kind)
        })
        .collect()
});

/// The Home Assistant release the domain table was read from.
const KNOWN_RELEASE: &str = "2025.4";

pub(super) fn build(found: &Found, backup: &BackupJson) -> Readiness {
    let mut r = Readiness {
        looked_inside: found.homeassistant_read,
        unread: found.unread.clone(),
        ..Readiness::default()
    };
    let with_ha = backup.homeassistant.is_some() || backup.kind.is_full();
    if !found.homeassistant_read {
        r.notes.push(if found.sealed.iter().any(|s| is_homeassistant(s)) {
            "Home Assistant's archive is encrypted with a backup key Lifeboat does not have, so it \
             could not look inside: add the key from Home Assistant's emergency kit to see what a \
             restore needs"
                .to_owned()
        } else if with_ha {
            "Home Assistant's archive was not found in this backup".to_owned()
        } else {
            "this backup does not hold Home Assistant's configuration".to_owned()
        });
    }
    let entries: Vec<&ConfigEntry> = found
        .config_entries
        .iter()
        .flatten()
        .filter(|e| e.source != "ignore")
        .collect();
    for e in &entries {
        entry(e, found, &mut r);
    }
    let addons_in_backup: Vec<(&AddonJson, String)> = found
        .addons
        .iter()
        .filter_map(|a| {
            let slug = backup
                .addons
                .iter()
                .find(|p| addon_archive(&p.slug) == a.archive)?;
            Some((a, slug.slug.clone()))
        })
        .collect();
    for (a, slug) in &addons_in_backup {
        addon(a, slug, &mut r);
    }
    missing(found, backup, &mut r);
    r.restore_into = restore_into(found, backup);
    r.counts = Counts {
        integrations: found.config_entries.as_ref().map(|_| entries.len() as u64),
        devices: found.devices,
        entities: found.entities,
        users: found.auth.map(|a| a.users),
        long_lived_tokens: found.auth.map(|a| a.long_lived_tokens),
    };
    r
}

/// The archive name the Supervisor gives an add-on's part of a backup.
fn addon_archive(slug: &str) -> String {
    format!("{slug}.tar.gz")
}

fn text_at<'a>(data: &'a serde_json::Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (first, rest) = path.split_first()?;
    let mut v = data.get(*first)?;
    for key in rest {
        v = v.get(key)?;
    }
    v.as_str().filter(|s| !s.is_empty())
}

fn from_entry(e: &ConfigEntry, why: String, device: Option<&str>) -> Item {
    Item {
        domain: Some(e.domain.clone()),
        addon: None,
        title: if e.title.is_empty() {
            e.domain.clone()
        } else {
            e.title.clone()
        },
        why,
        device: device.map(str::to_owned),
    }
}

fn entry(e: &ConfigEntry, found: &Found, r: &mut Readiness) {
    let kind = DOMAINS.get(e.domain.as_str()).copied();
    let oauth = e.data.contains_key("auth_implementation")
        || e.data.get("token").is_some_and(Value::is_object);
    if kind == Some(Kind::OAuth) || oauth {
        r.reauth.push(from_entry(
            e,
            "signed in through a browser (OAuth). The sign-in comes back with the restore, but the \
             service may have replaced it since this backup (the old system refreshes it): if \
             Home Assistant shows \"Reconfigure\" or \"Re-authenticate\", sign in again"
                .into(),
            None,
        ));
    } else if kind == Some(Kind::Login) && e.data.contains_key("password") {
        r.reauth.push(from_entry(
            e,
            "signed in to its cloud account with a password. If the password changed since this \
             backup, or the service allows one signed-in device, it will ask to sign in again"
                .into(),
            None,
        ));
    } else if kind.is_none() {
        let code = found.custom_components.contains(&e.domain);
        let why = if code {
            format!(
                "a custom integration (custom_components/{}): its code is in this backup, and \
                 comes back with it; check it still works with the version you restore into",
                e.domain
            )
        } else {
            format!(
                "not an integration Home Assistant {KNOWN_RELEASE} ships, and its code is not in \
                 custom_components/ in this backup: a newer built-in integration, or a custom one \
                 that must be installed again (HACS or by hand)"
            )
        };
        r.unknown.push(from_entry(e, why, None));
    }
    hardware_and_network(e, r);
}

fn stick_advice(path: &str) -> String {
    if path.starts_with("/dev/serial/by-id/") {
        "the path names the stick itself (by-id), so it is found on any machine: plug the same \
         stick in before restoring"
            .to_owned()
    } else {
        "this path depends on the order of this machine's ports: plug the same stick in before \
         restoring, and if the path differs there, choose it under /dev/serial/by-id/… so it \
         never moves again"
            .to_owned()
    }
}

/// What a config entry needs of the hardware and the network it will be restored onto.
fn hardware_and_network(e: &ConfigEntry, r: &mut Readiness) {
    let paths_used = known_hardware(e, r);
    other_devices(e, r, paths_used);
    home_network(e, r);
}

/// What the integrations Lifeboat knows say about their hardware; returns the device paths they
/// named.
fn known_hardware(e: &ConfigEntry, r: &mut Readiness) -> Vec<String> {
    let hw = |why: &str, device: &str| {
        from_entry(e, format!("{why}; {}", stick_advice(device)), Some(device))
    };
    let mut paths_used = Vec::new();
    match e.domain.as_str() {
        "zha" => {
            if let Some(path) = text_at(&e.data, &["device", "path"]) {
                if path.contains("://") {
                    r.network.push(from_entry(
                        e,
                        "the Zigbee coordinator is reached over the network: the new machine must reach the same address".into(),
                        Some(&shown(path)),
                    ));
                } else {
                    r.hardware.push(hw("the Zigbee radio ZHA talks to", path));
                }
                paths_used.push(path.to_owned());
            }
        }
        "zwave_js" => {
            if let Some(path) = text_at(&e.data, &["usb_path"]) {
                r.hardware.push(hw("the Z-Wave stick", path));
                paths_used.push(path.to_owned());
            }
        }
        "rfxtrx" => {
            if let Some(path) = text_at(&e.data, &["device"]) {
                r.hardware.push(hw("the RFXtrx transceiver", path));
                paths_used.push(path.to_owned());
            }
        }
        "homeassistant_sky_connect" | "homeassistant_connect_zbt1" => {
            if let Some(path) = text_at(&e.data, &["device"]) {
                r.hardware
                    .push(hw("the Home Assistant Connect ZBT-1 / SkyConnect", path));
                paths_used.push(path.to_owned());
            }
        }
        "homeassistant_yellow" => r.hardware.push(from_entry(
            e,
            "the radio built into Home Assistant Yellow: on other hardware it is not there; a \
             USB radio takes its place, and Zigbee devices may need pairing again unless the \
             radio's network is migrated (ZHA's \"migrate radio\")"
                .into(),
            None,
        )),
        "bluetooth" => {
            let address = text_at(&e.data, &["address"])
                .or_else(|| e.unique_id.as_ref().and_then(Value::as_str));
            if let Some(address) = address {
                r.hardware.push(from_entry(
                    e,
                    "a Bluetooth adapter, known by its address: the new machine's adapter has \
                     another one, so Home Assistant finds it as new; remove this one afterwards"
                        .into(),
                    Some(address),
                ));
            }
        }
        "otbr" => {
            if let Some(url) = text_at(&e.data, &["url"]) {
                r.hardware.push(from_entry(
                    e,
                    "the Thread border router: its radio must be on the new machine too, and its \
                     network (dataset) comes back only with the OpenThread Border Router add-on \
                     in the same backup"
                        .into(),
                    Some(&shown(url)),
                ));
            }
        }
        _ => {}
    }
    paths_used
}

/// Any other device path the entry names (not already in `paths_used`).
fn other_devices(e: &ConfigEntry, r: &mut Readiness, mut paths_used: Vec<String>) {
    let mut others = Vec::new();
    device_paths(&Value::Object(e.data.clone()), "", &mut others);
    for (key, path) in others {
        if !paths_used.contains(&path) {
            r.hardware.push(from_entry(
                e,
                format!("names the device {key}; {}", stick_advice(&path)),
                Some(&path),
            ));
            paths_used.push(path);
        }
    }
}

/// The first address on the home network the entry names (`host`, `ip_address`, `url`).
fn home_network(e: &ConfigEntry, r: &mut Readiness) {
    for key in ["host", "ip_address", "url"] {
        let Some(value) = text_at(&e.data, &[key]) else {
            continue;
        };
        if e.domain == "otbr" && key == "url" {
            continue;
        }
        if let Some(host) = on_home_network(value) {
            r.network.push(from_entry(
                e,
                format!(
                    "reached at {host} on your home network: the new machine must be on the same \
                     network, and the device must keep this address (reserve it in the router)"
                ),
                Some(&shown(value)),
            ));
            break;
        }
    }
}

/// An address or URL as the report may show it: scheme, host and port only. A URL's user and
/// password, path and query (where tokens hide) stay out of the report.
fn shown(value: &str) -> String {
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), value),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}{host}")
}

/// Strings under `v` that are device paths, with the key they were found at.
fn device_paths(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::String(s) if s.starts_with("/dev/") => out.push((at.to_owned(), s.clone())),
        Value::Object(m) => {
            for (k, v) in m {
                let key = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                device_paths(v, &key, out);
            }
        }
        Value::Array(a) => {
            for v in a {
                device_paths(v, at, out);
            }
        }
        _ => {}
    }
}

/// The host of `value` (an address, host name or URL) when it is on the home network: a private or
/// link-local address, or a local name. An add-on's own host name (`core-mosquitto`) is not: the
/// add-on comes back with the backup.
fn on_home_network(value: &str) -> Option<String> {
    let rest = value.split_once("://").map_or(value, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else if authority.matches(':').count() > 1 {
        authority
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return None;
    }
    let local = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_private() || ip.is_link_local(),
        Ok(IpAddr::V6(ip)) => {
            let first = ip.segments()[0];
            (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
        Err(_) => {
            let name = host.to_ascii_lowercase();
            let addon_host = !name.contains('.')
                && name
                    .split_once('-')
                    .is_some_and(|(repo, _)| repo == "core" || repo == "local" || repo.len() == 8);
            !addon_host
                && (name.ends_with(".local")
                    || name.ends_with(".lan")
                    || name.ends_with(".home.arpa")
                    || name.ends_with(".internal")
                    || (!name.contains('.') && name != "localhost"))
        }
    };
    local.then(|| host.to_owned())
}

fn addon(a: &AddonJson, slug: &str, r: &mut Readiness) {
    let title = a.name.clone().unwrap_or_else(|| slug.to_owned());
    let item = |why: String, device: Option<&str>| Item {
        domain: None,
        addon: Some(slug.to_owned()),
        title: title.clone(),
        why,
        device: device.map(str::to_owned),
    };
    let mut named = Vec::new();
    device_paths(&a.options, "", &mut named);
    for (key, path) in &named {
        r.hardware.push(item(
            format!("its option {key} names this device; {}", stick_advice(path)),
            Some(path),
        ));
    }
    for path in &a.devices {
        if !named.iter().any(|(_, p)| p == path) {
            r.hardware.push(item(
                format!("the add-on maps this device; {}", stick_advice(path)),
                Some(path),
            ));
        }
    }
    if named.is_empty() && a.devices.is_empty() {
        let kinds: Vec<&str> = [
            (a.uart, "serial ports"),
            (a.usb, "USB devices"),
            (a.gpio, "GPIO"),
        ]
        .into_iter()
        .filter_map(|(on, what)| on.then_some(what))
        .collect();
        if !kinds.is_empty() {
            r.hardware.push(item(
                format!(
                    "the add-on uses this machine's {}: whatever it talks to must be plugged into \
                     the new machine",
                    kinds.join(" and ")
                ),
                None,
            ));
        }
    }
    let tunnel = a
        .options
        .get("tunnel_token")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty());
    if tunnel {
        r.network.push(item(
            "holds a tunnel connector token: the tunnel follows the add-on to the new machine; \
             turn the old machine off first, or both answer for the same tunnel"
                .into(),
            None,
        ));
    }
}

/// What the backup leaves out that a restore will miss.
fn missing(found: &Found, backup: &BackupJson, r: &mut Readiness) {
    let partial = !backup.kind.is_full();
    let with_ha = backup.homeassistant.is_some() || !partial;
    if !with_ha {
        r.missing.push(left_out(
            "Home Assistant's configuration",
            "this partial backup holds no Home Assistant configuration: integrations, \
             automations and history are not in it"
                .into(),
        ));
        return;
    }
    r.missing.extend(missing_database(found, backup));
    if partial {
        r.missing.extend(missing_folders(found, backup));
    }
    r.missing.extend(missing_secrets(found));
}

/// Something the backup leaves out, titled `title`.
fn left_out(title: &str, why: String) -> Item {
    Item {
        domain: None,
        addon: None,
        title: title.to_owned(),
        why,
        device: None,
    }
}

/// The recorder database, when it was excluded, kept elsewhere, or is not in the backup.
fn missing_database(found: &Found, backup: &BackupJson) -> Option<Item> {
    let excluded = backup
        .homeassistant
        .as_ref()
        .and_then(|h| h.exclude_database)
        .unwrap_or(false);
    let external = found
        .configuration
        .as_ref()
        .is_some_and(|c| c.external_database);
    let why = if excluded {
        "the backup was made without the database: history, long-term statistics and the \
         logbook start empty after a restore"
    } else if external {
        "recorder: db_url keeps history in another database, which no Home Assistant backup \
         holds: back that database up on its own"
    } else if found.homeassistant_read && found.config_entries.is_some() && !found.database_present
    {
        "home-assistant_v2.db is not in this backup: history starts empty after a restore"
    } else {
        return None;
    };
    Some(left_out("the recorder database", why.into()))
}

/// The folders a partial backup leaves out: /ssl when the configuration needs it, /share, /media.
fn missing_folders(found: &Found, backup: &BackupJson) -> Vec<Item> {
    let mut out = Vec::new();
    let folders: Vec<String> = backup
        .folders
        .iter()
        .map(|f| f.to_ascii_lowercase())
        .collect();
    let has = |f: &str| folders.iter().any(|x| x == f);
    let ssl = found
        .configuration
        .as_ref()
        .map(|c| c.ssl_files.iter().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    if !has("ssl") && !ssl.is_empty() {
        out.push(left_out(
            "the ssl folder",
            format!(
                "http: names certificates under /ssl ({}), and this partial backup leaves /ssl \
                 out: Home Assistant will not start its web server until they are back",
                ssl.join(", ")
            ),
        ));
    }
    for (folder, what) in [("share", "/share"), ("media", "/media")] {
        if !has(folder) {
            out.push(left_out(
                &format!("the {folder} folder"),
                format!("this partial backup leaves {what} out; anything kept there is not in it"),
            ));
        }
    }
    out
}

/// The `!secret` names configuration.yaml uses that secrets.yaml lacks (or is not there for).
fn missing_secrets(found: &Found) -> Option<Item> {
    let config = found.configuration.as_ref()?;
    if config.secrets.is_empty() {
        return None;
    }
    let have = found.secrets.clone().unwrap_or_default();
    let lacking: Vec<&str> = config
        .secrets
        .iter()
        .filter(|s| !have.contains(*s))
        .map(String::as_str)
        .collect();
    if lacking.is_empty() {
        return None;
    }
    Some(left_out(
        "secrets",
        format!(
            "configuration.yaml uses !secret {} but secrets.yaml {}: Home Assistant will \
             not load that configuration until they are added",
            lacking.join(", "),
            if found.secrets.is_some() {
                "lacks them"
            } else {
                "is not in the backup"
            }
        ),
    ))
}

fn restore_into(found: &Found, backup: &BackupJson) -> RestoreInto {
    let homeassistant = backup
        .homeassistant
        .as_ref()
        .map(|h| h.version.clone())
        .filter(|v| !v.is_empty())
        .or_else(|| found.ha_version.clone());
    let supervisor = backup.supervisor_version.clone().filter(|v| !v.is_empty());
    let advice = match &homeassistant {
        Some(v) => format!(
            "restore into Home Assistant {v} or newer: an older one cannot read what this one wrote"
        ),
        None => "the backup does not say which Home Assistant made it".to_owned(),
    };
    RestoreInto {
        homeassistant,
        supervisor,
        advice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_table_knows_oauth_cloud_logins_and_plain_integrations() {
        assert_eq!(DOMAINS.get("spotify"), Some(&Kind::OAuth));
        assert_eq!(DOMAINS.get("netatmo"), Some(&Kind::OAuth));
        assert_eq!(DOMAINS.get("google"), Some(&Kind::OAuth));
        assert_eq!(DOMAINS.get("ring"), Some(&Kind::Login));
        assert_eq!(DOMAINS.get("met"), Some(&Kind::Known));
        assert_eq!(DOMAINS.get("shopping_list"), Some(&Kind::Known));
        assert_eq!(DOMAINS.get("hacs"), None);
        assert!(DOMAINS.len() > 1000);
    }

    #[test]
    fn an_address_is_shown_without_its_user_password_path_or_query() {
        assert_eq!(
            shown("http://admin:s3cret@192.168.1.9:8080/api?token=t0ken"),
            "http://192.168.1.9:8080"
        );
        assert_eq!(shown("socket://[fd00::1]:6638"), "socket://[fd00::1]:6638");
        assert_eq!(shown("192.168.1.20"), "192.168.1.20");
        assert_eq!(shown("me:pw@nas.local"), "nas.local");
    }

    #[test]
    fn home_network_hosts_are_private_addresses_and_local_names_not_addons() {
        for local in [
            "192.168.1.20",
            "http://10.0.0.5:8080/api",
            "tcp://[fd00::1]:6638",
            "hue-bridge.local",
            "nas",
            "ws://user:pw@172.16.3.4:3000",
        ] {
            assert!(on_home_network(local).is_some(), "{local}");
        }
        for not in [
            "8.8.8.8",
            "api.example.com",
            "ws://core-zwave-js:3000",
            "http://a0d7b954-nodered:1880",
            "localhost",
            "127.0.0.1",
        ] {
            assert!(on_home_network(not).is_none(), "{not}");
        }
    }
}
