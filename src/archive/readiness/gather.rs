//! What the restore-readiness report is built from, taken from the inner archives as the single
//! pass walks them: a handful of small files are parsed straight from the tar entry (no copy of the
//! file is kept, only the few fields the report needs), every other byte goes by untouched.
//!
//! Memory is bounded per file: a file larger than its cap (known from the tar header before a byte
//! of it is read) is not read, and the report says so; registries that are only counted are walked
//! element by element without holding them.

use serde::Deserialize;
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, Read};

/// The files read, with the most a file may hold to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    ConfigEntries,
    DeviceRegistry,
    EntityRegistry,
    Auth,
    Configuration,
    Secrets,
    HaVersion,
    AddonJson,
}

impl Wanted {
    /// Largest file read. Config entries are kept field by field, so their cap bounds memory; the
    /// registries are only counted and auth only its counts, so theirs only bound the time.
    fn cap(self) -> u64 {
        match self {
            Self::ConfigEntries => 8 << 20,
            Self::DeviceRegistry | Self::EntityRegistry | Self::Auth => 64 << 20,
            Self::Configuration | Self::Secrets | Self::AddonJson => 1 << 20,
            Self::HaVersion => 64,
        }
    }

    /// The file's name as the report says it.
    pub fn file(self) -> &'static str {
        match self {
            Self::ConfigEntries => ".storage/core.config_entries",
            Self::DeviceRegistry => ".storage/core.device_registry",
            Self::EntityRegistry => ".storage/core.entity_registry",
            Self::Auth => ".storage/auth",
            Self::Configuration => "configuration.yaml",
            Self::Secrets => "secrets.yaml",
            Self::HaVersion => ".HA_VERSION",
            Self::AddonJson => "addon.json",
        }
    }
}

/// One config entry, with what the report looks at (its `data` holds secrets: they are read to be
/// classified, never shown; its Debug names the keys only).
#[derive(Clone, Deserialize)]
pub struct ConfigEntry {
    pub domain: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub data: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub unique_id: Option<serde_json::Value>,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub disabled_by: Option<String>,
}

/// Counts from `.storage/auth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthCounts {
    pub users: u64,
    pub long_lived_tokens: u64,
}

/// What `configuration.yaml` says that matters to a restore (read line by line: Home Assistant's
/// `!secret` and `!include` tags are not plain YAML).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configuration {
    /// Names used with `!secret`.
    pub secrets: BTreeSet<String>,
    /// Files under `/ssl` it names (the `http:` certificate and key).
    pub ssl_files: BTreeSet<String>,
    /// Whether `recorder:` keeps history in another database (`db_url:`).
    pub external_database: bool,
}

/// An add-on's `addon.json`: the options the user set (passwords among them: its Debug names the
/// keys only) and the devices the add-on maps.
#[derive(Clone)]
pub struct AddonJson {
    /// The inner archive it came from (`core_zwave_js.tar.gz`).
    pub archive: String,
    pub name: Option<String>,
    pub options: serde_json::Value,
    /// Device paths the add-on maps (`devices` in its configuration).
    pub devices: Vec<String>,
    pub uart: bool,
    pub usb: bool,
    pub gpio: bool,
}

impl std::fmt::Debug for ConfigEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigEntry")
            .field("domain", &self.domain)
            .field("title", &self.title)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AddonJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&String> = self
            .options
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        f.debug_struct("AddonJson")
            .field("archive", &self.archive)
            .field("name", &self.name)
            .field("option_keys", &keys)
            .field("devices", &self.devices)
            .finish_non_exhaustive()
    }
}

/// A file that was not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unread {
    pub file: String,
    pub why: String,
}

/// Everything gathered in one pass.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Whether Home Assistant's own archive was walked (not sealed, present).
    pub homeassistant_read: bool,
    pub config_entries: Option<Vec<ConfigEntry>>,
    pub devices: Option<u64>,
    pub entities: Option<u64>,
    pub auth: Option<AuthCounts>,
    pub configuration: Option<Configuration>,
    pub secrets: Option<BTreeSet<String>>,
    pub ha_version: Option<String>,
    /// Whether the recorder's database file is in the archive.
    pub database_present: bool,
    /// Folders under `custom_components/` the archive holds.
    pub custom_components: BTreeSet<String>,
    pub addons: Vec<AddonJson>,
    pub unread: Vec<Unread>,
    /// Inner archives that could not be opened (a Home Assistant backup key is missing).
    pub sealed: Vec<String>,
}

