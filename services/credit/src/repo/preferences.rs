//! Saved payment methods, and the payment preference (an account's default
//! method) read and written through them. Changes to one account's
//! methods hold a transaction-scoped lock on the account, so two saves
//! never both become its first (default) method; the partial unique index
//! keeps one default per account whatever happens.

use super::*;

/// The payment preference as the older contract shows it: the default
/// method.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PreferenceRow {
    pub account_id: Uuid,
    pub card_token_reference: String,
    pub card_label: String,
    pub use_for_subscriptions: bool,
    pub use_for_purchases: bool,
    pub updated_at: DateTime<Utc>,
}

/// A saved payment method.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MethodRow {
    pub id: Uuid,
    pub account_id: Uuid,
    /// `card` or `wallet`.
    pub kind: String,
    pub token_reference: String,
    pub label: String,
    pub is_default: bool,
    pub use_for_purchases: bool,
    pub use_for_subscriptions: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! method_columns {
    () => {
        "id, account_id, kind, token_reference, label, is_default, use_for_purchases, use_for_subscriptions,
         created_at, updated_at"
    };
}

/// Serializes changes to one account's methods.
async fn lock_methods(tx: &mut PgConnection, tenant_id: Uuid, account_id: Uuid) -> Result<(), CreditError> {
    lock_methods_of(tx, &[(tenant_id, account_id)]).await
}

/// Each account's methods lock, in the order given, in one statement.
async fn lock_methods_of(tx: &mut PgConnection, accounts: &[(Uuid, Uuid)]) -> Result<(), CreditError> {
    let (tenants, ids): (Vec<Uuid>, Vec<Uuid>) = accounts.iter().copied().unzip();
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended(t::text || '/methods/' || a::text, 0))
         FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS l(t, a, n) ORDER BY n",
    )
    .bind(&tenants)
    .bind(&ids)
    .execute(tx)
    .await?;
    Ok(())
}

/// The account's methods, the default first, then oldest first.
pub async fn methods(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Vec<MethodRow>, CreditError> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        method_columns!(),
        " FROM credit.payment_methods WHERE tenant_id = $1 AND account_id = $2
         ORDER BY is_default DESC, created_at, id"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_all(connection)
    .await?)
}

