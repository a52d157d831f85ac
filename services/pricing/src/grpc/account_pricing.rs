//! Each account's level, discount and pricelists, and its own prices.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{parse_id, parse_optional_id, required_id};
use bss_platform::money::{decimal_to_wire, percent_from_wire};
use bss_platform::paging::Page;
use bss_platform::time::{format_date, timestamp};
use bss_proto::pricing::account_pricing_service_server::AccountPricingService;
use bss_proto::pricing::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::{dated, optional_date, tiered_from_wire, tiered_to_wire, validity_from_wire};
use super::{PricingApi, READERS, WRITERS};
use crate::app::account_pricing::{PricingChange, PricingView};
use crate::domain::book;
use crate::domain::error::PricingError;

fn account_price_to_proto(price: &book::AccountPrice) -> AccountPrice {
    let (amount, breaks) = tiered_to_wire(&price.dated.price, price.currency);
    AccountPrice {
        id: price.dated.id.to_string(),
        account_id: price.account_id.to_string(),
        product_id: price.product_id.to_string(),
        price: Some(amount),
        forced: price.forced,
        breaks,
        valid_from: format_date(price.dated.from),
        valid_to: optional_date(price.dated.to),
    }
}

fn view_to_proto(view: &PricingView) -> AccountPricing {
    AccountPricing {
        account_id: view.account_id.to_string(),
        price_level_id: view.pricing.level_id.map(|id| id.to_string()).unwrap_or_default(),
        discount_percent: Some(decimal_to_wire(view.pricing.discount_percent)),
        pricelist_ids: view.pricing.pricelist_ids.iter().map(Uuid::to_string).collect(),
        has_own_pricing: view.own,
        priced_as_account_id: view.priced_as.to_string(),
        etag: view.etag(),
        update_time: view.changed_at.map(timestamp),
        rate_plan_id: view.rate_plan.map(|(id, _)| id.to_string()).unwrap_or_default(),
        rate_plan_defaulted: view.rate_plan.is_some_and(|(_, defaulted)| defaulted),
    }
}

#[tonic::async_trait]
impl AccountPricingService for PricingApi {
    async fn get_account_pricing(
        &self,
        request: Request<GetAccountPricingRequest>,
    ) -> Result<Response<GetAccountPricingResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let view = self.account_pricing(&caller, tenant_id, account_id).await?;
            Ok::<_, PricingError>(GetAccountPricingResponse { pricing: Some(view_to_proto(&view)) })
        };
        Ok(Response::new(run.await?))
    }

    async fn set_account_pricing(
        &self,
        request: Request<SetAccountPricingRequest>,
    ) -> Result<Response<SetAccountPricingResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.pricing.clone().unwrap_or_default();
            let mut v = Violations::new();
            let account_id = v.keep("pricing.account_id", required_id(&input.account_id));
            let level_id = v.keep("pricing.price_level_id", parse_optional_id(&input.price_level_id));
            let discount_percent =
                percent_from_wire(&mut v, "pricing.discount_percent", input.discount_percent.as_ref());
            let mut pricelist_ids = Vec::with_capacity(input.pricelist_ids.len());
            for (index, id) in input.pricelist_ids.iter().enumerate() {
                let field = format!("pricing.pricelist_ids[{index}]");
                if let Some(id) = v.keep(&field, required_id(id)) {
                    if pricelist_ids.contains(&id) {
                        v.add(field, "is listed twice");
                    }
                    pricelist_ids.push(id);
                }
            }
            let (Some(account_id), Some(level_id), Some(discount_percent)) = (account_id, level_id, discount_percent)
            else {
                return Err(v.into());
            };
            v.into_result()?;
            let key = RequestKey::new(tenant_id, "SetAccountPricing", &request.request_id, &request)?;
            let pricing = book::AccountPricing { level_id, discount_percent, pricelist_ids };
            let change = PricingChange { account_id, pricing, etag: input.etag.clone() };
            self.set_account_pricing(&caller, tenant_id, key, change, |view| SetAccountPricingResponse {
                pricing: Some(view_to_proto(view)),
                ..Default::default()
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn create_account_price(
        &self,
        request: Request<CreateAccountPriceRequest>,
    ) -> Result<Response<CreateAccountPriceResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.account_price.clone().unwrap_or_default();
            let mut v = Violations::new();
            let account_id = v.keep("account_price.account_id", required_id(&input.account_id));
            let product_id = v.keep("account_price.product_id", required_id(&input.product_id));
            let price = tiered_from_wire(
                &mut v,
                "account_price.price",
                input.price.as_ref(),
                "account_price.breaks",
                &input.breaks,
                None,
            );
            let validity = validity_from_wire(&mut v, "account_price", &input.valid_from, &input.valid_to);
            let (Some(account_id), Some(product_id), Some((price, currency)), Some(validity)) =
                (account_id, product_id, price, validity)
            else {
                return Err(v.into());
            };
            let new = book::AccountPrice {
                account_id,
                product_id,
                currency,
                forced: input.forced,
                dated: dated(price, validity),
            };
            let key = RequestKey::new(tenant_id, "CreateAccountPrice", &request.request_id, &request)?;
            self.create_account_price(&caller, tenant_id, key, new, |price| CreateAccountPriceResponse {
                account_price: Some(account_price_to_proto(price)),
                ..Default::default()
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_account_prices(
        &self,
        request: Request<ListAccountPricesRequest>,
    ) -> Result<Response<ListAccountPricesResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let filters = ListAccountPricesRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let prices =
                self.account_prices(&caller, tenant_id, account_id, (page.after_uuid()?, page.fetch_limit())).await?;
            let (prices, next_page_token) = page.finish(prices, |price| price.dated.id.as_bytes().to_vec());
            Ok::<_, PricingError>(ListAccountPricesResponse {
                account_prices: prices.iter().map(account_price_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn delete_account_price(
        &self,
        request: Request<DeleteAccountPriceRequest>,
    ) -> Result<Response<DeleteAccountPriceResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let key = RequestKey::new(tenant_id, "DeleteAccountPrice", &request.request_id, &request)?;
            self.delete_account_price(tenant_id, key, id, DeleteAccountPriceResponse::default()).await
        };
        Ok(Response::new(run.await?))
    }
}
