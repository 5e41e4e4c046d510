//! Who is told about runs as they happen (Home Assistant's entities, events and notifications,
//! alerts): the [`RunObserver`] trait, several observers in turn ([`Observers`]), or nobody
//! ([`Quiet`]).

use super::record::RunReport;
use super::request::RunRequest;
use std::sync::Arc;

/// Told about runs as they happen. Both calls must not fail the run: report problems themselves.
#[async_trait::async_trait]
pub trait RunObserver: Send + Sync {
    /// A run is starting.
    async fn started(&self, request: &RunRequest);
    /// A run has finished (successfully or not) and is recorded.
    async fn finished(&self, report: &RunReport);
    /// Something else changed what there is to tell (a re-verification); tell it again.
    async fn refresh(&self) {}
}

/// Tells several observers, in order.
pub struct Observers(pub Vec<Arc<dyn RunObserver>>);

#[async_trait::async_trait]
impl RunObserver for Observers {
    async fn started(&self, request: &RunRequest) {
        for o in &self.0 {
            o.started(request).await;
        }
    }
    async fn finished(&self, report: &RunReport) {
        for o in &self.0 {
            o.finished(report).await;
        }
    }
    async fn refresh(&self) {
        for o in &self.0 {
            o.refresh().await;
        }
    }
}

/// An observer that does nothing (standalone runs with nobody to tell).
pub struct Quiet;

#[async_trait::async_trait]
impl RunObserver for Quiet {
    async fn started(&self, _: &RunRequest) {}
    async fn finished(&self, _: &RunReport) {}
}
