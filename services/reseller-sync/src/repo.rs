//! Storage of the sync, in the `reseller_sync` schema: links, the copies it
//! made, when each stream's last event happened, and the events set aside.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::copy::{CopyRecord, Link};
use crate::domain::health::{Failure, StreamState};

#[derive(sqlx::FromRow)]
struct LinkRow {
    reseller_tenant_id: Uuid,
    distributor_tenant_id: Uuid,
    tenant_reseller_account_id: Uuid,
    reseller_name: String,
    separate_invoices: bool,
    currency_code: String,
    responsible_user: String,
    sharing_rule: String,
    created_at: DateTime<Utc>,
}

impl From<LinkRow> for Link {
    fn from(row: LinkRow) -> Link {
        Link {
            reseller_tenant_id: row.reseller_tenant_id,
            distributor_tenant_id: row.distributor_tenant_id,
            tenant_reseller_account_id: row.tenant_reseller_account_id,
            reseller_name: row.reseller_name,
            separate_invoices: row.separate_invoices,
            currency_code: row.currency_code,
            responsible_user: row.responsible_user,
            sharing_rule: row.sharing_rule,
            created_at: row.created_at,
        }
    }
}

macro_rules! link_columns {
    () => {
        "reseller_tenant_id, distributor_tenant_id, tenant_reseller_account_id, reseller_name, separate_invoices,
         currency_code, responsible_user, sharing_rule, created_at"
    };
}

/// The link of a reseller tenant.
pub async fn link(db: &PgPool, reseller_tenant_id: Uuid) -> Result<Option<Link>, sqlx::Error> {
    let row: Option<LinkRow> =
        sqlx::query_as(concat!("SELECT ", link_columns!(), " FROM reseller_sync.links WHERE reseller_tenant_id = $1"))
            .bind(reseller_tenant_id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(Link::from))
}

/// Stores a new link; `None` when the reseller tenant is linked already.
pub async fn insert_link(tx: &mut PgConnection, link: &Link) -> Result<Option<Link>, sqlx::Error> {
    let row: Option<LinkRow> = sqlx::query_as(concat!(
        "INSERT INTO reseller_sync.links (reseller_tenant_id, distributor_tenant_id, tenant_reseller_account_id,
             reseller_name, separate_invoices, currency_code, responsible_user, sharing_rule)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING ",
        link_columns!()
    ))
    .bind(link.reseller_tenant_id)
    .bind(link.distributor_tenant_id)
    .bind(link.tenant_reseller_account_id)
    .bind(&link.reseller_name)
    .bind(link.separate_invoices)
    .bind(&link.currency_code)
    .bind(&link.responsible_user)
    .bind(&link.sharing_rule)
    .fetch_optional(tx)
    .await?;
    Ok(row.map(Link::from))
}

/// A distributor's links, oldest first, after the link made at `after`
/// (its time and reseller tenant) when given.
pub async fn links_of(
    db: &PgPool,
    distributor_tenant_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Link>, sqlx::Error> {
    let (after_time, after_id) = after.unzip();
    let rows: Vec<LinkRow> = sqlx::query_as(concat!(
        "SELECT ",
        link_columns!(),
        " FROM reseller_sync.links WHERE distributor_tenant_id = $1
           AND ($2::timestamptz IS NULL OR (created_at, reseller_tenant_id) > ($2, $3))
         ORDER BY created_at, reseller_tenant_id LIMIT $4"
    ))
    .bind(distributor_tenant_id)
    .bind(after_time)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Link::from).collect())
}

/// The copy of a reseller customer, if the sync made one.
pub async fn copy_of(db: &PgPool, reseller_tenant_id: Uuid, source_id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT copy_account_id FROM reseller_sync.copies WHERE reseller_tenant_id = $1 AND reseller_account_id = $2",
    )
    .bind(reseller_tenant_id)
    .bind(source_id)
    .fetch_optional(db)
    .await
}

/// A reseller's copies, oldest first, after the copy made at `after` (its
/// time and customer) when given.
pub async fn copies(
    db: &PgPool,
    reseller_tenant_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<CopyRecord>, sqlx::Error> {
    let (after_time, after_id) = after.unzip();
    let rows: Vec<(Uuid, Uuid, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT reseller_account_id, copy_account_id, created_at, updated_at FROM reseller_sync.copies
         WHERE reseller_tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, reseller_account_id) > ($2, $3))
         ORDER BY created_at, reseller_account_id LIMIT $4",
    )
    .bind(reseller_tenant_id)
    .bind(after_time)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(reseller_account_id, copy_account_id, created_at, updated_at)| CopyRecord {
            reseller_account_id,
            copy_account_id,
            created_at,
            updated_at,
        })
        .collect())
}

/// What the sync did on the accounts service for one event, for its own
/// books.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// The customer was copied.
    Copied {
        source_id: Uuid,
        copy_id: Uuid,
    },
    /// The copy went with its customer.
    Deleted {
        source_id: Uuid,
    },
    /// The copy was brought in step.
    Touched {
        source_id: Uuid,
    },
}

