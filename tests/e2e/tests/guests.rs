//! Guests: an anonymous shopper's token (role `guest`) quotes as the
//! tenant's generic guest account and browses the public products, nothing
//! else.

#![allow(clippy::expect_used)]

use bss_e2e::{TestApp, amount, create_account, create_product, decimal, eur, ordering_account};
use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::{GetAccountRequest, SetGuestAccountRequest};
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::{
    AccountPrice, CreateAccountPriceRequest, CreateProductRequest, GetProductRequest, ListProductsRequest, Product,
    ProductAvailability, QuoteLineRequest, QuoteRequest,
};
use bss_proto::types::PaymentType;
use bss_testkit::{authorized, reason};
use tonic::Code;

fn quote(account_id: &str) -> QuoteRequest {
    QuoteRequest {
        account_id: account_id.to_owned(),
        lines: vec![QuoteLineRequest { product: "WIDGET".to_owned(), quantity: decimal("2"), ..Default::default() }],
        ..QuoteRequest::default()
    }
}

/// Gives an account its own price of a product, in euros, from today.
async fn account_price(
    gateway: &tonic::transport::Channel,
    admin: &str,
    (account, product): (&str, &str),
    price: &str,
) {
    let price = AccountPrice {
        account_id: account.to_owned(),
        product_id: product.to_owned(),
        price: eur(price),
        valid_from: bss_e2e::today(),
        ..AccountPrice::default()
    };
    let request = CreateAccountPriceRequest { account_price: Some(price), request_id: String::new() };
    AccountPricingServiceClient::new(gateway.clone())
        .create_account_price(authorized(request, admin))
        .await
        .expect("account price");
}

