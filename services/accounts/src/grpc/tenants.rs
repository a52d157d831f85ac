use bss_platform::auth::{self, Caller, Role, TenantScope};
use bss_platform::error::Violations;
use bss_platform::idempotency::{self, Opened, RequestKey};
use bss_platform::paging::Page;
use bss_proto::accounts::tenant_service_server::TenantService;
use bss_proto::accounts::{
    CreateTenantRequest, CreateTenantResponse, GetTenantRequest, GetTenantResponse, ListTenantsRequest,
    ListTenantsResponse, ReactivateTenantRequest, ReactivateTenantResponse, SuspendTenantRequest,
    SuspendTenantResponse,
};
use std::sync::Arc;

use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::READERS;
use super::convert::{new_tenant, parse_id, tenant_to_proto};
use crate::domain::error::AccountsError;
use crate::repo;
use crate::repo::tenants::TenantCache;

/// Tenants are managed by platform administrators.
pub struct TenantsApi {
    db: PgPool,
    tenants: Arc<TenantCache>,
}

impl TenantsApi {
    pub fn new(db: PgPool, tenants: Arc<TenantCache>) -> TenantsApi {
        TenantsApi { db, tenants }
    }

    async fn create(&self, request: CreateTenantRequest) -> Result<CreateTenantResponse, AccountsError> {
        let tenant = new_tenant(&request.tenant.clone().unwrap_or_default())?;
        // Tenants belong to no tenant: their request ids live in the nil scope.
        let key = RequestKey::new(Uuid::nil(), "CreateTenant", &request.request_id, &request)?;
        idempotency::once(&self.db, key, async |tx| {
            if let Some(parent_id) = tenant.parent_tenant_id
                && repo::tenants::find(tx, parent_id).await?.is_none()
            {
                return Err(Violations::single("tenant.parent_tenant_id", "no such tenant").into());
            }
            let created = repo::tenants::insert(tx, &tenant).await?;
            tracing::info!(tenant_id = %created.id, "tenant created");
            Ok(CreateTenantResponse { tenant: Some(tenant_to_proto(&created)) })
        })
        .await
    }

    async fn get(&self, caller: &Caller, request: GetTenantRequest) -> Result<GetTenantResponse, AccountsError> {
        let id = parse_id("id", &request.id)?;
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
        let tenant = self.tenants.fresh(&self.db, id).await?;
        Ok(GetTenantResponse { tenant: Some(tenant_to_proto(&tenant)) })
    }

    /// Suspends (`Some(reason)`) or reactivates a tenant, once per request
    /// id; the tenant as it is afterwards.
    async fn set_standing(
        &self,
        method: &str,
        id: &str,
        reason: Option<&str>,
        request_id: &str,
        request: &impl prost::Message,
    ) -> Result<bss_proto::accounts::Tenant, AccountsError> {
        let mut v = Violations::new();
        let id = v.keep("id", bss_platform::input::required_id(id));
        let reason = match reason {
            Some(reason) => v.keep("reason", bss_platform::input::required_text(reason, 500)).map(Some),
            None => Some(None),
        };
        let (Some(id), Some(reason)) = (id, reason) else {
            return Err(v.into());
        };
        // Tenants belong to no tenant: their request ids live in the nil scope.
        let key = RequestKey::new(Uuid::nil(), method, request_id, request)?;
        let (mut tx, pending) = match idempotency::open::<SuspendTenantResponse>(&self.db, key).await? {
            Opened::Replayed(response) => return Ok(response.tenant.unwrap_or_default()),
            Opened::Fresh(tx, pending) => (tx, pending),
        };
        let Some(changed) = repo::tenants::set_suspended(&mut tx, id, reason.as_deref()).await? else {
            repo::tenants::get(&mut tx, id).await?;
            return Err(match reason {
                Some(_) => AccountsError::precondition("TENANT_SUSPENDED", format!("tenant {id} is suspended already")),
                None => AccountsError::precondition("TENANT_ACTIVE", format!("tenant {id} is active")),
            });
        };
        let tenant = tenant_to_proto(&changed);
        pending.commit(tx, &SuspendTenantResponse { tenant: Some(tenant.clone()) }).await?;
        self.tenants.remember(Arc::new(changed));
        tracing::info!(tenant_id = %id, suspended = reason.is_some(), "tenant standing changed");
        Ok(tenant)
    }

    async fn list(&self, request: ListTenantsRequest) -> Result<ListTenantsResponse, AccountsError> {
        let filters = ListTenantsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
        let page = Page::parse(request.page_size, &request.page_token, &filters)?;
        let parent = if request.parent_tenant_id.is_empty() {
            None
        } else {
            Some(parse_id("parent_tenant_id", &request.parent_tenant_id)?)
        };
        let mut connection = self.db.acquire().await?;
        let tenants = repo::tenants::list(&mut connection, parent, page.after_uuid()?, page.fetch_limit()).await?;
        let (tenants, next_page_token) = page.finish(tenants, |tenant| tenant.id.as_bytes().to_vec());
        Ok(ListTenantsResponse { tenants: tenants.iter().map(tenant_to_proto).collect(), next_page_token })
    }
}

#[tonic::async_trait]
impl TenantService for TenantsApi {
    async fn create_tenant(
        &self,
        request: Request<CreateTenantRequest>,
    ) -> Result<Response<CreateTenantResponse>, Status> {
        auth::caller(&request)?.require_any(&[Role::PlatformAdmin])?;
        Ok(Response::new(self.create(request.into_inner()).await?))
    }

    async fn get_tenant(&self, request: Request<GetTenantRequest>) -> Result<Response<GetTenantResponse>, Status> {
        let caller = auth::caller(&request)?;
        let mut roles = READERS.to_vec();
        roles.push(Role::PlatformAdmin);
        caller.require_any(&roles)?;
        Ok(Response::new(self.get(&caller, request.into_inner()).await?))
    }

    async fn list_tenants(
        &self,
        request: Request<ListTenantsRequest>,
    ) -> Result<Response<ListTenantsResponse>, Status> {
        auth::caller(&request)?.require_any(&[Role::PlatformAdmin])?;
        Ok(Response::new(self.list(request.into_inner()).await?))
    }

    async fn suspend_tenant(
        &self,
        request: Request<SuspendTenantRequest>,
    ) -> Result<Response<SuspendTenantResponse>, Status> {
        auth::caller(&request)?.require_any(&[Role::PlatformAdmin])?;
        let request = request.into_inner();
        let tenant = self
            .set_standing("SuspendTenant", &request.id, Some(&request.reason), &request.request_id, &request)
            .await?;
        Ok(Response::new(SuspendTenantResponse { tenant: Some(tenant) }))
    }

    async fn reactivate_tenant(
        &self,
        request: Request<ReactivateTenantRequest>,
    ) -> Result<Response<ReactivateTenantResponse>, Status> {
        auth::caller(&request)?.require_any(&[Role::PlatformAdmin])?;
        let request = request.into_inner();
        let tenant = self.set_standing("ReactivateTenant", &request.id, None, &request.request_id, &request).await?;
        Ok(Response::new(ReactivateTenantResponse { tenant: Some(tenant) }))
    }
}
