use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bss_platform::tenancy::{Standing, TenantDirectory};
use futures::future::BoxFuture;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::corrupt;
use crate::domain::error::AccountsError;
use crate::domain::residential::{InUse, ResidentialFeatures};
use crate::domain::tenant::{CurrencySettings, NameUniquenessScope, NewTenant, Tenant};
use bss_platform::payment::PaymentType;

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: Uuid,
    name: String,
    default_currency: String,
    parent_tenant_id: Option<Uuid>,
    name_uniqueness_scope: String,
    created_at: DateTime<Utc>,
    status: String,
    suspend_reason: String,
    guest_account_id: Option<Uuid>,
    guest_regions: Json<BTreeMap<String, Uuid>>,
    registration_profiles: Json<BTreeMap<String, Uuid>>,
    residential_features: Option<Json<StoredFeatures>>,
    multi_currency: bool,
    currency_by_country: Json<BTreeMap<String, String>>,
    time_zone: String,
}

/// A residential feature set as stored: payment types by code.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredFeatures {
    sub_accounts: bool,
    groups: bool,
    contracts: bool,
    payment_types: Vec<String>,
}

impl StoredFeatures {
    fn of(features: &ResidentialFeatures) -> StoredFeatures {
        StoredFeatures {
            sub_accounts: features.sub_accounts,
            groups: features.groups,
            contracts: features.contracts,
            payment_types: features.payment_types.iter().map(|kind| kind.code().to_owned()).collect(),
        }
    }

    fn features(self) -> Result<ResidentialFeatures, AccountsError> {
        let payment_types = self
            .payment_types
            .iter()
            .map(|code| PaymentType::from_code(code).map_err(|_| corrupt("residential payment type", code)))
            .collect::<Result<_, _>>()?;
        Ok(ResidentialFeatures {
            sub_accounts: self.sub_accounts,
            groups: self.groups,
            contracts: self.contracts,
            payment_types,
        })
    }
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
            suspend_reason: (row.status == "SUSPENDED").then_some(row.suspend_reason),
            guest_account_id: row.guest_account_id,
            guest_regions: row.guest_regions.0,
            registration_profiles: row.registration_profiles.0,
            currencies: CurrencySettings { multi_currency: row.multi_currency, by_country: row.currency_by_country.0 },
            residential: row.residential_features.map(|stored| stored.0.features()).transpose()?.unwrap_or_default(),
            time_zone: row.time_zone,
        })
    }
}

macro_rules! columns {
    () => {
        "id, name, default_currency, parent_tenant_id, name_uniqueness_scope, created_at, status, suspend_reason,
         guest_account_id, guest_regions, registration_profiles, residential_features,
         multi_currency, currency_by_country, time_zone"
    };
}

pub async fn insert(connection: &mut PgConnection, tenant: &NewTenant) -> Result<Tenant, AccountsError> {
    let row: TenantRow = sqlx::query_as(concat!(
        "INSERT INTO accounts.tenants (id, name, default_currency, parent_tenant_id, name_uniqueness_scope,
             multi_currency, currency_by_country, time_zone)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
        columns!()
    ))
    .bind(Uuid::now_v7())
    .bind(&tenant.name)
    .bind(&tenant.default_currency)
    .bind(tenant.parent_tenant_id)
    .bind(tenant.name_uniqueness_scope.as_str())
    .bind(tenant.currencies.multi_currency)
    .bind(Json(&tenant.currencies.by_country))
    .bind(&tenant.time_zone)
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

