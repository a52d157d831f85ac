//! Reseller sync through the gateway: a reseller customer copied into the
//! distributor's books on its first paid subscription, kept in step (locked
//! fields, billing address, suspend and reactivate with their history line,
//! deletion), what the distributor may and may not do with the copy, and a
//! sync that replays its streams from the start or is killed mid-copy
//! without making anything twice.

use std::time::Duration;

use bss_e2e::{
    TestApp, create_account, create_product, decimal, order_request, ordering_account, set_credit_terms,
    subscription_request,
};
use bss_platform::auth::Role;
use bss_platform::config::{DatabaseConfig, PlatformConfig, ServerConfig};
use bss_platform::shutdown::Shutdown;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::*;
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::{
    CancelSubscriptionRequest, CreateInvoiceRequest, Invoice, InvoiceLine, ListSubscriptionsRequest, VoidInvoiceRequest,
};
use bss_proto::resellersync::reseller_sync_service_client::ResellerSyncServiceClient;
use bss_proto::resellersync::*;
use bss_proto::types::PaymentType;
use bss_testkit::authorized;
use tonic::Code;
use tonic::transport::Channel;

/// A distributor, its reseller tenant under it, the tenant reseller and
/// the link between them.
struct World {
    channel: Channel,
    /// Where the sync's own RPCs go: the gateway, or a sync the test runs.
    sync: Channel,
    distributor: String,
    reseller_admin: String,
    reseller_tenant: String,
    tenant_reseller: String,
}

async fn world(suite: &TestApp) -> World {
    let channel = suite.gateway().await;
    let (distributor_id, distributor) = suite.tenant("Distributor", "USD").await;
    let request = CreateTenantRequest {
        tenant: Some(Tenant {
            name: "Reseller".to_owned(),
            default_currency: "EUR".to_owned(),
            parent_tenant_id: distributor_id.to_string(),
            ..Tenant::default()
        }),
        request_id: String::new(),
    };
    let reseller_tenant = TenantServiceClient::new(channel.clone())
        .create_tenant(authorized(request, &bss_testkit::platform_admin_token()))
        .await
        .expect("reseller tenant")
        .into_inner()
        .tenant
        .expect("tenant")
        .id;
    let reseller_admin = bss_testkit::token(reseller_tenant.parse().expect("id"), &[Role::TenantAdmin]);
    let tenant_reseller = create_account(
        &channel,
        &distributor,
        Account {
            kind: AccountKind::Reseller as i32,
            name: "Acme Telecom".to_owned(),
            separate_invoices: true,
            ..ordering_account("ACME")
        },
    )
    .await;
    create_product(&channel, &reseller_admin, "PLAN", "10.00", "").await;
    World { sync: channel.clone(), channel, distributor, reseller_admin, reseller_tenant, tenant_reseller }
}

async fn link(world: &World) -> Link {
    let link = Link {
        reseller_tenant_id: world.reseller_tenant.clone(),
        tenant_reseller_account_id: world.tenant_reseller.clone(),
        responsible_user: "dana".to_owned(),
        sharing_rule: "resellers-team".to_owned(),
        ..Link::default()
    };
    ResellerSyncServiceClient::new(world.sync.clone())
        .create_link(authorized(CreateLinkRequest { link: Some(link), request_id: String::new() }, &world.distributor))
        .await
        .expect("link")
        .into_inner()
        .link
        .expect("link")
}

