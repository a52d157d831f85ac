//! The tenant's billing settings.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;
use uuid::Uuid;

use super::corrupt;
use crate::domain::error::BillingError;
use crate::domain::settings::BankDetails;

/// The settings as stored: `None` until first set.
pub struct StoredSettings {
    pub bank_details: BankDetails,
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

/// The tenant's settings, if it set any; `lock` holds them until the
/// transaction ends.
pub async fn get(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    lock: bool,
) -> Result<Option<StoredSettings>, BillingError> {
    let row = if lock {
        sqlx::query!(
            r#"SELECT bank_details AS "bank_details: Json<serde_json::Value>", version, updated_at
               FROM billing.settings WHERE tenant_id = $1 FOR UPDATE"#,
            tenant_id,
        )
        .fetch_optional(connection)
        .await?
        .map(|row| (row.bank_details, row.version, row.updated_at))
    } else {
        sqlx::query!(
            r#"SELECT bank_details AS "bank_details: Json<serde_json::Value>", version, updated_at
               FROM billing.settings WHERE tenant_id = $1"#,
            tenant_id,
        )
        .fetch_optional(connection)
        .await?
        .map(|row| (row.bank_details, row.version, row.updated_at))
    };
    row.map(|(Json(details), version, updated_at)| {
        let bank_details = if details == serde_json::json!({}) {
            BankDetails::default()
        } else {
            serde_json::from_value(details).map_err(|error| corrupt("bank details", &error.to_string()))?
        };
        Ok(StoredSettings { bank_details, version, updated_at })
    })
    .transpose()
}

/// Stores the settings, one version on from what was there.
pub async fn save(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    bank_details: &BankDetails,
) -> Result<StoredSettings, BillingError> {
    let value = serde_json::to_value(bank_details).map_err(|error| corrupt("bank details", &error.to_string()))?;
    let row = sqlx::query!(
        "INSERT INTO billing.settings (tenant_id, bank_details) VALUES ($1, $2)
         ON CONFLICT (tenant_id) DO UPDATE SET bank_details = $2, version = billing.settings.version + 1,
             updated_at = now()
         RETURNING version, updated_at",
        tenant_id,
        value,
    )
    .fetch_one(tx)
    .await?;
    Ok(StoredSettings { bank_details: bank_details.clone(), version: row.version, updated_at: row.updated_at })
}
