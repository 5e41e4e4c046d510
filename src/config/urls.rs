//! One-off runs need no config file: sources and destinations are URLs, credentials come from flags
//! or the environment (never from the URL, which would end up in shell history and process lists).
//! The URLs become the same [`Options`](super::options) a file would give, so validation is shared.
//!
//! - sources: `folder:/path`, `core:http://host:8123`, `supervisor:` (inside the add-on)
//! - destinations: `file:///path` (or a plain absolute path), `s3://bucket/prefix?endpoint=…&region=…`,
//!   `azure://account/container/prefix?endpoint=…`, `webdav+https://host/path?segment_mb=…`,
//!   `sftp://user@host:22/folder?host_key=…` (`//` before an absolute folder),
//!   `smb://user@host/share/folder?domain=…`, `rclone:REMOTE:folder` (any rclone remote; its
//!   settings stay in rclone.conf); each takes `name=…`.

use super::Problem;
use super::options::{CommandLine, DestinationOptions, SourceEntry, SourceOptions};
use crate::secret::Secret;
use std::collections::HashMap;
use std::path::PathBuf;
use url::Url;

/// Credentials given as flags or environment variables.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<Secret>,
    pub azure_account_key: Option<Secret>,
    pub azure_sas_token: Option<Secret>,
    pub webdav_username: Option<String>,
    pub webdav_password: Option<Secret>,
    pub sftp_password: Option<Secret>,
    pub sftp_key: Option<PathBuf>,
    pub sftp_key_passphrase: Option<Secret>,
    pub smb_password: Option<Secret>,
    /// The rclone.conf for `rclone:` destinations (rclone's own default when not given).
    pub rclone_config: Option<PathBuf>,
}

fn bad(field: &str, message: String) -> Problem {
    Problem {
        field: field.to_owned(),
        message,
    }
}

/// Parses `--source`.
///
/// # Errors
/// A [`Problem`] on `--source` saying which forms are accepted.
pub fn source_from_url(raw: &str) -> Result<SourceOptions, Problem> {
    let (scheme, rest) = raw.split_once(':').ok_or_else(|| {
        bad(
            "--source",
            format!(
                "{raw:?} has no kind; use folder:/path, core:http://host:8123, supervisor:, \
                 dir:/path or 'command:pg_dumpall -U postgres'"
            ),
        )
    })?;
    match scheme {
        "folder" => Ok(SourceOptions::Folder {
            path: path_of(rest, "folder: needs a path, like folder:/backup")?,
        }),
        "core" => Ok(SourceOptions::Core {
            url: rest.to_owned(),
            token: None,
            agent_id: None,
            mode: None,
        }),
        "supervisor" => Ok(SourceOptions::Supervisor {
            method: None,
            url: (!rest.is_empty()).then(|| rest.to_owned()),
            token: None,
            mode: None,
        }),
        "dir" => Ok(SourceOptions::Dir {
            path: path_of(rest, "dir: needs a folder, like dir:/opt/halo/configs")?,
            exclude: Vec::new(),
            compression: None,
        }),
        "command" => {
            if rest.trim().is_empty() {
                return Err(bad(
                    "--source",
                    "command: needs a command, like 'command:pg_dumpall -U postgres'".into(),
                ));
            }
            Ok(SourceOptions::Command {
                command: CommandLine::Line(rest.to_owned()),
                environment: std::collections::BTreeMap::new(),
                compression: None,
                dump: None,
            })
        }
        other => Err(bad(
            "--source",
            format!(
                "{other:?} is not a source kind; use folder:, core:, supervisor:, dir: or command:"
            ),
        )),
    }
}

/// The path of a `folder:` or `dir:` source (`folder:///backup` too), or `missing` as the problem.
fn path_of(rest: &str, missing: &str) -> Result<PathBuf, Problem> {
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(bad("--source", missing.into()));
    }
    Ok(PathBuf::from(path))
}

