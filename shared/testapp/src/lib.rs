//! The whole suite started in the test process on ephemeral ports, with a
//! fresh database: the harness of the services' API tests (which call
//! their service straight, `TestApp::channel`) and of the end-to-end
//! scenarios (which call the gateway, as real clients do), with one-line
//! helpers for the calls they make most.

#![allow(clippy::expect_used)]

use bss_gateway::rate_limit::RateLimitConfig;
use bss_platform::auth::Role;
use bss_platform::config::{DatabaseConfig, ServerConfig};
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::{CreateTenantRequest, Tenant};
use bss_proto::billing::location_service_client::LocationServiceClient;
use bss_proto::billing::{
    AssignAccountLocationRequest, CreateLocationRequest, ListStockRequest, Location, LocationKind, ReceiveStockRequest,
    ReceiveStockResponse,
};
use bss_suite::{Endpoints, Suite, SuiteConfig};
use bss_testkit::{authorized, platform_admin_token};
use tonic::transport::Channel;
use uuid::Uuid;

pub mod accounts;
pub mod credit;
pub mod kit;
pub mod pricing;

pub use kit::{Kit, Service};

/// The whole suite (see [`TestApp::start`]); dropping it stops it.
pub struct TestApp {
    pub endpoints: Endpoints,
    kit: Kit,
}

impl TestApp {
    /// The suite as `make run` starts it, on ephemeral ports.
    pub async fn start() -> TestApp {
        TestApp::start_with(|_| {}).await
    }

    /// The suite with its configuration changed by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut SuiteConfig)) -> TestApp {
        let kit = Kit::new().await;
        let mut config = SuiteConfig {
            database: DatabaseConfig { max_connections: 6, ..DatabaseConfig::new(kit.database_url()) },
            host: [127, 0, 0, 1].into(),
            base_port: 0,
            auth: bss_testkit::auth_config(),
            server: ServerConfig { drain_delay_ms: 0, shutdown_grace_ms: 2_000, ..ServerConfig::default() },
            rate_limit: RateLimitConfig::default(),
            gateway: bss_suite::GatewaySettings::default(),
            tls: None,
            reseller_sync: true,
            payments: bss_suite::Payments::Sandbox,
            console_dir: std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../console/dist")),
            cors_allowed_origins: Vec::new(),
            console_login: bss_suite::ConsoleLogin::TokenOnly,
        };
        adjust(&mut config);
        let suite = Suite::start(&config, kit.shutdown()).await.expect("the suite starts");
        let endpoints = suite.endpoints.clone();
        tokio::spawn(suite.wait());
        TestApp { endpoints, kit }
    }

    /// The suite's database (each service in its own schema).
    pub fn database_url(&self) -> &str {
        self.kit.database_url()
    }

    /// A channel to the gateway, as clients use it.
    pub async fn gateway(&self) -> Channel {
        bss_testkit::channel(self.endpoints.gateway).await
    }

    /// Creates a tenant and returns its id with a tenant admin's token.
    pub async fn tenant(&self, name: &str, currency: &str) -> (Uuid, String) {
        create_tenant(&self.gateway().await, name, currency).await
    }

    /// A tenant in EUR with the WIDGET product at 10.00 and one ordering
    /// account (its code `code`) whose credit limit is `limit`.
    pub async fn books(&self, name: &str, code: &str, limit: &str) -> Books {
        let (tenant_id, admin) = self.tenant(name, "EUR").await;
        let gateway = self.gateway().await;
        create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
        let account = create_account(&gateway, &admin, ordering_account(code)).await;
        set_credit_terms(&gateway, &admin, &account, limit, None).await;
        let clerk = bss_testkit::token(tenant_id, &[bss_platform::auth::Role::BillingClerk]);
        Books { tenant_id, admin, clerk, account, gateway }
    }
}

/// A tenant's books set up for ordering (see [`TestApp::books`]).
pub struct Books {
    pub tenant_id: Uuid,
    /// A tenant admin's token.
    pub admin: String,
    /// A billing clerk's token.
    pub clerk: String,
    /// The ordering account's id.
    pub account: String,
    /// A channel to the gateway.
    pub gateway: Channel,
}

/// The tenant `id` as `token`'s caller reads it.
pub async fn read_tenant(tenants: &TenantServiceClient<Channel>, token: &str, id: Uuid) -> Tenant {
    let request = bss_proto::accounts::GetTenantRequest { id: id.to_string() };
    tenants.clone().get_tenant(authorized(request, token)).await.expect("tenant").into_inner().tenant.expect("tenant")
}