/// Whether an inner archive is Home Assistant's own.
pub fn is_homeassistant(member: &str) -> bool {
    member == "homeassistant.tar.gz" || member == "homeassistant.tar"
}

impl Found {
    /// Which file, if any, the entry `path` of the inner archive `member` is; records what the
    /// name alone says (a custom integration's folder, the database file).
    pub fn wants(&mut self, member: &str, path: &str) -> Option<Wanted> {
        let path = path.trim_start_matches("./");
        if !is_homeassistant(member) {
            return (path == "addon.json").then_some(Wanted::AddonJson);
        }
        let data = path.strip_prefix("data/")?;
        if let Some(rest) = data.strip_prefix("custom_components/") {
            if let Some((domain, _)) = rest.split_once('/')
                && !domain.is_empty()
                && !domain.starts_with('.')
                && domain != "__pycache__"
            {
                self.custom_components.insert(domain.to_owned());
            }
            return None;
        }
        match data {
            ".storage/core.config_entries" => Some(Wanted::ConfigEntries),
            ".storage/core.device_registry" => Some(Wanted::DeviceRegistry),
            ".storage/core.entity_registry" => Some(Wanted::EntityRegistry),
            ".storage/auth" => Some(Wanted::Auth),
            "configuration.yaml" => Some(Wanted::Configuration),
            "secrets.yaml" => Some(Wanted::Secrets),
            ".HA_VERSION" => Some(Wanted::HaVersion),
            "home-assistant_v2.db" => {
                self.database_present = true;
                None
            }
            _ => None,
        }
    }

    /// Reads the file `wanted` from `r` (the tar entry, `size` bytes). A file that is too large
    /// or not what it should be is noted, not an error; the caller drains what is left.
    ///
    /// # Errors
    /// Only the reader's own I/O errors (the archive itself is damaged).
    pub fn read(
        &mut self,
        member: &str,
        wanted: Wanted,
        r: &mut impl Read,
        size: u64,
    ) -> io::Result<()> {
        let label = if wanted == Wanted::AddonJson {
            format!("{member}: addon.json")
        } else {
            wanted.file().to_owned()
        };
        if size > wanted.cap() {
            self.unread.push(Unread {
                file: label,
                why: format!(
                    "{} is larger than the {} Lifeboat reads",
                    crate::human::size(size),
                    crate::human::size(wanted.cap())
                ),
            });
            return Ok(());
        }
        let parsed = if size <= IN_MEMORY {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            r.take(size).read_to_end(&mut bytes)?;
            self.parse(member, wanted, Input::Bytes(&bytes))
        } else {
            let mut watched = Watched {
                inner: r.take(size),
                error: None,
            };
            let parsed = self.parse(
                member,
                wanted,
                Input::Stream(&mut BufReader::new(&mut watched)),
            );
            if let Some(e) = watched.error {
                return Err(e);
            }
            parsed
        };
        if let Err(why) = parsed {
            self.unread.push(Unread {
                file: label,
                why: why.to_string(),
            });
        }
        Ok(())
    }

