//! A cancel flag that async code can also wait on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// Cheap to clone; every clone sees the same cancel.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<(AtomicBool, Notify)>,
}

impl CancelToken {
    /// Not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the job to stop.
    pub fn cancel(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }

    /// Resolves when cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.1.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// Runs `fut` unless `cancel` fires first, which gives `Cancelled`.
pub async fn or_cancel<T>(
    cancel: &CancelToken,
    fut: impl std::future::Future<Output = Result<T, crate::engine::EngineError>>,
) -> Result<T, crate::engine::EngineError> {
    unless_cancelled(cancel, fut).await?
}

/// Runs `fut` unless `cancel` fires first (then `Err(Cancelled)`); its own
/// output, whatever it is, comes back in `Ok`.
pub async fn unless_cancelled<T>(
    cancel: &CancelToken,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, crate::engine::EngineError> {
    tokio::select! {
        r = fut => Ok(r),
        _ = cancel.cancelled() => Err(crate::engine::EngineError::Cancelled),
    }
}