/// Suspends (`Some(reason)`) or reactivates a tenant; `None` when it was
/// in that standing already (or does not exist).
pub async fn set_suspended(
    connection: &mut PgConnection,
    id: Uuid,
    reason: Option<&str>,
) -> Result<Option<Tenant>, AccountsError> {
    let (status, was) = if reason.is_some() { ("SUSPENDED", "ACTIVE") } else { ("ACTIVE", "SUSPENDED") };
    let row: Option<TenantRow> = sqlx::query_as(concat!(
        "UPDATE accounts.tenants SET status = $2, suspend_reason = $3 WHERE id = $1 AND status = $4 RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(status)
    .bind(reason.unwrap_or_default())
    .bind(was)
    .fetch_optional(connection)
    .await?;
    row.map(Tenant::try_from).transpose()
}

/// Names the tenant's guest account, or `region`'s (`None` clears it);
/// `None` when there is no such tenant.
pub async fn set_guest_account(
    connection: &mut PgConnection,
    id: Uuid,
    region: Option<&str>,
    account: Option<Uuid>,
) -> Result<Option<Tenant>, AccountsError> {
    let query = match region {
        None => concat!(
            "UPDATE accounts.tenants SET guest_account_id = $2 WHERE id = $1 AND $3::text IS NULL RETURNING ",
            columns!()
        ),
        Some(_) => concat!(
            "UPDATE accounts.tenants SET guest_regions = CASE WHEN $2::uuid IS NULL THEN guest_regions - $3
                 ELSE guest_regions || jsonb_build_object($3::text, $2::uuid) END
             WHERE id = $1 RETURNING ",
            columns!()
        ),
    };
    let row: Option<TenantRow> =
        sqlx::query_as(query).bind(id).bind(account).bind(region).fetch_optional(connection).await?;
    row.map(Tenant::try_from).transpose()
}

/// Names the account registration profile `profile` assigns new users to
/// (`None` removes the profile); `None` when there is no such tenant.
pub async fn set_registration_profile(
    connection: &mut PgConnection,
    id: Uuid,
    profile: &str,
    account: Option<Uuid>,
) -> Result<Option<Tenant>, AccountsError> {
    let row: Option<TenantRow> = sqlx::query_as(concat!(
        "UPDATE accounts.tenants SET registration_profiles = CASE WHEN $2::uuid IS NULL
             THEN registration_profiles - $3 ELSE registration_profiles || jsonb_build_object($3::text, $2::uuid) END
         WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(account)
    .bind(profile)
    .fetch_optional(connection)
    .await?;
    row.map(Tenant::try_from).transpose()
}

/// Sets what the tenant's residential accounts may have; `None` when
/// there is no such tenant.
pub async fn set_residential_features(
    connection: &mut PgConnection,
    id: Uuid,
    features: &ResidentialFeatures,
) -> Result<Option<Tenant>, AccountsError> {
    let row: Option<TenantRow> = sqlx::query_as(concat!(
        "UPDATE accounts.tenants SET residential_features = $2 WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(Json(StoredFeatures::of(features)))
    .fetch_optional(connection)
    .await?;
    row.map(Tenant::try_from).transpose()
}

/// Sets the tenant's currency settings; `None` when there is no such
/// tenant.
pub async fn set_currency_settings(
    connection: &mut PgConnection,
    id: Uuid,
    settings: &CurrencySettings,
) -> Result<Option<Tenant>, AccountsError> {
    let row: Option<TenantRow> = sqlx::query_as(concat!(
        "UPDATE accounts.tenants SET multi_currency = $2, currency_by_country = $3 WHERE id = $1 RETURNING ",
        columns!()
    ))
    .bind(id)
    .bind(settings.multi_currency)
    .bind(Json(&settings.by_country))
    .fetch_optional(connection)
    .await?;
    row.map(Tenant::try_from).transpose()
}

pub async fn set_time_zone(
    connection: &mut PgConnection,
    id: Uuid,
    time_zone: &str,
) -> Result<Option<Tenant>, AccountsError> {
    let row: Option<TenantRow> =
        sqlx::query_as(concat!("UPDATE accounts.tenants SET time_zone = $2 WHERE id = $1 RETURNING ", columns!()))
            .bind(id)
            .bind(time_zone)
            .fetch_optional(connection)
            .await?;
    row.map(Tenant::try_from).transpose()
}

/// How many of the tenant's accounts are in another currency than its
/// default.
pub async fn accounts_in_other_currencies(connection: &mut PgConnection, id: Uuid) -> Result<i64, AccountsError> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM accounts.accounts a JOIN accounts.tenants t ON t.id = a.tenant_id
         WHERE a.tenant_id = $1 AND a.currency_code <> t.default_currency AND a.managed_by_account_id IS NULL",
    )
    .bind(id)
    .fetch_one(connection)
    .await?;
    Ok(count)
}

/// What the tenant's residential accounts have now: how many have a parent
/// or sub-accounts, how many are in a group, each payment type they enable.
pub async fn residential_in_use(connection: &mut PgConnection, id: Uuid) -> Result<InUse, AccountsError> {
    let (sub_accounts, groups): (i64, i64) = sqlx::query_as(
        "SELECT
             (SELECT count(*) FROM accounts.accounts a WHERE a.tenant_id = $1 AND a.profile = 'residential'
                AND (a.parent_account_id IS NOT NULL OR EXISTS (SELECT 1 FROM accounts.accounts c
                     WHERE c.tenant_id = $1 AND c.parent_account_id = a.id))),
             (SELECT count(*) FROM accounts.accounts a WHERE a.tenant_id = $1 AND a.profile = 'residential'
                AND EXISTS (SELECT 1 FROM accounts.group_members g WHERE g.tenant_id = $1
                     AND (g.member_id = a.id OR g.parent_id = a.id)))",
    )
    .bind(id)
    .fetch_one(&mut *connection)
    .await?;
    let kinds: Vec<(String, i64)> = sqlx::query_as(
        "SELECT enabled.code, count(*) FROM accounts.accounts, unnest(payment_types) AS enabled (code)
         WHERE tenant_id = $1 AND profile = 'residential' GROUP BY enabled.code ORDER BY enabled.code",
    )
    .bind(id)
    .fetch_all(connection)
    .await?;
    let payment_types = kinds
        .into_iter()
        .map(|(code, count)| Ok((PaymentType::from_code(&code).map_err(|_| corrupt("payment type", &code))?, count)))
        .collect::<Result<_, AccountsError>>()?;
    Ok(InUse { sub_accounts, groups, payment_types })
}

/// How long a replica trusts its memory of a tenant's standing (another
/// replica may have suspended it).
const STANDING_FRESH_FOR: Duration = bss_platform::tenancy::FRESH_FOR;

/// Tenants by id, kept in memory and read again when older than a few
/// seconds (another replica may have suspended one or changed its
/// settings), and so is an id that named no tenant.
#[derive(Debug, Default)]
pub struct TenantCache {
    tenants: RwLock<HashMap<Uuid, (Arc<Tenant>, Instant)>>,
    unknown: RwLock<HashMap<Uuid, Instant>>,
}

impl TenantCache {
    /// The tenant, from memory or else from the database; NOT_FOUND when it
    /// does not exist. It may be a few seconds old: see `fresh`.
    pub async fn get(&self, db: &PgPool, id: Uuid) -> Result<Arc<Tenant>, AccountsError> {
        if let Some((tenant, at)) = self.tenants.read().unwrap_or_else(PoisonError::into_inner).get(&id)
            && at.elapsed() < STANDING_FRESH_FOR
        {
            return Ok(tenant.clone());
        }
        self.fresh(db, id).await
    }

    /// The tenant read from the database now (another replica may have
    /// suspended it), remembered.
    pub async fn fresh(&self, db: &PgPool, id: Uuid) -> Result<Arc<Tenant>, AccountsError> {
        let tenant = Arc::new(get(&mut *db.acquire().await?, id).await?);
        self.remember(tenant.clone());
        Ok(tenant)
    }

    /// Remembers a tenant as it is now (created, suspended, reactivated).
    pub fn remember(&self, tenant: Arc<Tenant>) {
        self.unknown.write().unwrap_or_else(PoisonError::into_inner).remove(&tenant.id);
        self.tenants.write().unwrap_or_else(PoisonError::into_inner).insert(tenant.id, (tenant, Instant::now()));
    }

    /// The tenant's standing, read again when what is remembered is older
    /// than a few seconds.
    pub async fn standing(&self, db: &PgPool, id: Uuid) -> Result<Standing, AccountsError> {
        let remembered = self.tenants.read().unwrap_or_else(PoisonError::into_inner).get(&id).cloned();
        let tenant = match remembered {
            Some((tenant, at)) if at.elapsed() < STANDING_FRESH_FOR => tenant,
            _ => {
                let unknown_since = self.unknown.read().unwrap_or_else(PoisonError::into_inner).get(&id).copied();
                if unknown_since.is_some_and(|at| at.elapsed() < STANDING_FRESH_FOR) {
                    return Ok(Standing::Unknown);
                }
                match self.fresh(db, id).await {
                    Ok(tenant) => tenant,
                    Err(AccountsError::NotFound { .. }) => {
                        let mut unknown = self.unknown.write().unwrap_or_else(PoisonError::into_inner);
                        if unknown.len() >= 100_000 {
                            unknown.clear();
                        }
                        unknown.insert(id, Instant::now());
                        return Ok(Standing::Unknown);
                    }
                    Err(other) => return Err(other),
                }
            }
        };
        Ok(if tenant.suspend_reason.is_some() { Standing::Suspended } else { Standing::Active })
    }
}

/// The accounts service's own answer to "is this tenant active?".
#[derive(Debug)]
pub struct LocalTenants {
    pub db: PgPool,
    pub cache: Arc<TenantCache>,
}

impl TenantDirectory for LocalTenants {
    fn standing(&self, tenant_id: Uuid) -> BoxFuture<'_, Result<Standing, tonic::Status>> {
        Box::pin(async move { self.cache.standing(&self.db, tenant_id).await.map_err(tonic::Status::from) })
    }
}
