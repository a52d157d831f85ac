//! LocationService: converts the wire to billing's locations and stock
//! and back; the use cases are in `app::locations`.

use bss_platform::auth::{Role, authorize};
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{code, parse_id, required_id, required_text};
use bss_platform::money::{decimal_from_wire, decimal_to_wire, money_from_wire};
use bss_platform::paging::Page;
use bss_platform::time::{now, timestamp};
use bss_proto::billing::location_service_server::LocationService;
use bss_proto::billing::*;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{BillingApi, WRITERS};
use crate::domain::error::BillingError;
use crate::domain::location;
use crate::repo::locations::StockRow;
use crate::wire;

/// Roles that may read locations and stock: billing's readers, a sales rep
/// and a customer's own user (its account's locations only).
const STOCK_READERS: &[Role] = &[
    Role::TenantAdmin,
    Role::BillingClerk,
    Role::CreditManager,
    Role::AccountManager,
    Role::Integration,
    Role::SalesRep,
    Role::CustomerUser,
];

/// Longest location code and name.
const MAX_CODE: usize = 64;
const MAX_NAME: usize = 200;

fn stock_level(row: &StockRow) -> StockLevel {
    StockLevel {
        location_id: row.location_id.to_string(),
        product_id: row.product_id.clone(),
        product_code: row.product_code.clone(),
        quantity: Some(decimal_to_wire(row.quantity)),
        update_time: Some(timestamp(row.updated_at)),
    }
}

fn account_locations(assigned: &[(location::Location, bool)], account_id: Uuid) -> Vec<AccountLocation> {
    assigned
        .iter()
        .map(|(location, primary)| AccountLocation {
            account_id: account_id.to_string(),
            location: Some(wire::location(location)),
            primary: *primary,
        })
        .collect()
}

/// The account and location ids of an assignment, each bad one named.
fn account_and_location(account_id: &str, location_id: &str) -> Result<(Uuid, Uuid), BillingError> {
    let mut v = Violations::new();
    let account_id = v.keep("account_id", required_id(account_id));
    let location_id = v.keep("location_id", required_id(location_id));
    match (account_id, location_id) {
        (Some(account_id), Some(location_id)) => Ok((account_id, location_id)),
        _ => Err(v.into()),
    }
}

/// The location a request defines, each bad field named.
fn new_location(input: &Location) -> Result<location::Location, BillingError> {
    let mut v = Violations::new();
    let code = v.keep("location.code", code(&input.code, MAX_CODE));
    let name = v.keep("location.name", required_text(&input.name, MAX_NAME));
    let kind = match LocationKind::try_from(input.kind) {
        Ok(LocationKind::Physical) => Some(location::LocationKind::Physical),
        Ok(LocationKind::Logical) => Some(location::LocationKind::Logical),
        _ => {
            v.add("location.kind", "is required: PHYSICAL or LOGICAL");
            None
        }
    };
    let mut surcharge = None;
    if let Some(money) = &input.surcharge
        && let Some((amount, currency)) = money_from_wire(&mut v, "location.surcharge", Some(money))
    {
        if amount <= Decimal::ZERO || currency.round(amount) != amount {
            v.add(
                "location.surcharge.amount",
                format!("must be greater than zero, in whole {} minor units", currency.code),
            );
        }
        surcharge = Some((amount, currency.code.to_owned()));
    }
    let (Some(code), Some(name), Some(kind)) = (code, name, kind) else {
        return Err(v.into());
    };
    v.into_result()?;
    Ok(location::Location { id: Uuid::now_v7(), code, name, kind, surcharge, created_at: now() })
}

