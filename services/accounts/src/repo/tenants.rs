use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::corrupt;
use crate::domain::error::AccountsError;
use crate::domain::tenant::{NameUniquenessScope, NewTenant, Tenant};

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: Uuid,
    name: String,
    default_currency: String,
    parent_tenant_id: Option<Uuid>,
    name_uniqueness_scope: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = AccountsError;
    fn try_from(row: TenantRow) -> Result<Tenant, AccountsError> {
        let name_uniqueness_scope = NameUniquenessScope::from_stored(&row.name_uniqueness_scope)
            .ok_or_else(|| corrupt("name uniqueness scope", &row.name_uniqueness_scope))?;
        Ok(Tenant {
            id: row.id,
            name: row.name,
            default_currency: row.default_currency,
            parent_tenant_id: row.parent_tenant_id,
            name_uniqueness_scope,
            created_at: row.created_at,
        })
    }
}

macro_rules! columns {
    () => {
        "id, name, default_currency, parent_tenant_id, name_uniqueness_scope, created_at"
    };
}

pub async fn insert(connection: &mut PgConnection, tenant: &NewTenant) -> Result<Tenant, AccountsError> {
    let row: TenantRow = sqlx::query_as(concat!(
        "INSERT INTO accounts.tenants (id, name, default_currency, parent_tenant_id, name_uniqueness_scope)
         VALUES ($1, $2, $3, $4, $5) RETURNING ",
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(&tenant.name)
    .bind(&tenant.default_currency)
    .bind(tenant.parent_tenant_id)
    .bind(tenant.name_uniqueness_scope.as_str())
    .fetch_one(connection)
    .await?;
    row.try_into()
}

pub async fn find(connection: &mut PgConnection, id: Uuid) -> Result<Option<Tenant>, AccountsError> {
    let row: Option<TenantRow> = sqlx::query_as(concat!("SELECT ", columns!(), " FROM accounts.tenants WHERE id = $1"))
        .bind(id)
        .fetch_optional(connection)
        .await?;
    row.map(Tenant::try_from).transpose()
}

/// The tenant, or NOT_FOUND.
pub async fn get(connection: &mut PgConnection, id: Uuid) -> Result<Tenant, AccountsError> {
    find(connection, id).await?.ok_or_else(|| AccountsError::not_found("tenant", id))
}

pub async fn list(
    connection: &mut PgConnection,
    parent_tenant_id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Tenant>, AccountsError> {
    let rows: Vec<TenantRow> = sqlx::query_as(concat!(
        "SELECT ",
        columns!(),
        " FROM accounts.tenants
         WHERE ($1::uuid IS NULL OR parent_tenant_id = $1) AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3"
    ))
    .bind(parent_tenant_id)
    .bind(after)
    .bind(limit)
    .fetch_all(connection)
    .await?;
    rows.into_iter().map(Tenant::try_from).collect()
}

/// Tenants by id, kept in memory: a tenant never changes after creation, so
/// an entry never goes stale.
#[derive(Debug, Default)]
pub struct TenantCache {
    tenants: RwLock<HashMap<Uuid, Arc<Tenant>>>,
}

impl TenantCache {
    /// The tenant, from memory or else from the database; NOT_FOUND when it
    /// does not exist.
    pub async fn get(&self, db: &PgPool, id: Uuid) -> Result<Arc<Tenant>, AccountsError> {
        if let Some(tenant) = self.tenants.read().unwrap_or_else(PoisonError::into_inner).get(&id) {
            return Ok(tenant.clone());
        }
        let tenant = Arc::new(get(&mut *db.acquire().await?, id).await?);
        self.tenants.write().unwrap_or_else(PoisonError::into_inner).insert(id, tenant.clone());
        Ok(tenant)
    }
}