/// The account a method belongs to; `None` when the tenant has no such
/// method.
pub async fn method_account(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Uuid>, CreditError> {
    Ok(sqlx::query_scalar("SELECT account_id FROM credit.payment_methods WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(connection)
        .await?)
}

/// Takes up to `limit` accounts whose methods are still to be announced
/// (deleted: the caller announces them in the same transaction), each
/// with its methods locked.
pub async fn take_methods_to_announce(tx: &mut PgConnection, limit: i64) -> Result<Vec<(Uuid, Uuid)>, CreditError> {
    let accounts: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "DELETE FROM credit.methods_to_announce WHERE (tenant_id, account_id) IN (
             SELECT tenant_id, account_id FROM credit.methods_to_announce
             ORDER BY tenant_id, account_id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING tenant_id, account_id",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    lock_methods_of(tx, &accounts).await?;
    Ok(accounts)
}

/// The method, locked with its account's methods; `None` when the tenant
/// has no such method.
pub async fn lock_method(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<Option<MethodRow>, CreditError> {
    let Some(account_id) = method_account(tx, tenant_id, id).await? else {
        return Ok(None);
    };
    lock_methods(tx, tenant_id, account_id).await?;
    Ok(methods(tx, tenant_id, account_id).await?.into_iter().find(|method| method.id == id))
}

/// Saves a method; the account's first is its default whatever was asked,
/// and a new default ends the previous one's.
pub async fn save_method(tx: &mut PgConnection, tenant_id: Uuid, method: &MethodRow) -> Result<MethodRow, CreditError> {
    lock_methods(tx, tenant_id, method.account_id).await?;
    let first = methods(tx, tenant_id, method.account_id).await?.is_empty();
    let is_default = method.is_default || first;
    if is_default {
        clear_default(tx, tenant_id, method.account_id).await?;
    }
    Ok(sqlx::query_as(concat!(
        "INSERT INTO credit.payment_methods (tenant_id, id, account_id, kind, token_reference, label, is_default,
             use_for_purchases, use_for_subscriptions)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
        method_columns!(),
        ""
    ))
    .bind(tenant_id)
    .bind(method.id)
    .bind(method.account_id)
    .bind(&method.kind)
    .bind(&method.token_reference)
    .bind(&method.label)
    .bind(is_default)
    .bind(method.use_for_purchases)
    .bind(method.use_for_subscriptions)
    .fetch_one(tx)
    .await?)
}

async fn clear_default(tx: &mut PgConnection, tenant_id: Uuid, account_id: Uuid) -> Result<(), CreditError> {
    sqlx::query(
        "UPDATE credit.payment_methods SET is_default = false, updated_at = now()
         WHERE tenant_id = $1 AND account_id = $2 AND is_default",
    )
    .bind(tenant_id)
    .bind(account_id)
    .execute(tx)
    .await?;
    Ok(())
}

/// Stores a method's changed fields (locked by [`lock_method`]); making it
/// the default ends the previous default.
pub async fn update_method(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    method: &MethodRow,
) -> Result<MethodRow, CreditError> {
    if method.is_default {
        clear_default(tx, tenant_id, method.account_id).await?;
    }
    Ok(sqlx::query_as(concat!(
        "UPDATE credit.payment_methods SET label = $3, is_default = $4, use_for_purchases = $5,
             use_for_subscriptions = $6, kind = $7, token_reference = $8, updated_at = now()
         WHERE tenant_id = $1 AND id = $2 RETURNING ",
        method_columns!(),
        ""
    ))
    .bind(tenant_id)
    .bind(method.id)
    .bind(&method.label)
    .bind(method.is_default)
    .bind(method.use_for_purchases)
    .bind(method.use_for_subscriptions)
    .bind(&method.kind)
    .bind(&method.token_reference)
    .fetch_one(tx)
    .await?)
}

/// Removes a method (locked by [`lock_method`]); when it was the default,
/// the account's oldest other method becomes the default.
pub async fn remove_method(tx: &mut PgConnection, tenant_id: Uuid, method: &MethodRow) -> Result<(), CreditError> {
    sqlx::query("DELETE FROM credit.payment_methods WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(method.id)
        .execute(&mut *tx)
        .await?;
    if method.is_default {
        sqlx::query(
            "UPDATE credit.payment_methods SET is_default = true, updated_at = now()
             WHERE tenant_id = $1 AND id = (SELECT id FROM credit.payment_methods
                 WHERE tenant_id = $1 AND account_id = $2 ORDER BY created_at, id LIMIT 1)",
        )
        .bind(tenant_id)
        .bind(method.account_id)
        .execute(tx)
        .await?;
    }
    Ok(())
}

impl MethodRow {
    /// A new method of the account saved at `at`: no kind or token yet,
    /// not its default, opted in for nothing.
    pub fn new(account_id: Uuid, at: DateTime<Utc>) -> MethodRow {
        MethodRow {
            id: Uuid::now_v7(),
            account_id,
            kind: String::new(),
            token_reference: String::new(),
            label: String::new(),
            is_default: false,
            use_for_purchases: false,
            use_for_subscriptions: false,
            created_at: at,
            updated_at: at,
        }
    }

    fn preference(&self) -> PreferenceRow {
        PreferenceRow {
            account_id: self.account_id,
            card_token_reference: self.token_reference.clone(),
            card_label: self.label.clone(),
            use_for_subscriptions: self.use_for_subscriptions,
            use_for_purchases: self.use_for_purchases,
            updated_at: self.updated_at,
        }
    }
}

/// Sets the account's preference: its default method takes the card's
/// token, label and opt-ins (a new default card when it has none).
pub async fn set_preference(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    preference: &PreferenceRow,
) -> Result<PreferenceRow, CreditError> {
    lock_methods(tx, tenant_id, preference.account_id).await?;
    let current = methods(tx, tenant_id, preference.account_id).await?.into_iter().find(|method| method.is_default);
    let method = MethodRow {
        kind: "card".to_owned(),
        token_reference: preference.card_token_reference.clone(),
        label: preference.card_label.clone(),
        use_for_purchases: preference.use_for_purchases,
        use_for_subscriptions: preference.use_for_subscriptions,
        is_default: true,
        ..current.clone().unwrap_or_else(|| MethodRow::new(preference.account_id, preference.updated_at))
    };
    let stored = match current {
        Some(_) => update_method(tx, tenant_id, &method).await?,
        None => save_method(tx, tenant_id, &method).await?,
    };
    Ok(stored.preference())
}

/// The account's preference: its default method.
pub async fn preference(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Option<PreferenceRow>, CreditError> {
    let methods = methods(connection, tenant_id, account_id).await?;
    Ok(methods.iter().find(|method| method.is_default).map(MethodRow::preference))
}