/// Creates a tenant through `gateway` and returns its id with a tenant
/// admin's token.
pub async fn create_tenant(gateway: &Channel, name: &str, currency: &str) -> (Uuid, String) {
    let mut tenants = TenantServiceClient::new(gateway.clone());
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
        ..Default::default()
    }
}

/// A pricelist of `kind` named `name` in `currency`, pricing one product
/// at `price` from 2020 on.
pub fn pricelist_request(
    name: &str,
    kind: bss_proto::pricing::PricelistKind,
    (product_id, price): (&str, &str),
    currency: &str,
) -> bss_proto::pricing::CreatePricelistRequest {
    use bss_proto::pricing::{Pricelist, PricelistItem};
    let pricelist = Pricelist {
        name: name.to_owned(),
        currency_code: currency.to_owned(),
        kind: kind as i32,
        items: vec![PricelistItem {
            product_id: product_id.to_owned(),
            price: Some(bss_proto::types::Money { currency_code: currency.to_owned(), amount: price.to_owned() }),
            valid_from: "2020-01-01".to_owned(),
            ..PricelistItem::default()
        }],
        ..Pricelist::default()
    };
    bss_proto::pricing::CreatePricelistRequest { pricelist: Some(pricelist), request_id: String::new() }
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
        ..Default::default()
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

/// `account` with a code and name no other account of the tenant has,
/// where it has none.
pub fn unique(mut account: bss_proto::accounts::Account) -> bss_proto::accounts::Account {
    let suffix = Uuid::now_v7().simple().to_string();
    if account.code.is_empty() {
        account.code = format!("A{}", &suffix[suffix.len() - 12..]);
    }
    if account.name.is_empty() {
        account.name = format!("Customer {suffix}");
    }
    account
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

/// Creates a physical good of the catalog at `list_price`: traceable or
/// not, with a warranty of so many months; its id.
pub async fn create_good(
    gateway: &Channel,
    token: &str,
    code: &str,
    list_price: Option<bss_proto::types::Money>,
    (traceable, warranty_months): (bool, i32),
) -> String {
    use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
    use bss_proto::pricing::{CreateProductRequest, PhysicalGood, Product};
    let product = Product {
        code: code.to_owned(),
        name: code.to_owned(),
        family: "goods".to_owned(),
        list_price,
        physical_good: Some(PhysicalGood { traceable, warranty_months }),
        ..Product::default()
    };
    let create = CreateProductRequest { product: Some(product), request_id: String::new() };
    let created = CatalogServiceClient::new(gateway.clone()).create_product(authorized(create, token)).await;
    created.expect("good").into_inner().product.expect("good").id
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

/// Today (UTC) as the contracts write dates.
pub fn today() -> String {
    bss_platform::time::format_date(bss_platform::time::now().date_naive())
}

/// Places an order through the gateway and returns it, whatever its status.
pub async fn place(
    gateway: &Channel,
    token: &str,
    request: bss_proto::billing::PlaceOrderRequest,
) -> bss_proto::billing::Order {
    use bss_proto::billing::order_service_client::OrderServiceClient;
    let placed = OrderServiceClient::new(gateway.clone()).place_order(authorized(request, token)).await;
    placed.expect("placed").into_inner().order.expect("order")
}

/// Invoices what an account owes up to `date` (GenerateInvoices), posted when
/// `post`.
pub async fn generate(
    gateway: &Channel,
    token: &str,
    account_id: &str,
    date: &str,
    post: bool,
) -> Vec<bss_proto::billing::Invoice> {
    use bss_proto::billing::GenerateInvoicesRequest;
    use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
    let request = GenerateInvoicesRequest {
        account_id: account_id.to_owned(),
        invoice_date: date.to_owned(),
        post,
        request_id: String::new(),
    };
    let generated = InvoiceServiceClient::new(gateway.clone()).generate_invoices(authorized(request, token)).await;
    generated.expect("generated").into_inner().invoices
}

/// What credit says of an account now.
pub async fn credit_status(gateway: &Channel, token: &str, account_id: &str) -> bss_proto::credit::CreditStatus {
    use bss_proto::credit::GetCreditStatusRequest;
    use bss_proto::credit::credit_service_client::CreditServiceClient;
    let request = GetCreditStatusRequest { account_id: account_id.to_owned() };
    let status = CreditServiceClient::new(gateway.clone()).get_credit_status(authorized(request, token)).await;
    status.expect("credit status").into_inner().status.expect("status")
}

/// What credit says of an account once `done` holds: credit applies
/// billing's events a moment after billing published them. Fails after 30
/// seconds.
pub async fn credit_until(
    gateway: &Channel,
    token: &str,
    account_id: &str,
    done: impl Fn(&bss_proto::credit::CreditStatus) -> bool,
) -> bss_proto::credit::CreditStatus {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let status = credit_status(gateway, token, account_id).await;
        if done(&status) {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "credit never caught up with billing: {status:?}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Credit's balance and reserved amount of an account once they are these.
pub async fn credit_settles(
    gateway: &Channel,
    token: &str,
    account_id: &str,
    balance: &str,
    reserved: &str,
) -> bss_proto::credit::CreditStatus {
    credit_until(gateway, token, account_id, |status| {
        amount(&status.balance) == balance && amount(&status.reserved) == reserved
    })
    .await
}

/// What billing says an account owes.
pub async fn billing_balance(
    gateway: &Channel,
    token: &str,
    account_id: &str,
) -> bss_proto::billing::GetAccountBalanceResponse {
    use bss_proto::billing::GetAccountBalanceRequest;
    use bss_proto::billing::payment_service_client::PaymentServiceClient;
    let request = GetAccountBalanceRequest { account_id: account_id.to_owned() };
    let balance = PaymentServiceClient::new(gateway.clone()).get_account_balance(authorized(request, token)).await;
    balance.expect("balance").into_inner()
}

/// An account's credit reservations, newest first.
pub async fn reservations(gateway: &Channel, token: &str, account_id: &str) -> Vec<bss_proto::credit::Reservation> {
    use bss_proto::credit::ListReservationsRequest;
    use bss_proto::credit::credit_service_client::CreditServiceClient;
    let request =
        ListReservationsRequest { account_id: account_id.to_owned(), page_size: 500, page_token: String::new() };
    let listed = CreditServiceClient::new(gateway.clone()).list_reservations(authorized(request, token)).await;
    listed.expect("reservations").into_inner().reservations
}

/// Changes an account's credit terms whole: a limit and a policy (each
/// action UNSPECIFIED takes the tenant's default).
pub async fn set_credit_policy(
    gateway: &Channel,
    token: &str,
    account_id: &str,
    limit: &str,
    policy: bss_proto::credit::CreditPolicy,
) {
    use bss_proto::credit::credit_service_client::CreditServiceClient;
    use bss_proto::credit::{ChangeCreditTermsRequest, CreditTerms};
    let terms = CreditTerms { credit_limit: decimal(limit), policy: Some(policy), ..CreditTerms::default() };
    let request = ChangeCreditTermsRequest {
        account_id: account_id.to_owned(),
        terms: Some(terms),
        reason: "policy".to_owned(),
        request_id: String::new(),
    };
    CreditServiceClient::new(gateway.clone()).change_credit_terms(authorized(request, token)).await.expect("terms");
}

/// The (account, code, action) of each of credit's reasons.
pub fn reasons(
    reasons: &[bss_proto::credit::DecisionReason],
) -> Vec<(String, String, bss_proto::credit::CreditAction)> {
    reasons
        .iter()
        .map(|reason| {
            (
                reason.account_id.clone(),
                reason.code.clone(),
                bss_proto::credit::CreditAction::try_from(reason.action).unwrap_or_default(),
            )
        })
        .collect()
}

/// Adds a user to an account through the gateway; returns its id.
pub async fn create_user(gateway: &Channel, token: &str, account_id: &str, email: &str) -> Uuid {
    use bss_proto::accounts::user_service_client::UserServiceClient;
    use bss_proto::accounts::{CreateUserRequest, User};
    let user = User {
        account_id: account_id.to_owned(),
        email: email.to_owned(),
        display_name: email.to_owned(),
        ..User::default()
    };
    let created = UserServiceClient::new(gateway.clone())
        .create_user(authorized(CreateUserRequest { user: Some(user), request_id: String::new() }, token))
        .await
        .expect("user");
    created.into_inner().user.expect("user").id.parse().expect("uuid")
}

/// Saves a card (the payment provider's `card_token`) as the account's
/// default payment method for purchases, and a PayPal wallet with the same
/// token for purchases: the sandbox provider approves any token but
/// `tok_decline...` (declined) and `tok_retry...` (asks once for a retry).
/// Neither collects invoices: see [`save_subscription_card`].
pub async fn save_card(gateway: &Channel, token: &str, account_id: &str, card_token: &str) {
    use bss_proto::credit::credit_service_client::CreditServiceClient;
    use bss_proto::credit::{
        PaymentMethod, PaymentMethodKind, PaymentPreference, SavePaymentMethodRequest, SetPaymentPreferenceRequest,
    };

    let preference = PaymentPreference {
        card_token_reference: card_token.to_owned(),
        card_label: format!("card {card_token}"),
        use_for_purchases: true,
        ..PaymentPreference::default()
    };
    let request = SetPaymentPreferenceRequest {
        account_id: account_id.to_owned(),
        preference: Some(preference),
        request_id: String::new(),
    };
    CreditServiceClient::new(gateway.clone()).set_payment_preference(authorized(request, token)).await.expect("card");
    let wallet = PaymentMethod {
        kind: PaymentMethodKind::Wallet as i32,
        token_reference: card_token.to_owned(),
        label: format!("wallet {card_token}"),
        use_for_purchases: true,
        ..PaymentMethod::default()
    };
    let request =
        SavePaymentMethodRequest { account_id: account_id.to_owned(), method: Some(wallet), request_id: String::new() };
    CreditServiceClient::new(gateway.clone()).save_payment_method(authorized(request, token)).await.expect("wallet");
}

/// Saves a card opted in for subscriptions: it pays card subscriptions and
/// collects the account's posted invoices automatically.
pub async fn save_subscription_card(gateway: &Channel, token: &str, account_id: &str, card_token: &str) {
    use bss_proto::credit::credit_service_client::CreditServiceClient;
    use bss_proto::credit::{PaymentMethod, PaymentMethodKind, SavePaymentMethodRequest};
    let card = PaymentMethod {
        kind: PaymentMethodKind::Card as i32,
        token_reference: card_token.to_owned(),
        label: format!("subscriptions {card_token}"),
        use_for_subscriptions: true,
        ..PaymentMethod::default()
    };
    let request =
        SavePaymentMethodRequest { account_id: account_id.to_owned(), method: Some(card), request_id: String::new() };
    CreditServiceClient::new(gateway.clone()).save_payment_method(authorized(request, token)).await.expect("card");
}

/// Creates a physical location `code`, with a surcharge on every order
/// shipped from it when given.
pub async fn create_location(gateway: &Channel, admin: &str, code: &str, surcharge: Option<&str>) -> Location {
    let location = Location {
        code: code.to_owned(),
        name: format!("Warehouse {code}"),
        kind: LocationKind::Physical as i32,
        surcharge: surcharge.and_then(eur),
        ..Location::default()
    };
    let request = CreateLocationRequest { location: Some(location), request_id: String::new() };
    let created = LocationServiceClient::new(gateway.clone()).create_location(authorized(request, admin)).await;
    created.expect("location").into_inner().location.expect("location")
}

/// Assigns `location` to an account, as its primary one or not.
pub async fn assign_location(gateway: &Channel, admin: &str, account_id: &str, location: &Location, primary: bool) {
    let request = AssignAccountLocationRequest {
        account_id: account_id.to_owned(),
        location_id: location.id.clone(),
        primary,
        request_id: String::new(),
    };
    LocationServiceClient::new(gateway.clone())
        .assign_account_location(authorized(request, admin))
        .await
        .expect("assigned");
}

/// Receives `quantity` of `product` at `location`; the back orders waiting
/// for it ship.
pub async fn receive_stock(
    gateway: &Channel,
    admin: &str,
    location: &Location,
    product: &str,
    quantity: &str,
) -> ReceiveStockResponse {
    let request = ReceiveStockRequest {
        location_id: location.id.clone(),
        product: product.to_owned(),
        quantity: decimal(quantity),
        request_id: format!("receive-{}", Uuid::now_v7()),
    };
    let received = LocationServiceClient::new(gateway.clone()).receive_stock(authorized(request, admin)).await;
    received.expect("received").into_inner()
}

/// The stock of each product at a location, as `token` sees it.
pub async fn stock_at(
    gateway: &Channel,
    token: &str,
    location: &Location,
) -> Result<Vec<(String, String)>, tonic::Status> {
    let request = ListStockRequest { location_id: location.id.clone(), ..ListStockRequest::default() };
    let listed = LocationServiceClient::new(gateway.clone()).list_stock(authorized(request, token)).await?;
    Ok(listed
        .into_inner()
        .stock
        .into_iter()
        .map(|level| (level.product_code, level.quantity.map(|q| q.value).unwrap_or_default()))
        .collect())
}
