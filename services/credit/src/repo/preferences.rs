//! Payment preferences.

use super::*;

#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PreferenceRow {
    pub account_id: Uuid,
    pub card_token_reference: String,
    pub card_label: String,
    pub use_for_subscriptions: bool,
    pub use_for_purchases: bool,
    pub updated_at: DateTime<Utc>,
}

pub async fn set_preference(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    preference: &PreferenceRow,
) -> Result<PreferenceRow, CreditError> {
    Ok(sqlx::query_as(
        "INSERT INTO credit.payment_preferences
             (tenant_id, account_id, card_token_reference, card_label, use_for_subscriptions, use_for_purchases)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, account_id) DO UPDATE SET card_token_reference = $3, card_label = $4,
             use_for_subscriptions = $5, use_for_purchases = $6, updated_at = now()
         RETURNING account_id, card_token_reference, card_label, use_for_subscriptions, use_for_purchases, updated_at",
    )
    .bind(tenant_id)
    .bind(preference.account_id)
    .bind(&preference.card_token_reference)
    .bind(&preference.card_label)
    .bind(preference.use_for_subscriptions)
    .bind(preference.use_for_purchases)
    .fetch_one(tx)
    .await?)
}

pub async fn preference(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
) -> Result<Option<PreferenceRow>, CreditError> {
    Ok(sqlx::query_as(
        "SELECT account_id, card_token_reference, card_label, use_for_subscriptions, use_for_purchases, updated_at
         FROM credit.payment_preferences WHERE tenant_id = $1 AND account_id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(connection)
    .await?)
}
