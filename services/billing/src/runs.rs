//! Billing runs: every bill-to account of a tenant with something owed is
//! invoiced, batch by batch. Each batch's invoices, the run's cursor and
//! counts commit together, so a run stopped anywhere resumes after the last
//! committed batch, on whichever replica gets to it first (the run's row is
//! locked per batch; others skip it).

use std::sync::Arc;
use std::time::Duration;

use bss_platform::auth::ServiceIdentity;
use bss_platform::shutdown::Shutdown;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::app::Billing;
use crate::app::invoicing;
use crate::domain::error::BillingError;
use crate::repo::runs;

/// Bill-to accounts invoiced per transaction, unless configured.
pub const BATCH: i64 = 500;
/// How often the worker looks for runs nobody is working on.
const EVERY: Duration = Duration::from_secs(5);
/// Attempts at a batch failing for a reason of its own before the run
/// fails; a batch failing because the database or a peer is unavailable is
/// retried until they are back (or shutdown).
const ATTEMPTS: u32 = 5;
/// Longest pause between attempts at a batch.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a batch is retried while what it needs is unavailable before
/// the run fails (with the last error; a new run picks up what is left).
const UNAVAILABLE_FOR_AT_MOST: Duration = Duration::from_secs(15 * 60);

/// Does one batch of a run; returns whether there is more to do (false when
/// the run completed, or another worker holds it).
async fn batch(
    api: &Billing,
    identity: &ServiceIdentity,
    size: i64,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<bool, BillingError> {
    let mut tx = api.db.begin().await?;
    let Some(run) = runs::lock_running(&mut tx, tenant_id, id).await? else {
        return Ok(false);
    };
    let accounts = runs::billable_accounts(&mut tx, tenant_id, run.invoice_date, run.cursor_account_id, size).await?;
    let Some(last) = accounts.last().copied() else {
        runs::complete(&mut tx, tenant_id, id).await?;
        tx.commit().await?;
        tracing::info!(%tenant_id, run_id = %id, invoices = run.invoices_created, "billing run completed");
        return Ok(false);
    };
    let drafts = api.draft(&mut tx, tenant_id, &accounts, invoicing::Scope::BilledTo, run.invoice_date).await?;
    if run.post && !drafts.is_empty() {
        let caller = identity.caller(Some(tenant_id)).ok_or_else(|| BillingError::Unavailable {
            what: "credit",
            cause: "billing has no service token to ask for due dates".to_owned(),
        })?;
        let invoices: Vec<_> = drafts.iter().map(|(row, _)| (row.account_id, row.invoice_date, None)).collect();
        let due_dates = api.due_dates(&caller, &invoices).await?;
        let posting: Vec<_> = drafts.iter().map(|(row, _)| row.id).zip(due_dates).collect();
        invoicing::post(&mut tx, tenant_id, &run.actor, &posting).await?;
    }
    runs::advance(&mut tx, (tenant_id, id), last, accounts.len() as i64, drafts.len() as i64).await?;
    tx.commit().await?;
    api.events.written();
    Ok(true)
}

/// Works a run to its end, batch by batch, until shutdown (the next worker
/// resumes it). A batch failing while the database or a peer is
/// unavailable is retried until they answer, for at most
/// [`UNAVAILABLE_FOR_AT_MOST`]; one failing for a reason of its own is
/// retried a few times; then the run is marked failed.
async fn work(
    api: &Billing,
    identity: &ServiceIdentity,
    size: i64,
    tenant_id: Uuid,
    id: Uuid,
    shutdown: &Shutdown,
) -> Result<(), BillingError> {
    let mut failures = 0;
    let mut backoff = Duration::from_millis(100);
    let mut failing_since: Option<tokio::time::Instant> = None;
    while !shutdown.is_triggered() {
        let error = match batch(api, identity, size, tenant_id, id).await {
            Ok(true) => {
                (failures, backoff, failing_since) = (0, Duration::from_millis(100), None);
                continue;
            }
            Ok(false) => return Ok(()),
            Err(error) => error,
        };
        let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
        let retry = if error.is_transient() {
            since.elapsed() < UNAVAILABLE_FOR_AT_MOST
        } else {
            failures += 1;
            failures < ATTEMPTS
        };
        if !retry {
            tracing::error!(%error, run_id = %id, "billing run failed");
            runs::fail(&api.db, tenant_id, id, &error.to_string()).await?;
            return Ok(());
        }
        tracing::warn!(%error, run_id = %id, attempt = failures, "billing run batch failed; retrying");
        tokio::select! {
            () = shutdown.wait() => return Ok(()),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    Ok(())
}

/// Works every running run, when woken and every few seconds, until
/// shutdown: new runs, and runs a stopped replica left. Each run is worked
/// on its own, so one waiting out a failure holds back no other tenant's.
pub async fn run(api: Arc<Billing>, identity: ServiceIdentity, size: i64, wake: Arc<Notify>, shutdown: Shutdown) {
    let mut working: tokio::task::JoinSet<Uuid> = tokio::task::JoinSet::new();
    let mut worked: std::collections::HashSet<Uuid> = std::collections::HashSet::new();
    loop {
        while let Some(done) = working.try_join_next() {
            if let Ok(id) = done {
                worked.remove(&id);
            }
        }
        let running = runs::running(&api.db).await;
        match running {
            Ok(running) => {
                for (tenant_id, id) in running {
                    if !worked.insert(id) {
                        continue;
                    }
                    let (api, identity, shutdown) = (api.clone(), identity.clone(), shutdown.clone());
                    working.spawn(async move {
                        if let Err(error) = work(&api, &identity, size, tenant_id, id, &shutdown).await {
                            tracing::warn!(%error, run_id = %id, "billing run stopped; resuming later");
                        }
                        id
                    });
                }
            }
            Err(error) => tracing::warn!(%error, "reading billing runs failed; retrying"),
        }
        tokio::select! {
            () = shutdown.wait() => break,
            () = wake.notified() => {}
            () = tokio::time::sleep(EVERY) => {}
            Some(done) = working.join_next() => {
                if let Ok(id) = done {
                    worked.remove(&id);
                }
            }
        }
    }
    // The runs stop between batches; what they commit is kept.
    while working.join_next().await.is_some() {}
}
