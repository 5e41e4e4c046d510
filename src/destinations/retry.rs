//! The one retry policy every store runs under ([`Policy`]): how many attempts a request gets,
//! how long each may take, how long to wait between them, and which failures are worth another
//! attempt, which their kind says ([`StoreErrorKind::is_retryable`]). [`Retrying`] is the policy
//! as a layer around a store: every request that can be sent again whole goes through it
//! (listing, reading and writing small objects, deleting, opening a stream). A stream under way
//! is not sent again from here, as its data is gone; what inside one can be sent again uses the
//! same policy where it is (a staged upload's final move, [`super::staged`]).
//!
//! [`StoreErrorKind::is_retryable`]: super::StoreErrorKind::is_retryable

use super::{ObjectWriter, Store, StoreError};
use async_trait::async_trait;
use std::future::Future;
use std::time::Duration;
use tokio::io::AsyncRead;

/// How a request is tried again.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Attempts in all.
    pub attempts: u32,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// The wait before the second attempt; it doubles after that.
    pub backoff: Duration,
}

impl Policy {
    /// Three attempts of at most `silence` each, 250 ms apart and growing.
    pub fn patient(silence: Duration) -> Self {
        Self {
            attempts: 3,
            timeout: silence,
            backoff: Duration::from_millis(250),
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the attempts run out.
    ///
    /// # Errors
    /// The last attempt's error; a time-out is a passing failure.
    pub async fn run<T, F, Fut>(&self, what: &str, attempt: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut + Send,
        Fut: Future<Output = Result<T, StoreError>> + Send,
    {
        let mut wait = self.backoff;
        let mut n = 1;
        loop {
            let error = match tokio::time::timeout(self.timeout, attempt()).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => e,
                Err(_) => StoreError::unavailable(format!(
                    "{what}: no answer in {} s",
                    self.timeout.as_secs()
                )),
            };
            if !error.is_retryable() || n >= self.attempts {
                return Err(error);
            }
            tracing::debug!("{what}: {error}; trying again in {wait:?}");
            tokio::time::sleep(wait).await;
            wait *= 2;
            n += 1;
        }
    }
}

/// A store whose whole requests are tried again under a [`Policy`].
pub struct Retrying<S> {
    inner: S,
    policy: Policy,
}

impl<S: Store> Retrying<S> {
    /// `inner`, its requests run by `policy`.
    pub fn around(inner: S, policy: Policy) -> Self {
        Self { inner, policy }
    }

    /// The store inside.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait]
impl<S: Store> Store for Retrying<S> {
    /// Opening is tried again; the upload it returns is not (its data is gone once sent).
    async fn writer(
        &self,
        path: &str,
        size: Option<u64>,
    ) -> Result<Box<dyn ObjectWriter>, StoreError> {
        let what = format!("creating {path}");
        self.policy
            .run(&what, || self.inner.writer(path, size))
            .await
    }

    /// Opening is tried again; a stream that breaks off later is not.
    async fn reader(&self, path: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
        let what = format!("reading {path}");
        self.policy.run(&what, || self.inner.reader(path)).await
    }

    async fn read_small(&self, path: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        let what = format!("reading {path}");
        self.policy
            .run(&what, || self.inner.read_small(path, limit))
            .await
    }

    async fn write_small(&self, path: &str, data: Vec<u8>) -> Result<(), StoreError> {
        let what = format!("uploading {path}");
        self.policy
            .run(&what, || self.inner.write_small(path, data.clone()))
            .await
    }

    async fn list(&self) -> Result<Vec<String>, StoreError> {
        self.policy.run("listing", || self.inner.list()).await
    }

    async fn delete(&self, path: &str) -> Result<(), StoreError> {
        let what = format!("deleting {path}");
        self.policy.run(&what, || self.inner.delete(path)).await
    }

    async fn unfinished(&self) -> Result<Vec<String>, StoreError> {
        self.policy.run("listing", || self.inner.unfinished()).await
    }

    fn trust(&self) -> Option<String> {
        self.inner.trust()
    }

    fn remarks(&self) -> Vec<String> {
        self.inner.remarks()
    }

    fn outside_settings(&self) -> Option<String> {
        self.inner.outside_settings()
    }

    fn holds_parts(&self) -> bool {
        self.inner.holds_parts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destinations::StoreErrorKind;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quick(attempts: u32, timeout: Duration) -> Policy {
        Policy {
            attempts,
            timeout,
            backoff: Duration::from_millis(1),
        }
    }

    #[tokio::test]
    async fn a_passing_failure_is_tried_again_and_a_lasting_one_is_not() {
        let policy = quick(3, Duration::from_secs(5));
        let tries = AtomicU32::new(0);
        let got = policy
            .run("reading m.json", || async {
                match tries.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(StoreError::unavailable("connection reset")),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(got.unwrap(), 7);
        assert_eq!(tries.load(Ordering::SeqCst), 2);
        tries.store(0, Ordering::SeqCst);
        let denied = policy
            .run("reading m.json", || async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(StoreError::new(StoreErrorKind::Denied, "HTTP 403"))
            })
            .await;
        assert_eq!(denied.unwrap_err().kind, StoreErrorKind::Denied);
        assert_eq!(tries.load(Ordering::SeqCst), 1);
        tries.store(0, Ordering::SeqCst);
        let down = policy
            .run("listing", || async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(StoreError::unavailable("connection refused"))
            })
            .await;
        assert!(down.unwrap_err().is_retryable());
        assert_eq!(tries.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_attempt_that_hangs_is_cut_off_and_tried_again() {
        let policy = quick(2, Duration::from_millis(50));
        let tries = AtomicU32::new(0);
        let got = policy
            .run("listing", || async {
                if tries.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
                Ok(1)
            })
            .await;
        assert_eq!(got.unwrap(), 1);
    }

    /// A store whose requests fail with `kind` until `fails` of them have.
    struct Flaky {
        kind: StoreErrorKind,
        fails: u32,
        tries: AtomicU32,
    }

    impl Flaky {
        fn answer<T>(&self, v: T) -> Result<T, StoreError> {
            if self.tries.fetch_add(1, Ordering::SeqCst) < self.fails {
                return Err(StoreError::new(self.kind, "no"));
            }
            Ok(v)
        }
    }

    #[async_trait]
    impl Store for Flaky {
        async fn writer(
            &self,
            _: &str,
            _: Option<u64>,
        ) -> Result<Box<dyn ObjectWriter>, StoreError> {
            Err(self
                .answer(())
                .err()
                .unwrap_or_else(|| StoreError::unavailable("none")))
        }
        async fn reader(&self, _: &str) -> Result<Box<dyn AsyncRead + Send + Unpin>, StoreError> {
            self.answer(Box::new(tokio::io::empty()) as Box<dyn AsyncRead + Send + Unpin>)
        }
        async fn read_small(&self, _: &str, _: u64) -> Result<Vec<u8>, StoreError> {
            self.answer(b"{}".to_vec())
        }
        async fn write_small(&self, _: &str, _: Vec<u8>) -> Result<(), StoreError> {
            self.answer(())
        }
        async fn list(&self) -> Result<Vec<String>, StoreError> {
            self.answer(vec!["a".to_owned()])
        }
        async fn delete(&self, _: &str) -> Result<(), StoreError> {
            self.answer(())
        }
        async fn unfinished(&self) -> Result<Vec<String>, StoreError> {
            self.answer(Vec::new())
        }
    }

    fn flaky(kind: StoreErrorKind, fails: u32) -> Retrying<Flaky> {
        let inner = Flaky {
            kind,
            fails,
            tries: AtomicU32::new(0),
        };
        Retrying::around(inner, quick(3, Duration::from_secs(5)))
    }

    /// Every whole request of a store goes through the layer: a passing failure is tried again,
    /// a refusal is not.
    #[tokio::test]
    async fn the_layer_tries_every_whole_request_of_a_store_again() {
        let s = flaky(StoreErrorKind::Unavailable, 2);
        assert_eq!(s.read_small("m.json", 10).await.unwrap(), b"{}");
        assert_eq!(s.inner().tries.load(Ordering::SeqCst), 3);
        for (step, s) in (0..5).map(|i| (i, flaky(StoreErrorKind::Unavailable, 1))) {
            let done = match step {
                0 => s.list().await.map(drop),
                1 => s.unfinished().await.map(drop),
                2 => s.write_small("m.json", Vec::new()).await,
                3 => s.delete("m.json").await,
                _ => s.reader("c.tar").await.map(drop),
            };
            assert!(done.is_ok(), "step {step}: {done:?}");
            assert_eq!(s.inner().tries.load(Ordering::SeqCst), 2, "step {step}");
        }
        let full = flaky(StoreErrorKind::Full, 5);
        assert_eq!(full.list().await.unwrap_err().kind, StoreErrorKind::Full);
        assert_eq!(full.inner().tries.load(Ordering::SeqCst), 3);
        let denied = flaky(StoreErrorKind::Denied, 5);
        assert!(denied.writer("c.tar", None).await.is_err());
        assert_eq!(denied.inner().tries.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_kind_alone_says_what_is_tried_again() {
        use StoreErrorKind::*;
        for kind in [Unavailable, Full] {
            assert!(kind.is_retryable(), "{kind:?}");
        }
        for kind in [NotFound, Denied, Config, Other] {
            assert!(!kind.is_retryable(), "{kind:?}");
        }
    }
}
