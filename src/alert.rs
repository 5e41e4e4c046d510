//! Alerts outside Home Assistant, because Home Assistant may be what is down: a JSON webhook, an
//! ntfy topic, or a healthchecks-style ping (success pings the URL, failure pings `URL/fail`; the
//! checker itself notices when pings stop, which covers "Lifeboat never ran"). An alert never fails
//! a run: problems are logged.

use crate::config::{AlertKind, AlertSpec};
use crate::history::RunStatus;
use crate::pipeline::record::RunReport;
use crate::pipeline::run::{RunObserver, RunRequest};
use serde_json::json;

/// Sends alerts about finished runs.
pub struct Alerter {
    http: reqwest::Client,
    spec: AlertSpec,
}

/// Why an alert did not go out.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("the alert could not be sent: {0}")]
    Send(String),
    #[error("the alert receiver answered HTTP {0}")]
    Refused(u16),
}

impl Alerter {
    /// An alerter for `spec`.
    pub fn new(http: reqwest::Client, spec: AlertSpec) -> Self {
        Self { http, spec }
    }

    /// Whether a run ending in `status` is worth an alert.
    fn wants(&self, status: RunStatus) -> bool {
        let bad = !matches!(status, RunStatus::Success);
        bad || self.spec.on_success || self.spec.kind == AlertKind::Healthchecks
    }

    /// Sends the alert for one finished run.
    ///
    /// # Errors
    /// [`AlertError`] when it could not be delivered.
    pub async fn send(&self, report: &RunReport) -> Result<(), AlertError> {
        let ok = report.status == RunStatus::Success;
        let failed = report.failed_destinations();
        let title = match report.status {
            RunStatus::Success => "Lifeboat: backup done",
            RunStatus::Partial => "Lifeboat: backup incomplete",
            _ => "Lifeboat: backup failed",
        };
        let mut text = report.backup.as_ref().map_or_else(
            || "No backup was shipped.".to_owned(),
            |b| format!("{} ({})", b.name, b.slug),
        );
        if let Some(e) = &report.error {
            text.push_str(&format!("\n{e}"));
        }
        for f in &failed {
            text.push_str(&format!("\n- {f}"));
        }
        let request = match self.spec.kind {
            AlertKind::Webhook => self.http.post(self.spec.url.clone()).json(&json!({
                "event": if ok { "lifeboat_backup_finished" } else { "lifeboat_backup_failed" },
                "title": title,
                "message": text,
                "status": report.status,
                "run_id": report.run_id,
                "backup": report.backup.as_ref().map(|b| json!({"slug": b.slug, "name": b.name, "date": b.date})),
                "destinations": report.copies.iter().map(|c| json!({"name": c.destination, "verified": c.verified, "error": c.error})).collect::<Vec<_>>(),
                "error": report.error,
            })),
            AlertKind::Ntfy => self
                .http
                .post(self.spec.url.clone())
                .header("Title", title)
                .header("Priority", if ok { "default" } else { "high" })
                .header("Tags", if ok { "white_check_mark" } else { "warning" })
                .body(text),
            AlertKind::Healthchecks => {
                let mut url = self.spec.url.clone();
                if !ok {
                    let path = format!("{}/fail", url.path().trim_end_matches('/'));
                    url.set_path(&path);
                }
                self.http.post(url).body(text)
            }
        };
        let resp = request
            .timeout(std::time::Duration::from_secs(15))
            .send()
            .await
            .map_err(|e| AlertError::Send(e.without_url().to_string()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(AlertError::Refused(resp.status().as_u16()))
        }
    }
}

#[async_trait::async_trait]
impl RunObserver for Alerter {
    async fn started(&self, _: &RunRequest) {}

    async fn finished(&self, report: &RunReport) {
        if self.wants(report.status)
            && let Err(e) = self.send(report).await
        {
            tracing::warn!("{e}");
        }
    }
}
