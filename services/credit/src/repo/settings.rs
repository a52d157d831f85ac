//! Settings, credit ratings and override rules.

use super::*;

/// The settings in a row (defaults when the tenant has none: the columns
/// are NULL in a LEFT JOIN).
pub(super) fn settings_from_row(row: &PgRow) -> Result<Settings, CreditError> {
    let Some(default_period) = row.get::<Option<i32>, _>("s_default_credit_period_days") else {
        return Ok(Settings::default());
    };
    Ok(Settings {
        default_period_days: unsigned(default_period),
        min_period_days: unsigned(row.get("s_min_credit_period_days")),
        max_period_days: unsigned(row.get("s_max_credit_period_days")),
        default_limit: row.get("s_default_credit_limit"),
        policy: Policy {
            on_hold: action(row.get("s_on_hold_action"))?,
            out_of_terms: action(row.get("s_out_of_terms_action"))?,
            out_of_credit: action(row.get("s_out_of_credit_action"))?,
        },
        thresholds: row.get("s_notification_thresholds"),
        auto_suspend_over_percent: row.get("s_auto_suspend_over_percent"),
        reservation_ttl_seconds: row.get("s_reservation_ttl_seconds"),
        held_order_ttl_seconds: row.get("s_held_order_ttl_seconds"),
        held_orders_credit_managers_only: row.get("s_held_orders_credit_managers_only"),
        updated_at: Some(row.get("s_updated_at")),
    })
}

/// The tenant's settings, or the defaults.
pub async fn settings(connection: &mut PgConnection, tenant_id: Uuid) -> Result<Settings, CreditError> {
    let row = sqlx::query(concat!("SELECT ", settings_columns!(), " FROM credit.settings s WHERE s.tenant_id = $1"))
        .bind(tenant_id)
        .fetch_optional(connection)
        .await?;
    row.map_or_else(|| Ok(Settings::default()), |row| settings_from_row(&row))
}

/// The tenant's settings, with every other update of them kept waiting
/// until the transaction ends.
pub async fn lock_settings(tx: &mut PgConnection, tenant_id: Uuid) -> Result<Settings, CreditError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('credit.settings:' || $1::text, 0))")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    settings(tx, tenant_id).await
}

pub async fn put_settings(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    settings: &Settings,
) -> Result<DateTime<Utc>, CreditError> {
    let updated_at = sqlx::query_scalar(
        "INSERT INTO credit.settings (tenant_id, default_credit_period_days, min_credit_period_days,
             max_credit_period_days, default_credit_limit, on_hold_action, out_of_terms_action,
             out_of_credit_action, notification_thresholds, auto_suspend_over_percent,
             reservation_ttl_seconds, held_order_ttl_seconds, held_orders_credit_managers_only, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now())
         ON CONFLICT (tenant_id) DO UPDATE SET
             default_credit_period_days = $2, min_credit_period_days = $3, max_credit_period_days = $4,
             default_credit_limit = $5, on_hold_action = $6, out_of_terms_action = $7,
             out_of_credit_action = $8, notification_thresholds = $9, auto_suspend_over_percent = $10,
             reservation_ttl_seconds = $11, held_order_ttl_seconds = $12,
             held_orders_credit_managers_only = $13, updated_at = now()
         RETURNING updated_at",
    )
    .bind(tenant_id)
    .bind(settings.default_period_days as i32)
    .bind(settings.min_period_days as i32)
    .bind(settings.max_period_days as i32)
    .bind(settings.default_limit)
    .bind(settings.policy.on_hold.code())
    .bind(settings.policy.out_of_terms.code())
    .bind(settings.policy.out_of_credit.code())
    .bind(&settings.thresholds)
    .bind(settings.auto_suspend_over_percent)
    .bind(settings.reservation_ttl_seconds)
    .bind(settings.held_order_ttl_seconds)
    .bind(settings.held_orders_credit_managers_only)
    .fetch_one(tx)
    .await?;
    Ok(updated_at)
}

pub use crate::domain::account::Rating;

pub async fn create_rating(tx: &mut PgConnection, tenant_id: Uuid, rating: &Rating) -> Result<(), CreditError> {
    let inserted = sqlx::query(
        "INSERT INTO credit.ratings (tenant_id, code, name, default_credit_limit) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(&rating.code)
    .bind(&rating.name)
    .bind(rating.default_limit)
    .execute(tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(CreditError::AlreadyExists {
            reason: "CREDIT_RATING_EXISTS",
            description: format!("credit rating {} exists already", rating.code),
        });
    }
    Ok(())
}

/// The tenant's credit ratings by code, after `after` when given, at most
/// `limit`.
pub async fn ratings(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<Rating>, CreditError> {
    let rows: Vec<(String, String, Option<Decimal>)> = sqlx::query_as(
        "SELECT code, name, default_credit_limit FROM credit.ratings
         WHERE tenant_id = $1 AND ($2::text IS NULL OR code > $2) ORDER BY code LIMIT $3",
    )
    .bind(tenant_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    Ok(rows.into_iter().map(|(code, name, default_limit)| Rating { code, name, default_limit }).collect())
}

pub async fn rating(connection: &mut PgConnection, tenant_id: Uuid, code: &str) -> Result<Option<Rating>, CreditError> {
    let row: Option<(String, String, Option<Decimal>)> = sqlx::query_as(
        "SELECT code, name, default_credit_limit FROM credit.ratings WHERE tenant_id = $1 AND code = $2",
    )
    .bind(tenant_id)
    .bind(code)
    .fetch_optional(connection)
    .await?;
    Ok(row.map(|(code, name, default_limit)| Rating { code, name, default_limit }))
}

pub use crate::domain::overrides::OverrideRule;

pub async fn create_rule(tx: &mut PgConnection, tenant_id: Uuid, rule: &OverrideRule) -> Result<(), CreditError> {
    sqlx::query(
        "INSERT INTO credit.override_rules (tenant_id, id, event_kind, classification, credit_rating, kyc_profile)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant_id)
    .bind(rule.id)
    .bind(&rule.event_kind)
    .bind(&rule.classification)
    .bind(&rule.credit_rating)
    .bind(&rule.kyc_profile)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn rules(connection: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<OverrideRule>, CreditError> {
    rules_page(connection, tenant_id, None, i64::MAX).await
}

/// The tenant's override rules, oldest first (their ids are time-ordered),
/// after the rule `after` when given, at most `limit`.
pub async fn rules_page(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<OverrideRule>, CreditError> {
    let rows: Vec<(Uuid, String, String, String, String)> = sqlx::query_as(
        "SELECT id, event_kind, classification, credit_rating, kyc_profile FROM credit.override_rules
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
    )
    .bind(tenant_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, event_kind, classification, credit_rating, kyc_profile)| OverrideRule {
            id,
            event_kind,
            classification,
            credit_rating,
            kyc_profile,
        })
        .collect())
}

pub async fn delete_rule(tx: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<bool, CreditError> {
    let deleted = sqlx::query("DELETE FROM credit.override_rules WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(tx)
        .await?;
    Ok(deleted.rows_affected() > 0)
}
