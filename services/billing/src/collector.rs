//! The collector: every half second, the automatic collections due now
//! (`app::collections`) are claimed and attempted at the payment provider,
//! and what checkout tries took for orders that were never stored is given
//! back (`domain::checkout`).

use std::sync::Arc;
use std::time::Duration;

use bss_platform::shutdown::Shutdown;

use crate::app::Billing;

/// How often due collections are looked for.
const EVERY: Duration = Duration::from_millis(500);

/// Collects until shutdown.
pub async fn run(api: Arc<Billing>, shutdown: Shutdown) {
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
        if let Err(error) = api.collect_due().await {
            tracing::warn!(%error, "claiming due collections failed; retrying");
        }
        if let Err(error) = api.give_back_unused_payments().await {
            tracing::warn!(%error, "claiming unused checkout payments failed; retrying");
        }
    }
}
