//! AssetService: converts the wire to billing's assets and back; the use
//! cases are in `app::assets`.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{required_id, required_text};
use bss_platform::paging::Page;
use bss_proto::billing::asset_service_server::AssetService;
use bss_proto::billing::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::payments::MAX_REASON;
use super::{BillingApi, ENQUIRERS, WRITERS, ordering_account};
use crate::domain::error::BillingError;
use crate::wire;

/// Longest serial number.
const MAX_SERIAL: usize = 100;
/// Most assets one return moves.
const MAX_RETURNED: usize = 100;

fn id(field: &str, value: &str) -> Result<Uuid, BillingError> {
    required_id(value).map_err(|error| Violations::single(field, error).into())
}

#[tonic::async_trait]
impl AssetService for BillingApi {
    async fn list_assets(&self, request: Request<ListAssetsRequest>) -> Result<Response<ListAssetsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let request = request.into_inner();
        let run = async {
            let own = self.own_account(&caller).await?;
            let mut v = Violations::new();
            let Some(account_id) = ordering_account(&mut v, "account_id", &request.account_id, own)? else {
                return Err(v.into());
            };
            let filters = ListAssetsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let after = page.after_uuid()?;
            let found = self
                .assets_of(&caller, tenant_id, account_id, request.include_past, (after, page.fetch_limit()))
                .await?;
            let (found, next_page_token) = page.finish(found, |(asset, _)| asset.id.as_bytes().to_vec());
            Ok::<_, BillingError>(ListAssetsResponse {
                assets: found.iter().map(|(asset, current)| wire::asset(asset, *current, own)).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn get_asset(&self, request: Request<GetAssetRequest>) -> Result<Response<GetAssetResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let run = async {
            let asset_id = id("id", &request.get_ref().id)?;
            let (found, history, viewer) = self.asset(&caller, tenant_id, asset_id).await?;
            Ok::<_, BillingError>(GetAssetResponse {
                asset: Some(wire::asset(&found, false, viewer)),
                history: history.iter().map(|event| wire::asset_event(event, viewer)).collect(),
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn record_asset_serial(
        &self,
        request: Request<RecordAssetSerialRequest>,
    ) -> Result<Response<RecordAssetSerialResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let asset_id = v.keep("asset_id", required_id(&request.asset_id));
            let serial = v.keep("serial_number", required_text(&request.serial_number, MAX_SERIAL));
            let (Some(asset_id), Some(serial)) = (asset_id, serial) else { return Err(v.into()) };
            let key = RequestKey::new(tenant_id, "RecordAssetSerial", &request.request_id, &request)?;
            self.record_serial(&caller, tenant_id, key, (asset_id, serial), |recorded| RecordAssetSerialResponse {
                asset: Some(wire::asset(recorded, false, None)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn transfer_asset(
        &self,
        request: Request<TransferAssetRequest>,
    ) -> Result<Response<TransferAssetResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let asset_id = v.keep("asset_id", required_id(&request.asset_id));
            let to = v.keep("to_account_id", required_id(&request.to_account_id));
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let (Some(asset_id), Some(to), Some(reason)) = (asset_id, to, reason) else { return Err(v.into()) };
            let key = RequestKey::new(tenant_id, "TransferAsset", &request.request_id, &request)?;
            self.transfer_asset(&caller, tenant_id, key, (asset_id, to, reason), |moved| TransferAssetResponse {
                asset: Some(wire::asset(moved, false, None)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn return_assets(
        &self,
        request: Request<ReturnAssetsRequest>,
    ) -> Result<Response<ReturnAssetsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            if request.asset_ids.is_empty() || request.asset_ids.len() > MAX_RETURNED {
                v.add("asset_ids", format!("must name 1 to {MAX_RETURNED} assets"));
            }
            let mut ids = Vec::with_capacity(request.asset_ids.len());
            for (index, value) in request.asset_ids.iter().enumerate() {
                let field = format!("asset_ids[{index}]");
                match v.keep(&field, required_id(value)) {
                    Some(id) if ids.contains(&id) => v.add(field, "names an asset twice"),
                    Some(id) => ids.push(id),
                    None => {}
                }
            }
            let location_id = v.keep("location_id", required_id(&request.location_id));
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let (Some(location_id), Some(reason)) = (location_id, reason) else { return Err(v.into()) };
            v.into_result()?;
            let key = RequestKey::new(tenant_id, "ReturnAssets", &request.request_id, &request)?;
            self.return_assets(&caller, tenant_id, key, (ids, location_id, reason), |returned, shipped| {
                ReturnAssetsResponse {
                    assets: returned.iter().map(|asset| wire::asset(asset, false, None)).collect(),
                    shipped: wire::shipped_back_orders(shipped),
                }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn import_asset(
        &self,
        request: Request<ImportAssetRequest>,
    ) -> Result<Response<ImportAssetResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", required_id(&request.account_id));
            if request.product.is_empty() {
                v.add("product", "is required: a product id or code");
            }
            let serial = v.keep("serial_number", required_text(&request.serial_number, MAX_SERIAL));
            let (Some(account_id), Some(serial)) = (account_id, serial) else { return Err(v.into()) };
            v.into_result()?;
            let key = RequestKey::new(tenant_id, "ImportAsset", &request.request_id, &request)?;
            self.import_asset(&caller, tenant_id, key, (account_id, request.product.clone(), serial), |imported| {
                ImportAssetResponse { asset: Some(wire::asset(imported, true, None)) }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}
