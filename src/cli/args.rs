//! The command line, as clap reads it: every command, its arguments and their help.

use clap::{Args, Parser, Subcommand};
use lifeboat::config::urls::Credentials;
use lifeboat::secret::Secret;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "lifeboat",
    version,
    about = "Off-site, encrypted, verified backups for Home Assistant"
)]
pub(crate) struct Cli {
    /// Options file: the add-on's options.json or a lifeboat.toml [default: /data/options.json in
    /// the add-on, else ./lifeboat.toml]
    #[arg(long, global = true, env = "LIFEBOAT_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Where history is kept [default: /data in the add-on, else ~/.local/share/lifeboat]
    #[arg(long, global = true, env = "LIFEBOAT_DATA")]
    pub(crate) data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Back up now: ship every new backup of the source to every destination, then verify.
    Run(RunArgs),
    /// List the copies on each destination (from their manifests).
    List(ListArgs),
    /// Apply each destination's retention policy now; with --dry-run only say what would go and why.
    Prune(PruneArgs),
    /// Keep a copy for good: retention never deletes a pinned copy.
    Pin(PinArgs),
    /// Let retention decide about a pinned copy again.
    Unpin(PinArgs),
    /// Re-read stored copies and compare them with their manifests (every copy, or the N
    /// longest unchecked per destination).
    Verify(VerifyArgs),
    /// Back up off-site, then update: make a backup that covers what the update touches, ship it,
    /// wait for verified copies, and only then install the update through Home Assistant.
    Update(UpdateArgs),
    /// Stay running: status page, health endpoint, and backups on request.
    Serve(ServeArgs),
    /// Check a backup file to its end: a Home Assistant backup tar, or a Lifeboat copy with
    /// --identity. Needs no Home Assistant and no destination.
    Inspect {
        /// The backup tar, or a Lifeboat copy (`.tar.age`) with --identity
        archive: PathBuf,
        /// Home Assistant backup key for protected backups (repeatable)
        #[arg(long = "ha-key", env = "LIFEBOAT_HA_KEY", hide_env_values = true)]
        ha_keys: Vec<String>,
        /// age identity file (the emergency kit's) to open a Lifeboat copy
        #[arg(long)]
        identity: Option<PathBuf>,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Get a backup back with the emergency kit: list the copies on a destination, download one,
    /// check and decrypt it, and write a Home Assistant backup tar (or extract it).
    Recover(RecoverArgs),
    /// Restore drill of a database dump: load the newest copy of a PostgreSQL command: source
    /// into a scratch server, compare every table's rows with the dump's, and record how long
    /// the load took (the source's recovery time).
    Drill(DrillArgs),
    /// Put a copy back into Home Assistant's backup list, ready to restore: download it, check and
    /// decrypt it with the kit, and upload it (token from SUPERVISOR_TOKEN or HA_TOKEN).
    Restore(RestoreArgs),
    /// Ask a running `lifeboat serve` whether it is up (the image's HEALTHCHECK); exit 0 if it is.
    Health {
        /// The health endpoint
        #[arg(long, default_value = "http://127.0.0.1:8099/api/health")]
        url: String,
    },
    /// Print the emergency kit: Home Assistant's backup keys, the age key the copies are locked
    /// to, where every copy is, and the steps to get the home back.
    Kit {
        /// Write it to this file (owner-only) instead of the screen
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        inline: Inline,
    },
    /// The key vault: Home Assistant backup keys kept (sealed) to check and restore backups.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Try Lifeboat with no Home Assistant: back up an embedded sample to a local folder.
    Demo {
        /// Folder for the demo's source, copies, key and history.
        #[arg(long, default_value = "lifeboat-demo")]
        dir: PathBuf,
    },
}

/// Sources, destinations and keys given on the command line instead of an options file.
#[derive(Args, Clone, Default)]
pub(crate) struct Inline {
    /// Source (repeatable): folder:/path, core:http://host:8123 (token in HA_TOKEN),
    /// supervisor:, dir:/path (a folder, tarred) or 'command:pg_dumpall -U postgres' (its output,
    /// gzipped; split into words as a shell would, with no shell run)
    #[arg(long)]
    pub(crate) source: Vec<String>,
    /// With core: or supervisor:, create no backup: ship the ones Home Assistant made since the
    /// last one shipped
    #[arg(long)]
    pub(crate) ship: bool,
    /// Destination (repeatable): file:///path, s3://bucket/prefix?endpoint=URL&region=R,
    /// azure://account/container/prefix?endpoint=URL, webdav+https://host/folder,
    /// sftp://user@host/folder, smb://user@host/share/folder, rclone:REMOTE:folder
    #[arg(long = "to")]
    pub(crate) to: Vec<String>,
    /// age public key to encrypt to (repeatable)
    #[arg(long = "recipient")]
    pub(crate) recipients: Vec<String>,
    /// Encrypt with a passphrase instead of public keys
    #[arg(long, env = "LIFEBOAT_PASSPHRASE", hide_env_values = true)]
    pub(crate) passphrase: Option<String>,
    /// Home Assistant backup key (from HA's emergency kit) to check protected backups with
    /// (repeatable)
    #[arg(long = "ha-key", env = "LIFEBOAT_HA_KEY", hide_env_values = true)]
    pub(crate) ha_keys: Vec<String>,
    #[command(flatten)]
    pub(crate) creds: CredentialArgs,
}

/// Destination credentials, from flags or the environment (never from URLs).
#[derive(Args, Clone, Default)]
pub(crate) struct CredentialArgs {
    /// S3 access key id
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub(crate) s3_access_key_id: Option<String>,
    /// S3 secret access key
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub(crate) s3_secret_access_key: Option<String>,
    /// Azure storage account key
    #[arg(long, env = "AZURE_STORAGE_KEY", hide_env_values = true)]
    pub(crate) azure_account_key: Option<String>,
    /// Azure SAS token
    #[arg(long, env = "AZURE_STORAGE_SAS_TOKEN", hide_env_values = true)]
    pub(crate) azure_sas_token: Option<String>,
    /// WebDAV user name
    #[arg(long, env = "LIFEBOAT_WEBDAV_USER")]
    pub(crate) webdav_user: Option<String>,
    /// WebDAV password (Nextcloud: an app password)
    #[arg(long, env = "LIFEBOAT_WEBDAV_PASSWORD", hide_env_values = true)]
    pub(crate) webdav_password: Option<String>,
    /// SFTP password
    #[arg(long, env = "LIFEBOAT_SFTP_PASSWORD", hide_env_values = true)]
    pub(crate) sftp_password: Option<String>,
    /// SFTP private key file (OpenSSH format, ed25519 or ECDSA)
    #[arg(long, env = "LIFEBOAT_SFTP_KEY")]
    pub(crate) sftp_key: Option<std::path::PathBuf>,
    /// Passphrase of the SFTP private key
    #[arg(long, env = "LIFEBOAT_SFTP_KEY_PASSPHRASE", hide_env_values = true)]
    pub(crate) sftp_key_passphrase: Option<String>,
    /// SMB password
    #[arg(long, env = "LIFEBOAT_SMB_PASSWORD", hide_env_values = true)]
    pub(crate) smb_password: Option<String>,
    /// The rclone.conf that holds the remotes of rclone: destinations [default: rclone's own]
    #[arg(long, env = "RCLONE_CONFIG")]
    pub(crate) rclone_config: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub(crate) struct RecoverArgs {
    /// Where the copies are: file:///path, s3://bucket/prefix?endpoint=…, azure://account/container/prefix, webdav+https://host/folder, sftp://user@host/folder, smb://user@host/share/folder, rclone:REMOTE:folder
    #[arg(long)]
    pub(crate) from: String,
    /// The copy to recover (its id, as listed) [default: the newest]
    #[arg(long)]
    pub(crate) copy: Option<String>,
    /// The emergency kit's age identity file
    #[arg(long)]
    pub(crate) identity: Option<PathBuf>,
    /// Write the Home Assistant backup tar here
    #[arg(long, conflicts_with = "extract")]
    pub(crate) out: Option<PathBuf>,
    /// Extract the backup's members into this new folder instead
    #[arg(long)]
    pub(crate) extract: Option<PathBuf>,
    /// Also remove Home Assistant's own encryption, so a fresh Home Assistant restores the backup
    /// without the old key (needs --ha-key and --out)
    #[arg(long, requires = "out")]
    pub(crate) remove_encryption: bool,
    /// Home Assistant backup key (from its emergency kit), for --remove-encryption (repeatable)
    #[arg(long = "ha-key", env = "LIFEBOAT_HA_KEY", hide_env_values = true)]
    pub(crate) ha_keys: Vec<String>,
    #[command(flatten)]
    pub(crate) creds: CredentialArgs,
    #[command(flatten)]
    pub(crate) trust: TrustArgs,
    /// Print JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// List the keys (fingerprints, never the keys)
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Add Home Assistant backup keys (XXXX-XXXX-…) and an earlier box's signing keys
    /// (lifeboat-sign:…): a key, or an emergency-kit file holding them
    Import {
        /// The key, or the path of a file holding keys
        key_or_file: String,
    },
    /// Make a new age key for the copies: its private half is shown once, for the kit, and kept
    /// only when you confirm you have it (by typing its last group)
    Generate {
        /// Also keep the private half here, sealed with the passphrase in LIFEBOAT_SEAL_PASSPHRASE
        /// (for restore drills and restores from the dashboard)
        #[arg(long)]
        seal: bool,
    },
}

#[derive(Args)]
pub(crate) struct TrustArgs {
    /// A signing key of this home's, as the emergency kit prints it (lifeboat-sign:…), to tell
    /// its copies from planted ones (repeatable). Keys in the --identity or --kit file count too
    #[arg(long = "trust", env = "LIFEBOAT_TRUST", value_delimiter = ',')]
    pub(crate) keys: Vec<String>,
    /// A file holding the signing keys: the emergency kit's text, or keys one per line
    #[arg(long)]
    pub(crate) kit: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct RestoreArgs {
    /// Where the copies are: file:///path, s3://bucket/prefix?endpoint=…, azure://account/container/prefix, webdav+https://host/folder, sftp://user@host/folder, smb://user@host/share/folder, rclone:REMOTE:folder
    #[arg(long)]
    pub(crate) from: String,
    /// The copy to restore (its id, as listed) [default: the newest]
    #[arg(long)]
    pub(crate) copy: Option<String>,
    /// The emergency kit's age identity file
    #[arg(long)]
    pub(crate) identity: PathBuf,
    /// The Home Assistant to restore into: supervisor: (inside the add-on) or core:http://host:8123
    #[arg(long)]
    pub(crate) into: String,
    #[command(flatten)]
    pub(crate) creds: CredentialArgs,
    #[command(flatten)]
    pub(crate) trust: TrustArgs,
    /// Print JSON
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) inline: Inline,
    /// Ship again even what history says was shipped already.
    #[arg(long)]
    pub(crate) reship: bool,
    /// Print the reports as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct UpdateArgs {
    #[command(flatten)]
    pub(crate) inline: Inline,
    /// The update: an `update.*` entity (e.g. update.home_assistant_core_update) or an add-on's
    /// slug (e.g. core_mosquitto). Without one, list the updates Home Assistant has waiting.
    pub(crate) target: Option<String>,
    /// Install only when at least this many destinations hold a verified copy (default: the
    /// `min_verified` option, else 1).
    #[arg(long)]
    pub(crate) min_verified: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct PruneArgs {
    #[command(flatten)]
    pub(crate) inline: Inline,
    /// Decide, show, delete nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct DrillArgs {
    #[command(flatten)]
    pub(crate) inline: Inline,
    /// The source to drill, by name [default: the first PostgreSQL dump among the sources]
    #[arg(long = "of")]
    pub(crate) of: Option<String>,
    /// The scratch PostgreSQL server to load into: postgresql://user@host:port/postgres (a
    /// pg_dumpall dump makes its databases there; they must not exist yet)
    #[arg(long)]
    pub(crate) into: String,
    /// The emergency kit's age identity file
    #[arg(long)]
    pub(crate) identity: PathBuf,
    /// The copy to drill (its id) [default: the newest of the source]
    #[arg(long)]
    pub(crate) copy: Option<String>,
    /// The psql program
    #[arg(long, default_value = "psql")]
    pub(crate) psql: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct PinArgs {
    /// The destination's name (as in the options, or as `lifeboat list` shows it)
    #[arg(long)]
    pub(crate) destination: String,
    /// The copy id, as listed
    pub(crate) copy: String,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) inline: Inline,
    /// Only the N longest-unchecked copies per destination [default: all]
    #[arg(long, default_value_t = 0)]
    pub(crate) limit: usize,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) inline: Inline,
    #[command(flatten)]
    pub(crate) trust: TrustArgs,
    /// Print the manifests as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) inline: Inline,
    /// Address to listen on [default: the options' listen, else 0.0.0.0:8099 in the add-on and
    /// 127.0.0.1:8099 elsewhere]. An address other than loopback needs --allow or a password
    /// (LIFEBOAT_PASSWORD, at least 12 characters: browsers ask for it, scripts send it as
    /// Authorization: Bearer <password>)
    #[arg(long)]
    pub(crate) listen: Option<String>,
    /// Only these peers may connect (repeatable) [default: 172.30.32.2, Home Assistant's ingress
    /// proxy, in the add-on; this machine elsewhere]
    #[arg(long = "allow")]
    pub(crate) allow: Vec<std::net::IpAddr>,
    /// A name the dashboard is reached by, besides localhost and addresses (repeatable; also
    /// LIFEBOAT_HOST_NAMES, names separated by commas): a request addressed to a name it was not
    /// told of is refused, as a web page pointing a name of its own at this machine sends one
    #[arg(long = "host-name", value_name = "NAME")]
    pub(crate) host_names: Vec<String>,
}

/// Runs the command line; returns the exit code.
impl CredentialArgs {
    pub(crate) fn to_credentials(&self) -> Credentials {
        Credentials {
            s3_access_key_id: self.s3_access_key_id.clone(),
            s3_secret_access_key: secret(self.s3_secret_access_key.as_ref()),
            azure_account_key: secret(self.azure_account_key.as_ref()),
            azure_sas_token: secret(self.azure_sas_token.as_ref()),
            webdav_username: self.webdav_user.clone(),
            webdav_password: secret(self.webdav_password.as_ref()),
            sftp_password: secret(self.sftp_password.as_ref()),
            sftp_key: self.sftp_key.clone(),
            sftp_key_passphrase: secret(self.sftp_key_passphrase.as_ref()),
            smb_password: secret(self.smb_password.as_ref()),
            rclone_config: self.rclone_config.clone(),
        }
    }
}

pub(crate) fn secret(s: Option<&String>) -> Option<Secret> {
    s.map(|s| Secret::new(s.as_str()))
}
