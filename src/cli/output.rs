//! What the commands print for people.

use lifeboat::destinations::Destination;
use lifeboat::destinations::manifest::Listed;
use lifeboat::history::RunStatus;
use lifeboat::pipeline::prune::PruneReport;
use lifeboat::pipeline::record::RunReport;

/// Bytes as people read them.
pub use lifeboat::human::size as human_size;

/// What retention decided (and did) on each destination.
pub fn print_prune(reports: &[PruneReport], all: &[Destination]) {
    for d in all.iter().filter(|d| d.retention.keeps_everything()) {
        println!("{}: no retention policy, every copy is kept", d.name);
    }
    for r in reports {
        let deleting = r.decisions.iter().filter(|d| !d.keep).count();
        let head = if r.dry_run {
            format!("would delete {deleting} of {}", r.decisions.len())
        } else {
            format!("deleted {} of {}", r.deleted.len(), r.decisions.len())
        };
        println!(
            "{} (source {}, policy {}): {head}",
            r.destination, r.source, r.policy
        );
        if let Some(h) = &r.held {
            println!("  held back: {h}");
        }
        for d in &r.decisions {
            println!(
                "  {}  {}  {}  {}",
                if d.keep { "keep  " } else { "delete" },
                d.made.format("%Y-%m-%d %H:%M"),
                d.id,
                d.reasons.join("; ")
            );
        }
        for u in &r.unreadable {
            println!("  keep    (unreadable manifest) {u}");
        }
        for u in &r.left_alone {
            println!("  keep    (nobody vouches for it) {u}");
        }
        for e in &r.errors {
            println!("  ERROR   {e}");
        }
    }
}

pub fn print_report(r: &RunReport) {
    let verified = r.copies.iter().filter(|c| c.verified).count();
    let what = match &r.backup {
        Some(b) => format!(
            "Backup {:?} ({}, {})",
            b.name,
            b.slug,
            human_size(r.plain_size.unwrap_or_default())
        ),
        None => "Backup".to_owned(),
    };
    let verdict = match r.status {
        RunStatus::Success => format!(
            "{verified} of {} copies stored and verified",
            r.copies.len()
        ),
        RunStatus::Partial => format!(
            "only {verified} of {} copies stored and verified",
            r.copies.len()
        ),
        _ => "FAILED, no copy was stored".to_owned(),
    };
    println!("{what}: {verdict} (run {})", r.run_id);
    if let Some(e) = &r.error {
        println!("  problem: {e}");
    }
    for w in &r.warnings {
        println!("  warning: {w}");
    }
    for n in &r.readiness_news {
        println!("  changed since the last backup: {n}");
    }
    for c in &r.copies {
        if c.verified {
            println!(
                "  ok    {:<10} {}/{}",
                c.destination,
                c.location.trim_end_matches('/'),
                c.object
            );
            if c.parts > 0 {
                println!(
                    "        {:<10} in {} parts: {}.part-00001 …",
                    "", c.parts, c.object
                );
            }
            if let Some(m) = &c.manifest {
                println!("        {:<10} manifest: {m}", "");
            }
        } else {
            println!(
                "  FAIL  {:<10} {}: {}",
                c.destination,
                c.location,
                c.error.as_deref().unwrap_or("unknown error")
            );
        }
    }
}

pub fn print_listing(d: &Destination, listed: &[Listed]) {
    println!(
        "{} ({}): {} cop{}",
        d.name,
        d.location,
        listed.len(),
        if listed.len() == 1 { "y" } else { "ies" }
    );
    for l in listed {
        match l {
            Listed::Copy(m) => {
                println!(
                    "  {}  {:<28} {:>10}  {}  verified {}  {}",
                    m.copy_id,
                    format!("{:?}", m.backup.name),
                    human_size(m.stored.size),
                    m.backup.slug,
                    m.verified.format("%Y-%m-%d %H:%M UTC"),
                    m.provenance.word()
                );
                if let Some(d) = m.readiness {
                    println!("  {:<36} restore: {}", "", d.describe());
                }
            }
            Listed::Unreadable { object, reason } => {
                println!("  {object}: unreadable manifest: {reason}")
            }
        }
    }
}

pub fn listed_json(listed: &[Listed]) -> serde_json::Value {
    serde_json::Value::Array(
        listed
            .iter()
            .map(|l| match l {
                Listed::Copy(m) => {
                    let mut v = serde_json::to_value(m).unwrap_or_default();
                    if let Some(o) = v.as_object_mut() {
                        o.insert("provenance".into(), m.provenance.word().into());
                    }
                    v
                }
                Listed::Unreadable { object, reason } => {
                    serde_json::json!({"object": object, "error": reason})
                }
            })
            .collect(),
    )
}
