//! A careless or hostile client with a valid token of one tenant: every
//! answer is a clear error (never INTERNAL), no answer is larger than a
//! client or proxy takes, another tenant's calls on the same connection go
//! on, text Postgres cannot store is refused naming the field, tokens of
//! unknown or suspended tenants are refused everywhere, and a sales rep
//! never sees another rep's accounts, in reads or in the event stream.

use std::time::Duration;

use bss_e2e::raw::Raw;
use bss_e2e::{TestApp, create_account, decimal, ordering_account};
use bss_platform::auth::Role;
use bss_proto::accounts::account_event_service_client::AccountEventServiceClient;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::user_service_client::UserServiceClient;
use bss_proto::accounts::*;
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::ledger_service_client::LedgerServiceClient;
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::{
    ListInvoicesRequest, ListOrdersRequest, ListSubscriptionsRequest, ListTransactionsRequest, Order, OrderLine,
    PlaceOrderRequest,
};
use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
use bss_proto::pricing::contract_service_client::ContractServiceClient;
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::{
    GetProductRequest, ListContractsRequest, ListProductsRequest, QuoteLineRequest, QuoteRequest,
};
use bss_testkit::{authorized, platform_admin_token};
use futures::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;

fn reason(status: &tonic::Status) -> String {
    bss_testkit::reason(status)
}

#[tokio::test]
async fn an_oversized_error_stays_small_and_never_fails_another_tenants_calls() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Careless Books", "EUR").await;
    let (_, other_admin) = suite.tenant("Quiet Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let gateway = suite.gateway().await;
    let account = create_account(&gateway, &admin, ordering_account("CARELESS")).await;

    // 60 lines, each with no product and a quantity that is no number.
    let line = OrderLine { product: String::new(), quantity: decimal("abc"), ..OrderLine::default() };
    let order = Order { account_id: account.clone(), lines: vec![line; 60], payment_type: 1, ..Order::default() };
    let bad = PlaceOrderRequest { order: Some(order), request_id: String::new(), ..Default::default() };
    // Meanwhile another tenant calls on the same gateway connection.
    let quiet = {
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let mut accounts = AccountServiceClient::new(gateway);
            for _ in 0..50 {
                let list = ListAccountsRequest { page_size: 5, ..ListAccountsRequest::default() };
                accounts.list_accounts(authorized(list, &other_admin)).await.expect("another tenant's call");
            }
        })
    };
    for _ in 0..20 {
        let refused = OrderServiceClient::new(gateway.clone()).place_order(authorized(bad.clone(), &clerk)).await;
        let refused = refused.expect_err("bad input");
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        let violations = refused.get_details_bad_request().expect("BadRequest").field_violations;
        assert_eq!(violations.len(), 21, "20 listed and the count of the rest");
        assert!(violations[20].description.contains("more violations not listed"), "{:?}", violations[20]);
    }
    quiet.await.expect("the other tenant was never failed");

    // Straight to pricing, 300 bad lines: still a small INVALID_ARGUMENT.
    let lines = vec![QuoteLineRequest { product: String::new(), quantity: decimal("abc"), ..Default::default() }; 300];
    let quote = QuoteRequest { account_id: account.clone(), lines, ..QuoteRequest::default() };
    let pricing = bss_testkit::channel(suite.endpoints.pricing).await;
    let refused = QuoteServiceClient::new(pricing).quote(authorized(quote, &admin)).await.expect_err("bad");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");

    // A 12,000-character value echoed back is cut.
    let long = "P".repeat(12_000);
    let missing = CatalogServiceClient::new(gateway.clone())
        .get_product(authorized(GetProductRequest { product: long }, &admin))
        .await
        .expect_err("no such product");
    assert_eq!(missing.code(), Code::NotFound);
    assert!(missing.message().len() < 1_024, "{} bytes", missing.message().len());
}

#[tokio::test]
async fn text_postgres_cannot_store_is_refused_naming_the_field_and_undecodable_requests_are_bad_input() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Nul Books", "EUR").await;
    let gateway = suite.gateway().await;
    let delete = DeleteUserRequest { id: uuid::Uuid::now_v7().to_string(), request_id: "a\0b".to_owned() };
    let refused = UserServiceClient::new(gateway.clone()).delete_user(authorized(delete, &admin)).await;
    assert_eq!(bss_testkit::violated_fields(&refused.expect_err("NUL")), vec!["request_id"]);
    let list = ListProductsRequest { family: "\0".to_owned(), ..ListProductsRequest::default() };
    let refused = CatalogServiceClient::new(gateway.clone()).list_products(authorized(list, &admin)).await;
    assert_eq!(bss_testkit::violated_fields(&refused.expect_err("NUL")), vec!["family"]);

    // A sales_rep token without its sales_rep_id: refused with a reason.
    let nameless = bss_testkit::token(tenant_id, &[Role::SalesRep]);
    let refused = AccountServiceClient::new(gateway.clone())
        .list_accounts(authorized(ListAccountsRequest::default(), &nameless))
        .await
        .expect_err("no sales rep id");
    assert_eq!((refused.code(), reason(&refused).as_str()), (Code::PermissionDenied, "SALES_REP_ID_MISSING"));

    // Bytes that are no message, and a unary call without a message.
    let mut client = tonic::client::Grpc::new(gateway.clone());
    let path = http::uri::PathAndQuery::from_static("/bss.accounts.v1.AccountService/GetAccount");
    client.ready().await.expect("ready");
    let garbage = client.unary(authorized(vec![0xff, 0xff, 0xff, 0x0f], &admin), path.clone(), Raw).await;
    let garbage = garbage.expect_err("undecodable");
    assert_eq!(garbage.code(), Code::InvalidArgument, "{garbage:?}");
    client.ready().await.expect("ready");
    let nothing = client
        .client_streaming(authorized(futures::stream::empty::<Vec<u8>>(), &admin), path, Raw)
        .await
        .expect_err("no message");
    assert_eq!(nothing.code(), Code::InvalidArgument, "{nothing:?}");
}

