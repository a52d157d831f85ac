//! Billing runs: every bill-to account of a tenant with something owed is
//! invoiced, batch by batch. Each batch's invoices, the run's cursor and
//! counts commit together, so a run stopped anywhere resumes after the last
//! committed batch, on whichever replica gets to it first (the run's row is
//! locked per batch; others skip it).

use std::sync::Arc;
use std::time::Duration;

use bss_platform::auth::ServiceIdentity;
use bss_platform::shutdown::Shutdown;
use bss_platform::time::{format_date, timestamp};
use bss_proto::billing::{BillingRun, BillingRunStatus};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::app::Billing;
use crate::domain::error::BillingError;
use crate::invoicing::{self, next_period_due};

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

/// A billing run as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RunRow {
    pub id: Uuid,
    pub invoice_date: NaiveDate,
    pub post: bool,
    pub status: String,
    pub accounts_total: i64,
    pub accounts_done: i64,
    pub invoices_created: i64,
    pub cursor_account_id: Option<Uuid>,
    pub actor: String,
    pub error: String,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

macro_rules! run_columns {
    () => {
        "id, invoice_date, post, status, accounts_total, accounts_done, invoices_created, cursor_account_id, actor,
         error, created_at, completed_at"
    };
}

impl RunRow {
    pub fn to_proto(&self) -> BillingRun {
        BillingRun {
            id: self.id.to_string(),
            invoice_date: format_date(self.invoice_date),
            post: self.post,
            status: match self.status.as_str() {
                "RUNNING" => BillingRunStatus::Running,
                "COMPLETED" => BillingRunStatus::Completed,
                _ => BillingRunStatus::Failed,
            } as i32,
            accounts_total: self.accounts_total,
            accounts_done: self.accounts_done,
            invoices_created: self.invoices_created,
            error: self.error.clone(),
            create_time: Some(timestamp(self.created_at)),
            complete_time: self.completed_at.map(timestamp),
        }
    }
}

/// The bill-to accounts with something owed by `date`, in id order after
/// `after`: open charges and subscription periods started.
pub async fn billable_accounts(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    date: NaiveDate,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Uuid>, BillingError> {
    Ok(sqlx::query_scalar(concat!(
        "SELECT DISTINCT bill_to FROM (
             (SELECT bill_to_account_id AS bill_to FROM billing.charges
              WHERE tenant_id = $1 AND invoice_id IS NULL AND charge_date <= $2 AND bill_to_account_id > $3
              ORDER BY bill_to_account_id LIMIT $4)
             UNION ALL
             (SELECT bill_to_account_id FROM billing.subscriptions
              WHERE tenant_id = $1 AND bill_to_account_id > $3 AND ",
        next_period_due!("$2"),
        "
              ORDER BY bill_to_account_id LIMIT $4)
         ) owed ORDER BY bill_to LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(date)
    .bind(after.unwrap_or(Uuid::nil()))
    .bind(limit)
    .fetch_all(connection)
    .await?)
}

/// Starts a run, unless one of the tenant's is running.
pub async fn start(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    date: NaiveDate,
    post: bool,
    actor: &str,
) -> Result<RunRow, BillingError> {
    let total: i64 = sqlx::query_scalar(concat!(
        "SELECT count(*) FROM (
             SELECT bill_to_account_id FROM billing.charges
             WHERE tenant_id = $1 AND invoice_id IS NULL AND charge_date <= $2
             UNION
             SELECT bill_to_account_id FROM billing.subscriptions WHERE tenant_id = $1 AND ",
        next_period_due!("$2"),
        "
         ) owed"
    ))
    .bind(tenant_id)
    .bind(date)
    .fetch_one(&mut *tx)
    .await?;
    let run: Option<RunRow> = sqlx::query_as(concat!(
        "INSERT INTO billing.billing_runs (tenant_id, id, invoice_date, post, accounts_total, actor)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id) WHERE status = 'RUNNING' DO NOTHING RETURNING ",
        run_columns!()
    ))
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(date)
    .bind(post)
    .bind(total)
    .bind(actor)
    .fetch_optional(&mut *tx)
    .await?;
    run.ok_or_else(|| {
        BillingError::precondition("BILLING_RUN_IN_PROGRESS", "a billing run of the tenant is running; wait for it")
    })
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> Result<Option<RunRow>, BillingError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        run_columns!(),
        " FROM billing.billing_runs WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?)
}

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
    let run: Option<RunRow> = sqlx::query_as(concat!(
        "SELECT ",
        run_columns!(),
        " FROM billing.billing_runs WHERE tenant_id = $1 AND id = $2 AND status = 'RUNNING' FOR UPDATE SKIP LOCKED"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(run) = run else {
        return Ok(false);
    };
    let accounts = billable_accounts(&mut tx, tenant_id, run.invoice_date, run.cursor_account_id, size).await?;
    let Some(last) = accounts.last().copied() else {
        sqlx::query(
            "UPDATE billing.billing_runs SET status = 'COMPLETED', completed_at = now() WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(%tenant_id, run_id = %id, invoices = run.invoices_created, "billing run completed");
        return Ok(false);
    };
    let drafts = invoicing::draft(&mut tx, tenant_id, &accounts, invoicing::Scope::BilledTo, run.invoice_date).await?;
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
    sqlx::query(
        "UPDATE billing.billing_runs SET cursor_account_id = $3, accounts_done = accounts_done + $4,
             invoices_created = invoices_created + $5
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(last)
    .bind(accounts.len() as i64)
    .bind(drafts.len() as i64)
    .execute(&mut *tx)
    .await?;
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
            sqlx::query(
                "UPDATE billing.billing_runs SET status = 'FAILED', error = $3, completed_at = now()
                 WHERE tenant_id = $1 AND id = $2 AND status = 'RUNNING'",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(error.to_string())
            .execute(&api.db)
            .await?;
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
        let running: Result<Vec<(Uuid, Uuid)>, sqlx::Error> = sqlx::query_as(
            "SELECT tenant_id, id FROM billing.billing_runs WHERE status = 'RUNNING' ORDER BY created_at",
        )
        .fetch_all(&api.db)
        .await;
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