/// Sources given on the command line: one is the shorthand `source`; several are named after
/// what they are (`home-assistant`, the folder's name, the dump program's; `-2`, `-3`… when two
/// would share one).
pub fn name_sources(mut given: Vec<SourceOptions>) -> (Option<SourceOptions>, Vec<SourceEntry>) {
    if given.len() <= 1 {
        return (given.pop(), Vec::new());
    }
    let mut entries: Vec<SourceEntry> = Vec::new();
    for source in given {
        let base = match &source {
            SourceOptions::Core { .. } | SourceOptions::Supervisor { .. } => {
                "home-assistant".to_owned()
            }
            SourceOptions::Folder { .. } => "backups".to_owned(),
            SourceOptions::Dir { path, .. } => super::name_for_dir(path),
            SourceOptions::Command { command, .. } => match command {
                CommandLine::Words(w) => super::name_for_command(w),
                CommandLine::Line(l) => {
                    super::name_for_command(&shlex::split(l).unwrap_or_default())
                }
            },
        };
        let mut name = base.clone();
        let mut n = 1;
        while entries.iter().any(|e| e.name == name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        entries.push(SourceEntry {
            name,
            source,
            destinations: Vec::new(),
            schedule: None,
            retention: None,
            stale_after_hours: None,
        });
    }
    (None, entries)
}

/// Parses every `--to`, giving each a unique default name (`s3`, `s3-2`, …) unless `name=` is set.
///
/// # Errors
/// Every problem found, each on `--to[i]`.
pub fn destinations_from_urls(
    raws: &[String],
    creds: &Credentials,
) -> Result<Vec<DestinationOptions>, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut used: HashMap<String, usize> = HashMap::new();
    for (i, raw) in raws.iter().enumerate() {
        match destination_from_url(raw, &format!("--to[{i}]"), creds, &mut used) {
            Ok(d) => out.push(d),
            Err(p) => problems.push(p),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn destination_from_url(
    raw: &str,
    field: &str,
    creds: &Credentials,
    used: &mut HashMap<String, usize>,
) -> Result<DestinationOptions, Problem> {
    if let Some(rest) = raw.strip_prefix("rclone:") {
        return Ok(rclone_from_url(rest, creds, used));
    }
    let url = if raw.starts_with('/') {
        Url::from_file_path(raw)
            .map_err(|()| bad(field, format!("{raw:?} is not a usable path")))?
    } else {
        Url::parse(raw).map_err(|e| {
            bad(
                field,
                format!("{raw:?} is not a URL ({e}); use file:///path, s3://bucket/prefix, azure://account/container or webdav+https://host/folder"),
            )
        })?
    };
    let mut query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let allowed: &[&str] = match url.scheme() {
        "file" => &["name", "keep"],
        "s3" => &["name", "endpoint", "region", "path_style", "keep"],
        "azure" | "azblob" => &["name", "endpoint", "keep"],
        "webdav+http" | "webdav+https" => &["name", "keep", "segment_mb", "certificate_sha256"],
        "sftp" => &["name", "keep", "host_key"],
        "smb" => &["name", "keep", "domain"],
        other => {
            return Err(bad(
                field,
                format!(
                    "{other:?} is not a destination kind; use file://, s3://, azure://, webdav+https://, sftp://, smb:// or rclone:REMOTE:folder"
                ),
            ));
        }
    };
    if let Some(k) = query.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(
            field,
            format!(
                "unknown setting {k:?} (allowed: {}); credentials go in flags or the environment, never in the URL",
                allowed.join(", ")
            ),
        ));
    }
    let kind = match url.scheme() {
        "file" => "local",
        "s3" => "s3",
        "webdav+http" | "webdav+https" => "webdav",
        "sftp" => "sftp",
        "smb" => "smb",
        _ => "azure",
    };
    let name = query.remove("name").unwrap_or_else(|| {
        let n = used.entry(kind.to_owned()).or_insert(0);
        *n += 1;
        if *n == 1 {
            kind.to_owned()
        } else {
            format!("{kind}-{n}")
        }
    });
    let host = url.host_str().unwrap_or("").to_owned();
    let path = url.path().trim_matches('/').to_owned();
    let retention = query.remove("keep");
    match kind {
        "local" => {
            let path = url.to_file_path().map_err(|()| {
                bad(
                    field,
                    format!("{raw:?} must be an absolute path, like file:///mnt/usb/ha"),
                )
            })?;
            Ok(DestinationOptions::Local {
                name,
                path,
                retention,
            })
        }
        "s3" => {
            let path_style = match query.get("path_style").map(String::as_str) {
                None => None,
                Some("true" | "1") => Some(true),
                Some("false" | "0") => Some(false),
                Some(v) => {
                    return Err(bad(
                        field,
                        format!("path_style={v:?} must be true or false"),
                    ));
                }
            };
            Ok(DestinationOptions::S3 {
                name,
                bucket: host,
                prefix: Some(path),
                endpoint: query.remove("endpoint"),
                region: query.remove("region"),
                access_key_id: creds.s3_access_key_id.clone().unwrap_or_default(),
                secret_access_key: creds
                    .s3_secret_access_key
                    .clone()
                    .unwrap_or_else(|| Secret::new("")),
                path_style,
                retention,
            })
        }
        "sftp" => {
            let path = url.path().strip_prefix('/').unwrap_or(url.path());
            Ok(DestinationOptions::Sftp {
                name,
                host,
                port: url.port(),
                username: percent_encoding::percent_decode_str(url.username())
                    .decode_utf8_lossy()
                    .into_owned(),
                password: creds.sftp_password.clone(),
                private_key: creds.sftp_key.clone(),
                private_key_passphrase: creds.sftp_key_passphrase.clone(),
                path: Some(
                    percent_encoding::percent_decode_str(path)
                        .decode_utf8_lossy()
                        .into_owned(),
                ),
                host_key: query.remove("host_key"),
                retention,
            })
        }
        "smb" => {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let (share, folder) = path.split_once('/').unwrap_or((&path, ""));
            Ok(DestinationOptions::Smb {
                name,
                host,
                port: url.port(),
                share: decode(share),
                path: Some(decode(folder)),
                username: decode(url.username()),
                password: creds
                    .smb_password
                    .clone()
                    .unwrap_or_else(|| Secret::new("")),
                domain: query.remove("domain"),
                retention,
            })
        }
        "webdav" => {
            let segment_mb = match query.remove("segment_mb") {
                None => None,
                Some(v) => Some(v.parse::<u32>().map_err(|_| {
                    bad(
                        field,
                        format!("segment_mb={v:?} must be a whole number of MiB"),
                    )
                })?),
            };
            let mut http = url.clone();
            http.set_query(None);
            let http = http
                .as_str()
                .strip_prefix("webdav+")
                .unwrap_or(http.as_str())
                .to_owned();
            Ok(DestinationOptions::Webdav {
                name,
                url: http,
                username: creds.webdav_username.clone().unwrap_or_default(),
                password: creds
                    .webdav_password
                    .clone()
                    .unwrap_or_else(|| Secret::new("")),
                segment_mb,
                certificate_sha256: query.remove("certificate_sha256"),
                retention,
            })
        }
        _ => {
            let (container, prefix) = path.split_once('/').unwrap_or((&path, ""));
            Ok(DestinationOptions::Azure {
                name,
                account: host,
                container: container.to_owned(),
                prefix: Some(prefix.to_owned()),
                endpoint: query.remove("endpoint"),
                account_key: creds.azure_account_key.clone(),
                sas_token: creds.azure_sas_token.clone(),
                retention,
            })
        }
    }
}

/// `REMOTE:folder`, with `?name=…&keep=…` after it only when that is all the query holds (a
/// folder may itself have a `?` in its name).
fn rclone_from_url(
    rest: &str,
    creds: &Credentials,
    used: &mut HashMap<String, usize>,
) -> DestinationOptions {
    let (remote, query) = match rest.rsplit_once('?') {
        Some((remote, q))
            if !q.is_empty()
                && url::form_urlencoded::parse(q.as_bytes())
                    .all(|(k, _)| k == "name" || k == "keep") =>
        {
            let query: HashMap<String, String> = url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect();
            (remote, query)
        }
        _ => (rest, HashMap::new()),
    };
    let name = query.get("name").cloned().unwrap_or_else(|| {
        let n = used.entry("rclone".to_owned()).or_insert(0);
        *n += 1;
        if *n == 1 {
            "rclone".to_owned()
        } else {
            format!("rclone-{n}")
        }
    });
    DestinationOptions::Rclone {
        name,
        remote: remote.to_owned(),
        rclone_config: creds.rclone_config.clone(),
        retention: query.get("keep").cloned(),
        from_command_line: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources() {
        assert!(
            matches!(source_from_url("folder:/backup").unwrap(), SourceOptions::Folder { path } if path == std::path::Path::new("/backup"))
        );
        assert!(
            matches!(source_from_url("core:http://ha:8123").unwrap(), SourceOptions::Core { url, .. } if url == "http://ha:8123")
        );
        assert!(matches!(
            source_from_url("supervisor:").unwrap(),
            SourceOptions::Supervisor { url: None, .. }
        ));
        assert_eq!(source_from_url("/backup").unwrap_err().field, "--source");
        assert!(
            source_from_url("ftp:x")
                .unwrap_err()
                .message
                .contains("folder:")
        );
    }

    #[test]
    fn destinations_get_unique_names_and_refuse_secrets_in_urls() {
        let creds = Credentials {
            s3_access_key_id: Some("AK".into()),
            s3_secret_access_key: Some(Secret::new("SK")),
            ..Credentials::default()
        };
        let d = destinations_from_urls(
            &[
                "s3://bkt/a/b?endpoint=http://127.0.0.1:9000".into(),
                "s3://bkt2".into(),
                "/mnt/usb".into(),
                "azure://acct/cont/pre/fix?name=cloud".into(),
            ],
            &creds,
        )
        .unwrap();
        let names: Vec<&str> = d
            .iter()
            .map(|d| match d {
                DestinationOptions::Local { name, .. }
                | DestinationOptions::S3 { name, .. }
                | DestinationOptions::Webdav { name, .. }
                | DestinationOptions::Sftp { name, .. }
                | DestinationOptions::Smb { name, .. }
                | DestinationOptions::Rclone { name, .. }
                | DestinationOptions::Azure { name, .. } => name.as_str(),
            })
            .collect();
        assert_eq!(names, ["s3", "s3-2", "local", "cloud"]);
        let DestinationOptions::Azure {
            container, prefix, ..
        } = &d[3]
        else {
            panic!()
        };
        assert_eq!(
            (container.as_str(), prefix.as_deref()),
            ("cont", Some("pre/fix"))
        );

        let err =
            destinations_from_urls(&["s3://b?secret_key=x".into(), "gopher://x".into()], &creds)
                .unwrap_err();
        assert_eq!(err.len(), 2);
        assert!(err[0].message.contains("never in the URL"));
        assert_eq!(err[1].field, "--to[1]");
    }

    #[test]
    fn rclone_remotes_come_whole_with_their_config_file() {
        use crate::config::{DestinationKind, validate_destinations};
        let creds = Credentials {
            rclone_config: Some("/home/me/rclone.conf".into()),
            ..Credentials::default()
        };
        let specs = validate_destinations(
            destinations_from_urls(
                &[
                    "rclone:gdrive:Home Assistant/lifeboat?name=drive&keep=last=5".into(),
                    "rclone:dropbox:odd?folder".into(),
                ],
                &creds,
            )
            .unwrap(),
        )
        .unwrap();
        let remotes: Vec<(&str, &str, Option<&std::path::Path>)> = specs
            .iter()
            .map(|s| match &s.kind {
                DestinationKind::Rclone(r) => {
                    (s.name.as_str(), r.remote.as_str(), r.config.as_deref())
                }
                _ => panic!("rclone expected"),
            })
            .collect();
        let conf = Some(std::path::Path::new("/home/me/rclone.conf"));
        assert_eq!(
            remotes,
            [
                ("drive", "gdrive:Home Assistant/lifeboat", conf),
                ("rclone", "dropbox:odd?folder", conf)
            ]
        );
        assert_eq!(specs[0].retention.last, 5);
        // Without --rclone-config, rclone's own default file (the person's) is used.
        let spec = validate_destinations(
            destinations_from_urls(&["rclone:gdrive:x".into()], &Credentials::default()).unwrap(),
        )
        .unwrap()
        .remove(0);
        assert!(matches!(&spec.kind, DestinationKind::Rclone(r) if r.config.is_none()));
        for (bad, says) in [
            ("rclone:gdrive", "no colon"),
            ("rclone:", "name the remote"),
            ("rclone:-x:y", "not a remote name"),
            ("rclone:gdrive,client_secret=abc:HA", "looks like a secret"),
        ] {
            let e = validate_destinations(
                destinations_from_urls(&[bad.into()], &Credentials::default()).unwrap(),
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
        assert!(
            validate_destinations(
                destinations_from_urls(
                    &[
                        "rclone:gdrive,chunk_size=64M:HA".into(),
                        "rclone::local:/x".into()
                    ],
                    &Credentials::default()
                )
                .unwrap()
            )
            .is_ok()
        );
    }

    #[test]
    fn a_destinations_url_leads_back_to_it() {
        use crate::config::{DestinationKind, validate_destinations};
        let creds = Credentials {
            s3_access_key_id: Some("AK".into()),
            s3_secret_access_key: Some(Secret::new("SK")),
            azure_account_key: Some(Secret::new("K")),
            webdav_username: Some("alice".into()),
            webdav_password: Some(Secret::new("app-password")),
            sftp_password: Some(Secret::new("sftp-password")),
            smb_password: Some(Secret::new("smb-password")),
            ..Credentials::default()
        };
        for url in [
            "smb://ha@nas.local/backups",
            "smb://ha@nas.local:4445/backups/home%20assistant/lifeboat?domain=WORKGROUP",
            "sftp://pi@nas.local:2222/backups/ha?host_key=SHA256:MfndkZGI39VvdzBkMsUGnbSys27p6LWm2LNET71VvW8",
            "sftp://pi@nas.local//srv/backups",
            "sftp://pi@nas.local/ha%20backups%20%231?host_key=SHA256:MfndkZGI39VvdzBkMsUGnbSys27p6LWm2LNET71VvW8",
            "smb://ha@nas.local/backups/a%23b?domain=A%26B",
            "webdav+https://cloud.example.com/remote.php/dav/files/alice/HA%20backups?segment_mb=50",
            "webdav+http://nas.local:5005/backups",
            "s3://home/ha?region=us-west-004&endpoint=https://s3.us-west-004.backblazeb2.com",
            "azure://acct/cont/pre?endpoint=http://127.0.0.1:10000/acct",
            "file:///mnt/usb/ha",
            "rclone:gdrive:Home Assistant/lifeboat",
            "rclone:my nas:/srv/ha",
        ] {
            let spec =
                validate_destinations(destinations_from_urls(&[url.into()], &creds).unwrap())
                    .unwrap()
                    .remove(0);
            let again =
                validate_destinations(destinations_from_urls(&[spec.kind.url()], &creds).unwrap())
                    .unwrap()
                    .remove(0);
            assert_eq!(spec.kind.location(), again.kind.location(), "{url}");
            if let (DestinationKind::S3 { region: a, .. }, DestinationKind::S3 { region: b, .. }) =
                (&spec.kind, &again.kind)
            {
                assert_eq!(a, b);
            }
        }
    }
}
