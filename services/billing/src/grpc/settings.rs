//! BillingSettingsService: converts the wire to billing's settings and
//! back; the use cases are in `app::settings`.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::fieldmask::writable_paths;
use bss_platform::idempotency::RequestKey;
use bss_platform::time::timestamp;
use bss_proto::billing::billing_settings_service_server::BillingSettingsService;
use bss_proto::billing::*;
use tonic::{Request, Response, Status};

use super::{BillingApi, READERS, WRITERS};
use crate::app::settings::Settings;
use crate::domain::error::BillingError;
use crate::domain::settings::BankDetails;
use crate::wire;

fn settings_to_wire(settings: &Settings) -> BillingSettings {
    BillingSettings {
        bank_details: Some(wire::bank_details(&settings.bank_details)),
        etag: settings.etag.clone(),
        update_time: settings.updated_at.map(timestamp),
    }
}

/// The bank details a request gives, checked, each bad field named.
fn checked(given: &bss_proto::billing::BankDetails) -> Result<BankDetails, BillingError> {
    BankDetails::parse(wire::bank_details_from_wire(given)).map_err(|problems| {
        let mut v = Violations::new();
        for (field, problem) in problems {
            v.add(format!("settings.bank_details.{field}"), problem);
        }
        v.into()
    })
}

#[tonic::async_trait]
impl BillingSettingsService for BillingApi {
    async fn get_billing_settings(
        &self,
        request: Request<GetBillingSettingsRequest>,
    ) -> Result<Response<GetBillingSettingsResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let settings = self.billing_settings(tenant_id).await?;
        Ok(Response::new(GetBillingSettingsResponse { settings: Some(settings_to_wire(&settings)) }))
    }

    async fn update_billing_settings(
        &self,
        request: Request<UpdateBillingSettingsRequest>,
    ) -> Result<Response<UpdateBillingSettingsResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.settings.clone().unwrap_or_default();
            let paths = writable_paths(request.update_mask.as_ref(), &["bank_details"])?;
            let key = RequestKey::new(tenant_id, "UpdateBillingSettings", &request.request_id, &request)?;
            let given = input.bank_details.clone().unwrap_or_default();
            let change = |current: &BankDetails| {
                if paths.contains(&"bank_details") { checked(&given) } else { Ok(current.clone()) }
            };
            self.update_billing_settings(tenant_id, key, &input.etag, change, |settings| {
                UpdateBillingSettingsResponse { settings: Some(settings_to_wire(settings)) }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}
