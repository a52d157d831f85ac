//! The pricing context in the authorization matrix.

use bss_platform::auth::Role;
use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
use bss_proto::pricing::contract_service_client::ContractServiceClient;
use bss_proto::pricing::exchange_rate_service_client::ExchangeRateServiceClient;
use bss_proto::pricing::pricelist_service_client::PricelistServiceClient;
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::*;
use bss_proto::types::{Decimal, Money};
use bss_testkit::authorized;
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use super::{Case, OtherTenant, Outcome, case, request};

const CATALOG: &str = "bss.pricing.v1.CatalogService";
const PRICELISTS: &str = "bss.pricing.v1.PricelistService";
const ACCOUNT_PRICING: &str = "bss.pricing.v1.AccountPricingService";
const CONTRACTS: &str = "bss.pricing.v1.ContractService";
const RATES: &str = "bss.pricing.v1.ExchangeRateService";
const QUOTES: &str = "bss.pricing.v1.QuoteService";

pub fn cases() -> Vec<Case> {
    use OtherTenant::*;
    let writer = Some(Role::BillingClerk);
    let reader = None;
    let contract_reader = Some(Role::SalesRep);
    let rebate_calculator = Some(Role::AccountManager);
    vec![
        case(CATALOG, "CreateProduct", writer, NotApplicable),
        case(CATALOG, "GetProduct", reader, NotFound),
        case(CATALOG, "ListProducts", reader, SeesNothing),
        case(CATALOG, "UpdateProduct", writer, NotFound),
        case(CATALOG, "CreatePriceLevel", writer, NotApplicable),
        case(CATALOG, "ListPriceLevels", reader, SeesNothing),
        case(CATALOG, "SetLevelPrice", writer, NotFound),
        case(PRICELISTS, "CreatePricelist", writer, NotApplicable),
        case(PRICELISTS, "GetPricelist", reader, NotFound),
        case(PRICELISTS, "ListPricelists", reader, SeesNothing),
        case(PRICELISTS, "AddPricelistItem", writer, NotFound),
        case(PRICELISTS, "DeletePricelistItem", writer, NotFound),
        case(PRICELISTS, "SetMasterRatePlan", writer, NotFound),
        case(ACCOUNT_PRICING, "GetAccountPricing", reader, NotFound),
        case(ACCOUNT_PRICING, "SetAccountPricing", writer, NotFound),
        case(ACCOUNT_PRICING, "CreateAccountPrice", writer, NotFound),
        case(ACCOUNT_PRICING, "ListAccountPrices", reader, NotFound),
        case(ACCOUNT_PRICING, "DeleteAccountPrice", writer, NotFound),
        case(CONTRACTS, "CreateContract", writer, NotApplicable),
        case(CONTRACTS, "GetContract", contract_reader, NotFound),
        case(CONTRACTS, "ListContracts", contract_reader, SeesNothing),
        case(CONTRACTS, "AddContractAccount", writer, NotFound),
        case(CONTRACTS, "UpdateContract", writer, NotFound),
        case(CONTRACTS, "RemoveContractAccount", writer, NotFound),
        case(CONTRACTS, "ListContractHistory", contract_reader, NotFound),
        case(CONTRACTS, "AddRebateTerm", writer, NotFound),
        case(CONTRACTS, "ComputeRebate", rebate_calculator, NotFound),
        case(RATES, "SetExchangeRate", writer, NotApplicable),
        case(RATES, "ListExchangeRates", reader, SeesNothing),
        case(QUOTES, "Quote", reader, NotFound),
        // A sales rep sees only its own accounts: it may not quote many.
        case(QUOTES, "QuoteBatch", Some(Role::SalesRep), SeesNothing),
    ]
}

fn money(amount: &str) -> Option<Money> {
    Some(Money { currency_code: "AUD".to_owned(), amount: amount.to_owned() })
}

fn decimal(value: &str) -> Option<Decimal> {
    Some(Decimal { value: value.to_owned() })
}

/// The first tenant's pricing every case aims at.
pub struct Fixture {
    account_id: String,
    product_id: String,
    level_id: String,
    pricelist_id: String,
    item_id: String,
    account_price_id: String,
    contract_id: String,
    term_id: String,
}