#[tonic::async_trait]
impl LocationService for BillingApi {
    async fn create_location(
        &self,
        request: Request<CreateLocationRequest>,
    ) -> Result<Response<CreateLocationResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let location = new_location(request.location.as_ref().unwrap_or(&Location::default()))?;
            let key = RequestKey::new(tenant_id, "CreateLocation", &request.request_id, &request)?;
            self.create_location(tenant_id, key, location, |location| CreateLocationResponse {
                location: Some(wire::location(location)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_locations(
        &self,
        request: Request<ListLocationsRequest>,
    ) -> Result<Response<ListLocationsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, STOCK_READERS)?;
        let request = request.into_inner();
        let run = async {
            let page = Page::parse(request.page_size, &request.page_token, &ListLocationsRequest::default())?;
            let after = page.after_text()?;
            let found = self.locations(&caller, tenant_id, (after.as_deref(), page.fetch_limit())).await?;
            let (found, next_page_token) = page.finish(found, |location| location.code.as_bytes().to_vec());
            Ok::<_, BillingError>(ListLocationsResponse {
                locations: found.iter().map(wire::location).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn receive_stock(
        &self,
        request: Request<ReceiveStockRequest>,
    ) -> Result<Response<ReceiveStockResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let location_id = v.keep("location_id", required_id(&request.location_id));
            if request.product.is_empty() {
                v.add("product", "is required: a product id or code");
            }
            let quantity = decimal_from_wire(&mut v, "quantity", request.quantity.as_ref(), None);
            if quantity.is_some_and(|quantity| quantity <= Decimal::ZERO) {
                v.add("quantity", "must be greater than zero");
            }
            let (Some(location_id), Some(quantity)) = (location_id, quantity) else {
                return Err(v.into());
            };
            v.into_result()?;
            let key = RequestKey::new(tenant_id, "ReceiveStock", &request.request_id, &request)?;
            self.receive_stock(tenant_id, key, (location_id, request.product.clone(), quantity), |stock, shipped| {
                ReceiveStockResponse { stock: Some(stock_level(stock)), shipped: wire::shipped_back_orders(shipped) }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_stock(&self, request: Request<ListStockRequest>) -> Result<Response<ListStockResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, STOCK_READERS)?;
        let request = request.into_inner();
        let run = async {
            let location_id = parse_id("location_id", &request.location_id)?;
            let filters = ListStockRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let after = page.after_text()?;
            let rows = self.stock_at(&caller, tenant_id, location_id, (after.as_deref(), page.fetch_limit())).await?;
            let (rows, next_page_token) = page.finish(rows, |row| row.product_code.as_bytes().to_vec());
            Ok::<_, BillingError>(ListStockResponse { stock: rows.iter().map(stock_level).collect(), next_page_token })
        };
        Ok(Response::new(run.await?))
    }

    async fn assign_account_location(
        &self,
        request: Request<AssignAccountLocationRequest>,
    ) -> Result<Response<AssignAccountLocationResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let (account_id, location_id) = account_and_location(&request.account_id, &request.location_id)?;
            let key = RequestKey::new(tenant_id, "AssignAccountLocation", &request.request_id, &request)?;
            let change = (account_id, location_id, request.primary);
            self.assign_account_location(&caller, tenant_id, key, change, |assigned| AssignAccountLocationResponse {
                locations: account_locations(assigned, account_id),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn remove_account_location(
        &self,
        request: Request<RemoveAccountLocationRequest>,
    ) -> Result<Response<RemoveAccountLocationResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let (account_id, location_id) = account_and_location(&request.account_id, &request.location_id)?;
            let key = RequestKey::new(tenant_id, "RemoveAccountLocation", &request.request_id, &request)?;
            self.remove_account_location(&caller, tenant_id, key, (account_id, location_id), |assigned| {
                RemoveAccountLocationResponse { locations: account_locations(assigned, account_id) }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_account_locations(
        &self,
        request: Request<ListAccountLocationsRequest>,
    ) -> Result<Response<ListAccountLocationsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, STOCK_READERS)?;
        let request = request.into_inner();
        let run = async {
            let own = self.own_account(&caller).await?;
            let mut v = Violations::new();
            let account_id = super::ordering_account(&mut v, "account_id", &request.account_id, own)?;
            let Some(account_id) = account_id else {
                return Err(v.into());
            };
            let assigned = self.account_locations(&caller, tenant_id, account_id).await?;
            Ok::<_, BillingError>(ListAccountLocationsResponse { locations: account_locations(&assigned, account_id) })
        };
        Ok(Response::new(run.await?))
    }
}
