//! The minimal status page, as escaped HTML.

use super::ingress::Ingress;
use crate::history::{RunRow, RunStatus};

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page.
pub fn render(ingress: &Ingress, problems: &[String], runs: &[RunRow]) -> String {
    let mut body = String::new();
    let prefix = escape(&ingress.prefix);
    if let Some(user) = &ingress.user {
        body.push_str(&format!("<p class=user>Signed in as {}</p>", escape(user)));
    }
    if !problems.is_empty() {
        body.push_str(
            "<section class=problems><h2>Lifeboat is idle: the options need fixing</h2><ul>",
        );
        for p in problems {
            body.push_str(&format!("<li>{}</li>", escape(p)));
        }
        body.push_str("</ul></section>");
    }
    let last_good = runs
        .iter()
        .find(|r| matches!(r.status, RunStatus::Success | RunStatus::Partial));
    body.push_str(&match last_good {
        Some(r) => format!(
            "<p class=summary>Last verified backup: <b>{}</b> at {} ({} of {} copies verified)</p>",
            escape(r.backup_name.as_deref().unwrap_or("")),
            r.started_at.format("%Y-%m-%d %H:%M UTC"),
            r.copies.iter().filter(|c| c.verified).count(),
            r.copies.len()
        ),
        None => {
            "<p class=summary>Nothing is protected yet: no backup has a verified off-site copy.</p>"
                .into()
        }
    });
    if problems.is_empty() {
        body.push_str(&format!(
            "<form method=post action=\"{prefix}/api/backup\"><button type=submit>Back up now</button></form>"
        ));
    }
    body.push_str(&format!(
        "<p><a href=\"{prefix}/api/runs\">History as JSON</a></p>"
    ));
    body.push_str("<table><thead><tr><th>Started</th><th>Status</th><th>Backup</th><th>Copies</th><th>Problem</th></tr></thead><tbody>");
    for r in runs {
        let copies: Vec<String> = r
            .copies
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    if c.verified { "✓" } else { "✗" },
                    escape(&c.destination)
                )
            })
            .collect();
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            r.status.as_str(),
            escape(r.backup_name.as_deref().unwrap_or("")),
            copies.join(", "),
            escape(r.error.as_deref().unwrap_or(""))
        ));
    }
    body.push_str("</tbody></table>");
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\">\
         <title>Lifeboat</title><style>body{{font-family:system-ui,sans-serif;margin:1.5rem;color-scheme:light dark}}\
         table{{border-collapse:collapse}}td,th{{padding:.3rem .6rem;border-bottom:1px solid #8884;text-align:left}}\
         .problems{{border-left:4px solid #d33;padding-left:1rem}}</style></head>\
         <body><h1>Lifeboat</h1>{body}</body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_it_shows() {
        let html = render(&Ingress::default(), &["<script>x</script>".into()], &[]);
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("Nothing is protected yet"));
    }
}

#[cfg(test)]
mod ingress_tests {
    use super::*;

    #[test]
    fn every_url_carries_the_ingress_prefix_and_the_name_is_escaped() {
        let i = Ingress {
            prefix: "/api/hassio_ingress/tok".into(),
            user: Some("<b>Ann</b>".into()),
        };
        let html = render(&i, &[], &[]);
        assert!(
            html.contains("action=\"/api/hassio_ingress/tok/api/backup\""),
            "{html}"
        );
        assert!(
            html.contains("href=\"/api/hassio_ingress/tok/api/runs\""),
            "{html}"
        );
        assert!(
            html.contains("Signed in as &lt;b&gt;Ann&lt;/b&gt;"),
            "{html}"
        );
        assert!(
            !html.contains("href=\"/api/runs") && !html.contains("action=\"/api/backup"),
            "{html}"
        );
    }
}