impl Fixture {
    pub async fn set_up(channel: &Channel, admin: &str, account_id: &str) -> Fixture {
        let mut catalog = CatalogServiceClient::new(channel.clone());
        let product = Product {
            code: "OWNED-P".to_owned(),
            name: "Owned product".to_owned(),
            list_price: money("100.00"),
            ..Product::default()
        };
        let product_id = catalog
            .create_product(authorized(
                CreateProductRequest { product: Some(product), request_id: String::new() },
                admin,
            ))
            .await
            .expect("product")
            .into_inner()
            .product
            .expect("product")
            .id;
        let level = PriceLevel { code: "C".to_owned(), currency_code: "AUD".to_owned(), ..PriceLevel::default() };
        let level_id = catalog
            .create_price_level(authorized(
                CreatePriceLevelRequest { price_level: Some(level), request_id: String::new() },
                admin,
            ))
            .await
            .expect("level")
            .into_inner()
            .price_level
            .expect("level")
            .id;
        let pricelist = Pricelist {
            name: "Owned list".to_owned(),
            currency_code: "AUD".to_owned(),
            items: vec![PricelistItem {
                product_id: product_id.clone(),
                price: money("90.00"),
                valid_from: "2026-01-01".to_owned(),
                ..PricelistItem::default()
            }],
            ..Pricelist::default()
        };
        let pricelist = PricelistServiceClient::new(channel.clone())
            .create_pricelist(authorized(
                CreatePricelistRequest { pricelist: Some(pricelist), request_id: String::new() },
                admin,
            ))
            .await
            .expect("pricelist")
            .into_inner()
            .pricelist
            .expect("pricelist");
        let mut account_pricing = AccountPricingServiceClient::new(channel.clone());
        let pricing = AccountPricing {
            account_id: account_id.to_owned(),
            price_level_id: level_id.clone(),
            discount_percent: decimal("5"),
            pricelist_ids: vec![pricelist.id.clone()],
            ..AccountPricing::default()
        };
        account_pricing
            .set_account_pricing(authorized(
                SetAccountPricingRequest { pricing: Some(pricing), request_id: String::new() },
                admin,
            ))
            .await
            .expect("account pricing");
        let price = AccountPrice {
            account_id: account_id.to_owned(),
            product_id: product_id.clone(),
            price: money("85.00"),
            valid_from: "2026-01-01".to_owned(),
            ..AccountPrice::default()
        };
        let account_price_id = account_pricing
            .create_account_price(authorized(
                CreateAccountPriceRequest { account_price: Some(price), request_id: String::new() },
                admin,
            ))
            .await
            .expect("account price")
            .into_inner()
            .account_price
            .expect("price")
            .id;
        let mut contracts = ContractServiceClient::new(channel.clone());
        let contract = Contract {
            name: "Owned contract".to_owned(),
            currency_code: "AUD".to_owned(),
            start_date: "2026-01-01".to_owned(),
            expiry_date: "2030-12-31".to_owned(),
            items: vec![ContractItem { product_id: product_id.clone(), price: money("80.00"), breaks: vec![] }],
            account_ids: vec![account_id.to_owned()],
            ..Contract::default()
        };
        let contract_id = contracts
            .create_contract(authorized(
                CreateContractRequest { contract: Some(contract), request_id: String::new() },
                admin,
            ))
            .await
            .expect("contract")
            .into_inner()
            .contract
            .expect("contract")
            .id;
        let term = RebateTerm {
            scope: RebateScope::AllInvoicedItems as i32,
            period: RebatePeriod::Year as i32,
            mode: TierMode::Scale as i32,
            tiers: vec![RebateTier { from_amount: money("0"), rate_percent: decimal("1") }],
            ..RebateTerm::default()
        };
        let term_id = contracts
            .add_rebate_term(authorized(
                AddRebateTermRequest { contract_id: contract_id.clone(), term: Some(term), request_id: String::new() },
                admin,
            ))
            .await
            .expect("term")
            .into_inner()
            .term
            .expect("term")
            .id;
        let rate = ExchangeRate {
            from_currency: "USD".to_owned(),
            to_currency: "AUD".to_owned(),
            rate: decimal("1.5"),
            effective_date: "2026-01-01".to_owned(),
        };
        ExchangeRateServiceClient::new(channel.clone())
            .set_exchange_rate(authorized(
                SetExchangeRateRequest { exchange_rate: Some(rate), request_id: String::new() },
                admin,
            ))
            .await
            .expect("rate");
        Fixture {
            account_id: account_id.to_owned(),
            product_id,
            level_id,
            pricelist_id: pricelist.id,
            item_id: pricelist.items[0].id.clone(),
            account_price_id,
            contract_id,
            term_id,
        }
    }

    fn quote_request(&self) -> QuoteRequest {
        QuoteRequest {
            account_id: self.account_id.clone(),
            date: "2026-11-23".to_owned(),
            lines: vec![QuoteLineRequest {
                product: self.product_id.clone(),
                quantity: decimal("1"),
                ..Default::default()
            }],
            explain: true,
            ..QuoteRequest::default()
        }
    }

