//! One shutdown signal per process, observed by the server, event streams
//! and background tasks.

use std::sync::Arc;

use tokio::sync::watch;

/// A cloneable handle: `trigger` once, every `wait` returns.
#[derive(Clone, Debug)]
pub struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
    receiver: watch::Receiver<bool>,
}

/// Triggers its shutdown when dropped (see [`Shutdown::trigger_on_drop`]).
#[must_use = "the shutdown is triggered when the guard is dropped"]
pub struct TriggerOnDrop(Shutdown);

impl Drop for TriggerOnDrop {
    fn drop(&mut self) {
        self.0.trigger();
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        let (sender, receiver) = watch::channel(false);
        Shutdown { sender: Arc::new(sender), receiver }
    }

    pub fn trigger(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Returns once shutdown has been triggered.
    pub async fn wait(&self) {
        let mut receiver = self.receiver.clone();
        // An error means the sender is gone, which only happens at exit.
        let _ = receiver.wait_for(|triggered| *triggered).await;
    }

    /// A guard that triggers this shutdown when dropped: work that ends,
    /// however it ends (a panic or an aborted task included), stops what
    /// runs beside it.
    pub fn trigger_on_drop(&self) -> TriggerOnDrop {
        TriggerOnDrop(self.clone())
    }

    /// Triggers this shutdown on SIGTERM or SIGINT (Ctrl-C).
    pub fn trigger_on_signals(&self) {
        let shutdown = self.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received");
            shutdown.trigger();
        });
    }
}

async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the process");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_guard_triggers_the_shutdown_even_in_a_panic() {
        let shutdown = Shutdown::new();
        let guard = shutdown.trigger_on_drop();
        assert!(!shutdown.is_triggered(), "not while the guard lives");
        drop(guard);
        assert!(shutdown.is_triggered());

        let shutdown = Shutdown::new();
        let watched = shutdown.clone();
        let panicked = std::thread::spawn(move || {
            let _guard = watched.trigger_on_drop();
            panic!("the work failed");
        })
        .join();
        assert!(panicked.is_err());
        assert!(shutdown.is_triggered(), "a panicking thread still stops the rest");
    }
}
