//! The Home Assistant / Supervisor test double (`tests/support/ha_double.rs`) as a program of its
//! own, for the add-on image test (`scripts/image-test.sh`), which runs it in a container as
//! `supervisor`. It prints every request it answers, and the backups it was sent, as they come.
//!
//!   cargo build --example ha_double
//!   ha_double <listen address> <backup tar it makes backups from>

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

#[path = "../tests/support/ha_double.rs"]
mod ha_double;
/// The Supervisor's option rules, which the double's options endpoints apply.
#[path = "../tests/support/supervisor_rules.rs"]
mod supervisor_rules;

use ha_double::{Double, Flavor};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(fixture)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: ha_double <listen address> <backup tar>");
    };
    let fixture = std::fs::read(&fixture)?;
    let double = Double::start_on(&listen, Flavor::Supervisor, fixture, None).await;
    println!(
        "ha_double: Supervisor double on {} (token {})",
        double.url,
        double.token()
    );
    let mut shown = 0;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            () = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
        }
        let log = double.log();
        for line in &log[shown..] {
            println!("ha_double: {line}");
        }
        shown = log.len();
    }
    Ok(())
}