/// Calls every service makes for a tenant: the refusal of each.
async fn refusals(suite: &TestApp, token: &str) -> Vec<(Code, String)> {
    let gateway = suite.gateway().await;
    let mut refusals = Vec::new();
    let mut note = |result: Result<(), tonic::Status>| {
        let status = result.err().map_or((Code::Ok, String::new()), |status| {
            let reason = status.get_details_error_info().map(|info| info.reason).unwrap_or_default();
            (status.code(), reason)
        });
        refusals.push(status);
    };
    note(
        AccountServiceClient::new(gateway.clone())
            .list_accounts(authorized(ListAccountsRequest::default(), token))
            .await
            .map(|_| ()),
    );
    note(
        CatalogServiceClient::new(gateway.clone())
            .list_products(authorized(ListProductsRequest::default(), token))
            .await
            .map(|_| ()),
    );
    note(
        bss_proto::credit::credit_settings_service_client::CreditSettingsServiceClient::new(gateway.clone())
            .get_credit_settings(authorized(bss_proto::credit::GetCreditSettingsRequest {}, token))
            .await
            .map(|_| ()),
    );
    note(
        bss_proto::billing::ledger_service_client::LedgerServiceClient::new(gateway.clone())
            .list_periods(authorized(bss_proto::billing::ListPeriodsRequest::default(), token))
            .await
            .map(|_| ()),
    );
    note(
        bss_proto::resellersync::reseller_sync_service_client::ResellerSyncServiceClient::new(gateway)
            .list_links(authorized(bss_proto::resellersync::ListLinksRequest::default(), token))
            .await
            .map(|_| ()),
    );
    refusals
}

