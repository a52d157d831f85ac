//! Saved payment methods, and the payment preference (an account's default
//! method) read and written through them. Changes to one account's
//! methods hold a transaction-scoped lock on the account, so two saves
//! never both become its first (default) method; the partial unique index
//! keeps one default per owner (the account, or one user of a shared
//! account) whatever happens.

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
    /// The user of a shared account whose own method it is; `None`: the
    /// account's.
    pub owner_user_id: Option<Uuid>,
}

macro_rules! method_columns {
    () => {
        "id, account_id, kind, token_reference, label, is_default, use_for_purchases, use_for_subscriptions,
         created_at, updated_at, owner_user_id"
    };
}

/// Whose of an account's methods a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owners {
    /// Every method: the account's own and each user's.
    All,
    /// The account's own and, when given, that user's.
    AccountAnd(Option<Uuid>),
}

/// Serializes changes to the methods of one owner (the account, or one
/// user of a shared account) of an account.
async fn lock_methods(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    (account_id, owner): (Uuid, Option<Uuid>),
) -> Result<(), CreditError> {
    lock_methods_of(tx, &[(tenant_id, account_id)], owner).await
}

/// Each account's methods of `owner` lock, in the order given, in one
/// statement.
async fn lock_methods_of(
    tx: &mut PgConnection,
    accounts: &[(Uuid, Uuid)],
    owner: Option<Uuid>,
) -> Result<(), CreditError> {
    let (tenants, ids): (Vec<Uuid>, Vec<Uuid>) = accounts.iter().copied().unzip();
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended(t::text || '/methods/' || a::text || '/' || coalesce($3::text, ''), 0))
         FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS l(t, a, n) ORDER BY n",
    )
    .bind(&tenants)
    .bind(&ids)
    .bind(owner)
    .execute(tx)
    .await?;
    Ok(())
}

/// The account's methods of `owners`: its own first, then each user's;
/// of each owner's, the default first, then oldest first.
pub async fn methods(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    owners: Owners,
) -> Result<Vec<MethodRow>, CreditError> {
    let (all, user) = match owners {
        Owners::All => (true, None),
        Owners::AccountAnd(user) => (false, user),
    };
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        method_columns!(),
        " FROM credit.payment_methods WHERE tenant_id = $1 AND account_id = $2
             AND ($3 OR owner_user_id IS NULL OR owner_user_id = $4)
         ORDER BY owner_user_id NULLS FIRST, is_default DESC, created_at, id"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .bind(all)
    .bind(user)
    .fetch_all(connection)
    .await?)
}

/// The account a method belongs to, and its owning user (`None`: the
/// account's own); `None` when the tenant has no such method.
pub async fn method_account(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<(Uuid, Option<Uuid>)>, CreditError> {
    Ok(sqlx::query_as("SELECT account_id, owner_user_id FROM credit.payment_methods WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(connection)
        .await?)
}

/// Takes up to `limit` accounts whose methods are still to be announced
/// (deleted: the caller announces them in the same transaction), each
/// with its own methods locked.
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
    lock_methods_of(tx, &accounts, None).await?;
    Ok(accounts)
}

/// The method, locked with its owner's methods; `None` when the tenant
/// has no such method.
pub async fn lock_method(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<Option<MethodRow>, CreditError> {
    let Some((account_id, owner)) = method_account(tx, tenant_id, id).await? else {
        return Ok(None);
    };
    lock_methods(tx, tenant_id, (account_id, owner)).await?;
    let methods = methods(tx, tenant_id, account_id, Owners::AccountAnd(owner)).await?;
    Ok(methods.into_iter().find(|method| method.id == id))
}

/// Saves a method; its owner's first is its default whatever was asked,
/// and a new default ends the previous one's.
pub async fn save_method(tx: &mut PgConnection, tenant_id: Uuid, method: &MethodRow) -> Result<MethodRow, CreditError> {
    lock_methods(tx, tenant_id, (method.account_id, method.owner_user_id)).await?;
    let methods = methods(tx, tenant_id, method.account_id, Owners::AccountAnd(method.owner_user_id)).await?;
    let first = !methods.iter().any(|other| other.owner_user_id == method.owner_user_id);
    let is_default = method.is_default || first;
    if is_default {
        clear_default(tx, tenant_id, method).await?;
    }
    Ok(sqlx::query_as(concat!(
        "INSERT INTO credit.payment_methods (tenant_id, id, account_id, kind, token_reference, label, is_default,
             use_for_purchases, use_for_subscriptions, owner_user_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ",
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
    .bind(method.owner_user_id)
    .fetch_one(tx)
    .await?)
}

/// Ends the default of `method`'s owner.
async fn clear_default(tx: &mut PgConnection, tenant_id: Uuid, method: &MethodRow) -> Result<(), CreditError> {
    sqlx::query(
        "UPDATE credit.payment_methods SET is_default = false, updated_at = now()
         WHERE tenant_id = $1 AND account_id = $2 AND owner_user_id IS NOT DISTINCT FROM $3 AND is_default",
    )
    .bind(tenant_id)
    .bind(method.account_id)
    .bind(method.owner_user_id)
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
        clear_default(tx, tenant_id, method).await?;
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
/// its owner's oldest other method becomes the default.
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
                 WHERE tenant_id = $1 AND account_id = $2 AND owner_user_id IS NOT DISTINCT FROM $3
                 ORDER BY created_at, id LIMIT 1)",
        )
        .bind(tenant_id)
        .bind(method.account_id)
        .bind(method.owner_user_id)
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
            owner_user_id: None,
        }
    }

    /// Whether it is the default of the account's own methods.
    fn is_accounts_default(&self) -> bool {
        self.is_default && self.owner_user_id.is_none()
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

/// Sets the account's preference: its own default method takes the
/// card's token, label and opt-ins (a new default card when it has none).
pub async fn set_preference(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    preference: &PreferenceRow,
) -> Result<PreferenceRow, CreditError> {
    lock_methods(tx, tenant_id, (preference.account_id, None)).await?;
    let own = methods(tx, tenant_id, preference.account_id, Owners::AccountAnd(None)).await?;
    let current = own.into_iter().find(MethodRow::is_accounts_default);
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

/// The account's preference: its own default method.
pub async fn preference(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Option<PreferenceRow>, CreditError> {
    let methods = methods(connection, tenant_id, account_id, Owners::AccountAnd(None)).await?;
    Ok(methods.iter().find(|method| method.is_accounts_default()).map(MethodRow::preference))
}