    /// Everything of the first tenant's pricing the matrix could touch.
    pub async fn snapshot(&self, channel: &Channel, admin: &str) -> String {
        let mut parts = Vec::new();
        let mut catalog = CatalogServiceClient::new(channel.clone());
        let product = GetProductRequest { product: self.product_id.clone() };
        parts.push(format!("{:?}", catalog.get_product(authorized(product, admin)).await.map(|r| r.into_inner())));
        let levels = catalog.list_price_levels(authorized(ListPriceLevelsRequest::default(), admin)).await;
        parts.push(format!("{:?}", levels.map(|r| r.into_inner())));
        let pricelist = GetPricelistRequest { id: self.pricelist_id.clone() };
        let pricelist = PricelistServiceClient::new(channel.clone()).get_pricelist(authorized(pricelist, admin)).await;
        parts.push(format!("{:?}", pricelist.map(|r| r.into_inner())));
        let mut account_pricing = AccountPricingServiceClient::new(channel.clone());
        let pricing = GetAccountPricingRequest { account_id: self.account_id.clone() };
        parts.push(format!(
            "{:?}",
            account_pricing.get_account_pricing(authorized(pricing, admin)).await.map(|r| r.into_inner())
        ));
        let prices = ListAccountPricesRequest { account_id: self.account_id.clone(), ..Default::default() };
        parts.push(format!(
            "{:?}",
            account_pricing.list_account_prices(authorized(prices, admin)).await.map(|r| r.into_inner())
        ));
        let contract = GetContractRequest { id: self.contract_id.clone() };
        let contract = ContractServiceClient::new(channel.clone()).get_contract(authorized(contract, admin)).await;
        parts.push(format!("{:?}", contract.map(|r| r.into_inner())));
        let rates = ExchangeRateServiceClient::new(channel.clone())
            .list_exchange_rates(authorized(ListExchangeRatesRequest::default(), admin))
            .await;
        parts.push(format!("{:?}", rates.map(|r| r.into_inner())));
        let quote = QuoteServiceClient::new(channel.clone()).quote(authorized(self.quote_request(), admin)).await;
        parts.push(format!("{:?}", quote.map(|r| r.into_inner())));
        parts.join("\n")
    }

    pub async fn invoke(&self, method: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let (service, name) = method.trim_start_matches('/').split_once('/').unwrap_or_default();
        match service {
            CATALOG => self.catalog(name, channel, token).await,
            PRICELISTS => self.pricelists(name, channel, token).await,
            ACCOUNT_PRICING => self.account_pricing(name, channel, token).await,
            CONTRACTS => self.contracts(name, channel, token).await,
            RATES => self.rates(name, channel, token).await,
            QUOTES if name == "QuoteBatch" => {
                let batch = QuoteBatchRequest { quotes: vec![self.quote_request()] };
                QuoteServiceClient::new(channel)
                    .quote_batch(request(batch, token))
                    .await
                    .map(|answer| answer.into_inner().results.iter().filter(|result| result.quote.is_some()).count())
            }
            QUOTES => QuoteServiceClient::new(channel).quote(request(self.quote_request(), token)).await.map(|_| 1),
            _ => Err(Status::unimplemented(format!("the matrix cannot call {method}"))),
        }
    }

    async fn catalog(&self, name: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let mut catalog = CatalogServiceClient::new(channel);
        match name {
            "CreateProduct" => {
                let product = Product {
                    code: format!("M-{}", Uuid::new_v4().simple()),
                    name: "Matrix".to_owned(),
                    list_price: money("1.00"),
                    ..Product::default()
                };
                let create = CreateProductRequest { product: Some(product), request_id: String::new() };
                catalog.create_product(request(create, token)).await.map(|_| 1)
            }
            "GetProduct" => {
                let get = GetProductRequest { product: self.product_id.clone() };
                catalog.get_product(request(get, token)).await.map(|_| 1)
            }
            "ListProducts" => catalog
                .list_products(request(ListProductsRequest::default(), token))
                .await
                .map(|r| r.into_inner().products.iter().filter(|product| product.id == self.product_id).count()),
            "UpdateProduct" => {
                let update = UpdateProductRequest {
                    product: Some(Product {
                        id: self.product_id.clone(),
                        name: "Hijacked".to_owned(),
                        ..Product::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths: vec!["name".to_owned()] }),
                    request_id: String::new(),
                };
                catalog.update_product(request(update, token)).await.map(|_| 1)
            }
            "CreatePriceLevel" => {
                let level = PriceLevel {
                    code: format!("M{}", &Uuid::new_v4().simple().to_string()[..8]),
                    currency_code: "AUD".to_owned(),
                    ..PriceLevel::default()
                };
                let create = CreatePriceLevelRequest { price_level: Some(level), request_id: String::new() };
                catalog.create_price_level(request(create, token)).await.map(|_| 1)
            }
            "ListPriceLevels" => catalog
                .list_price_levels(request(ListPriceLevelsRequest::default(), token))
                .await
                .map(|r| r.into_inner().price_levels.iter().filter(|level| level.id == self.level_id).count()),
            "SetLevelPrice" => {
                let level_price = LevelPrice {
                    level_id: self.level_id.clone(),
                    product_id: self.product_id.clone(),
                    price: money("1.00"),
                    breaks: vec![],
                };
                let set = SetLevelPriceRequest { level_price: Some(level_price), request_id: String::new() };
                catalog.set_level_price(request(set, token)).await.map(|_| 1)
            }
            _ => Err(Status::unimplemented(name.to_owned())),
        }
    }

