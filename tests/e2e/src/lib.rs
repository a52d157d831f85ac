//! The whole suite started in the test process on ephemeral ports, with a
//! fresh database, for the end-to-end scenarios in `tests/`. Scenarios call
//! the gateway, as real clients do.

#![allow(clippy::expect_used)]

use std::path::PathBuf;

use bss_gateway::rate_limit::RateLimitConfig;
use bss_platform::auth::Role;
use bss_platform::config::ServerConfig;
use bss_platform::shutdown::Shutdown;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::{CreateTenantRequest, Tenant};
use bss_suite::{Endpoints, Suite, SuiteConfig};
use bss_testkit::{TestDatabase, authorized, platform_admin_token};
use tonic::transport::Channel;
use uuid::Uuid;

pub struct TestSuite {
    pub endpoints: Endpoints,
    shutdown: Shutdown,
    database: TestDatabase,
}

impl Drop for TestSuite {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl TestSuite {
    /// The suite as `make run` starts it, on ephemeral ports.
    pub async fn start() -> TestSuite {
        TestSuite::start_with(|_| {}).await
    }

    /// The suite with its configuration changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut SuiteConfig)) -> TestSuite {
        bss_testkit::init_logging();
        let database = TestDatabase::create().await;
        let shutdown = Shutdown::new();
        let mut config = SuiteConfig {
            database_url: database.url().to_owned(),
            host: [127, 0, 0, 1].into(),
            base_port: 0,
            auth: bss_testkit::auth_config(),
            server: ServerConfig { drain_delay_ms: 0, shutdown_grace_ms: 2_000, ..ServerConfig::default() },
            max_connections_per_service: 6,
            rate_limit: RateLimitConfig::default(),
            tls: None,
            reseller_sync: true,
        };
        adjust(&mut config);
        let suite = Suite::start(&config, shutdown.clone()).await.expect("the suite starts");
        let endpoints = suite.endpoints.clone();
        tokio::spawn(suite.wait());
        TestSuite { endpoints, shutdown, database }
    }

    /// The suite's database (each service in its own schema).
    pub fn database_url(&self) -> &str {
        self.database.url()
    }

    /// A channel to the gateway, as clients use it.
    pub async fn gateway(&self) -> Channel {
        bss_testkit::channel(self.endpoints.gateway).await
    }

    /// Creates a tenant and returns its id with a tenant admin's token.
    pub async fn tenant(&self, name: &str, currency: &str) -> (Uuid, String) {
        let mut tenants = TenantServiceClient::new(self.gateway().await);
        let request = CreateTenantRequest {
            tenant: Some(Tenant { name: name.to_owned(), default_currency: currency.to_owned(), ..Tenant::default() }),
            request_id: String::new(),
        };
        let tenant = tenants
            .create_tenant(authorized(request, &platform_admin_token()))
            .await
            .expect("tenant")
            .into_inner()
            .tenant
            .expect("tenant");
        let id: Uuid = tenant.id.parse().expect("uuid");
        (id, bss_testkit::token(id, &[Role::TenantAdmin]))
    }
}

/// The repository's root folder.
pub fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An amount in euros, as the wire carries it.
pub fn eur(amount: &str) -> Option<bss_proto::types::Money> {
    Some(bss_proto::types::Money { currency_code: "EUR".to_owned(), amount: amount.to_owned() })
}

/// The amount of a money field.
pub fn amount(money: &Option<bss_proto::types::Money>) -> &str {
    &money.as_ref().expect("money").amount
}

/// A decimal on the wire.
pub fn decimal(value: &str) -> Option<bss_proto::types::Decimal> {
    Some(bss_proto::types::Decimal { value: value.to_owned() })
}

/// A subscription of `quantity` of `product` for an account.
pub fn subscription_request(
    account_id: &str,
    product: &str,
    quantity: &str,
    payment_type: bss_proto::types::PaymentType,
) -> bss_proto::billing::CreateSubscriptionRequest {
    bss_proto::billing::CreateSubscriptionRequest {
        subscription: Some(bss_proto::billing::Subscription {
            account_id: account_id.to_owned(),
            product: product.to_owned(),
            quantity: decimal(quantity),
            payment_type: payment_type as i32,
            ..bss_proto::billing::Subscription::default()
        }),
        request_id: String::new(),
    }
}

/// An order of `(product, quantity)` lines for an account.
pub fn order_request(
    account_id: &str,
    lines: &[(&str, &str)],
    payment_type: bss_proto::types::PaymentType,
) -> bss_proto::billing::PlaceOrderRequest {
    use bss_proto::billing::{Order, OrderLine};
    bss_proto::billing::PlaceOrderRequest {
        order: Some(Order {
            account_id: account_id.to_owned(),
            lines: lines
                .iter()
                .map(|(product, quantity)| OrderLine {
                    product: (*product).to_owned(),
                    quantity: decimal(quantity),
                    ..OrderLine::default()
                })
                .collect(),
            payment_type: payment_type as i32,
            ..Order::default()
        }),
        request_id: String::new(),
    }
}

/// Creates an account through the gateway and returns its id.
pub async fn create_account(gateway: &Channel, token: &str, account: bss_proto::accounts::Account) -> String {
    use bss_proto::accounts::CreateAccountRequest;
    use bss_proto::accounts::account_service_client::AccountServiceClient;
    let request = CreateAccountRequest { account: Some(account), request_id: String::new() };
    AccountServiceClient::new(gateway.clone())
        .create_account(authorized(request, token))
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account")
        .id
}

/// An account that may order on account, by card and as a running quote.
pub fn ordering_account(code: &str) -> bss_proto::accounts::Account {
    use bss_proto::types::PaymentType;
    bss_proto::accounts::Account {
        code: code.to_owned(),
        name: format!("Account {code}"),
        enable_ordering: true,
        payment_types: vec![
            PaymentType::OnAccount as i32,
            PaymentType::CreditCard as i32,
            PaymentType::RunningQuote as i32,
        ],
        ..bss_proto::accounts::Account::default()
    }
}

/// Creates a product with a list price in euros; returns its id.
pub async fn create_product(gateway: &Channel, token: &str, code: &str, price: &str, family: &str) -> String {
    use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
    use bss_proto::pricing::{CreateProductRequest, Product};
    let product = Product {
        code: code.to_owned(),
        name: code.to_owned(),
        family: family.to_owned(),
        list_price: eur(price),
        ..Product::default()
    };
    CatalogServiceClient::new(gateway.clone())
        .create_product(authorized(CreateProductRequest { product: Some(product), request_id: String::new() }, token))
        .await
        .expect("product")
        .into_inner()
        .product
        .expect("product")
        .id
}

/// Sets an account's credit limit and payment terms.
pub async fn set_credit_terms(
    gateway: &Channel,
    token: &str,
    account_id: &str,
    limit: &str,
    payment_terms: Option<bss_proto::credit::PaymentTerms>,
) {
    use bss_proto::credit::credit_service_client::CreditServiceClient;
    use bss_proto::credit::{ChangeCreditTermsRequest, CreditTerms};
    let terms = CreditTerms { credit_limit: decimal(limit), payment_terms, ..CreditTerms::default() };
    let request = ChangeCreditTermsRequest {
        account_id: account_id.to_owned(),
        terms: Some(terms),
        reason: "opening".to_owned(),
        request_id: String::new(),
    };
    CreditServiceClient::new(gateway.clone()).change_credit_terms(authorized(request, token)).await.expect("terms");
}
