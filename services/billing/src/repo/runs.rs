//! Billing runs as stored: started once per tenant at a time, worked
//! batch by batch (locked per batch, so one replica works a run at a time),
//! and the bill-to accounts each batch invoices.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::charges::{next_period_due, usage_due};
use crate::domain::error::BillingError;

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

/// The bill-to accounts with something owed by `date`, in id order after
/// `after`: open charges, subscription periods started, usage to bill.
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
             UNION ALL
             (SELECT bill_to_account_id FROM billing.subscriptions s
              WHERE tenant_id = $1 AND bill_to_account_id > $3 AND ",
        usage_due!("$2"),
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
             UNION
             SELECT bill_to_account_id FROM billing.subscriptions s WHERE tenant_id = $1 AND ",
        usage_due!("$2"),
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

/// A run of the tenant.
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

/// The run, if it is running and no other worker holds it: locked until
/// the batch commits.
pub async fn lock_running(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<Option<RunRow>, BillingError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        run_columns!(),
        " FROM billing.billing_runs WHERE tenant_id = $1 AND id = $2 AND status = 'RUNNING' FOR UPDATE SKIP LOCKED"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?)
}

/// Marks a run completed.
pub async fn complete(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<(), BillingError> {
    sqlx::query!(
        "UPDATE billing.billing_runs SET status = 'COMPLETED', completed_at = now() WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        id,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Moves a run past a batch: its cursor to the batch's last account, its
/// counts by what the batch did.
pub async fn advance(
    tx: &mut PgConnection,
    (tenant_id, id): (Uuid, Uuid),
    last: Uuid,
    accounts: i64,
    invoices: i64,
) -> Result<(), BillingError> {
    sqlx::query!(
        "UPDATE billing.billing_runs SET cursor_account_id = $3, accounts_done = accounts_done + $4,
             invoices_created = invoices_created + $5
         WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        id,
        last,
        accounts,
        invoices,
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks a running run failed, with why.
pub async fn fail(db: &PgPool, tenant_id: Uuid, id: Uuid, error: &str) -> Result<(), BillingError> {
    sqlx::query!(
        "UPDATE billing.billing_runs SET status = 'FAILED', error = $3, completed_at = now()
         WHERE tenant_id = $1 AND id = $2 AND status = 'RUNNING'",
        tenant_id,
        id,
        error,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Every running run (tenant, id), oldest first.
pub async fn running(db: &PgPool) -> Result<Vec<(Uuid, Uuid)>, BillingError> {
    let rows =
        sqlx::query!("SELECT tenant_id, id FROM billing.billing_runs WHERE status = 'RUNNING' ORDER BY created_at")
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|row| (row.tenant_id, row.id)).collect())
}
