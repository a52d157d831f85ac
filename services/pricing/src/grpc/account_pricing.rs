//! Each account's level, discount and pricelists, and its own prices.

use bss_platform::auth::{Caller, authorize};
use bss_platform::error::Violations;
use bss_platform::etag;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{parse_id, parse_optional_id, required_id};
use bss_platform::money::{decimal_to_wire, percent_from_wire};
use bss_platform::paging::Page;
use bss_platform::time::{format_date, timestamp};
use bss_proto::pricing::account_pricing_service_server::AccountPricingService;
use bss_proto::pricing::*;
use sqlx::PgConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::{dated, optional_date, tiered_from_wire, tiered_to_wire, validity_from_wire};
use super::{PricingApi, READERS, WRITERS};
use crate::domain::book::{self, AccountFacts};
use crate::domain::error::PricingError;
use crate::repo;

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

impl PricingApi {
    /// The account's pricing as the API shows it, read in `connection`.
    async fn pricing_view(
        &self,
        connection: &mut PgConnection,
        tenant_id: Uuid,
        facts: &AccountFacts,
    ) -> Result<AccountPricing, PricingError> {
        let pricing = repo::account_pricing::get(connection, tenant_id, facts.id).await?;
        let changed_at = repo::account_pricing::changed_at(connection, tenant_id, facts.id).await?;
        let (prices, contracts) = repo::account_pricing::own_counts(connection, tenant_id, facts.id).await?;
        let own = book::has_own_pricing(Some(&pricing), prices, contracts);
        let priced_as = facts.parent.filter(|_| !own).unwrap_or(facts.id);
        Ok(AccountPricing {
            account_id: facts.id.to_string(),
            price_level_id: pricing.level_id.map(|id| id.to_string()).unwrap_or_default(),
            discount_percent: Some(decimal_to_wire(pricing.discount_percent)),
            pricelist_ids: pricing.pricelist_ids.iter().map(Uuid::to_string).collect(),
            has_own_pricing: own,
            priced_as_account_id: priced_as.to_string(),
            etag: etag::of_time(changed_at),
            update_time: changed_at.map(timestamp),
        })
    }

    /// The account named by `field`, if the caller may see it.
    async fn visible_account(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        field: &str,
        value: &str,
    ) -> Result<AccountFacts, PricingError> {
        let account_id = parse_id(field, value)?;
        Ok(self.account(caller, tenant_id, account_id).await?.1)
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
            let facts = self.visible_account(&caller, tenant_id, "account_id", &request.account_id).await?;
            let mut connection = self.db.acquire().await?;
            let pricing = self.pricing_view(&mut connection, tenant_id, &facts).await?;
            Ok::<_, PricingError>(GetAccountPricingResponse { pricing: Some(pricing) })
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
            let facts = self.account(&caller, tenant_id, account_id).await?.1;
            let key = RequestKey::new(tenant_id, "SetAccountPricing", &request.request_id, &request)?;
            self.write(tenant_id, key, async |tx| {
                let current = etag::of_time(repo::account_pricing::changed_at(tx, tenant_id, account_id).await?);
                etag::check(&format!("the pricing of account {account_id}"), &input.etag, &current)?;
                let pricing = book::AccountPricing { level_id, discount_percent, pricelist_ids };
                repo::account_pricing::set(tx, tenant_id, account_id, &pricing).await?;
                let response =
                    SetAccountPricingResponse { pricing: Some(self.pricing_view(tx, tenant_id, &facts).await?) };
                Ok(response)
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
            self.account(&caller, tenant_id, account_id).await?;
            let new = book::AccountPrice {
                account_id,
                product_id,
                currency,
                forced: input.forced,
                dated: dated(price, validity),
            };
            let key = RequestKey::new(tenant_id, "CreateAccountPrice", &request.request_id, &request)?;
            self.write(tenant_id, key, async |tx| {
                repo::account_pricing::insert_price(tx, tenant_id, &new).await?;
                let response = CreateAccountPriceResponse { account_price: Some(account_price_to_proto(&new)) };
                Ok(response)
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
            let facts = self.visible_account(&caller, tenant_id, "account_id", &request.account_id).await?;
            let filters = ListAccountPricesRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let mut connection = self.db.acquire().await?;
            let prices = repo::account_pricing::prices_page(
                &mut connection,
                tenant_id,
                facts.id,
                page.after_uuid()?,
                page.fetch_limit(),
            )
            .await?;
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
            self.write(tenant_id, key, async |tx| {
                if !repo::account_pricing::delete_price(tx, tenant_id, id).await? {
                    return Err(PricingError::not_found("account price", id));
                }
                let response = DeleteAccountPriceResponse {};
                Ok(response)
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}