#[tokio::test]
async fn tokens_of_unknown_or_suspended_tenants_are_refused_by_every_service() {
    let suite = TestApp::start().await;
    let stranger = bss_testkit::token(uuid::Uuid::now_v7(), &[Role::TenantAdmin]);
    let unknown = (Code::PermissionDenied, "TENANT_UNKNOWN".to_owned());
    assert_eq!(refusals(&suite, &stranger).await, vec![unknown; 5]);

    let (tenant_id, admin) = suite.tenant("Paused Books", "EUR").await;
    let served = (Code::Ok, String::new());
    assert_eq!(refusals(&suite, &admin).await, vec![served.clone(); 5]);
    let mut tenants = TenantServiceClient::new(suite.gateway().await);
    let suspend =
        SuspendTenantRequest { id: tenant_id.to_string(), reason: "unpaid".to_owned(), request_id: "pause".to_owned() };
    let suspended = tenants.suspend_tenant(authorized(suspend.clone(), &platform_admin_token())).await.expect("paused");
    assert_eq!(suspended.into_inner().tenant.expect("tenant").status, TenantStatus::Suspended as i32);
    tenants.suspend_tenant(authorized(suspend, &platform_admin_token())).await.expect("the same request, once");
    // Accounts refuses at once; the others within the 10 s they trust it
    // (and the moments this check takes).
    let refused = (Code::PermissionDenied, "TENANT_SUSPENDED".to_owned());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(11);
    loop {
        let seen = refusals(&suite, &admin).await;
        assert_eq!(seen[0], refused, "accounts knows at once");
        if seen.iter().all(|refusal| *refusal == refused) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still served: {seen:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let reactivate = ReactivateTenantRequest { id: tenant_id.to_string(), request_id: String::new() };
    tenants.reactivate_tenant(authorized(reactivate.clone(), &platform_admin_token())).await.expect("back");
    let again = tenants.reactivate_tenant(authorized(reactivate, &platform_admin_token())).await.expect_err("active");
    assert_eq!(reason(&again), "TENANT_ACTIVE");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(11);
    while refusals(&suite, &admin).await != vec![served.clone(); 5] {
        assert!(tokio::time::Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_sales_rep_sees_only_its_accounts_in_the_stream_and_another_tenants_account_is_not_found() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Rep Books", "EUR").await;
    let (other_tenant, other_admin) = suite.tenant("Far Books", "EUR").await;
    let gateway = suite.gateway().await;
    let mine =
        create_account(&gateway, &admin, Account { sales_rep_id: "R7".to_owned(), ..ordering_account("MINE") }).await;
    let theirs =
        create_account(&gateway, &admin, Account { sales_rep_id: "R8".to_owned(), ..ordering_account("THEIRS") }).await;
    let mut accounts = AccountServiceClient::new(gateway.clone());
    for (id, name) in [(&mine, "Mine Renamed"), (&theirs, "Theirs Renamed")] {
        let account = Account { id: id.clone(), name: name.to_owned(), ..Account::default() };
        let update = UpdateAccountRequest {
            account: Some(account),
            update_mask: Some(prost_types::FieldMask { paths: vec!["name".to_owned()] }),
            request_id: String::new(),
        };
        accounts.update_account(authorized(update, &admin)).await.expect("renamed");
    }
    // A contact on "mine"; then "mine" moves to R8 and "theirs" to R7, and
    // each gets a contact: R7's stream follows each account's owner as the
    // stream goes.
    let add_contact = |id: &String, last_name: &str| CreateContactRequest {
        account_id: id.clone(),
        contact: Some(Contact {
            last_name: last_name.to_owned(),
            email: format!("{last_name}@example.com"),
            ..Contact::default()
        }),
        request_id: String::new(),
    };
    accounts.create_contact(authorized(add_contact(&mine, "Before"), &admin)).await.expect("a contact");
    let reassign = |id: &String, rep: &str| UpdateAccountRequest {
        account: Some(Account { id: id.clone(), sales_rep_id: rep.to_owned(), ..Account::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["sales_rep_id".to_owned()] }),
        request_id: String::new(),
    };
    accounts.update_account(authorized(reassign(&mine, "R8"), &admin)).await.expect("moved to R8");
    accounts.update_account(authorized(reassign(&theirs, "R7"), &admin)).await.expect("moved to R7");
    accounts.create_contact(authorized(add_contact(&mine, "Left"), &admin)).await.expect("a contact");
    accounts.create_contact(authorized(add_contact(&theirs, "Joined"), &admin)).await.expect("a contact");
    let rep = bss_testkit::sales_rep_token(tenant_id, "R7");
    let mut stream = AccountEventServiceClient::new(gateway.clone())
        .stream_events(authorized(StreamEventsRequest { after_sequence: 0 }, &rep))
        .await
        .expect("stream")
        .into_inner();
    let mut seen = Vec::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
        let event = message.event.expect("event");
        let seen_event = match event.payload {
            Some(account_event::Payload::AccountCreated(created)) => ("created", created.account.expect("account").id),
            Some(account_event::Payload::AccountUpdated(updated)) => ("updated", updated.account.expect("account").id),
            Some(account_event::Payload::ContactChanged(changed)) => {
                ("contact", changed.contact.expect("c").account_id)
            }
            other => ("other", format!("{other:?}")),
        };
        seen.push(seen_event);
    }
    assert_eq!(
        seen,
        vec![
            ("created", mine.clone()),
            ("updated", mine.clone()),
            ("contact", mine.clone()),
            ("updated", theirs.clone()),
            ("contact", theirs.clone())
        ],
        "its own accounts, as long as they are its own"
    );

    // Lists filtered by another tenant's account: NOT_FOUND, not empty.
    let other_clerk = bss_testkit::token(other_tenant, &[Role::TenantAdmin, Role::BillingClerk]);
    let orders = OrderServiceClient::new(gateway.clone())
        .list_orders(authorized(ListOrdersRequest { account_id: mine.clone(), ..Default::default() }, &other_clerk))
        .await;
    assert_eq!(orders.expect_err("another tenant's").code(), Code::NotFound);
    let subscriptions = SubscriptionServiceClient::new(gateway.clone())
        .list_subscriptions(authorized(
            ListSubscriptionsRequest { account_id: mine.clone(), ..Default::default() },
            &other_clerk,
        ))
        .await;
    assert_eq!(subscriptions.expect_err("another tenant's").code(), Code::NotFound);
    let contracts = ContractServiceClient::new(gateway.clone())
        .list_contracts(authorized(
            ListContractsRequest { account_id: mine.clone(), ..Default::default() },
            &other_admin,
        ))
        .await;
    assert_eq!(contracts.expect_err("another tenant's").code(), Code::NotFound);
    let invoices = InvoiceServiceClient::new(gateway.clone())
        .list_invoices(authorized(ListInvoicesRequest { account_id: mine.clone(), ..Default::default() }, &other_clerk))
        .await;
    assert_eq!(invoices.expect_err("another tenant's").code(), Code::NotFound);
    let transactions = LedgerServiceClient::new(gateway)
        .list_transactions(authorized(
            ListTransactionsRequest { account_id: mine.clone(), ..Default::default() },
            &other_clerk,
        ))
        .await;
    assert_eq!(transactions.expect_err("another tenant's").code(), Code::NotFound);
}
