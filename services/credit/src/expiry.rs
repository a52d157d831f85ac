//! Expiry: open reservations past their time free their credit, and held
//! orders nobody decided in time expire. Each runs as a conditional update,
//! so an expiry racing a capture, release, approval or rejection loses or
//! wins cleanly: exactly one of them closes the row.

use std::time::Duration;

use bss_platform::events::EventLog;
use bss_platform::shutdown::Shutdown;
use sqlx::PgPool;

use crate::app::ACTOR;
use crate::app::held_orders::publish_held;
use crate::app::preferences::announce_methods;
use crate::app::reservations;
use crate::domain::error::CreditError;
use crate::repo;
use crate::suspensions::Suspender;

/// How often the sweeper looks for expired rows.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Rows expired per query.
const BATCH: i64 = 100;

/// Expires everything due now; returns how many rows it closed.
pub async fn expire_due(db: &PgPool, events: &EventLog) -> Result<usize, CreditError> {
    let mut closed = 0;
    let due = repo::expired_reservations(db, BATCH).await?;
    for (tenant_id, id, account_id) in due {
        let mut tx = db.begin().await?;
        let account = repo::lock_account(&mut tx, tenant_id, account_id).await?;
        if reservations::take(&mut tx, tenant_id, ACTOR, &account, id, None, "EXPIRED").await?.is_some() {
            closed += 1;
        }
        tx.commit().await?;
    }
    let due = repo::expired_held_orders(db, BATCH).await?;
    for (tenant_id, id, account_id) in due {
        let mut tx = db.begin().await?;
        let account = repo::lock_account(&mut tx, tenant_id, account_id).await?;
        if let Some(expired) = repo::decide_held_order(&mut tx, tenant_id, id, "EXPIRED", ACTOR, "").await? {
            publish_held(&mut tx, tenant_id, ACTOR, &expired, account.currency).await?;
            closed += 1;
        }
        tx.commit().await?;
    }
    if closed > 0 {
        events.written();
    }
    Ok(closed)
}

/// Every few seconds until shutdown: expires what is due, announces the
/// payment methods still to announce, and carries out the pending
/// suspensions.
pub async fn run(db: PgPool, events: EventLog, suspender: Option<Suspender>, shutdown: Shutdown) {
    loop {
        tokio::select! {
            () = shutdown.wait() => return,
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
        if let Err(error) = expire_due(&db, &events).await {
            tracing::warn!(%error, "expiring reservations and held orders failed; retrying");
        }
        match announce_methods(&db, &events).await {
            Ok(0) => {}
            Ok(accounts) => tracing::info!(accounts, "announced the saved payment methods of accounts"),
            Err(error) => tracing::warn!(%error, "announcing payment methods failed; retrying"),
        }
        if let Some(suspender) = &suspender
            && let Err(error) = suspender.run_due(&db).await
        {
            tracing::warn!(%error, "suspending accounts failed; retrying");
        }
    }
}