    fn parse(&mut self, member: &str, wanted: Wanted, r: Input<'_>) -> Result<(), Unparsed> {
        match wanted {
            Wanted::ConfigEntries => {
                let s: Store<Entries> = r.json()?;
                self.config_entries = Some(s.data.entries);
            }
            Wanted::DeviceRegistry => {
                let s: Store<Devices> = r.json()?;
                self.devices = Some(s.data.devices.0);
            }
            Wanted::EntityRegistry => {
                let s: Store<Entities> = r.json()?;
                self.entities = Some(s.data.entities.0);
            }
            Wanted::Auth => {
                let s: Store<Auth> = r.json()?;
                self.auth = Some(AuthCounts {
                    users: s.data.users.iter().filter(|u| !u.system_generated).count() as u64,
                    long_lived_tokens: s
                        .data
                        .refresh_tokens
                        .iter()
                        .filter(|t| t.token_type.as_deref() == Some("long_lived_access_token"))
                        .count() as u64,
                });
            }
            Wanted::Configuration => self.configuration = Some(configuration(&r.text()?)),
            Wanted::Secrets => self.secrets = Some(secret_names(&r.text()?)),
            Wanted::HaVersion => {
                let v = r.text()?.trim().to_owned();
                let plausible = !v.is_empty()
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
                if !plausible {
                    return Err(Unparsed::NoVersion);
                }
                self.ha_version = Some(v);
            }
            Wanted::AddonJson => {
                let a: AddonFile = r.json()?;
                self.addons.push(AddonJson {
                    archive: member.to_owned(),
                    name: a.system.name,
                    options: a.user.options,
                    devices: a.system.devices,
                    uart: a.system.uart,
                    usb: a.system.usb,
                    gpio: a.system.gpio,
                });
            }
        }
        Ok(())
    }
}

/// Why a file the report wants could not be read (it is then listed as unread, with this).
#[derive(Debug, thiserror::Error)]
enum Unparsed {
    #[error("it is not the JSON Home Assistant writes ({0})")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Read(io::Error),
    #[error("it is not UTF-8 text")]
    NotText,
    #[error("it does not hold a version")]
    NoVersion,
}

/// Passes reads through and keeps the first I/O error, which a parser would otherwise turn into
/// a parse error: a damaged archive must fail the walk, not be reported as an unreadable file.
struct Watched<R> {
    inner: R,
    error: Option<io::Error>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if self.error.is_none() {
                self.error = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

/// Files up to this size are read whole and parsed from memory (several times faster than
/// parsing from a reader); larger ones are parsed as they stream, holding only what is kept.
const IN_MEMORY: u64 = 4 << 20;

/// A file's bytes: whole, or as a stream.
enum Input<'a> {
    Bytes(&'a [u8]),
    Stream(&'a mut dyn BufRead),
}

impl Input<'_> {
    fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        match self {
            Self::Bytes(b) => serde_json::from_slice(b),
            Self::Stream(r) => serde_json::from_reader(r),
        }
    }

    fn text(self) -> Result<String, Unparsed> {
        let bytes = match self {
            Self::Bytes(b) => b.to_vec(),
            Self::Stream(r) => {
                let mut bytes = Vec::new();
                r.read_to_end(&mut bytes).map_err(Unparsed::Read)?;
                bytes
            }
        };
        String::from_utf8(bytes).map_err(|_| Unparsed::NotText)
    }
}

/// The `!secret` names, `/ssl` files and external database of a `configuration.yaml`.
fn configuration(text: &str) -> Configuration {
    let mut c = Configuration::default();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or_default();
        if line.trim_start().starts_with('#') {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("!secret") {
            rest = &rest[at + "!secret".len()..];
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}'))
                .collect();
            let name = name.trim_matches(['"', '\'']);
            if !name.is_empty() {
                c.secrets.insert(name.to_owned());
            }
        }
        let trimmed = line.trim_start();
        if let Some((key, value)) = trimmed.split_once(':') {
            let value = value.trim().trim_matches(['"', '\'']);
            match key.trim() {
                "ssl_certificate" | "ssl_key" | "ssl_peer_certificate"
                    if value.starts_with("/ssl/") =>
                {
                    c.ssl_files.insert(value.to_owned());
                }
                "db_url" => c.external_database = true,
                _ => {}
            }
        }
    }
    c
}

/// The top-level keys of a `secrets.yaml`.
fn secret_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with([' ', '\t', '#', '-']))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, _)| k.trim().trim_matches(['"', '\'']).to_owned())
        .filter(|k| !k.is_empty())
        .collect()
}

#[derive(Deserialize)]
struct Store<T> {
    data: T,
}

#[derive(Deserialize)]
struct Entries {
    entries: Vec<ConfigEntry>,
}