/// A reseller customer with a billing address; `paid` subscribes it to a
/// paid plan (the copy's trigger).
async fn customer(world: &World, code: &str, paid: bool) -> String {
    let account = Account {
        email: format!("{}@customer.example", code.to_lowercase()),
        sync_options: vec!["radius".to_owned()],
        ..ordering_account(code)
    };
    let id = create_account(&world.channel, &world.reseller_admin, account).await;
    let address = billing_address("1 Main Street", "Springfield");
    let create = CreateAddressRequest { account_id: id.clone(), address: Some(address), request_id: String::new() };
    AccountServiceClient::new(world.channel.clone())
        .create_address(authorized(create, &world.reseller_admin))
        .await
        .expect("address");
    if paid {
        set_credit_terms(&world.channel, &world.reseller_admin, &id, "1000", None).await;
        let subscription = subscription_request(&id, "PLAN", "1", PaymentType::OnAccount);
        SubscriptionServiceClient::new(world.channel.clone())
            .create_subscription(authorized(subscription, &world.reseller_admin))
            .await
            .expect("subscribed");
    }
    id
}

/// A billing address in Illinois, at `line` in `city`.
fn billing_address(line: &str, city: &str) -> Address {
    Address {
        r#type: AddressType::Billing as i32,
        lines: vec![line.to_owned()],
        city: city.to_owned(),
        region: "IL".to_owned(),
        postal_code: "12345".to_owned(),
        country_code: "US".to_owned(),
        override_validation: true,
        ..Address::default()
    }
}

async fn copies(world: &World) -> Vec<Copy> {
    try_copies(world).await.expect("copies")
}

async fn try_copies(world: &World) -> Result<Vec<Copy>, tonic::Status> {
    let list = ListCopiesRequest { reseller_tenant_id: world.reseller_tenant.clone(), ..Default::default() };
    let listed =
        ResellerSyncServiceClient::new(world.sync.clone()).list_copies(authorized(list, &world.distributor)).await;
    Ok(listed?.into_inner().copies)
}

/// Waits until `done` holds of the copies.
async fn copies_until(world: &World, done: impl Fn(&[Copy]) -> bool) -> Vec<Copy> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        // A sync just started again may not answer yet.
        let copies = try_copies(world).await.unwrap_or_default();
        if done(&copies) {
            return copies;
        }
        assert!(tokio::time::Instant::now() < deadline, "the sync never got there: {copies:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn distributor_account(world: &World, id: &str) -> Result<Account, tonic::Status> {
    AccountServiceClient::new(world.channel.clone())
        .get_account(authorized(GetAccountRequest { id: id.to_owned() }, &world.distributor))
        .await
        .map(|response| response.into_inner().account.expect("account"))
}

/// Waits until the copy shows what `done` wants.
async fn copy_until(world: &World, id: &str, done: impl Fn(&Account) -> bool) -> Account {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let account = distributor_account(world, id).await.expect("copy");
        if done(&account) {
            return account;
        }
        assert!(tokio::time::Instant::now() < deadline, "the copy never got there: {account:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn billing_addresses(world: &World, token: &str, id: &str) -> Vec<Address> {
    let list = ListAddressesRequest { account_id: id.to_owned(), ..ListAddressesRequest::default() };
    AccountServiceClient::new(world.channel.clone())
        .list_addresses(authorized(list, token))
        .await
        .expect("addresses")
        .into_inner()
        .addresses
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask { paths: paths.iter().map(|path| (*path).to_owned()).collect() })
}

