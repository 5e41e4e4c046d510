//! The `lifeboat` command: parse arguments, build the configuration, hand off to the library.
//! Thin on purpose; the only place that reads the process environment and uses `anyhow`.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIFEBOAT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,lifeboat=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lifeboat: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(cli::main())
}