#[derive(Deserialize)]
struct Devices {
    devices: Counted,
}

#[derive(Deserialize)]
struct Entities {
    entities: Counted,
}

#[derive(Deserialize)]
struct Auth {
    #[serde(default)]
    users: Vec<User>,
    #[serde(default)]
    refresh_tokens: Vec<RefreshToken>,
}

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    system_generated: bool,
}

/// Only its type: the token itself is skipped by the parser, never kept.
#[derive(Deserialize)]
struct RefreshToken {
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct AddonFile {
    #[serde(default)]
    user: AddonUser,
    #[serde(default)]
    system: AddonSystem,
}

#[derive(Deserialize, Default)]
struct AddonUser {
    #[serde(default)]
    options: serde_json::Value,
}

#[derive(Deserialize, Default)]
struct AddonSystem {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "device_paths")]
    devices: Vec<String>,
    #[serde(default)]
    uart: bool,
    #[serde(default)]
    usb: bool,
    #[serde(default)]
    gpio: bool,
}

/// `devices` as the Supervisor has written it over the years: `/dev/ttyUSB0`, or the older
/// `/dev/ttyUSB0:/dev/ttyUSB0:rwm`; anything else is skipped.
fn device_paths<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str())
        .filter_map(|d| d.split(':').next())
        .filter(|d| d.starts_with("/dev/"))
        .map(str::to_owned)
        .collect())
}

