//! Accounts as credit keeps them: terms, holds, exposure.

use super::*;

pub(super) fn account_from_row(row: &PgRow) -> Result<CreditAccount, CreditError> {
    let currency: String = row.get("currency");
    let kind: String = row.get("terms_kind");
    Ok(CreditAccount {
        account_id: row.get("account_id"),
        currency: Currency::parse(&currency).map_err(|_| corrupt("currency", &currency))?,
        terms: Terms {
            limit: row.get("credit_limit"),
            unlimited: row.get("unlimited"),
            rating: row.get("credit_rating"),
            payment_terms: PaymentTerms::from_parts(
                &kind,
                unsigned(row.get("terms_days")),
                unsigned(row.get("terms_day_of_month")),
            ),
            period_days: row.get::<Option<i32>, _>("credit_period_days").map(unsigned),
            classification: row.get("classification"),
            kyc_profile: row.get("kyc_profile"),
            actions: [
                optional_action(row.get("on_hold_action"))?,
                optional_action(row.get("out_of_terms_action"))?,
                optional_action(row.get("out_of_credit_action"))?,
            ],
        },
        balance: row.get("balance"),
        reserved: row.get("reserved"),
        on_hold: row.get("on_hold"),
        hold_reason: row.get("hold_reason"),
        overdue_invoices: row.get("overdue_invoices"),
        updated_at: row.get("updated_at"),
        terms_version: row.get("terms_version"),
    })
}

pub async fn account(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Option<CreditAccount>, CreditError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM credit.accounts WHERE tenant_id = $1 AND account_id = $2"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(connection)
    .await?;
    row.as_ref().map(account_from_row).transpose()
}

/// The accounts credit has met of `ids`.
pub async fn accounts(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<CreditAccount>, CreditError> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM credit.accounts WHERE tenant_id = $1 AND account_id = ANY($2)"
    ))
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(connection)
    .await?;
    rows.iter().map(account_from_row).collect()
}

/// The account (if credit has met it) and its tenant's settings, in one
/// round trip; with `lock`, the account's row is locked until the
/// transaction ends.
pub async fn account_with_settings(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    lock: bool,
) -> Result<(Option<CreditAccount>, Settings), CreditError> {
    macro_rules! query {
        ($lock:literal) => {
            concat!(
                "SELECT a.*, ",
                settings_columns!(),
                "
                 FROM (SELECT $1::uuid AS tenant_id) t
                 LEFT JOIN credit.settings s ON s.tenant_id = t.tenant_id
                 LEFT JOIN LATERAL (SELECT ",
                account_columns!(),
                " FROM credit.accounts WHERE tenant_id = $1 AND account_id = $2",
                $lock,
                ") a ON true"
            )
        };
    }
    let row = sqlx::query(if lock { query!(" FOR UPDATE") } else { query!("") })
        .bind(tenant_id)
        .bind(account_id)
        .fetch_one(connection)
        .await?;
    let settings = settings_from_row(&row)?;
    let account = match row.get::<Option<Uuid>, _>("account_id") {
        Some(_) => Some(account_from_row(&row)?),
        None => None,
    };
    Ok((account, settings))
}

/// The account's row, locked until the transaction ends.
pub async fn lock_account(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<CreditAccount, CreditError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        account_columns!(),
        " FROM credit.accounts WHERE tenant_id = $1 AND account_id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(tx)
    .await?;
    row.as_ref().map(account_from_row).transpose()?.ok_or_else(|| CreditError::not_found("account", account_id))
}

/// Records an account credit meets for the first time, with the tenant's
/// default terms (a concurrent first meeting keeps the first row).
pub async fn insert_account(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    currency: Currency,
    limit: Decimal,
) -> Result<(), CreditError> {
    sqlx::query!(
        "INSERT INTO credit.accounts (tenant_id, account_id, currency, credit_limit) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
        tenant_id,
        account_id,
        currency.code,
        limit,
    )
    .execute(connection)
    .await?;
    Ok(())
}

pub async fn save_terms(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    terms: &Terms,
) -> Result<(DateTime<Utc>, i64), CreditError> {
    let (kind, days, day) = terms.payment_terms.to_parts();
    let [on_hold, out_of_terms, out_of_credit] = terms.actions.map(|action| action.map(Action::code));
    let saved = sqlx::query!(
        "UPDATE credit.accounts SET credit_limit = $3, unlimited = $4, credit_rating = $5, terms_kind = $6,
             terms_days = $7, terms_day_of_month = $8, credit_period_days = $9, classification = $10,
             kyc_profile = $11, on_hold_action = $12, out_of_terms_action = $13, out_of_credit_action = $14,
             updated_at = now(), terms_version = terms_version + 1
         WHERE tenant_id = $1 AND account_id = $2 RETURNING updated_at, terms_version",
        tenant_id,
        account_id,
        terms.limit,
        terms.unlimited,
        terms.rating,
        kind,
        days as i32,
        day as i32,
        terms.period_days.map(|days| days as i32),
        terms.classification,
        terms.kyc_profile,
        on_hold,
        out_of_terms,
        out_of_credit,
    )
    .fetch_one(tx)
    .await?;
    Ok((saved.updated_at, saved.terms_version))
}

pub async fn set_hold(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    reason: Option<&str>,
) -> Result<(), CreditError> {
    sqlx::query!(
        "UPDATE credit.accounts SET on_hold = $3, hold_reason = $4, updated_at = now()
         WHERE tenant_id = $1 AND account_id = $2",
        tenant_id,
        account_id,
        reason.is_some(),
        reason.unwrap_or_default(),
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Moves the account's reservations and balance by the given amounts (the
/// caller holds the account's lock).
pub async fn move_exposure(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    reserved: Decimal,
    balance: Decimal,
) -> Result<(), CreditError> {
    sqlx::query!(
        "UPDATE credit.accounts SET reserved = reserved + $3, balance = balance + $4, updated_at = now()
         WHERE tenant_id = $1 AND account_id = $2",
        tenant_id,
        account_id,
        reserved,
        balance,
    )
    .execute(tx)
    .await?;
    Ok(())
}
