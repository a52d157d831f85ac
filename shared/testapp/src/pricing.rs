//! Shared harness of the pricing API tests: the accounts service and one or
//! more pricing replicas on a fresh database, clients, and builders.

use std::time::Duration;

use bss_pricing::PricingConfig;
use bss_proto::accounts as accounts_proto;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::group_service_client::GroupServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
use bss_proto::pricing::contract_service_client::ContractServiceClient;
use bss_proto::pricing::exchange_rate_service_client::ExchangeRateServiceClient;
use bss_proto::pricing::pricelist_service_client::PricelistServiceClient;
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::*;
use bss_proto::types::{Decimal, Money};
use bss_testkit::authorized;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::kit::{Kit, listener};

#[allow(unused_imports)]
pub use bss_testkit::{reason, violated_fields};

/// The clients of one pricing replica.
#[derive(Clone)]
pub struct Pricing {
    pub catalog: CatalogServiceClient<Channel>,
    pub pricelists: PricelistServiceClient<Channel>,
    pub account_pricing: AccountPricingServiceClient<Channel>,
    pub contracts: ContractServiceClient<Channel>,
    pub rates: ExchangeRateServiceClient<Channel>,
    pub quotes: QuoteServiceClient<Channel>,
}

impl Pricing {
    fn new(channel: Channel) -> Pricing {
        Pricing {
            catalog: CatalogServiceClient::new(channel.clone()),
            pricelists: PricelistServiceClient::new(channel.clone()),
            account_pricing: AccountPricingServiceClient::new(channel.clone()),
            contracts: ContractServiceClient::new(channel.clone()),
            rates: ExchangeRateServiceClient::new(channel.clone()),
            quotes: QuoteServiceClient::new(channel),
        }
    }
}

pub struct TestApp {
    /// The first pricing replica.
    pub pricing: Pricing,
    /// Every replica, the first included.
    pub replicas: Vec<Pricing>,
    pub accounts: AccountServiceClient<Channel>,
    pub groups: GroupServiceClient<Channel>,
    pub tenants: TenantServiceClient<Channel>,
    /// The accounts service.
    pub accounts_channel: Channel,
    pub db: sqlx::PgPool,
    _kit: Kit,
}

pub async fn spawn() -> TestApp {
    spawn_replicas(1).await
}

/// The accounts service and `replicas` pricing services over one database.
pub async fn spawn_replicas(replicas: usize) -> TestApp {
    let kit = Kit::new().await;
    // Every listener is bound first: accounts asks the first pricing
    // replica about members' own pricing, pricing reads accounts.
    let (accounts_listener, _) = listener().await;
    let mut pricing_listeners = Vec::new();
    for _ in 0..replicas {
        pricing_listeners.push(listener().await);
    }
    let first_pricing = pricing_listeners[0].1;
    let accounts_config = bss_accounts::AccountsConfig {
        pricing_url: Some(format!("http://{first_pricing}")),
        ..bss_accounts::AccountsConfig::new(kit.platform())
    };
    let accounts = kit.accounts(accounts_listener, accounts_config).await;
    let mut clients = Vec::new();
    let mut db = None;
    for (listener, _) in pricing_listeners {
        let config = PricingConfig { accounts_url: Some(accounts.url()), ..PricingConfig::new(kit.platform()) };
        let pricing = kit.pricing(listener, config).await;
        db.get_or_insert(pricing.db);
        clients.push(Pricing::new(pricing.channel));
    }
    TestApp {
        pricing: clients[0].clone(),
        replicas: clients,
        accounts: AccountServiceClient::new(accounts.channel.clone()),
        groups: GroupServiceClient::new(accounts.channel.clone()),
        tenants: TenantServiceClient::new(accounts.channel.clone()),
        accounts_channel: accounts.channel,
        db: db.expect("one replica at least"),
        _kit: kit,
    }
}

impl TestApp {
    /// A tenant with `currency` as default, and its administrator's token.
    pub async fn tenant(&mut self, currency: &str) -> (Uuid, String) {
        crate::create_tenant(&self.accounts_channel, &format!("Books {}", Uuid::now_v7()), currency).await
    }

    /// An account of the tenant in `currency` (the tenant's when empty).
    pub async fn account(&mut self, admin: &str, currency: &str) -> String {
        self.account_with(admin, accounts_proto::Account { currency_code: currency.to_owned(), ..Default::default() })
            .await
    }

    /// An account with a code and name of its own.
    pub async fn account_with(&mut self, admin: &str, account: accounts_proto::Account) -> String {
        crate::create_account(&self.accounts_channel, admin, crate::unique(account)).await
    }

    /// A public product with a list price.
    pub async fn product(&mut self, admin: &str, code: &str, list_price: &str, currency: &str) -> Product {
        self.product_with(
            admin,
            Product { code: code.to_owned(), list_price: Some(money(list_price, currency)), ..product_named(code) },
        )
        .await
    }