#[tokio::test]
async fn a_reseller_customer_is_copied_on_its_first_paid_subscription_and_kept_in_step() {
    let suite = TestApp::start().await;
    let world = world(&suite).await;
    let mut sync = ResellerSyncServiceClient::new(world.sync.clone());
    let made = link(&world).await;
    assert_eq!(
        (made.reseller_name.as_str(), made.separate_invoices, made.currency_code.as_str()),
        ("Acme Telecom", true, "USD")
    );
    let twice = sync
        .create_link(authorized(
            CreateLinkRequest { link: Some(made.clone()), request_id: String::new() },
            &world.distributor,
        ))
        .await
        .expect_err("linked already");
    assert_eq!(bss_testkit::reason(&twice), "LINK_EXISTS");

    let unpaid = customer(&world, "UNPAID", false).await;
    let source = customer(&world, "CUST1", true).await;
    let preview =
        PreviewCopyRequest { reseller_tenant_id: world.reseller_tenant.clone(), reseller_account_id: unpaid.clone() };
    let preview = sync.preview_copy(authorized(preview, &world.distributor)).await.expect("preview").into_inner();
    assert_eq!((preview.copied, preview.account.expect("account").currency_code.as_str()), (false, "USD"));

    let copied = copies_until(&world, |copies| !copies.is_empty()).await;
    assert_eq!(copied.iter().map(|copy| copy.reseller_account_id.clone()).collect::<Vec<_>>(), vec![source.clone()]);
    let copy_id = copied[0].copy_account_id.clone();
    let copy = distributor_account(&world, &copy_id).await.expect("copy");
    assert_eq!(
        (copy.name.as_str(), copy.code.as_str(), copy.email.as_str(), copy.currency_code.as_str()),
        ("Account CUST1", "CUST1", "cust1@customer.example", "USD"),
        "the tenant reseller's currency, not the customer's"
    );
    assert!(copy.enable_ordering && copy.separate_invoices);
    assert_eq!(
        (copy.parent_account_id.as_str(), copy.responsible_user.as_str(), copy.sharing_rule.as_str()),
        (world.tenant_reseller.as_str(), "dana", "resellers-team")
    );
    assert_eq!(copy.sync_options, vec!["radius".to_owned()]);
    assert_eq!(copy.ribbon_text, "This account is managed by Acme Telecom Tenant Reseller");
    let managed = copy.managed_by.clone().expect("managed");
    assert_eq!(managed.tenant_reseller_account_id, world.tenant_reseller);
    let addresses = billing_addresses(&world, &world.distributor, &copy_id).await;
    assert_eq!(
        addresses.iter().map(|address| address.city.clone()).collect::<Vec<_>>(),
        vec!["Springfield".to_owned()]
    );

    // Locked fields and the billing address follow the reseller's changes.
    let mut accounts = AccountServiceClient::new(world.channel.clone());
    let rename = UpdateAccountRequest {
        account: Some(Account {
            id: source.clone(),
            name: "Renamed Customer".to_owned(),
            email: "new@customer.example".to_owned(),
            ..Account::default()
        }),
        update_mask: mask(&["name", "email"]),
        request_id: String::new(),
    };
    accounts.update_account(authorized(rename, &world.reseller_admin)).await.expect("renamed");
    copy_until(&world, &copy_id, |copy| copy.name == "Renamed Customer" && copy.email == "new@customer.example").await;
    let source_address = billing_addresses(&world, &world.reseller_admin, &source).await.remove(0);
    let moved = UpdateAddressRequest {
        address: Some(Address { id: source_address.id.clone(), city: "Shelbyville".to_owned(), ..Address::default() }),
        update_mask: mask(&["city"]),
        request_id: String::new(),
    };
    accounts.update_address(authorized(moved, &world.reseller_admin)).await.expect("moved");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while billing_addresses(&world, &world.distributor, &copy_id).await[0].city != "Shelbyville" {
        assert!(tokio::time::Instant::now() < deadline, "the billing address never followed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Suspend and reactivate follow, with their history lines.
    let suspend = SuspendAccountRequest { id: source.clone(), reason: "unpaid".to_owned(), request_id: String::new() };
    accounts.suspend_account(authorized(suspend, &world.reseller_admin)).await.expect("suspended");
    copy_until(&world, &copy_id, |copy| copy.status == AccountStatus::Suspended as i32).await;
    let reactivate =
        ReactivateAccountRequest { id: source.clone(), reason: "paid".to_owned(), request_id: String::new() };
    accounts.reactivate_account(authorized(reactivate, &world.reseller_admin)).await.expect("reactivated");
    copy_until(&world, &copy_id, |copy| copy.status == AccountStatus::Active as i32).await;
    let history = ListAccountHistoryRequest { account_id: copy_id.clone(), ..ListAccountHistoryRequest::default() };
    let history =
        accounts.list_account_history(authorized(history, &world.distributor)).await.expect("history").into_inner();
    let reasons: Vec<String> = history
        .entries
        .iter()
        .map(|entry| entry.reason.clone())
        .filter(|reason| reason.starts_with("Account's Status"))
        .collect();
    let mut expected = vec![
        "Account's Status Changed to Suspended due to changes on Acme Telecom".to_owned(),
        "Account's Status Changed to Active due to changes on Acme Telecom".to_owned(),
    ];
    let mut sorted = reasons.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "{reasons:?}");

    // What the distributor may not do with the copy...
    let refused = |result: Result<(), tonic::Status>| {
        let status = result.expect_err("refused");
        (status.code(), bss_testkit::reason(&status))
    };
    let locked = UpdateAccountRequest {
        account: Some(Account { id: copy_id.clone(), name: "Mine".to_owned(), ..Account::default() }),
        update_mask: mask(&["name"]),
        request_id: String::new(),
    };
    assert_eq!(
        refused(accounts.update_account(authorized(locked, &world.distributor)).await.map(|_| ())),
        (Code::FailedPrecondition, "FIELD_LOCKED".to_owned())
    );
    let delete = DeleteAccountRequest { id: copy_id.clone(), etag: String::new(), request_id: String::new() };
    assert_eq!(
        refused(accounts.delete_account(authorized(delete, &world.distributor)).await.map(|_| ())).1,
        "MANAGED_BY_RESELLER"
    );
    let suspend = SuspendAccountRequest { id: copy_id.clone(), reason: "mine".to_owned(), request_id: String::new() };
    assert_eq!(
        refused(accounts.suspend_account(authorized(suspend, &world.distributor)).await.map(|_| ())).1,
        "MANAGED_BY_RESELLER"
    );
    let reactivate =
        ReactivateAccountRequest { id: copy_id.clone(), reason: "mine".to_owned(), request_id: String::new() };
    assert_eq!(
        refused(accounts.reactivate_account(authorized(reactivate, &world.distributor)).await.map(|_| ())).1,
        "MANAGED_BY_RESELLER"
    );
    let synchronize = SynchronizeAccountRequest {
        id: copy_id.clone(),
        provisioning_system: "radius".to_owned(),
        request_id: String::new(),
    };
    assert_eq!(
        refused(accounts.synchronize_account(authorized(synchronize, &world.distributor)).await.map(|_| ())).1,
        "MANAGED_BY_RESELLER"
    );
    let order = order_request(&copy_id, &[("PLAN", "1")], PaymentType::OnAccount);
    assert_eq!(
        refused(
            OrderServiceClient::new(world.channel.clone())
                .place_order(authorized(order, &world.distributor))
                .await
                .map(|_| ())
        )
        .1,
        "MANAGED_BY_RESELLER"
    );
    let subscription = subscription_request(&copy_id, "PLAN", "1", PaymentType::OnAccount);
    assert_eq!(
        refused(
            SubscriptionServiceClient::new(world.channel.clone())
                .create_subscription(authorized(subscription, &world.distributor))
                .await
                .map(|_| ())
        )
        .1,
        "MANAGED_BY_RESELLER"
    );

    // ... and what it may.
    let unlocked = UpdateAccountRequest {
        account: Some(Account {
            id: copy_id.clone(),
            responsible_user: "erin".to_owned(),
            territory: "West".to_owned(),
            ..Account::default()
        }),
        update_mask: mask(&["responsible_user", "territory"]),
        request_id: String::new(),
    };
    accounts.update_account(authorized(unlocked, &world.distributor)).await.expect("unlocked fields");
    let contact = CreateContactRequest {
        account_id: copy_id.clone(),
        contact: Some(Contact {
            first_name: "Pat".to_owned(),
            last_name: "Doe".to_owned(),
            email: "pat@customer.example".to_owned(),
            ..Contact::default()
        }),
        request_id: String::new(),
    };
    accounts.create_contact(authorized(contact, &world.distributor)).await.expect("contact");
    let invoice = CreateInvoiceRequest {
        invoice: Some(Invoice {
            account_id: copy_id.clone(),
            lines: vec![InvoiceLine {
                description: "Setup".to_owned(),
                quantity: decimal("1"),
                unit_price: Some(bss_proto::types::Money {
                    currency_code: "USD".to_owned(),
                    amount: "25.00".to_owned(),
                }),
                ..InvoiceLine::default()
            }],
            ..Invoice::default()
        }),
        request_id: String::new(),
    };
    let invoice = InvoiceServiceClient::new(world.channel.clone())
        .create_invoice(authorized(invoice, &world.distributor))
        .await
        .expect("invoice")
        .into_inner()
        .invoice
        .expect("invoice");
    assert_eq!(invoice.account_id, world.tenant_reseller, "billed to the tenant reseller");

    // The reseller deletes its customer once nothing is owed in its own
    // books: the subscription cancelled on its first day charges nothing
    // and frees its reservation (credit applies that a moment later).
    let mut subscriptions = SubscriptionServiceClient::new(world.channel.clone());
    let list = ListSubscriptionsRequest { account_id: source.clone(), ..ListSubscriptionsRequest::default() };
    let listed = subscriptions.list_subscriptions(authorized(list, &world.reseller_admin)).await.expect("listed");
    for subscription in listed.into_inner().subscriptions {
        let cancel = CancelSubscriptionRequest { id: subscription.id, request_id: String::new(), ..Default::default() };
        subscriptions.cancel_subscription(authorized(cancel, &world.reseller_admin)).await.expect("cancelled");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let delete = DeleteAccountRequest { id: source.clone(), etag: String::new(), request_id: String::new() };
        match accounts.delete_account(authorized(delete, &world.reseller_admin)).await {
            Ok(_) => break,
            Err(status) if bss_testkit::reason(&status) == "RESERVATIONS_OPEN" => {}
            Err(status) => panic!("deleting the customer: {status:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "credit never released the reservation");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Its copy holds the distributor's draft: it stays, set aside where the
    // distributor sees why, and nothing of the distributor's books is lost.
    let failure = failures_until(&world, |failures| !failures.is_empty()).await.remove(0);
    assert!(failure.error.starts_with("COPY_HOLDS_MONEY"), "{failure:?}");
    assert!(failure.error.contains("INVOICES_NOT_POSTED"), "{failure:?}");
    assert_eq!(distributor_account(&world, &copy_id).await.expect("kept").id, copy_id);
    let status = sync.get_sync_status(authorized(GetSyncStatusRequest {}, &world.distributor)).await;
    assert_eq!(status.expect("status").into_inner().failures, 1);

    // Once the distributor settles it (the draft voided), the retry deletes
    // the copy.
    let void =
        VoidInvoiceRequest { id: invoice.id.clone(), reason: "customer gone".to_owned(), request_id: String::new() };
    InvoiceServiceClient::new(world.channel.clone())
        .void_invoice(authorized(void, &world.distributor))
        .await
        .expect("void");
    let retry = RetrySyncRequest { stream: failure.stream.clone(), sequence: failure.sequence };
    let retried = sync.retry_sync(authorized(retry, &world.distributor)).await.expect("retried").into_inner();
    assert!(retried.applied, "{retried:?}");
    copies_until(&world, <[Copy]>::is_empty).await;
    assert_eq!(distributor_account(&world, &copy_id).await.expect_err("gone").code(), Code::NotFound);
    let status = sync
        .get_sync_status(authorized(GetSyncStatusRequest {}, &world.distributor))
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.failures, 0);
    assert!(status.streams.iter().all(|stream| stream.position > 0), "{status:?}");
}

/// The sync's failures once `done` says so.
async fn failures_until(world: &World, done: impl Fn(&[SyncFailure]) -> bool) -> Vec<SyncFailure> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let failures = ResellerSyncServiceClient::new(world.sync.clone())
            .list_sync_failures(authorized(ListSyncFailuresRequest::default(), &world.distributor))
            .await
            .expect("failures")
            .into_inner()
            .failures;
        if done(&failures) {
            return failures;
        }
        assert!(tokio::time::Instant::now() < deadline, "the failures never came: {failures:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The sync as a process of its own on the suite's database, on `port`
/// (0: any).
async fn start_sync(suite: &TestApp, port: u16) -> (Shutdown, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("port");
    let address = listener.local_addr().expect("address");
    let platform = PlatformConfig {
        listen_addr: listener.local_addr().expect("address"),
        database: DatabaseConfig { max_connections: 4, ..DatabaseConfig::new(suite.database_url().to_owned()) },
        auth: bss_testkit::auth_config(),
        server: ServerConfig { drain_delay_ms: 0, shutdown_grace_ms: 1_000, ..ServerConfig::default() },
        ..PlatformConfig::new(listener.local_addr().expect("address"), suite.database_url().to_owned())
    };
    let config = bss_reseller_sync::ResellerSyncConfig::new(
        platform,
        format!("http://{}", suite.endpoints.accounts),
        format!("http://{}", suite.endpoints.billing),
    );
    let shutdown = Shutdown::new();
    let app = bss_reseller_sync::App::build(&config, listener, shutdown.clone()).await.expect("sync starts");
    tokio::spawn(app.run_until_stopped());
    (shutdown, address)
}

/// The distributor's managed copies, counted in its books.
async fn managed_accounts(world: &World) -> usize {
    let list = ListAccountsRequest { page_size: 500, ..ListAccountsRequest::default() };
    let listed = AccountServiceClient::new(world.channel.clone())
        .list_accounts(authorized(list, &world.distributor))
        .await
        .expect("accounts")
        .into_inner()
        .accounts;
    listed.iter().filter(|account| account.managed_by.is_some()).count()
}

#[tokio::test]
async fn replaying_from_the_start_and_killing_the_sync_mid_copy_make_nothing_twice() {
    let suite = TestApp::start_with(|config| config.reseller_sync = false).await;
    let mut world = world(&suite).await;
    let (sync, address) = start_sync(&suite, 0).await;
    world.sync = bss_testkit::channel(address).await;
    link(&world).await;
    let mut sources = Vec::new();
    for index in 0..12 {
        sources.push(customer(&world, &format!("C{index}"), true).await);
    }
    // Killed as soon as the first copies appear, started again.
    copies_until(&world, |copies| !copies.is_empty()).await;
    sync.trigger();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (sync, _) = start_sync(&suite, address.port()).await;
    copies_until(&world, |copies| copies.len() == 12).await;
    assert_eq!(managed_accounts(&world).await, 12, "one copy per customer");

    // Every event again from sequence 0: nothing is created or changed twice.
    let history_before = history_lines(&world).await;
    sync.trigger();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pool = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    let cursors = "SELECT stream, position FROM reseller_sync.consumer_cursors ORDER BY stream";
    let before: Vec<(String, i64)> = sqlx::query_as(cursors).fetch_all(&pool).await.expect("cursors");
    assert_eq!(before.len(), 2, "both streams were followed");
    sqlx::query("UPDATE reseller_sync.consumer_cursors SET position = 0").execute(&pool).await.expect("rewound");
    let _sync = start_sync(&suite, address.port()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now: Vec<(String, i64)> = sqlx::query_as(cursors).fetch_all(&pool).await.expect("cursors");
        if now.iter().zip(&before).all(|(now, before)| now.1 >= before.1) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the replay never caught up: {now:?} of {before:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    copies_until(&world, |copies| copies.len() == 12).await;
    assert_eq!(managed_accounts(&world).await, 12, "the replay created nothing");
    assert_eq!(history_lines(&world).await, history_before, "the replay changed nothing");
}

/// Every history line of the distributor's copies.
async fn history_lines(world: &World) -> usize {
    let mut lines = 0;
    for copy in copies(world).await {
        let history = ListAccountHistoryRequest {
            account_id: copy.copy_account_id,
            page_size: 500,
            ..ListAccountHistoryRequest::default()
        };
        lines += AccountServiceClient::new(world.channel.clone())
            .list_account_history(authorized(history, &world.distributor))
            .await
            .expect("history")
            .into_inner()
            .entries
            .len();
    }
    lines
}

/// The sync prepares waiting events of different customers at once and one
/// customer's in order: a burst of changes to many customers leaves every
/// copy as its customer, with the last name and each billing address once
/// (two address events of one customer prepared at once would both add the
/// missing address).
#[tokio::test]
async fn a_burst_of_changes_to_many_customers_leaves_every_copy_as_its_customer() {
    const CUSTOMERS: usize = 8;
    const RENAMES: usize = 5;
    let suite = TestApp::start().await;
    let world = world(&suite).await;
    link(&world).await;
    let mut customers = Vec::new();
    for index in 0..CUSTOMERS {
        customers.push(customer(&world, &format!("BURST{index}"), true).await);
    }
    let copied = copies_until(&world, |copies| copies.len() == CUSTOMERS).await;
    let copy_of: std::collections::HashMap<String, String> =
        copied.into_iter().map(|copy| (copy.reseller_account_id, copy.copy_account_id)).collect();

    // Every customer at once: renamed five times, with three more billing
    // addresses added between the renames.
    futures::future::join_all(customers.iter().map(|id| {
        let (channel, token) = (world.channel.clone(), world.reseller_admin.clone());
        async move {
            let mut accounts = AccountServiceClient::new(channel);
            for round in 0..RENAMES {
                let rename = UpdateAccountRequest {
                    account: Some(Account {
                        id: id.clone(),
                        name: format!("Burst {id} {round}"),
                        ..Account::default()
                    }),
                    update_mask: mask(&["name"]),
                    request_id: String::new(),
                };
                accounts.update_account(authorized(rename, &token)).await.expect("renamed");
                if round < 3 {
                    let address = billing_address(&format!("{round} Side Street"), &format!("Town {round}"));
                    let create = CreateAddressRequest {
                        account_id: id.clone(),
                        address: Some(address),
                        request_id: String::new(),
                    };
                    accounts.create_address(authorized(create, &token)).await.expect("address");
                }
            }
        }
    }))
    .await;

    for id in &customers {
        let copy_id = &copy_of[id];
        let last = format!("Burst {id} {}", RENAMES - 1);
        copy_until(&world, copy_id, |copy| copy.name == last).await;
        let cities = |addresses: Vec<Address>| addresses.into_iter().map(|address| address.city).collect::<Vec<_>>();
        let wanted = cities(billing_addresses(&world, &world.reseller_admin, id).await);
        assert_eq!(wanted, vec!["Springfield", "Town 0", "Town 1", "Town 2"], "the customer's billing addresses");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let copied = cities(billing_addresses(&world, &world.distributor, copy_id).await);
            if copied == wanted {
                break;
            }
            assert!(copied.len() <= wanted.len(), "an address was copied twice: {copied:?}");
            assert!(tokio::time::Instant::now() < deadline, "the copy's addresses never followed: {copied:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The sync's own books: still one copy per customer, and the
    // distributor's books hold no more managed accounts than that.
    assert_eq!(copies(&world).await.len(), CUSTOMERS, "one copy per customer");
    assert_eq!(managed_accounts(&world).await, CUSTOMERS, "no account copied twice");
}
