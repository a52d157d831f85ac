//! Wallets and their transactions. Money moves in one statement that
//! changes the balance only if it stays at zero or more (under the wallet's
//! row lock, so racing payments each see what the other took) and records
//! the transaction with the balance it left; the table's check is the last
//! guard.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::corrupt;
use crate::domain::error::BillingError;
use crate::domain::wallet::{Movement, Wallet, WalletTransaction, too_low};

#[derive(sqlx::FromRow)]
struct WalletRow {
    account_id: Uuid,
    currency: String,
    balance: Decimal,
    use_for_purchases: bool,
    use_for_subscriptions: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<WalletRow> for Wallet {
    fn from(row: WalletRow) -> Wallet {
        Wallet {
            account_id: row.account_id,
            currency: row.currency,
            balance: row.balance,
            use_for_purchases: row.use_for_purchases,
            use_for_subscriptions: row.use_for_subscriptions,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

macro_rules! wallet_columns {
    () => {
        "account_id, currency, balance, use_for_purchases, use_for_subscriptions, created_at, updated_at"
    };
}

/// Opens a wallet; false when the account has one.
pub async fn open(tx: &mut PgConnection, tenant_id: Uuid, wallet: &Wallet) -> Result<bool, BillingError> {
    let opened = sqlx::query(
        "INSERT INTO billing.wallets
             (tenant_id, account_id, currency, balance, use_for_purchases, use_for_subscriptions, created_at, updated_at)
         VALUES ($1, $2, $3, 0, $4, $5, $6, $6) ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(wallet.account_id)
    .bind(&wallet.currency)
    .bind(wallet.use_for_purchases)
    .bind(wallet.use_for_subscriptions)
    .bind(wallet.created_at)
    .execute(tx)
    .await?;
    Ok(opened.rows_affected() == 1)
}

/// The account's wallet, if it has one.
pub async fn get(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Option<Wallet>, BillingError> {
    let row: Option<WalletRow> = sqlx::query_as(concat!(
        "SELECT ",
        wallet_columns!(),
        " FROM billing.wallets WHERE tenant_id = $1 AND account_id = $2"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(connection)
    .await?;
    Ok(row.map(Wallet::from))
}

/// The account's wallet, locked: taken before any invoice of the account,
/// as posting takes it (its new invoices, then the wallet, then the older
/// ones), so the two never wait on each other.
pub async fn lock(tx: &mut PgConnection, tenant_id: Uuid, account_id: Uuid) -> Result<Option<Wallet>, BillingError> {
    let row: Option<WalletRow> = sqlx::query_as(concat!(
        "SELECT ",
        wallet_columns!(),
        " FROM billing.wallets WHERE tenant_id = $1 AND account_id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(tx)
    .await?;
    Ok(row.map(Wallet::from))
}

/// Sets which payments the wallet makes; `None` when the account has none.
pub async fn set_preferences(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    (purchases, subscriptions): (bool, bool),
) -> Result<Option<Wallet>, BillingError> {
    let row: Option<WalletRow> = sqlx::query_as(concat!(
        "UPDATE billing.wallets SET use_for_purchases = $3, use_for_subscriptions = $4, updated_at = now()
         WHERE tenant_id = $1 AND account_id = $2 RETURNING ",
        wallet_columns!()
    ))
    .bind(tenant_id)
    .bind(account_id)
    .bind(purchases)
    .bind(subscriptions)
    .fetch_optional(tx)
    .await?;
    Ok(row.map(Wallet::from))
}

/// The wallets of `accounts` opted in for subscriptions that hold money,
/// locked (in account order): (account, balance).
pub async fn lock_paying_invoices(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    accounts: &[Uuid],
) -> Result<Vec<(Uuid, Decimal)>, BillingError> {
    Ok(sqlx::query_as(
        "SELECT account_id, balance FROM billing.wallets
         WHERE tenant_id = $1 AND account_id = ANY($2) AND use_for_subscriptions AND balance > 0
         ORDER BY account_id FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(accounts)
    .fetch_all(tx)
    .await?)
}

/// A movement to record.
pub struct Move<'a> {
    pub id: Uuid,
    pub account_id: Uuid,
    pub movement: Movement,
    pub amount: Decimal,
    pub order_id: Option<Uuid>,
    pub payment_id: Option<Uuid>,
    pub reason: &'a str,
    pub actor: &'a str,
}

impl<'a> Move<'a> {
    /// A movement of `amount` of the account's wallet by `actor`, with a
    /// new id and no order, payment or reason (set those that apply).
    pub fn of(account_id: Uuid, movement: Movement, amount: Decimal, actor: &'a str) -> Move<'a> {
        Move { id: Uuid::now_v7(), account_id, movement, amount, order_id: None, payment_id: None, reason: "", actor }
    }
}

/// Moves a wallet's money and records the transaction, in one statement
/// that changes the balance only when it stays at zero or more (the rule
/// of `domain::wallet::moved`). NOT_FOUND when the account has no wallet,
/// WALLET_BALANCE_TOO_LOW when it holds too little.
pub async fn move_money(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    new: &Move<'_>,
) -> Result<WalletTransaction, BillingError> {
    let moved: Option<(i64, Decimal, DateTime<Utc>)> = sqlx::query_as(
        "WITH moved AS (
             UPDATE billing.wallets SET balance = balance + $4, updated_at = clock_timestamp()
             WHERE tenant_id = $1 AND account_id = $2 AND balance + $4 >= 0
             RETURNING balance, updated_at
         )
         INSERT INTO billing.wallet_transactions
             (tenant_id, id, account_id, kind, amount, balance_after, order_id, payment_id, reason, actor, created_at)
         SELECT $1, $3, $2, $5, $6, balance, $7, $8, $9, $10, updated_at FROM moved
         RETURNING seq, balance_after, created_at",
    )
    .bind(tenant_id)
    .bind(new.account_id)
    .bind(new.id)
    .bind(new.movement.change(new.amount))
    .bind(new.movement.code())
    .bind(new.amount)
    .bind(new.order_id)
    .bind(new.payment_id)
    .bind(new.reason)
    .bind(new.actor)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((seq, balance_after, created_at)) = moved else {
        return match get(tx, tenant_id, new.account_id).await? {
            Some(wallet) => Err(too_low(wallet.balance, new.amount)),
            None => Err(BillingError::not_found("wallet", new.account_id)),
        };
    };
    Ok(WalletTransaction {
        seq,
        id: new.id,
        account_id: new.account_id,
        movement: new.movement,
        amount: new.amount,
        balance_after,
        order_id: new.order_id,
        payment_id: new.payment_id,
        reason: new.reason.to_owned(),
        actor: new.actor.to_owned(),
        created_at,
    })
}

#[derive(sqlx::FromRow)]
struct TransactionRow {
    seq: i64,
    id: Uuid,
    account_id: Uuid,
    kind: String,
    amount: Decimal,
    balance_after: Decimal,
    order_id: Option<Uuid>,
    payment_id: Option<Uuid>,
    reason: String,
    actor: String,
    created_at: DateTime<Utc>,
}

/// The wallet's transactions, newest first (as its balance saw them),
/// before the one at `before`.
pub async fn transactions(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    (before, limit): (Option<i64>, i64),
) -> Result<Vec<WalletTransaction>, BillingError> {
    let rows: Vec<TransactionRow> = sqlx::query_as(
        "SELECT seq, id, account_id, kind, amount, balance_after, order_id, payment_id, reason, actor, created_at
         FROM billing.wallet_transactions
         WHERE tenant_id = $1 AND account_id = $2 AND ($3::bigint IS NULL OR seq < $3)
         ORDER BY seq DESC LIMIT $4",
    )
    .bind(tenant_id)
    .bind(account_id)
    .bind(before)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(WalletTransaction {
                seq: row.seq,
                movement: Movement::from_code(&row.kind)
                    .ok_or_else(|| corrupt("wallet transaction kind", &row.kind))?,
                id: row.id,
                account_id: row.account_id,
                amount: row.amount,
                balance_after: row.balance_after,
                order_id: row.order_id,
                payment_id: row.payment_id,
                reason: row.reason,
                actor: row.actor,
                created_at: row.created_at,
            })
        })
        .collect()
}
