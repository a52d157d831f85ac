use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::corrupt;
use super::primary::{self, PrimaryTable};
use sqlx::types::Json;

use crate::domain::address::{Address, AddressFields, AddressType, CountryCode, StoredValidation};
use crate::domain::error::AccountsError;

macro_rules! columns {
    () => {
        "id, account_id, address_type, lines, city, region, postal_code, country_code, contact_id, is_primary, created_at, updated_at, validation"
    };
}

#[derive(sqlx::FromRow)]
struct AddressRow {
    id: Uuid,
    account_id: Uuid,
    address_type: String,
    lines: Vec<String>,
    city: String,
    region: String,
    postal_code: String,
    country_code: String,
    contact_id: Option<Uuid>,
    is_primary: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    validation: Option<Json<StoredValidation>>,
}

impl TryFrom<AddressRow> for Address {
    type Error = AccountsError;
    fn try_from(row: AddressRow) -> Result<Address, AccountsError> {
        Ok(Address {
            id: row.id,
            account_id: row.account_id,
            fields: AddressFields {
                address_type: AddressType::from_stored(&row.address_type)
                    .ok_or_else(|| corrupt("address type", &row.address_type))?,
                lines: row.lines,
                city: row.city,
                region: row.region,
                postal_code: row.postal_code,
                country_code: CountryCode::parse(&row.country_code)
                    .map_err(|_| corrupt("country code", &row.country_code))?,
                contact_id: row.contact_id,
                is_primary: row.is_primary,
            },
            validation: row.validation.map(|validation| validation.0),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Adds an address; it becomes primary when asked to or when it is the
/// account's first. The caller holds the account's row lock.
pub async fn insert(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    fields: &AddressFields,
    validation: &StoredValidation,
) -> Result<Address, AccountsError> {
    let is_primary = primary::for_new_row(connection, PrimaryTable::Addresses, account_id, fields.is_primary).await?;
    let row: AddressRow = sqlx::query_as(concat!(
        "INSERT INTO accounts.addresses (id, tenant_id, account_id, address_type, lines, city, region, postal_code,
            country_code, contact_id, is_primary, validation)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ",
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(account_id)
    .bind(fields.address_type.as_str())
    .bind(&fields.lines)
    .bind(&fields.city)
    .bind(&fields.region)
    .bind(&fields.postal_code)
    .bind(fields.country_code.as_str())
    .bind(fields.contact_id)
    .bind(is_primary)
    .bind(Json(validation))
    .fetch_one(connection)
    .await?;
    row.try_into()
}

/// The address, or NOT_FOUND.
pub async fn get(connection: &mut PgConnection, tenant_id: Uuid, id: Uuid) -> Result<Address, AccountsError> {
    let row: Option<AddressRow> =
        sqlx::query_as(concat!("SELECT ", columns!(), " FROM accounts.addresses WHERE tenant_id = $1 AND id = $2"))
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(connection)
            .await?;
    row.ok_or_else(|| AccountsError::not_found("address", id))?.try_into()
}

/// Writes `fields` over the address. Making it primary demotes the previous
/// primary address; un-making the primary address is refused.
pub async fn update(
    connection: &mut PgConnection,
    address: &Address,
    fields: &AddressFields,
    validation: Option<&StoredValidation>,
) -> Result<Address, AccountsError> {
    primary::apply_change(
        connection,
        PrimaryTable::Addresses,
        address.account_id,
        address.fields.is_primary,
        fields.is_primary,
    )
    .await?;
    let row: AddressRow = sqlx::query_as(concat!(
        "UPDATE accounts.addresses SET address_type = $2, lines = $3, city = $4, region = $5, postal_code = $6,
            country_code = $7, contact_id = $8, is_primary = $9, validation = $10, updated_at = now()
         WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(address.id)
    .bind(fields.address_type.as_str())
    .bind(&fields.lines)
    .bind(&fields.city)
    .bind(&fields.region)
    .bind(&fields.postal_code)
    .bind(fields.country_code.as_str())
    .bind(fields.contact_id)
    .bind(fields.is_primary)
    .bind(validation.map(Json))
    .fetch_one(connection)
    .await?;
    row.try_into()
}

/// Deletes the address; when it was primary, the oldest remaining address
/// becomes primary.
pub async fn delete(connection: &mut PgConnection, address: &Address) -> Result<(), AccountsError> {
    sqlx::query("DELETE FROM accounts.addresses WHERE id = $1").bind(address.id).execute(&mut *connection).await?;
    if address.fields.is_primary {
        primary::promote_oldest(connection, PrimaryTable::Addresses, address.account_id).await?;
    }
    Ok(())
}

pub async fn list(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Address>, AccountsError> {
    let rows: Vec<AddressRow> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM accounts.addresses
         WHERE tenant_id = $1 AND account_id = $2 AND ($3::uuid IS NULL OR id > $3)
         ORDER BY id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(account_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(Address::try_from).collect()
}
