//! Contracts: their prices, accounts and rebate terms.

use std::collections::HashMap;

use bss_platform::error::violated_constraint;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{break_columns, corrupt, currency, tiered};
use crate::domain::book::Contract;
use crate::domain::contract::FieldChange;
use crate::domain::error::PricingError;
use crate::domain::price::Tiered;
use crate::domain::rebate::{Mode, Period, RebateTerm, Scope, Tier};

/// A contract with its accounts and rebate terms.
#[derive(Clone, Debug)]
pub struct ContractRecord {
    pub contract: Contract,
    pub account_ids: Vec<Uuid>,
    pub terms: Vec<RebateTerm>,
}

type ContractRow = (Uuid, String, String, NaiveDate, NaiveDate, bool, Decimal);
type ItemRow = (Uuid, Uuid, Decimal, Vec<Decimal>, Vec<Decimal>);
type TermRow = (Uuid, Uuid, String, Option<Uuid>, String, String, Vec<Decimal>, Vec<Decimal>);

const CONTRACT_COLUMNS: &str = "id, name, currency, start_date, expiry_date, forced, extra_discount_percent";

fn contract(row: ContractRow, items: HashMap<Uuid, Tiered>) -> Result<Contract, PricingError> {
    let (id, name, currency_code, start, expiry, forced, extra_discount_percent) = row;
    Ok(Contract { id, name, currency: currency(&currency_code)?, start, expiry, forced, extra_discount_percent, items })
}

fn term(row: TermRow) -> Result<RebateTerm, PricingError> {
    let (id, contract_id, scope, pricelist_id, period, mode, tier_from, tier_rates) = row;
    if tier_from.len() != tier_rates.len() {
        return Err(corrupt("rebate tiers", &id.to_string()));
    }
    Ok(RebateTerm {
        id,
        contract_id,
        scope: Scope::from_stored(&scope, pricelist_id).ok_or_else(|| corrupt("rebate scope", &scope))?,
        period: Period::from_stored(&period).ok_or_else(|| corrupt("rebate period", &period))?,
        mode: Mode::from_stored(&mode).ok_or_else(|| corrupt("tier mode", &mode))?,
        tiers: tier_from.into_iter().zip(tier_rates).map(|(from, rate_percent)| Tier { from, rate_percent }).collect(),
    })
}

fn contract_fk(error: sqlx::Error, contract_id: Uuid) -> PricingError {
    match violated_constraint(&error) {
        Some("contract_items_product_fkey") => PricingError::not_found("product", "of a contract item"),
        Some(name) if name.ends_with("contract_fkey") => PricingError::not_found("contract", contract_id),
        _ => error.into(),
    }
}

