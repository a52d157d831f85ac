//! Tenants, managed by platform administrators.

use std::sync::Arc;

use bss_platform::auth::{Caller, Role, TenantScope};
use bss_platform::error::Violations;
use bss_platform::idempotency::{self, Opened, RequestKey};
use bss_platform::paging::Page;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::error::AccountsError;
use crate::domain::residential::{self, ResidentialFeatures};
use crate::domain::tenant::{CurrencySettings, NewTenant, Tenant, check_currency_settings};
use crate::repo;
use crate::repo::tenants::TenantCache;

/// What the tenant use cases work with.
pub struct Tenants {
    db: PgPool,
    tenants: Arc<TenantCache>,
}

impl Tenants {
    pub fn new(db: PgPool, tenants: Arc<TenantCache>) -> Tenants {
        Tenants { db, tenants }
    }

    /// Creates a tenant (under its parent, which must exist).
    pub async fn create<R: Message + Default>(
        &self,
        key: Option<RequestKey>,
        tenant: NewTenant,
        respond: impl FnOnce(&Tenant) -> R,
    ) -> Result<R, AccountsError> {
        idempotency::once(&self.db, key, async |tx| {
            if let Some(parent_id) = tenant.parent_tenant_id
                && repo::tenants::find(tx, parent_id).await?.is_none()
            {
                return Err(Violations::single("tenant.parent_tenant_id", "no such tenant").into());
            }
            check_time_zone(tx, "tenant.time_zone", &tenant.time_zone).await?;
            let created = repo::tenants::insert(tx, &tenant).await?;
            tracing::info!(tenant_id = %created.id, "tenant created");
            Ok(respond(&created))
        })
        .await
    }

    /// A tenant: the caller's own, or any for a platform administrator.
    pub async fn tenant(&self, caller: &Caller, id: Uuid) -> Result<Arc<Tenant>, AccountsError> {
        let may_read = match caller.tenant {
            TenantScope::One(own) => own == id,
            TenantScope::Any => true,
            TenantScope::None => false,
        } || caller.has_role(Role::PlatformAdmin);
        if !may_read {
            return Err(AccountsError::not_found("tenant", id));
        }
        // Read now: the other services ask this to learn a tenant's
        // standing, which another replica may have changed.
        self.tenants.fresh(&self.db, id).await
    }

    /// Suspends (`Some(reason)`) or reactivates a tenant. The transaction
    /// is opened here, not by `idempotency::once`: this replica's cache
    /// learns the new standing only after the commit.
    pub async fn set_standing<R: Message + Default>(
        &self,
        key: Option<RequestKey>,
        (id, reason): (Uuid, Option<&str>),
        respond: impl FnOnce(&Tenant) -> R,
    ) -> Result<R, AccountsError> {
        let (mut tx, pending) = match idempotency::open::<R>(&self.db, key).await? {
            Opened::Replayed(response) => return Ok(response),
            Opened::Fresh(tx, pending) => (tx, pending),
        };
        let Some(changed) = repo::tenants::set_suspended(&mut tx, id, reason).await? else {
            repo::tenants::get(&mut tx, id).await?;
            return Err(match reason {
                Some(_) => AccountsError::precondition("TENANT_SUSPENDED", format!("tenant {id} is suspended already")),
                None => AccountsError::precondition("TENANT_ACTIVE", format!("tenant {id} is active")),
            });
        };
        let response = respond(&changed);
        pending.commit(tx, &response).await?;
        self.tenants.remember(Arc::new(changed));
        tracing::info!(tenant_id = %id, suspended = reason.is_some(), "tenant standing changed");
        Ok(response)
    }

