//! P3: a 10-line Quote through the gateway against a cheap RPC (GetTenant)
//! through the gateway, on a tenant whose book uses every rule: price
//! levels, a pricelist, account prices (one forced, one with breaks) and a
//! contract.

use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{Account, CreateAccountRequest};
use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
use bss_proto::pricing::contract_service_client::ContractServiceClient;
use bss_proto::pricing::pricelist_service_client::PricelistServiceClient;
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::*;
use bss_proto::types::{Decimal, Money};
use bss_testkit::authorized;
use prost::Message;
use tonic::transport::Channel;

use crate::compare::{self, HalfOf, Target};
use crate::summary::Entry;
use crate::{bench_tenant, get_tenant, h2load};

const LINES: usize = 10;

fn money(amount: &str) -> Option<Money> {
    Some(Money { currency_code: "EUR".to_owned(), amount: amount.to_owned() })
}

fn decimal(value: &str) -> Option<Decimal> {
    Some(Decimal { value: value.to_owned() })
}

/// Sets up the tenant's book through the gateway; returns the account.
async fn book(gateway: &Channel, token: &str) -> String {
    let account = AccountServiceClient::new(gateway.clone())
        .create_account(authorized(
            CreateAccountRequest {
                account: Some(Account { code: "Q-1".to_owned(), name: "Quoted".to_owned(), ..Account::default() }),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account")
        .id;
    let mut catalog = CatalogServiceClient::new(gateway.clone());
    let level = catalog
        .create_price_level(authorized(
            CreatePriceLevelRequest {
                price_level: Some(PriceLevel {
                    code: "C".to_owned(),
                    currency_code: "EUR".to_owned(),
                    ..Default::default()
                }),
                request_id: String::new(),
            },
            token,
        ))
        .await
        .expect("level")
        .into_inner()
        .price_level
        .expect("level");
    let mut products = Vec::new();
    for index in 0..LINES {
        let product = Product {
            code: format!("SKU-{index}"),
            name: format!("Product {index}"),
            list_price: money(&format!("{}.00", 100 + index)),
            ..Product::default()
        };
        let product = catalog
            .create_product(authorized(
                CreateProductRequest { product: Some(product), request_id: String::new() },
                token,
            ))
            .await
            .expect("product")
            .into_inner()
            .product
            .expect("product");
        let level_price = LevelPrice {
            level_id: level.id.clone(),
            product_id: product.id.clone(),
            price: money(&format!("{}.00", 90 + index)),
            breaks: vec![QuantityBreak { min_quantity: decimal("10"), price: money(&format!("{}.50", 80 + index)) }],
        };
        catalog
            .set_level_price(authorized(
                SetLevelPriceRequest { level_price: Some(level_price), request_id: String::new() },
                token,
            ))
            .await
            .expect("level price");
        products.push(product.id);
    }
    let pricelist = Pricelist {
        name: "Promotions".to_owned(),
        currency_code: "EUR".to_owned(),
        items: products[..5]
            .iter()
            .map(|product_id| PricelistItem {
                product_id: product_id.clone(),
                price: money("85.00"),
                valid_from: "2020-01-01".to_owned(),
                ..PricelistItem::default()
            })
            .collect(),
        ..Pricelist::default()
    };
    let pricelist = PricelistServiceClient::new(gateway.clone())
        .create_pricelist(authorized(
            CreatePricelistRequest { pricelist: Some(pricelist), request_id: String::new() },
            token,
        ))
        .await
        .expect("pricelist")
        .into_inner()
        .pricelist
        .expect("pricelist");
    let mut account_pricing = AccountPricingServiceClient::new(gateway.clone());
    let pricing = AccountPricing {
        account_id: account.clone(),
        price_level_id: level.id.clone(),
        discount_percent: decimal("7.5"),
        pricelist_ids: vec![pricelist.id],
        ..AccountPricing::default()
    };
    account_pricing
        .set_account_pricing(authorized(
            SetAccountPricingRequest { pricing: Some(pricing), request_id: String::new() },
            token,
        ))
        .await
        .expect("account pricing");
    for (index, forced) in [(6, true), (7, false)] {
        let price = AccountPrice {
            account_id: account.clone(),
            product_id: products[index].clone(),
            price: money("95.00"),
            forced,
            breaks: vec![QuantityBreak { min_quantity: decimal("5"), price: money("75.00") }],
            valid_from: "2020-01-01".to_owned(),
            ..AccountPrice::default()
        };
        account_pricing
            .create_account_price(authorized(
                CreateAccountPriceRequest { account_price: Some(price), request_id: String::new() },
                token,
            ))
            .await
            .expect("account price");
    }
    let contract = Contract {
        name: "Frame".to_owned(),
        currency_code: "EUR".to_owned(),
        start_date: "2020-01-01".to_owned(),
        expiry_date: "2099-12-31".to_owned(),
        extra_discount_percent: decimal("2"),
        items: products[8..]
            .iter()
            .map(|product_id| ContractItem { product_id: product_id.clone(), price: money("70.00"), breaks: vec![] })
            .collect(),
        account_ids: vec![account.clone()],
        ..Contract::default()
    };
    ContractServiceClient::new(gateway.clone())
        .create_contract(authorized(
            CreateContractRequest { contract: Some(contract), request_id: String::new() },
            token,
        ))
        .await
        .expect("contract");
    account
}

pub async fn quote_throughput(endpoints: &bss_suite::Endpoints, database_url: &str) -> Vec<Entry> {
    let tenant = bench_tenant(endpoints).await;
    let token = bss_testkit::token(tenant, &[Role::TenantAdmin]);
    let gateway = bss_testkit::channel(endpoints.gateway).await;
    let account = book(&gateway, &token).await;
    let request = QuoteRequest {
        account_id: account.clone(),
        lines: (0..LINES)
            .map(|index| QuoteLineRequest {
                product: format!("SKU-{index}"),
                quantity: decimal(if index % 2 == 0 { "12" } else { "3" }),
                ..QuoteLineRequest::default()
            })
            .collect(),
        ..QuoteRequest::default()
    };
    let answer = QuoteServiceClient::new(gateway.clone())
        .quote(authorized(request.clone(), &token))
        .await
        .expect("the quote answers")
        .into_inner();
    let quote = Target {
        url: format!("http://{}/bss.pricing.v1.QuoteService/Quote", endpoints.gateway),
        body: h2load::frame(&request.encode_to_vec()),
        answer_size: QuoteResponse::encoded_len(&answer) as u64,
    };
    let cheap = get_tenant(endpoints.gateway, tenant, &token).await;
    let result = compare::compare(&quote, &cheap, &token, HalfOf::Measured).await;
    let stale = staleness(endpoints, database_url, &token, &account).await;
    vec![
        Entry::new(
            "P3",
            "Quote of 10 lines via the gateway (vs GetTenant via the gateway)",
            result.measured_rate,
            "calls/s",
            result.baseline_rate,
            "calls/s",
        )
        .ratio_at_least(0.5),
        Entry::new(
            "P3-p99",
            &format!("Quote p99 at {}/s, half its max (vs GetTenant at that rate)", result.half),
            result.measured_p99_us,
            "us",
            result.baseline_p99_us,
            "us",
        )
        .goal("at most 5000 us", result.measured_p99_us <= 5_000),
        Entry::new("P3-answers", "calls answered with a message", result.requests, "calls", result.requests, "calls")
            .goal("every call answered", result.all_answered),
        stale,
    ]
}

/// How many writes P3-stale times.
const WRITES: usize = 200;

/// P3-stale: how long after a pricing write returns a second pricing
/// replica (one that did not make it) prices by it when the quote names no
/// version, p99 over [`WRITES`] writes, against a raw NOTIFY reaching a
/// LISTENing connection. A quote that names the version the write returned
/// is never stale (tested); this is the bound for one that does not.
async fn staleness(endpoints: &bss_suite::Endpoints, database_url: &str, token: &str, account: &str) -> Entry {
    let (_replica, address, _) = crate::footprint::start_alone("pricing", endpoints, database_url).await;
    let mut quotes = QuoteServiceClient::new(bss_testkit::channel(address).await);
    let mut catalog = CatalogServiceClient::new(bss_testkit::channel(endpoints.pricing).await);
    let level = catalog
        .list_price_levels(authorized(ListPriceLevelsRequest::default(), token))
        .await
        .expect("levels")
        .into_inner()
        .price_levels
        .remove(0);
    let product = catalog
        .get_product(authorized(GetProductRequest { product: "SKU-0".to_owned() }, token))
        .await
        .expect("product")
        .into_inner()
        .product
        .expect("product");
    let quote = QuoteRequest {
        account_id: account.to_owned(),
        lines: vec![QuoteLineRequest { product: "SKU-0".to_owned(), quantity: decimal("1"), ..Default::default() }],
        ..QuoteRequest::default()
    };
    let mut lags = Vec::with_capacity(WRITES);
    for index in 0..WRITES {
        let level_price = LevelPrice {
            level_id: level.id.clone(),
            product_id: product.id.clone(),
            price: money(&format!("{}.00", 80 + index % 10)),
            breaks: vec![],
        };
        let written = catalog
            .set_level_price(authorized(
                SetLevelPriceRequest { level_price: Some(level_price), request_id: String::new() },
                token,
            ))
            .await
            .expect("level price")
            .into_inner()
            .book_version;
        let returned = std::time::Instant::now();
        loop {
            let answer = quotes.quote(authorized(quote.clone(), token)).await.expect("the replica quotes");
            if answer.into_inner().book_version >= written {
                break;
            }
        }
        lags.push(returned.elapsed().as_micros() as u64);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    lags.sort_unstable();
    let p99 = lags[lags.len() * 99 / 100 - 1];
    let baseline = crate::notify_latency(database_url, WRITES).await;
    let median = lags[lags.len() / 2];
    Entry::new(
        "P3-stale",
        &format!(
            "a write's return until another pricing replica prices by it (no version named), p99 (median {median} us)"
        ),
        p99,
        "us",
        baseline,
        "us (raw NOTIFY to LISTEN p99)",
    )
}