pub async fn insert(tx: &mut PgConnection, tenant_id: Uuid, record: &ContractRecord) -> Result<(), PricingError> {
    let contract = &record.contract;
    sqlx::query(
        "INSERT INTO pricing.contracts
            (tenant_id, id, name, currency, start_date, expiry_date, forced, extra_discount_percent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tenant_id)
    .bind(contract.id)
    .bind(&contract.name)
    .bind(contract.currency.code)
    .bind(contract.start)
    .bind(contract.expiry)
    .bind(contract.forced)
    .bind(contract.extra_discount_percent)
    .execute(&mut *tx)
    .await?;
    insert_items(tx, tenant_id, contract).await?;
    for account_id in &record.account_ids {
        add_account(tx, tenant_id, contract.id, *account_id).await?;
    }
    Ok(())
}

/// Stores a contract's items (none stored yet).
async fn insert_items(tx: &mut PgConnection, tenant_id: Uuid, contract: &Contract) -> Result<(), PricingError> {
    for (product_id, price) in &contract.items {
        let (minimums, prices) = break_columns(price);
        sqlx::query(
            "INSERT INTO pricing.contract_items (tenant_id, contract_id, product_id, price, break_minimums, break_prices)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant_id)
        .bind(contract.id)
        .bind(product_id)
        .bind(price.base)
        .bind(minimums)
        .bind(prices)
        .execute(&mut *tx)
        .await
        .map_err(|error| match violated_constraint(&error) {
            Some("contract_items_product_fkey") => PricingError::not_found("product", product_id),
            _ => error.into(),
        })?;
    }
    Ok(())
}

/// Stores a contract's changeable fields and replaces its items.
pub async fn update(tx: &mut PgConnection, tenant_id: Uuid, contract: &Contract) -> Result<(), PricingError> {
    sqlx::query(
        "UPDATE pricing.contracts SET name = $3, expiry_date = $4, forced = $5, extra_discount_percent = $6
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(contract.id)
    .bind(&contract.name)
    .bind(contract.expiry)
    .bind(contract.forced)
    .bind(contract.extra_discount_percent)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM pricing.contract_items WHERE tenant_id = $1 AND contract_id = $2")
        .bind(tenant_id)
        .bind(contract.id)
        .execute(&mut *tx)
        .await?;
    insert_items(tx, tenant_id, contract).await
}

/// Takes an account off a contract; whether it was on it.
pub async fn remove_account(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    contract_id: Uuid,
    account_id: Uuid,
) -> Result<bool, PricingError> {
    let removed = sqlx::query(
        "DELETE FROM pricing.contract_accounts WHERE tenant_id = $1 AND contract_id = $2 AND account_id = $3",
    )
    .bind(tenant_id)
    .bind(contract_id)
    .bind(account_id)
    .execute(tx)
    .await?;
    Ok(removed.rows_affected() > 0)
}

/// A change of a contract as its history keeps it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ContractChangeRow {
    pub id: Uuid,
    pub changed_at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub reason: String,
    pub changes: sqlx::types::Json<Vec<FieldChange>>,
}

/// Keeps a change of a contract in its history (nothing when it changed
/// nothing).
pub async fn record_change(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    contract_id: Uuid,
    (actor, reason): (&str, &str),
    changes: &[FieldChange],
) -> Result<(), PricingError> {
    if changes.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO pricing.contract_history (tenant_id, id, contract_id, actor, reason, changes)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(contract_id)
    .bind(actor)
    .bind(reason)
    .bind(sqlx::types::Json(changes))
    .execute(tx)
    .await?;
    Ok(())
}

/// A contract's changes, oldest first, after `after`, at most `limit`.
pub async fn history(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    contract_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ContractChangeRow>, PricingError> {
    Ok(sqlx::query_as(
        "SELECT id, changed_at, actor, reason, changes FROM pricing.contract_history
         WHERE tenant_id = $1 AND contract_id = $2 AND ($3::uuid IS NULL OR id > $3)
         ORDER BY id LIMIT $4",
    )
    .bind(tenant_id)
    .bind(contract_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?)
}

/// Adds an account to a contract; adding one twice changes nothing.
pub async fn add_account(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    contract_id: Uuid,
    account_id: Uuid,
) -> Result<(), PricingError> {
    sqlx::query(
        "INSERT INTO pricing.contract_accounts (tenant_id, contract_id, account_id) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(contract_id)
    .bind(account_id)
    .execute(tx)
    .await
    .map_err(|error| contract_fk(error, contract_id))?;
    Ok(())
}

pub async fn insert_term(tx: &mut PgConnection, tenant_id: Uuid, term: &RebateTerm) -> Result<(), PricingError> {
    let (tier_from, tier_rates): (Vec<Decimal>, Vec<Decimal>) =
        term.tiers.iter().map(|tier| (tier.from, tier.rate_percent)).unzip();
    sqlx::query(
        "INSERT INTO pricing.rebate_terms
            (tenant_id, id, contract_id, scope, pricelist_id, period, mode, tier_from, tier_rates)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant_id)
    .bind(term.id)
    .bind(term.contract_id)
    .bind(term.scope.as_str())
    .bind(term.scope.pricelist_id())
    .bind(term.period.as_str())
    .bind(term.mode.as_str())
    .bind(tier_from)
    .bind(tier_rates)
    .execute(tx)
    .await
    .map_err(|error| match violated_constraint(&error) {
        Some("rebate_terms_scope_period_key") => PricingError::AlreadyExists {
            reason: "REBATE_TERM_EXISTS",
            description: format!(
                "the contract has a rebate term of scope {} and period {} already; two terms must differ in scope or period",
                term.scope.as_str(),
                term.period.as_str()
            ),
        },
        _ => contract_fk(error, term.contract_id),
    })?;
    Ok(())
}

const TERM_COLUMNS: &str = "id, contract_id, scope, pricelist_id, period, mode, tier_from, tier_rates";

pub async fn term_by_id(connection: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<RebateTerm, PricingError> {
    let row: Option<TermRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TERM_COLUMNS} FROM pricing.rebate_terms WHERE tenant_id = $1 AND id = $2"
    )))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(connection)
    .await?;
    term(row.ok_or_else(|| PricingError::not_found("rebate term", id))?)
}

/// Contracts with their items, accounts and terms: all of the tenant's, or
/// those of one account, or one contract.
/// Contracts by start date then id (one, or an account's, when asked),
/// after (start date, id) `after` when given, at most `limit`.
async fn load(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    (contract_id, account_id): (Option<Uuid>, Option<Uuid>),
    after: Option<(NaiveDate, Uuid)>,
    limit: i64,
) -> Result<Vec<ContractRecord>, PricingError> {
    let (after_date, after_id) = after.unzip();
    let rows: Vec<ContractRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CONTRACT_COLUMNS} FROM pricing.contracts c
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id = $2)
           AND ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM pricing.contract_accounts a
                 WHERE a.tenant_id = c.tenant_id AND a.contract_id = c.id AND a.account_id = $3))
           AND ($4::date IS NULL OR (start_date, id) > ($4, $5))
         ORDER BY start_date, id LIMIT $6"
    )))
    .bind(tenant_id)
    .bind(contract_id)
    .bind(account_id)
    .bind(after_date)
    .bind(after_id)
    .bind(limit)
    .fetch_all(&mut *connection)
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|row| row.0).collect();
    let items: Vec<ItemRow> = sqlx::query_as(
        "SELECT contract_id, product_id, price, break_minimums, break_prices FROM pricing.contract_items
         WHERE tenant_id = $1 AND contract_id = ANY($2)",
    )
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(&mut *connection)
    .await?;
    let accounts: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT contract_id, account_id FROM pricing.contract_accounts WHERE tenant_id = $1 AND contract_id = ANY($2)
         ORDER BY account_id",
    )
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(&mut *connection)
    .await?;
    let terms: Vec<TermRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TERM_COLUMNS} FROM pricing.rebate_terms WHERE tenant_id = $1 AND contract_id = ANY($2)
         ORDER BY scope, period, id"
    )))
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(connection)
    .await?;

    let mut items_of: HashMap<Uuid, HashMap<Uuid, Tiered>> = HashMap::new();
    for (contract_id, product_id, price, minimums, prices) in items {
        items_of.entry(contract_id).or_default().insert(product_id, tiered(price, minimums, prices)?);
    }
    let mut accounts_of: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (contract_id, account_id) in accounts {
        accounts_of.entry(contract_id).or_default().push(account_id);
    }
    let mut terms_of: HashMap<Uuid, Vec<RebateTerm>> = HashMap::new();
    for row in terms {
        let term = term(row)?;
        terms_of.entry(term.contract_id).or_default().push(term);
    }
    rows.into_iter()
        .map(|row| {
            let id = row.0;
            Ok(ContractRecord {
                contract: contract(row, items_of.remove(&id).unwrap_or_default())?,
                account_ids: accounts_of.remove(&id).unwrap_or_default(),
                terms: terms_of.remove(&id).unwrap_or_default(),
            })
        })
        .collect()
}

pub async fn get(connection: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<ContractRecord, PricingError> {
    load(connection, tenant_id, (Some(id), None), None, 1)
        .await?
        .pop()
        .ok_or_else(|| PricingError::not_found("contract", id))
}

/// The tenant's contracts, or those of one account.
pub async fn list(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Option<Uuid>,
) -> Result<Vec<ContractRecord>, PricingError> {
    load(connection, tenant_id, (None, account_id), None, i64::MAX).await
}

/// A page of [`list`], after the contract starting at `after` (its start
/// date and id) when given, at most `limit`.
pub async fn page(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Option<Uuid>,
    after: Option<(NaiveDate, Uuid)>,
    limit: i64,
) -> Result<Vec<ContractRecord>, PricingError> {
    load(connection, tenant_id, (None, account_id), after, limit).await
}
