use sqlx::PgConnection;
use uuid::Uuid;

use super::corrupt;
use crate::domain::custom_fields::{Definition, FieldType};
use crate::domain::error::AccountsError;
use bss_platform::error::violated_constraint;

#[derive(sqlx::FromRow)]
struct DefinitionRow {
    key: String,
    label: String,
    field_type: String,
    choices: Vec<String>,
}

pub async fn insert(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    definition: &Definition,
) -> Result<(), AccountsError> {
    sqlx::query(
        "INSERT INTO accounts.custom_field_definitions (tenant_id, key, label, field_type, choices) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant_id)
    .bind(&definition.key)
    .bind(&definition.label)
    .bind(definition.field_type.as_str())
    .bind(&definition.choices)
    .execute(connection)
    .await
    .map_err(|error| match violated_constraint(&error) {
        Some("custom_field_definitions_pkey") => AccountsError::CustomFieldExists,
        _ => error.into(),
    })?;
    Ok(())
}

pub async fn list(connection: &mut PgConnection, tenant_id: Uuid) -> Result<Vec<Definition>, AccountsError> {
    page(connection, tenant_id, None, i64::MAX).await
}

/// The tenant's definitions by key, after `after` when given, at most
/// `limit`.
pub async fn page(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<Definition>, AccountsError> {
    let rows: Vec<DefinitionRow> = sqlx::query_as(
        "SELECT key, label, field_type, choices FROM accounts.custom_field_definitions
         WHERE tenant_id = $1 AND ($2::text IS NULL OR key > $2) ORDER BY key LIMIT $3",
    )
    .bind(tenant_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|row| {
            let field_type =
                FieldType::from_stored(&row.field_type).ok_or_else(|| corrupt("custom field type", &row.field_type))?;
            Ok(Definition { key: row.key, label: row.label, field_type, choices: row.choices })
        })
        .collect()
}

/// Deletes a definition; `false` when there was none.
pub async fn delete(connection: &mut PgConnection, tenant_id: Uuid, key: &str) -> Result<bool, AccountsError> {
    let deleted = sqlx::query("DELETE FROM accounts.custom_field_definitions WHERE tenant_id = $1 AND key = $2")
        .bind(tenant_id)
        .bind(key)
        .execute(connection)
        .await?
        .rows_affected();
    Ok(deleted == 1)
}

/// Whether an account of the tenant has a value for `key`.
pub async fn in_use(connection: &mut PgConnection, tenant_id: Uuid, key: &str) -> Result<bool, AccountsError> {
    let used: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM accounts.accounts WHERE tenant_id = $1 AND custom_fields ? $2)",
    )
    .bind(tenant_id)
    .bind(key)
    .fetch_one(connection)
    .await?;
    Ok(used)
}
