//! The accounts pricing serves: a read model of the accounts event stream.

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::currency;
use crate::domain::book::AccountFacts;
use crate::domain::error::PricingError;

/// Records an account, or its new currency and sales rep.
pub async fn upsert(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    currency_code: &str,
    sales_rep_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO pricing.accounts (tenant_id, account_id, currency, sales_rep_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, account_id) DO UPDATE SET currency = $3, sales_rep_id = $4",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(currency_code)
    .bind(sales_rep_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Forgets a deleted account and its group membership.
pub async fn delete(tx: &mut PgConnection, tenant_id: Uuid, account_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM pricing.group_members WHERE tenant_id = $1 AND (member_id = $2 OR parent_id = $2)")
        .bind(tenant_id)
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM pricing.accounts WHERE tenant_id = $1 AND account_id = $2")
        .bind(tenant_id)
        .bind(account_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Records that `member` joined the group of `parent`, or left it.
pub async fn set_membership(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    member: Uuid,
    parent: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    match parent {
        Some(parent) => sqlx::query(
            "INSERT INTO pricing.group_members (tenant_id, member_id, parent_id) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, member_id) DO UPDATE SET parent_id = $3",
        )
        .bind(tenant_id)
        .bind(member)
        .bind(parent),
        None => sqlx::query("DELETE FROM pricing.group_members WHERE tenant_id = $1 AND member_id = $2")
            .bind(tenant_id)
            .bind(member),
    }
    .execute(tx)
    .await?;
    Ok(())
}

/// In one round trip: the tenant's book version, and what the read model
/// knows of each of the accounts (those the stream has not brought are
/// missing).
pub async fn version_and_facts_of(
    pool: &PgPool,
    tenant_id: Uuid,
    account_ids: &[Uuid],
) -> Result<(i64, HashMap<Uuid, AccountFacts>), PricingError> {
    /// (book version, account, currency, sales rep, group parent)
    type Row = (i64, Option<Uuid>, Option<String>, Option<String>, Option<Uuid>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT coalesce((SELECT version FROM pricing.book_versions WHERE tenant_id = $1), 0),
                a.account_id, a.currency, a.sales_rep_id, m.parent_id
         FROM (SELECT 1) AS one
         LEFT JOIN pricing.accounts a ON a.tenant_id = $1 AND a.account_id = ANY($2)
         LEFT JOIN pricing.group_members m ON m.tenant_id = $1 AND m.member_id = a.account_id",
    )
    .bind(tenant_id)
    .bind(account_ids)
    .fetch_all(pool)
    .await?;
    let version = rows.first().map_or(0, |row| row.0);
    let mut facts = HashMap::with_capacity(rows.len());
    for (_, id, currency_code, sales_rep_id, parent) in rows {
        if let (Some(id), Some(code)) = (id, currency_code) {
            let currency = currency(&code)?;
            facts.insert(id, AccountFacts { id, currency, sales_rep_id: sales_rep_id.unwrap_or_default(), parent });
        }
    }
    Ok((version, facts))
}
