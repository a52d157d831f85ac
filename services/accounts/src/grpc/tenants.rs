//! TenantService: parsed here, run by `app::tenants`.

use bss_platform::auth::{self, Role};
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{required_id, required_text, time_zone_name};
use bss_platform::paging::Page;
use bss_proto::accounts::tenant_service_server::TenantService;
use bss_proto::accounts::{
    CreateTenantRequest, CreateTenantResponse, GetTenantRequest, GetTenantResponse, ListTenantsRequest,
    ListTenantsResponse, ReactivateTenantRequest, ReactivateTenantResponse, SetCurrencySettingsRequest,
    SetCurrencySettingsResponse, SetGuestAccountRequest, SetGuestAccountResponse, SetRegistrationProfileRequest,
    SetRegistrationProfileResponse, SetResidentialFeaturesRequest, SetResidentialFeaturesResponse, SetTimeZoneRequest,
    SetTimeZoneResponse, SuspendTenantRequest, SuspendTenantResponse,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::READERS;
use crate::app::tenants::Tenants;
use crate::domain::error::AccountsError;
use crate::wire::{currency_settings, features_from_proto, new_tenant, parse_id, tenant_to_proto};

pub use crate::app::tenants::Tenants as TenantsApi;

/// The tenant of a standing change and, to suspend, the reason.
fn standing(id: &str, reason: Option<&str>) -> Result<(Uuid, Option<String>), Violations> {
    let mut v = Violations::new();
    let id = v.keep("id", required_id(id));
    let reason = match reason {
        Some(reason) => v.keep("reason", required_text(reason, 500)).map(Some),
        None => Some(None),
    };
    match (id, reason) {
        (Some(id), Some(reason)) => Ok((id, reason)),
        _ => Err(v),
    }
}

/// An account id that may be empty (none).
fn optional_account(value: &str) -> Result<Option<Uuid>, AccountsError> {
    Ok(match value {
        "" => None,
        account => Some(parse_id("account_id", account)?),
    })
}

#[tonic::async_trait]
impl TenantService for Tenants {
    async fn create_tenant(
        &self,
        request: Request<CreateTenantRequest>,
    ) -> Result<Response<CreateTenantResponse>, Status> {
        auth::caller(&request)?.require_any(&[Role::PlatformAdmin])?;
        let request = request.into_inner();
        let run = async {
            let tenant = new_tenant(&request.tenant.clone().unwrap_or_default())?;
            // Tenants belong to no tenant: their request ids live in the nil scope.
            let key = RequestKey::new(Uuid::nil(), "CreateTenant", &request.request_id, &request)?;
            self.create(key, tenant, |created| CreateTenantResponse { tenant: Some(tenant_to_proto(created)) }).await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_tenant(&self, request: Request<GetTenantRequest>) -> Result<Response<GetTenantResponse>, Status> {
        let caller = auth::caller(&request)?;
        let mut roles = READERS.to_vec();
        roles.push(Role::PlatformAdmin);
        caller.require_any(&roles)?;
        let id = parse_id("id", &request.get_ref().id).map_err(AccountsError::from)?;
        let tenant = self.tenant(&caller, id).await?;
        Ok(Response::new(GetTenantResponse { tenant: Some(tenant_to_proto(&tenant)) }))
    }

    async fn list_tenants(
        &self,
        request: Request<ListTenantsRequest>,
    ) -> Result<Response<ListTenantsResponse>, Status> {
        auth::caller(&request)?.require_any(&[Role::PlatformAdmin])?;
        let request = request.into_inner();
        let run = async {
            let filters = ListTenantsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let parent = match request.parent_tenant_id.as_str() {
                "" => None,
                parent => Some(parse_id("parent_tenant_id", parent)?),
            };
            let (tenants, next_page_token) = self.tenants(parent, &page).await?;
            Ok::<_, AccountsError>(ListTenantsResponse {
                tenants: tenants.iter().map(tenant_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn suspend_tenant(
        &self,
        request: Request<SuspendTenantRequest>,
    ) -> Result<Response<SuspendTenantResponse>, Status> {
        auth::caller(&request)?.require_any(&[Role::PlatformAdmin])?;
        let request = request.into_inner();
        let run = async {
            let (id, reason) = standing(&request.id, Some(&request.reason))?;
            // Tenants belong to no tenant: their request ids live in the nil scope.
            let key = RequestKey::new(Uuid::nil(), "SuspendTenant", &request.request_id, &request)?;
            self.set_standing(key, (id, reason.as_deref()), |tenant| SuspendTenantResponse {
                tenant: Some(tenant_to_proto(tenant)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn set_guest_account(
        &self,
        request: Request<SetGuestAccountRequest>,
    ) -> Result<Response<SetGuestAccountResponse>, Status> {
        let (_, tenant_id) = auth::authorize(&request, &[Role::TenantAdmin])?;
        let request = request.into_inner();
        let run = async {
            let account = optional_account(&request.account_id)?;
            let region = match request.region.as_str() {
                "" => None,
                region => Some(
                    bss_platform::input::code(region, 64).map_err(|problem| Violations::single("region", problem))?,
                ),
            };
            let key = RequestKey::new(tenant_id, "SetGuestAccount", &request.request_id, &request)?;
            self.set_guest_account(tenant_id, key, (region, account), |tenant| SetGuestAccountResponse {
                tenant: Some(tenant_to_proto(tenant)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn set_registration_profile(
        &self,
        request: Request<SetRegistrationProfileRequest>,
    ) -> Result<Response<SetRegistrationProfileResponse>, Status> {
        let (_, tenant_id) = auth::authorize(&request, &[Role::TenantAdmin])?;
        let request = request.into_inner();
        let run = async {
            let account = optional_account(&request.account_id)?;
            let profile = bss_platform::input::code(&request.profile, 64)
                .map_err(|problem| Violations::single("profile", problem))?;
            let key = RequestKey::new(tenant_id, "SetRegistrationProfile", &request.request_id, &request)?;
            self.set_registration_profile(tenant_id, key, (profile, account), |tenant| SetRegistrationProfileResponse {
                tenant: Some(tenant_to_proto(tenant)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn set_residential_features(
        &self,
        request: Request<SetResidentialFeaturesRequest>,
    ) -> Result<Response<SetResidentialFeaturesResponse>, Status> {
        let (_, tenant_id) = auth::authorize(&request, &[Role::TenantAdmin])?;
        let request = request.into_inner();
        let run = async {
            let features = features_from_proto(&request.features.clone().unwrap_or_default())?;
            let key = RequestKey::new(tenant_id, "SetResidentialFeatures", &request.request_id, &request)?;
            self.set_residential_features(tenant_id, key, features, |tenant| SetResidentialFeaturesResponse {
                tenant: Some(tenant_to_proto(tenant)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn set_currency_settings(
        &self,
        request: Request<SetCurrencySettingsRequest>,
    ) -> Result<Response<SetCurrencySettingsResponse>, Status> {
        let (_, tenant_id) = auth::authorize(&request, &[Role::TenantAdmin])?;
        let request = request.into_inner();
        let run = async {
            let settings =
                currency_settings(request.multi_currency, &request.currency_by_country, "currency_by_country")?;
            let key = RequestKey::new(tenant_id, "SetCurrencySettings", &request.request_id, &request)?;
            self.set_currency_settings(tenant_id, key, settings, |tenant| SetCurrencySettingsResponse {
                tenant: Some(tenant_to_proto(tenant)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn set_time_zone(
        &self,
        request: Request<SetTimeZoneRequest>,
    ) -> Result<Response<SetTimeZoneResponse>, Status> {
        let (_, tenant_id) = auth::authorize(&request, &[Role::TenantAdmin])?;
        let request = request.into_inner();
        let run = async {
            let time_zone = match request.time_zone.trim() {
                "" => Err(Violations::single("time_zone", "required: an IANA time zone name such as Europe/Paris")),
                named => time_zone_name(named).map_err(|error| Violations::single("time_zone", error)),
            }?;
            let key = RequestKey::new(tenant_id, "SetTimeZone", &request.request_id, &request)?;
            self.set_time_zone(tenant_id, key, time_zone, |tenant| SetTimeZoneResponse {
                tenant: Some(tenant_to_proto(tenant)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn reactivate_tenant(
        &self,
        request: Request<ReactivateTenantRequest>,
    ) -> Result<Response<ReactivateTenantResponse>, Status> {
        auth::caller(&request)?.require_any(&[Role::PlatformAdmin])?;
        let request = request.into_inner();
        let run = async {
            let (id, _) = standing(&request.id, None)?;
            let key = RequestKey::new(Uuid::nil(), "ReactivateTenant", &request.request_id, &request)?;
            self.set_standing(key, (id, None), |tenant| ReactivateTenantResponse {
                tenant: Some(tenant_to_proto(tenant)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}