/// The length of a JSON array, counted element by element without keeping any.
struct Counted(u64);

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Counter;
        impl<'de> Visitor<'de> for Counter {
            type Value = Counted;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Counted, A::Error> {
                let mut n = 0;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Counted(n))
            }
        }
        d.deserialize_seq(Counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(found: &mut Found, member: &str, path: &str, bytes: &[u8]) -> io::Result<()> {
        let wanted = found.wants(member, path).expect("a wanted file");
        found.read(member, wanted, &mut &bytes[..], bytes.len() as u64)
    }

    #[test]
    fn counts_come_from_the_registries_and_auth_without_the_tokens() {
        let mut f = Found::default();
        let ha = "homeassistant.tar.gz";
        read(&mut f, ha, "data/.storage/core.device_registry",
            br#"{"version":1,"data":{"devices":[{"id":"a"},{"id":"b","connections":[["mac","x"]]}],"deleted_devices":[{"id":"c"}]}}"#).unwrap();
        read(
            &mut f,
            ha,
            "./data/.storage/core.entity_registry",
            br#"{"data":{"entities":[{},{},{}]}}"#,
        )
        .unwrap();
        read(&mut f, ha, "data/.storage/auth", br#"{"data":{"users":[{"system_generated":true},{"system_generated":false},{}],
            "refresh_tokens":[{"token_type":"normal","token":"SECRET"},{"token_type":"long_lived_access_token","token":"SECRET"}]}}"#).unwrap();
        assert_eq!((f.devices, f.entities), (Some(2), Some(3)));
        assert_eq!(
            f.auth,
            Some(AuthCounts {
                users: 2,
                long_lived_tokens: 1
            })
        );
        assert!(!format!("{f:?}").contains("SECRET"));
    }

    #[test]
    fn a_file_over_its_cap_is_noted_unread_before_a_byte_of_it_is_read() {
        let mut f = Found::default();
        let mut r = io::repeat(b'x');
        f.read(
            "homeassistant.tar.gz",
            Wanted::ConfigEntries,
            &mut r,
            9 << 20,
        )
        .unwrap();
        assert_eq!(f.unread[0].file, ".storage/core.config_entries");
        assert!(f.unread[0].why.contains("larger than"), "{:?}", f.unread);
    }

    #[test]
    fn files_that_are_not_json_or_nested_too_deep_are_noted_and_the_walk_goes_on() {
        let mut f = Found::default();
        let ha = "homeassistant.tar.gz";
        read(
            &mut f,
            ha,
            "data/.storage/core.config_entries",
            b"<html>not json",
        )
        .unwrap();
        let deep = format!(
            "{{\"data\":{{\"entries\":[{{\"domain\":\"x\",\"data\":{{\"x\":{}1{}}}}}]}}}}",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        read(
            &mut f,
            ha,
            "data/.storage/core.config_entries",
            deep.as_bytes(),
        )
        .unwrap();
        assert_eq!(f.unread.len(), 2, "{:?}", f.unread);
        assert!(f.config_entries.is_none());
        assert!(f.unread[1].why.contains("recursion"), "{:?}", f.unread);
    }

    #[test]
    fn a_damaged_stream_is_an_error_not_an_unreadable_file() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("corrupt deflate stream"))
            }
        }
        // Read whole (small) and parsed as it streams (large) alike.
        for size in [100, IN_MEMORY + 1] {
            let mut f = Found::default();
            let e = f
                .read("homeassistant.tar.gz", Wanted::Auth, &mut Broken, size)
                .unwrap_err();
            assert!(e.to_string().contains("corrupt"), "{size}: {e}");
            assert!(f.unread.is_empty(), "{size}");
        }
    }

    #[test]
    fn configuration_yaml_gives_secret_names_ssl_files_and_an_outside_database() {
        let c = configuration(
            "http:\n  ssl_certificate: /ssl/fullchain.pem\n  ssl_key: \"/ssl/privkey.pem\"\n\
             recorder:\n  db_url: !secret db_url\n# api_key: !secret commented\n\
             sensor:\n  - platform: x\n    keys: [!secret one, !secret two]\n",
        );
        assert_eq!(
            c.secrets.iter().map(String::as_str).collect::<Vec<_>>(),
            ["db_url", "one", "two"]
        );
        assert_eq!(c.ssl_files.len(), 2);
        assert!(c.external_database);
        let s = secret_names("db_url: postgres://x\n# no: 1\n\"one\": a\n  nested: b\n");
        assert_eq!(
            s.iter().map(String::as_str).collect::<Vec<_>>(),
            ["db_url", "one"]
        );
    }

    #[test]
    fn addon_json_gives_options_and_mapped_devices() {
        let mut f = Found::default();
        read(&mut f, "45df7312_zigbee2mqtt.tar.gz", "./addon.json",
            br#"{"user":{"options":{"serial":{"port":"/dev/serial/by-id/usb-ITead-if00"},"mqtt":{"password":"SECRET"}},"access_token":"SECRET"},
                "system":{"name":"Zigbee2MQTT","uart":true,"devices":["/dev/ttyUSB0:/dev/ttyUSB0:rwm","/dev/ttyACM0", 5]},
                "version":"2.0.0","state":"started"}"#).unwrap();
        read(&mut f, "homeassistant.tar.gz", "data/.storage/core.config_entries",
            br#"{"data":{"entries":[{"domain":"ring","title":"Ring","data":{"password":"SECRET"}}]}}"#).unwrap();
        let a = &f.addons[0];
        let debug = format!("{f:?}");
        assert!(
            !debug.contains("SECRET") && debug.contains("password"),
            "{debug}"
        );
        assert_eq!(a.devices, ["/dev/ttyUSB0", "/dev/ttyACM0"]);
        assert!(a.uart && !a.usb);
        assert_eq!(
            a.options["serial"]["port"],
            "/dev/serial/by-id/usb-ITead-if00"
        );
        assert!(f.wants("share.tar.gz", "data/addon.json").is_none());
    }

    #[test]
    fn names_alone_record_custom_integrations_and_the_database() {
        let mut f = Found::default();
        let ha = "homeassistant.tar.gz";
        assert!(
            f.wants(ha, "data/custom_components/hacs/manifest.json")
                .is_none()
        );
        assert!(
            f.wants(ha, "data/custom_components/__pycache__/x.pyc")
                .is_none()
        );
        assert!(f.wants(ha, "data/home-assistant_v2.db").is_none());
        assert!(f.database_present);
        assert_eq!(f.custom_components.iter().collect::<Vec<_>>(), ["hacs"]);
        assert!(f.wants("core_ssh.tar.gz", "data/.storage/auth").is_none());
    }
}
