//! Billing's API called straight: bad input named field by field, what
//! does not exist (or is another tenant's) NOT_FOUND, lists paged.

#![allow(clippy::expect_used)]

use bss_platform::auth::Role;
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::*;
use bss_proto::types::PaymentType;
use bss_testapp::{
    TestApp, create_account, create_product, decimal, order_request, ordering_account, set_credit_terms,
};
use bss_testkit::{authorized, violated_fields};
use tonic::Code;

#[tokio::test]
async fn bad_orders_name_each_bad_field_and_other_tenants_accounts_are_not_found() {
    let app = TestApp::start().await;
    let (tenant_id, admin) = app.tenant("Api Books", "EUR").await;
    let (_, stranger) = app.tenant("Other Books", "EUR").await;
    let gateway = app.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let account = create_account(&gateway, &admin, ordering_account("API")).await;
    set_credit_terms(&gateway, &admin, &account, "1000", None).await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let mut orders = OrderServiceClient::new(bss_testkit::channel(app.endpoints.billing).await);

    let mut bad = order_request("", &[("", "1"), ("WIDGET", "abc"), ("WIDGET", "-2")], PaymentType::Unspecified);
    bad.order.as_mut().expect("order").lines[0].available_quantity = decimal("5");
    let refused = orders.place_order(authorized(bad, &clerk)).await.expect_err("bad input");
    assert_eq!(refused.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&refused);
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "order.account_id",
            "order.lines[0].available_quantity",
            "order.lines[0].product",
            "order.lines[1].quantity",
            "order.lines[2].quantity",
            "order.payment_type",
        ]
    );

    // Another tenant's account, an unknown one, unknown orders.
    let theirs = order_request(&account, &[("WIDGET", "1")], PaymentType::OnAccount);
    let refused = orders.place_order(authorized(theirs, &stranger)).await.expect_err("another tenant's");
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    let unknown = order_request(&uuid::Uuid::now_v7().to_string(), &[("WIDGET", "1")], PaymentType::OnAccount);
    assert_eq!(orders.place_order(authorized(unknown, &clerk)).await.expect_err("unknown").code(), Code::NotFound);
    let get = |id: &str| GetOrderRequest { id: id.to_owned() };
    let missing = orders.get_order(authorized(get(&uuid::Uuid::now_v7().to_string()), &clerk)).await;
    assert_eq!(missing.expect_err("no such order").code(), Code::NotFound);
    let malformed = orders.get_order(authorized(get("not-an-id"), &clerk)).await.expect_err("not an id");
    assert_eq!(violated_fields(&malformed), vec!["id"]);
    let channel = bss_testkit::channel(app.endpoints.billing).await;
    let invoice = GetInvoiceRequest { id: uuid::Uuid::now_v7().to_string() };
    let missing = InvoiceServiceClient::new(channel.clone()).get_invoice(authorized(invoice, &clerk)).await;
    assert_eq!(missing.expect_err("no such invoice").code(), Code::NotFound);
    let subscription = GetSubscriptionRequest { id: uuid::Uuid::now_v7().to_string() };
    let missing = SubscriptionServiceClient::new(channel).get_subscription(authorized(subscription, &clerk)).await;
    assert_eq!(missing.expect_err("no such subscription").code(), Code::NotFound);
}

#[tokio::test]
async fn orders_are_listed_page_by_page_oldest_first_each_once() {
    let app = TestApp::start().await;
    let (tenant_id, admin) = app.tenant("Paged Books", "EUR").await;
    let gateway = app.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let account = create_account(&gateway, &admin, ordering_account("PAGED")).await;
    set_credit_terms(&gateway, &admin, &account, "1000", None).await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let mut orders = OrderServiceClient::new(bss_testkit::channel(app.endpoints.billing).await);
    let mut placed = Vec::new();
    for _ in 0..5 {
        let request = order_request(&account, &[("WIDGET", "1")], PaymentType::OnAccount);
        placed.push(
            orders.place_order(authorized(request, &clerk)).await.expect("placed").into_inner().order.expect("o").id,
        );
    }

    let mut listed = Vec::new();
    let mut page_token = String::new();
    loop {
        let list =
            ListOrdersRequest { account_id: account.clone(), page_size: 2, page_token, back_ordered_only: false };
        let page = orders.list_orders(authorized(list, &clerk)).await.expect("a page").into_inner();
        assert!(page.orders.len() <= 2);
        listed.extend(page.orders.into_iter().map(|order| order.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(listed, placed, "every order once, oldest first");

    let negative = ListOrdersRequest { account_id: account.clone(), page_size: -1, ..ListOrdersRequest::default() };
    let refused = orders.list_orders(authorized(negative, &clerk)).await.expect_err("negative page size");
    assert_eq!(violated_fields(&refused), vec!["page_size"]);
    let forged =
        ListOrdersRequest { account_id: account, page_token: "forged".to_owned(), ..ListOrdersRequest::default() };
    let refused = orders.list_orders(authorized(forged, &clerk)).await.expect_err("a token billing never gave");
    assert_eq!(violated_fields(&refused), vec!["page_token"]);
}

#[tokio::test]
async fn a_message_over_the_configured_size_is_refused_and_the_next_call_works() {
    let app = TestApp::start_with(|config| config.server.max_message_bytes = 64 * 1024).await;
    let (tenant_id, admin) = app.tenant("Sized Books", "EUR").await;
    let gateway = app.gateway().await;
    create_product(&gateway, &admin, "WIDGET", "10.00", "tools").await;
    let account = create_account(&gateway, &admin, ordering_account("SIZED")).await;
    set_credit_terms(&gateway, &admin, &account, "1000", None).await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let mut orders = OrderServiceClient::new(bss_testkit::channel(app.endpoints.billing).await);

    let mut large = order_request(&account, &[("WIDGET", "1")], PaymentType::OnAccount);
    large.order.as_mut().expect("order").reference = "x".repeat(100 * 1024);
    let refused = orders.place_order(authorized(large, &clerk)).await.expect_err("too large");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let listed = orders
        .list_orders(authorized(ListOrdersRequest { account_id: account.clone(), ..Default::default() }, &clerk))
        .await
        .expect("listed");
    assert!(listed.into_inner().orders.is_empty(), "nothing of the refused order was stored");

    let placed = orders
        .place_order(authorized(order_request(&account, &[("WIDGET", "1")], PaymentType::OnAccount), &clerk))
        .await
        .expect("an order of normal size");
    assert_eq!(placed.into_inner().order.expect("order").status, OrderStatus::Executed as i32);
}