    /// Names the tenant's generic account for guests, or for the guests of
    /// `region` (`None` clears it): one of the tenant's accounts
    /// (NOT_FOUND otherwise).
    pub async fn set_guest_account<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (region, account): (Option<String>, Option<Uuid>),
        respond: impl FnOnce(&Tenant) -> R,
    ) -> Result<R, AccountsError> {
        self.change_tenant(tenant_id, key, account, respond, async |tx| {
            repo::tenants::set_guest_account(tx, tenant_id, region.as_deref(), account).await
        })
        .await
    }

    /// Names the account registration profile `profile` assigns newly
    /// registered users to (`None` removes it).
    pub async fn set_registration_profile<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (profile, account): (String, Option<Uuid>),
        respond: impl FnOnce(&Tenant) -> R,
    ) -> Result<R, AccountsError> {
        self.change_tenant(tenant_id, key, account, respond, async |tx| {
            repo::tenants::set_registration_profile(tx, tenant_id, &profile, account).await
        })
        .await
    }

    /// Sets what the tenant's residential accounts may have; refused
    /// (RESIDENTIAL_FEATURE_IN_USE) while they have what it takes away.
    pub async fn set_residential_features<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        features: ResidentialFeatures,
        respond: impl FnOnce(&Tenant) -> R,
    ) -> Result<R, AccountsError> {
        self.change_tenant(tenant_id, key, None, respond, async |tx| {
            let taken = features.taken_away(&repo::tenants::residential_in_use(tx, tenant_id).await?);
            if !taken.is_empty() {
                return Err(AccountsError::Residential { reason: residential::IN_USE, refused: taken });
            }
            repo::tenants::set_residential_features(tx, tenant_id, &features).await
        })
        .await
    }

    /// Sets whether the tenant is multi-currency and each country's
    /// currency; multi-currency goes off only while every account is in the
    /// default currency (MULTI_CURRENCY_IN_USE).
    pub async fn set_currency_settings<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        settings: CurrencySettings,
        respond: impl FnOnce(&Tenant) -> R,
    ) -> Result<R, AccountsError> {
        self.change_tenant(tenant_id, key, None, respond, async |tx| {
            check_currency_settings(&settings, repo::tenants::accounts_in_other_currencies(tx, tenant_id).await?)?;
            repo::tenants::set_currency_settings(tx, tenant_id, &settings).await
        })
        .await
    }

    /// Sets the tenant's time zone, known to the time zone database.
    pub async fn set_time_zone<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        time_zone: String,
        respond: impl FnOnce(&Tenant) -> R,
    ) -> Result<R, AccountsError> {
        self.change_tenant(tenant_id, key, None, respond, async |tx| {
            check_time_zone(tx, "time_zone", &time_zone).await?;
            repo::tenants::set_time_zone(tx, tenant_id, &time_zone).await
        })
        .await
    }

    /// Changes the tenant by `change` once per request, after checking
    /// that `account` (when named) is one of the tenant's; remembers the
    /// tenant as it is after.
    async fn change_tenant<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        account: Option<Uuid>,
        respond: impl FnOnce(&Tenant) -> R,
        change: impl AsyncFnOnce(&mut PgConnection) -> Result<Option<Tenant>, AccountsError>,
    ) -> Result<R, AccountsError> {
        let mut changed = None;
        let response = idempotency::once(&self.db, key, async |tx| {
            if let Some(account) = account
                && !repo::accounts::exists(tx, tenant_id, account).await?
            {
                return Err(AccountsError::not_found("account", account));
            }
            let tenant = change(tx).await?.ok_or_else(|| AccountsError::not_found("tenant", tenant_id))?;
            let response = respond(&tenant);
            changed = Some(tenant);
            Ok(response)
        })
        .await?;
        if let Some(tenant) = changed {
            self.tenants.remember(Arc::new(tenant));
        }
        Ok(response)
    }

    /// A page of the tenants (under `parent`, when given).
    pub async fn tenants(&self, parent: Option<Uuid>, page: &Page) -> Result<(Vec<Tenant>, String), AccountsError> {
        let mut connection = self.db.acquire().await?;
        let tenants = repo::tenants::list(&mut connection, parent, page.after_uuid()?, page.fetch_limit()).await?;
        Ok(page.finish(tenants, |tenant| tenant.id.as_bytes().to_vec()))
    }
}

/// INVALID_ARGUMENT on `field` unless the time zone database knows `name`.
async fn check_time_zone(tx: &mut PgConnection, field: &str, name: &str) -> Result<(), AccountsError> {
    bss_platform::db::today_in::<AccountsError>(tx, field, name).await.map(|_| ())
}