    async fn pricelists(&self, name: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let mut pricelists = PricelistServiceClient::new(channel);
        let item = || PricelistItem {
            product_id: self.product_id.clone(),
            price: money("1.00"),
            valid_from: "2031-01-01".to_owned(),
            ..PricelistItem::default()
        };
        match name {
            "CreatePricelist" => {
                let pricelist = Pricelist {
                    name: format!("Matrix {}", Uuid::new_v4().simple()),
                    currency_code: "AUD".to_owned(),
                    ..Pricelist::default()
                };
                let create = CreatePricelistRequest { pricelist: Some(pricelist), request_id: String::new() };
                pricelists.create_pricelist(request(create, token)).await.map(|_| 1)
            }
            "GetPricelist" => {
                let get = GetPricelistRequest { id: self.pricelist_id.clone() };
                pricelists.get_pricelist(request(get, token)).await.map(|_| 1)
            }
            "ListPricelists" => {
                pricelists.list_pricelists(request(ListPricelistsRequest::default(), token)).await.map(|r| {
                    r.into_inner().pricelists.iter().filter(|pricelist| pricelist.id == self.pricelist_id).count()
                })
            }
            "AddPricelistItem" => {
                let add = AddPricelistItemRequest {
                    pricelist_id: self.pricelist_id.clone(),
                    item: Some(item()),
                    request_id: String::new(),
                };
                pricelists.add_pricelist_item(request(add, token)).await.map(|_| 1)
            }
            "DeletePricelistItem" => {
                let delete = DeletePricelistItemRequest { id: self.item_id.clone(), request_id: String::new() };
                pricelists.delete_pricelist_item(request(delete, token)).await.map(|_| 1)
            }
            "SetMasterRatePlan" => {
                let mark =
                    SetMasterRatePlanRequest { pricelist_id: self.pricelist_id.clone(), request_id: String::new() };
                pricelists.set_master_rate_plan(request(mark, token)).await.map(|_| 1)
            }
            _ => Err(Status::unimplemented(name.to_owned())),
        }
    }

    async fn account_pricing(&self, name: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let mut account_pricing = AccountPricingServiceClient::new(channel);
        let account_id = self.account_id.clone();
        match name {
            "GetAccountPricing" => account_pricing
                .get_account_pricing(request(GetAccountPricingRequest { account_id }, token))
                .await
                .map(|_| 1),
            "SetAccountPricing" => {
                let pricing =
                    AccountPricing { account_id, discount_percent: decimal("99"), ..AccountPricing::default() };
                let set = SetAccountPricingRequest { pricing: Some(pricing), request_id: String::new() };
                account_pricing.set_account_pricing(request(set, token)).await.map(|_| 1)
            }
            "CreateAccountPrice" => {
                let price = AccountPrice {
                    account_id,
                    product_id: self.product_id.clone(),
                    price: money("0.01"),
                    forced: true,
                    valid_from: "2031-01-01".to_owned(),
                    ..AccountPrice::default()
                };
                let create = CreateAccountPriceRequest { account_price: Some(price), request_id: String::new() };
                account_pricing.create_account_price(request(create, token)).await.map(|_| 1)
            }
            "ListAccountPrices" => account_pricing
                .list_account_prices(request(ListAccountPricesRequest { account_id, ..Default::default() }, token))
                .await
                .map(|r| r.into_inner().account_prices.len()),
            "DeleteAccountPrice" => {
                let delete = DeleteAccountPriceRequest { id: self.account_price_id.clone(), request_id: String::new() };
                account_pricing.delete_account_price(request(delete, token)).await.map(|_| 1)
            }
            _ => Err(Status::unimplemented(name.to_owned())),
        }
    }

