//! The `lifeboat` command: parse arguments, build the configuration, hand off to the library.
//! Thin on purpose; the only place that reads the process environment and uses `anyhow`.

mod cli;

use std::process::ExitCode;

/// Libraries that print credentials in their debug logs (reqsign prints the S3 secret key and the
/// Azure account key): held at `warn` whatever `LIFEBOAT_LOG` says.
const NEVER_VERBOSE: &str = "reqsign_core=warn,reqsign_aws_core=warn,reqsign_aws_v4=warn,\
    reqsign_azure_storage=warn,reqsign_file_read_tokio=warn,hyper=info,h2=info,reqwest=info,\
    russh=info,smb2=info";

/// The log filter for `LIFEBOAT_LOG`: a bare level (`debug`) is Lifeboat's own, other crates stay
/// at `warn`; full directives (`lifeboat=debug,opendal=debug`) are taken as written. Either way
/// the libraries in [`NEVER_VERBOSE`] never log below their cap.
fn log_filter(spec: Option<&str>) -> tracing_subscriber::EnvFilter {
    let spec = spec.map_or("info", str::trim);
    let levels = ["off", "error", "warn", "info", "debug", "trace"];
    let directives = if levels.contains(&spec.to_ascii_lowercase().as_str()) {
        format!("warn,lifeboat={spec}")
    } else {
        spec.to_owned()
    };
    tracing_subscriber::EnvFilter::try_new(format!("{directives},{NEVER_VERBOSE}")).unwrap_or_else(
        |_| tracing_subscriber::EnvFilter::new(format!("warn,lifeboat=info,{NEVER_VERBOSE}")),
    )
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(std::env::var("LIFEBOAT_LOG").ok().as_deref()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lifeboat: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(cli::main());
    // Every task of ours has ended by now; what may remain is a read of stdin blocked in the
    // runtime's thread pool (the add-on's stdin stays open), which must not hold up the exit the
    // Supervisor waits for after SIGTERM.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

#[cfg(test)]
mod tests {
    use super::log_filter;

    #[test]
    fn a_bare_level_is_lifeboats_own_and_credential_printers_stay_capped() {
        let bare = log_filter(Some("debug")).to_string();
        assert!(bare.contains("lifeboat=debug"), "{bare}");
        assert!(!bare.split(',').any(|d| d == "debug"), "{bare}");
        let all = log_filter(Some("trace")).to_string();
        assert!(
            all.contains("reqsign_core=warn") && all.contains("hyper=info"),
            "{all}"
        );
        let written = log_filter(Some("trace,opendal=debug")).to_string();
        assert!(written.contains("opendal=debug"), "{written}");
        assert!(written.contains("reqsign_aws_v4=warn"), "{written}");
        let unset = log_filter(None).to_string();
        assert!(unset.contains("lifeboat=info"), "{unset}");
    }
}
