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
use crate::destinations::kinds;
use std::collections::HashMap;
use std::path::PathBuf;

/// Credentials given as flags or environment variables (each kind reads its own).
pub use kinds::Credentials;

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
        match kinds::destination_from_url(raw, &format!("--to[{i}]"), creds, &mut used) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

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
        let names: Vec<&str> = d.iter().map(DestinationOptions::name).collect();
        assert_eq!(names, ["s3", "s3-2", "local", "cloud"]);
        let DestinationOptions::Azure(kinds::azure::AzureOptions {
            container, prefix, ..
        }) = &d[3]
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
            if let (DestinationKind::S3(a), DestinationKind::S3(b)) = (&spec.kind, &again.kind) {
                assert_eq!(a.region, b.region);
            }
        }
    }
}