    async fn contracts(&self, name: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let mut contracts = ContractServiceClient::new(channel);
        match name {
            "CreateContract" => {
                let contract = Contract {
                    name: "Matrix".to_owned(),
                    currency_code: "AUD".to_owned(),
                    start_date: "2026-01-01".to_owned(),
                    expiry_date: "2026-12-31".to_owned(),
                    ..Contract::default()
                };
                let create = CreateContractRequest { contract: Some(contract), request_id: String::new() };
                contracts.create_contract(request(create, token)).await.map(|_| 1)
            }
            "GetContract" => contracts
                .get_contract(request(GetContractRequest { id: self.contract_id.clone() }, token))
                .await
                .map(|_| 1),
            "ListContracts" => contracts
                .list_contracts(request(ListContractsRequest::default(), token))
                .await
                .map(|r| r.into_inner().contracts.iter().filter(|contract| contract.id == self.contract_id).count()),
            "AddContractAccount" => {
                let add = AddContractAccountRequest {
                    contract_id: self.contract_id.clone(),
                    account_id: self.account_id.clone(),
                    request_id: String::new(),
                };
                contracts.add_contract_account(request(add, token)).await.map(|_| 1)
            }
            "UpdateContract" => {
                let contract = Contract {
                    id: self.contract_id.clone(),
                    expiry_date: "2031-12-31".to_owned(),
                    ..Contract::default()
                };
                let mask = prost_types::FieldMask { paths: vec!["expiry_date".to_owned()] };
                let update = UpdateContractRequest {
                    contract: Some(contract),
                    update_mask: Some(mask),
                    reason: "hijack".to_owned(),
                    request_id: String::new(),
                };
                contracts.update_contract(request(update, token)).await.map(|_| 1)
            }
            "RemoveContractAccount" => {
                let remove = RemoveContractAccountRequest {
                    contract_id: self.contract_id.clone(),
                    account_id: self.account_id.clone(),
                    reason: "hijack".to_owned(),
                    request_id: String::new(),
                };
                contracts.remove_contract_account(request(remove, token)).await.map(|_| 1)
            }
            "ListContractHistory" => {
                let history =
                    ListContractHistoryRequest { contract_id: self.contract_id.clone(), ..Default::default() };
                contracts.list_contract_history(request(history, token)).await.map(|_| 1)
            }
            "AddRebateTerm" => {
                let term = RebateTerm {
                    scope: RebateScope::AllInvoicedItems as i32,
                    period: RebatePeriod::Month as i32,
                    mode: TierMode::Continuous as i32,
                    tiers: vec![RebateTier { from_amount: money("0"), rate_percent: decimal("50") }],
                    ..RebateTerm::default()
                };
                let add = AddRebateTermRequest {
                    contract_id: self.contract_id.clone(),
                    term: Some(term),
                    request_id: String::new(),
                };
                contracts.add_rebate_term(request(add, token)).await.map(|_| 1)
            }
            "ComputeRebate" => {
                let compute = ComputeRebateRequest {
                    account_id: self.account_id.clone(),
                    term_id: self.term_id.clone(),
                    period_date: "2026-06-01".to_owned(),
                    invoiced_amount: money("1000.00"),
                };
                contracts.compute_rebate(request(compute, token)).await.map(|_| 1)
            }
            _ => Err(Status::unimplemented(name.to_owned())),
        }
    }

    async fn rates(&self, name: &str, channel: Channel, token: Option<&str>) -> Outcome {
        let mut rates = ExchangeRateServiceClient::new(channel);
        match name {
            "SetExchangeRate" => {
                let rate = ExchangeRate {
                    from_currency: "EUR".to_owned(),
                    to_currency: "AUD".to_owned(),
                    rate: decimal("1.6"),
                    effective_date: "2026-01-01".to_owned(),
                };
                let set = SetExchangeRateRequest { exchange_rate: Some(rate), request_id: String::new() };
                rates.set_exchange_rate(request(set, token)).await.map(|_| 1)
            }
            "ListExchangeRates" => rates
                .list_exchange_rates(request(ListExchangeRatesRequest::default(), token))
                .await
                .map(|r| r.into_inner().exchange_rates.iter().filter(|rate| rate.from_currency == "USD").count()),
            _ => Err(Status::unimplemented(name.to_owned())),
        }
    }
}