#[tokio::test]
async fn a_guest_quotes_as_the_tenants_guest_account_and_browses_public_products_only() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Shop Books", "EUR").await;
    let gateway = suite.gateway().await;
    let widget = create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let hidden = Product {
        code: "DEAL-ONLY".to_owned(),
        name: "Deal only".to_owned(),
        availability: ProductAvailability::ContractOnly as i32,
        list_price: eur("5.00"),
        ..Product::default()
    };
    let mut catalog = CatalogServiceClient::new(gateway.clone());
    catalog
        .create_product(authorized(CreateProductRequest { product: Some(hidden), request_id: String::new() }, &admin))
        .await
        .expect("contract-only product");
    let guest_account = create_account(&gateway, &admin, ordering_account("WEB_GUEST")).await;
    let customer = create_account(&gateway, &admin, ordering_account("SOMEONE")).await;
    account_price(&gateway, &admin, (&guest_account, &widget), "9.00").await;
    let guest = bss_testkit::token(tenant_id, &[Role::Guest]);
    let mut quotes = QuoteServiceClient::new(gateway.clone());

    // Until the tenant names its guest account, guests cannot quote.
    let refused = quotes.quote(authorized(quote(""), &guest)).await.expect_err("no guest account yet");
    assert_eq!((refused.code(), reason(&refused)), (Code::FailedPrecondition, "GUEST_ACCOUNT_MISSING".to_owned()));

    let mut tenants = TenantServiceClient::new(gateway.clone());
    let set =
        SetGuestAccountRequest { account_id: guest_account.clone(), request_id: String::new(), region: String::new() };
    let denied = tenants.set_guest_account(authorized(set.clone(), &guest)).await.expect_err("not a guest's call");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let stranger = SetGuestAccountRequest {
        account_id: uuid::Uuid::now_v7().to_string(),
        request_id: String::new(),
        region: String::new(),
    };
    let unknown = tenants.set_guest_account(authorized(stranger, &admin)).await.expect_err("no such account");
    assert_eq!(unknown.code(), Code::NotFound);
    let tenant = tenants.set_guest_account(authorized(set, &admin)).await.expect("named").into_inner().tenant;
    assert_eq!(tenant.expect("tenant").guest_account_id, guest_account);

    // A guest's quote is the guest account's prices.
    let quoted = quotes.quote(authorized(quote(""), &guest)).await.expect("guest quote").into_inner();
    let line = quoted.lines.first().expect("line");
    assert_eq!((amount(&line.unit_price), amount(&line.total)), ("9.00", "18.00"));
    let named = quotes.quote(authorized(quote(&guest_account), &guest)).await.expect("its own account named");
    assert_eq!(amount(&named.into_inner().lines[0].unit_price), "9.00");
    // A region with its own generic account quotes at its prices; any
    // other region at the tenant's guest account's.
    let europe = create_account(&gateway, &admin, ordering_account("WEB_EU")).await;
    account_price(&gateway, &admin, (&europe, &widget), "8.00").await;
    let regional =
        SetGuestAccountRequest { account_id: europe.clone(), request_id: String::new(), region: "EU".to_owned() };
    let tenant = tenants.set_guest_account(authorized(regional, &admin)).await.expect("region named").into_inner();
    let by_region = tenant.tenant.expect("tenant").guest_accounts_by_region;
    assert_eq!(by_region.get("EU"), Some(&europe));
    let in_region = |region: &str| QuoteRequest { guest_region: region.to_owned(), ..quote("") };
    let eu = quotes.quote(authorized(in_region("EU"), &guest)).await.expect("EU guest").into_inner();
    assert_eq!(amount(&eu.lines[0].unit_price), "8.00");
    let apac = quotes.quote(authorized(in_region("APAC"), &guest)).await.expect("APAC guest").into_inner();
    assert_eq!(amount(&apac.lines[0].unit_price), "9.00");
    let other = quotes.quote(authorized(quote(&customer), &guest)).await.expect_err("another account");
    assert_eq!(other.code(), Code::NotFound);
    // Staff still quote any account, and must name it.
    let staff = quotes.quote(authorized(quote(&customer), &admin)).await.expect("staff quote").into_inner();
    assert_eq!(amount(&staff.lines[0].unit_price), "10.00");
    let unnamed = quotes.quote(authorized(quote(""), &admin)).await.expect_err("staff name the account");
    assert_eq!(bss_testkit::violated_fields(&unnamed), ["account_id"]);

    // The catalog: public products only.
    let listed = catalog.list_products(authorized(ListProductsRequest::default(), &guest)).await.expect("browse");
    let codes: Vec<String> = listed.into_inner().products.into_iter().map(|product| product.code).collect();
    assert_eq!(codes, ["WIDGET"]);
    let staff_listed = catalog.list_products(authorized(ListProductsRequest::default(), &admin)).await.expect("all");
    assert_eq!(staff_listed.into_inner().products.len(), 2);
    let hidden = catalog.get_product(authorized(GetProductRequest { product: "DEAL-ONLY".to_owned() }, &guest)).await;
    assert_eq!(hidden.expect_err("contract-only").code(), Code::NotFound);
    catalog.get_product(authorized(GetProductRequest { product: "WIDGET".to_owned() }, &guest)).await.expect("public");

    // Nothing else.
    let account = AccountServiceClient::new(gateway.clone())
        .get_account(authorized(GetAccountRequest { id: guest_account.clone() }, &guest))
        .await
        .expect_err("no accounts for guests");
    assert_eq!(account.code(), Code::PermissionDenied);
    let order = bss_e2e::order_request(&guest_account, &[("WIDGET", "1")], PaymentType::OnAccount);
    let order = OrderServiceClient::new(gateway.clone()).place_order(authorized(order, &guest)).await;
    assert_eq!(order.expect_err("no orders for guests").code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_shopper_registers_through_a_profile_and_buys_as_its_generic_account() {
    use bss_proto::accounts::user_service_client::UserServiceClient;
    use bss_proto::accounts::{RegisterUserRequest, SetRegistrationProfileRequest};

    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Retail Books", "EUR").await;
    let gateway = suite.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let retail = create_account(&gateway, &admin, ordering_account("WEB_RETAIL")).await;
    let guest = bss_testkit::token(tenant_id, &[Role::Guest]);
    let mut tenants = TenantServiceClient::new(gateway.clone());
    let profile = SetRegistrationProfileRequest {
        profile: "WEB_RETAIL".to_owned(),
        account_id: retail.clone(),
        request_id: String::new(),
    };
    let denied = tenants.set_registration_profile(authorized(profile.clone(), &guest)).await.expect_err("staff only");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let tenant = tenants.set_registration_profile(authorized(profile, &admin)).await.expect("profile").into_inner();
    assert_eq!(tenant.tenant.expect("tenant").registration_profiles.get("WEB_RETAIL"), Some(&retail));

    // A guest signs up: the user is on the profile's account.
    let mut users = UserServiceClient::new(gateway.clone());
    let register = |profile: &str, email: &str| RegisterUserRequest {
        profile: profile.to_owned(),
        email: email.to_owned(),
        display_name: String::new(),
        request_id: String::new(),
    };
    let user = users.register_user(authorized(register("WEB_RETAIL", "new@shopper.example"), &guest)).await;
    let user = user.expect("registered").into_inner().user.expect("user");
    assert_eq!((user.account_id.as_str(), user.display_name.as_str()), (retail.as_str(), "new@shopper.example"));
    let again = users.register_user(authorized(register("WEB_RETAIL", "new@shopper.example"), &guest)).await;
    assert_eq!(again.expect_err("email taken").code(), Code::AlreadyExists);
    let unknown = users.register_user(authorized(register("WHOLESALE", "other@shopper.example"), &guest)).await;
    assert_eq!(unknown.expect_err("no such profile").code(), Code::NotFound);

    // The new user acts for the generic account: it quotes its prices.
    let shopper = bss_testkit::customer_user_token(tenant_id, user.id.parse().expect("uuid"));
    let quoted = QuoteServiceClient::new(gateway.clone()).quote(authorized(quote(&retail), &shopper)).await;
    assert_eq!(amount(&quoted.expect("its prices").into_inner().lines[0].unit_price), "10.00");
}