    pub async fn product_with(&mut self, admin: &str, product: Product) -> Product {
        self.pricing
            .catalog
            .create_product(authorized(
                CreateProductRequest { product: Some(product), request_id: String::new() },
                admin,
            ))
            .await
            .expect("product created")
            .into_inner()
            .product
            .expect("product")
    }

    /// A price level with `code` in `currency`.
    pub async fn level(&mut self, admin: &str, code: &str, currency: &str) -> PriceLevel {
        let level = PriceLevel { code: code.to_owned(), currency_code: currency.to_owned(), ..PriceLevel::default() };
        self.pricing
            .catalog
            .create_price_level(authorized(
                CreatePriceLevelRequest { price_level: Some(level), request_id: String::new() },
                admin,
            ))
            .await
            .expect("level created")
            .into_inner()
            .price_level
            .expect("level")
    }

    pub async fn set_level_price(&mut self, admin: &str, level: &PriceLevel, product: &Product, price: &str) {
        let level_price = LevelPrice {
            level_id: level.id.clone(),
            product_id: product.id.clone(),
            price: Some(money(price, &level.currency_code)),
            breaks: Vec::new(),
        };
        self.pricing
            .catalog
            .set_level_price(authorized(
                SetLevelPriceRequest { level_price: Some(level_price), request_id: String::new() },
                admin,
            ))
            .await
            .expect("level price set");
    }

    pub async fn set_pricing(&mut self, admin: &str, pricing: AccountPricing) -> Result<AccountPricing, tonic::Status> {
        self.pricing
            .account_pricing
            .set_account_pricing(authorized(
                SetAccountPricingRequest { pricing: Some(pricing), request_id: String::new() },
                admin,
            ))
            .await
            .map(|response| response.into_inner().pricing.expect("pricing"))
    }

    /// Creates `contract` as `token`'s caller.
    pub async fn create_contract(&self, token: &str, contract: Contract) -> Result<Contract, tonic::Status> {
        let request = CreateContractRequest { contract: Some(contract), request_id: String::new() };
        let created = self.pricing.contracts.clone().create_contract(authorized(request, token)).await?;
        Ok(created.into_inner().contract.expect("contract"))
    }

    pub async fn quote(&mut self, token: &str, request: QuoteRequest) -> Result<QuoteResponse, tonic::Status> {
        self.pricing.quotes.quote(authorized(request, token)).await.map(|response| response.into_inner())
    }

    /// Waits until the accounts stream has brought the account into
    /// pricing's read model (it is eventually consistent with accounts).
    pub async fn await_feed(&self, account_id: &str, parent: Option<&str>) {
        let account_id: Uuid = account_id.parse().expect("uuid");
        let parent: Option<Uuid> = parent.map(|parent| parent.parse().expect("uuid"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let row: Option<Option<Uuid>> = sqlx::query_scalar(
                "SELECT m.parent_id FROM pricing.accounts a
                 LEFT JOIN pricing.group_members m ON m.tenant_id = a.tenant_id AND m.member_id = a.account_id
                 WHERE a.account_id = $1",
            )
            .bind(account_id)
            .fetch_optional(&self.db)
            .await
            .expect("read model");
            if row == Some(parent) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the accounts stream never brought {account_id}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A EUR contract for 2026 pricing `product` at `price` for `accounts`.
pub fn contract_of(product: &Product, price: &str, accounts: &[&String]) -> Contract {
    Contract {
        name: "Deal".to_owned(),
        currency_code: "EUR".to_owned(),
        start_date: "2026-01-01".to_owned(),
        expiry_date: "2026-12-31".to_owned(),
        items: vec![ContractItem { product_id: product.id.clone(), price: Some(money(price, "EUR")), breaks: vec![] }],
        account_ids: accounts.iter().map(|account| (*account).clone()).collect(),
        ..Contract::default()
    }
}

pub fn money(amount: &str, currency: &str) -> Money {
    Money { currency_code: currency.to_owned(), amount: amount.to_owned() }
}

pub fn decimal(value: &str) -> Option<Decimal> {
    Some(Decimal { value: value.to_owned() })
}

pub fn product_named(code: &str) -> Product {
    Product { code: code.to_owned(), name: format!("Product {code}"), ..Product::default() }
}

/// A quote request for `account_id` on 2026-11-23 of (product, quantity)
/// lines, with explain.
pub fn quote_request(account_id: &str, lines: &[(&str, &str)]) -> QuoteRequest {
    QuoteRequest {
        account_id: account_id.to_owned(),
        currency_code: String::new(),
        date: "2026-11-23".to_owned(),
        lines: lines
            .iter()
            .map(|(product, quantity)| QuoteLineRequest {
                product: (*product).to_owned(),
                quantity: decimal(quantity),
                ..Default::default()
            })
            .collect(),
        explain: true,
        guest_region: String::new(),
        ..Default::default()
    }
}

pub fn amount(money: &Option<Money>) -> &str {
    &money.as_ref().expect("money").amount
}