/// Records what the sync did, in the event's transaction.
pub async fn record(tx: &mut PgConnection, reseller_tenant_id: Uuid, step: Step) -> Result<(), sqlx::Error> {
    match step {
        Step::Nothing => {}
        Step::Copied { source_id, copy_id } => {
            sqlx::query(
                "INSERT INTO reseller_sync.copies (reseller_tenant_id, reseller_account_id, copy_account_id)
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(reseller_tenant_id)
            .bind(source_id)
            .bind(copy_id)
            .execute(tx)
            .await?;
        }
        Step::Deleted { source_id } => {
            sqlx::query("DELETE FROM reseller_sync.copies WHERE reseller_tenant_id = $1 AND reseller_account_id = $2")
                .bind(reseller_tenant_id)
                .bind(source_id)
                .execute(tx)
                .await?;
        }
        Step::Touched { source_id } => {
            sqlx::query(
                "UPDATE reseller_sync.copies SET updated_at = now()
                 WHERE reseller_tenant_id = $1 AND reseller_account_id = $2",
            )
            .bind(reseller_tenant_id)
            .bind(source_id)
            .execute(tx)
            .await?;
        }
    }
    Ok(())
}

/// Remembers when the last applied event of `stream` happened at its
/// source.
pub async fn stamp(tx: &mut PgConnection, stream: &str, occurred_at: DateTime<Utc>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO reseller_sync.stream_times (stream, occurred_at, applied_at) VALUES ($1, $2, clock_timestamp())
         ON CONFLICT (stream) DO UPDATE SET occurred_at = $2, applied_at = clock_timestamp()",
    )
    .bind(stream)
    .bind(occurred_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// A stream, its cursor, when its last applied event happened and when it
/// was applied.
type StreamRow = (String, i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Each stream with its cursor, when its last applied event happened and
/// when it was applied.
pub async fn streams(db: &PgPool) -> Result<Vec<StreamState>, sqlx::Error> {
    let rows: Vec<StreamRow> = sqlx::query_as(
        "SELECT s.stream, coalesce(c.position, 0), t.occurred_at, t.applied_at
         FROM (VALUES ('billing'), ('accounts')) s(stream)
         LEFT JOIN reseller_sync.consumer_cursors c ON c.stream = s.stream
         LEFT JOIN reseller_sync.stream_times t ON t.stream = s.stream
         ORDER BY s.stream DESC",
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(stream, position, last_event_at, applied_at)| StreamState {
            stream,
            position,
            last_event_at,
            applied_at,
        })
        .collect())
}

/// How many events of a distributor's resellers are set aside.
pub async fn failure_count(db: &PgPool, distributor_tenant_id: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM reseller_sync.dead_letters d
         JOIN reseller_sync.links l ON l.reseller_tenant_id = d.tenant_id
         WHERE l.distributor_tenant_id = $1",
    )
    .bind(distributor_tenant_id)
    .fetch_one(db)
    .await
}

/// The events of a distributor's resellers set aside, by stream and
/// sequence, after (`stream`, `sequence`) when given.
pub async fn failures(
    db: &PgPool,
    distributor_tenant_id: Uuid,
    after: Option<(String, i64)>,
    limit: i64,
) -> Result<Vec<Failure>, sqlx::Error> {
    let (after_stream, after_sequence) = after.unzip();
    let rows: Vec<(String, i64, String, i32, DateTime<Utc>)> = sqlx::query_as(
        "SELECT d.stream, d.sequence, d.error, d.attempts, d.updated_at FROM reseller_sync.dead_letters d
         JOIN reseller_sync.links l ON l.reseller_tenant_id = d.tenant_id
         WHERE l.distributor_tenant_id = $1 AND ($2::text IS NULL OR (d.stream, d.sequence) > ($2, $3))
         ORDER BY d.stream, d.sequence LIMIT $4",
    )
    .bind(distributor_tenant_id)
    .bind(after_stream)
    .bind(after_sequence)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(stream, sequence, error, attempts, updated_at)| Failure {
            stream,
            sequence,
            error,
            attempts,
            updated_at,
        })
        .collect())
}

/// The payload of an event set aside of one of the distributor's
/// resellers.
pub async fn failure_payload(
    db: &PgPool,
    distributor_tenant_id: Uuid,
    stream: &str,
    sequence: i64,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT d.payload FROM reseller_sync.dead_letters d
         JOIN reseller_sync.links l ON l.reseller_tenant_id = d.tenant_id
         WHERE d.stream = $1 AND d.sequence = $2 AND l.distributor_tenant_id = $3",
    )
    .bind(stream)
    .bind(sequence)
    .bind(distributor_tenant_id)
    .fetch_optional(db)
    .await
}

/// The event applied at last: it is no longer set aside.
pub async fn forget_failure(tx: &mut PgConnection, stream: &str, sequence: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM reseller_sync.dead_letters WHERE stream = $1 AND sequence = $2")
        .bind(stream)
        .bind(sequence)
        .execute(tx)
        .await?;
    Ok(())
}

/// The event failed again, with `error`.
pub async fn failed_again(db: &PgPool, stream: &str, sequence: i64, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE reseller_sync.dead_letters SET error = $3, attempts = attempts + 1, updated_at = now()
         WHERE stream = $1 AND sequence = $2",
    )
    .bind(stream)
    .bind(sequence)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}
