//! Pricelists (and rate plans) with dated items.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{required_id, required_text};
use bss_platform::money::Currency;
use bss_platform::paging::Page;
use bss_platform::time::format_date;
use bss_proto::pricing::pricelist_service_server::PricelistService;
use bss_proto::pricing::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::{dated, optional_date, tiered_from_wire, tiered_to_wire, validity_from_wire};
use super::{PricingApi, READERS, WRITERS};
use crate::domain::book::Dated;
use crate::domain::catalog::{PricelistKind, PricelistRecord, first_overlap};
use crate::domain::error::PricingError;

fn kind_from_wire(value: i32) -> Result<PricelistKind, String> {
    match bss_proto::pricing::PricelistKind::try_from(value) {
        Ok(bss_proto::pricing::PricelistKind::Unspecified | bss_proto::pricing::PricelistKind::Pricelist) => {
            Ok(PricelistKind::Pricelist)
        }
        Ok(bss_proto::pricing::PricelistKind::RatePlan) => Ok(PricelistKind::RatePlan),
        Err(_) => Err(format!("unknown kind {value}")),
    }
}

fn kind_to_wire(kind: PricelistKind) -> bss_proto::pricing::PricelistKind {
    match kind {
        PricelistKind::Pricelist => bss_proto::pricing::PricelistKind::Pricelist,
        PricelistKind::RatePlan => bss_proto::pricing::PricelistKind::RatePlan,
    }
}

fn item_to_proto(product_id: Uuid, item: &Dated, currency: Currency) -> PricelistItem {
    let (price, breaks) = tiered_to_wire(&item.price, currency);
    PricelistItem {
        id: item.id.to_string(),
        product_id: product_id.to_string(),
        price: Some(price),
        breaks,
        valid_from: format_date(item.from),
        valid_to: optional_date(item.to),
    }
}

fn pricelist_to_proto(record: &PricelistRecord) -> Pricelist {
    Pricelist {
        id: record.id.to_string(),
        name: record.name.clone(),
        currency_code: record.currency.code.to_owned(),
        kind: kind_to_wire(record.kind).into(),
        master: record.master,
        default_rate_plan: record.default_rate_plan,
        items: record
            .items
            .iter()
            .map(|(product_id, item)| item_to_proto(*product_id, item, record.currency))
            .collect(),
    }
}

/// An item in the pricelist's currency: (product, dated price).
fn item_from_wire(
    v: &mut Violations,
    prefix: &str,
    input: &PricelistItem,
    currency: Currency,
) -> Option<(Uuid, Dated)> {
    let product_id = v.keep(&format!("{prefix}.product_id"), required_id(&input.product_id));
    let price = tiered_from_wire(
        v,
        &format!("{prefix}.price"),
        input.price.as_ref(),
        &format!("{prefix}.breaks"),
        &input.breaks,
        Some(currency),
    );
    let validity = validity_from_wire(v, prefix, &input.valid_from, &input.valid_to);
    Some((product_id?, dated(price?.0, validity?)))
}

#[tonic::async_trait]
impl PricelistService for PricingApi {
    async fn create_pricelist(
        &self,
        request: Request<CreatePricelistRequest>,
    ) -> Result<Response<CreatePricelistResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.pricelist.clone().unwrap_or_default();
            let mut v = Violations::new();
            let name = v.keep("pricelist.name", required_text(&input.name, 200));
            let currency = v.keep("pricelist.currency_code", Currency::parse(&input.currency_code));
            let kind = v.keep("pricelist.kind", kind_from_wire(input.kind));
            let items: Vec<Option<(Uuid, Dated)>> = match currency {
                Some(currency) => input
                    .items
                    .iter()
                    .enumerate()
                    .map(|(index, item)| item_from_wire(&mut v, &format!("pricelist.items[{index}]"), item, currency))
                    .collect(),
                None => Vec::new(),
            };
            let (Some(name), Some(currency), Some(kind), Some(items)) =
                (name, currency, kind, items.into_iter().collect::<Option<Vec<_>>>())
            else {
                return Err(v.into());
            };
            if let Some((earlier, later)) = first_overlap(&items) {
                return Err(Violations::single(
                    format!("pricelist.items[{later}].valid_from"),
                    format!("overlaps items[{earlier}], an item of the same product"),
                )
                .into());
            }
            let record = PricelistRecord {
                id: Uuid::now_v7(),
                name,
                currency,
                kind,
                master: false,
                default_rate_plan: false,
                items,
            };
            let key = RequestKey::new(tenant_id, "CreatePricelist", &request.request_id, &request)?;
            self.create_pricelist(tenant_id, key, record, |stored| CreatePricelistResponse {
                pricelist: Some(pricelist_to_proto(stored)),
                ..Default::default()
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_pricelist(
        &self,
        request: Request<GetPricelistRequest>,
    ) -> Result<Response<GetPricelistResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let id = bss_platform::input::parse_id("id", &request.id)?;
            let record = self.pricelist(tenant_id, id).await?;
            Ok::<_, PricingError>(GetPricelistResponse { pricelist: Some(pricelist_to_proto(&record)) })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_pricelists(
        &self,
        request: Request<ListPricelistsRequest>,
    ) -> Result<Response<ListPricelistsResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let page = Page::parse(request.page_size, &request.page_token, &ListPricelistsRequest::default())?;
            let (pricelists, next_page_token) = self.pricelists(tenant_id, &page).await?;
            Ok::<_, PricingError>(ListPricelistsResponse {
                pricelists: pricelists.iter().map(pricelist_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn add_pricelist_item(
        &self,
        request: Request<AddPricelistItemRequest>,
    ) -> Result<Response<AddPricelistItemResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let pricelist_id = bss_platform::input::parse_id("pricelist_id", &request.pricelist_id)?;
            let key = RequestKey::new(tenant_id, "AddPricelistItem", &request.request_id, &request)?;
            let input = request.item.clone().unwrap_or_default();
            let item = |currency| {
                let mut v = Violations::new();
                item_from_wire(&mut v, "item", &input, currency).ok_or_else(|| v.into())
            };
            self.add_pricelist_item(tenant_id, key, pricelist_id, item, |product_id, item, currency| {
                AddPricelistItemResponse { item: Some(item_to_proto(product_id, item, currency)), ..Default::default() }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn delete_pricelist_item(
        &self,
        request: Request<DeletePricelistItemRequest>,
    ) -> Result<Response<DeletePricelistItemResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let id = bss_platform::input::parse_id("id", &request.id)?;
            let key = RequestKey::new(tenant_id, "DeletePricelistItem", &request.request_id, &request)?;
            self.delete_pricelist_item(tenant_id, key, id, DeletePricelistItemResponse::default()).await
        };
        Ok(Response::new(run.await?))
    }

    async fn set_master_rate_plan(
        &self,
        request: Request<SetMasterRatePlanRequest>,
    ) -> Result<Response<SetMasterRatePlanResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let id = match request.pricelist_id.as_str() {
                "" => None,
                id => Some(bss_platform::input::parse_id("pricelist_id", id)?),
            };
            let key = RequestKey::new(tenant_id, "SetMasterRatePlan", &request.request_id, &request)?;
            self.set_master_rate_plan(tenant_id, key, id, |marked| SetMasterRatePlanResponse {
                pricelist: marked.map(pricelist_to_proto),
                ..Default::default()
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}
