//! Subscriptions and invoicing through the gateway: each period priced on
//! its first day by the account's pricing (rate plans), every invoice line
//! naming its rule, the first paid subscription published once, GenerateInvoices
//! billing group parents (fully, partly, on separate invoices) and managed
//! copies' tenant resellers, and billing runs that report progress and
//! resume where they stopped.

use std::collections::BTreeSet;
use std::time::Duration;

use bss_e2e::{
    TestApp, amount, create_account, create_product, credit_settles, decimal, eur, generate, order_request,
    ordering_account, pricelist_request, set_credit_terms, subscription_request,
};
use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::group_service_client::GroupServiceClient;
use bss_proto::accounts::{AddGroupMemberRequest, Funding, FundingScope, SuspendAccountRequest};
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::billing_event_service_client::BillingEventServiceClient;
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::*;
use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
use bss_proto::pricing::{Product, UpdateProductRequest};
use bss_proto::types::PaymentType;
use bss_testkit::authorized;
use tonic::Code;
use tonic::transport::Channel;

async fn subscribe(channel: &Channel, token: &str, request: CreateSubscriptionRequest) -> Subscription {
    let created = SubscriptionServiceClient::new(channel.clone()).create_subscription(authorized(request, token)).await;
    let created = created.expect("subscribed").into_inner().subscription.expect("subscription");
    assert_eq!(created.status, SubscriptionStatus::Active as i32, "{created:?}");
    created
}

async fn order(channel: &Channel, token: &str, account_id: &str, lines: &[(&str, &str)]) -> Order {
    let request = order_request(account_id, lines, PaymentType::OnAccount);
    let placed = OrderServiceClient::new(channel.clone()).place_order(authorized(request, token)).await;
    let placed = placed.expect("placed").into_inner().order.expect("order");
    assert_eq!(placed.status, OrderStatus::Executed as i32, "{placed:?}");
    placed
}

/// Each invoice as (bill-to, for account, sorted line descriptions, total).
fn summary(invoices: &[Invoice]) -> BTreeSet<(String, String, Vec<String>, String)> {
    invoices
        .iter()
        .map(|invoice| {
            let mut lines: Vec<String> = invoice.lines.iter().map(|line| line.description.clone()).collect();
            lines.sort();
            (invoice.account_id.clone(), invoice.for_account_id.clone(), lines, amount(&invoice.total).to_owned())
        })
        .collect()
}

#[tokio::test]
async fn a_subscription_shows_the_price_of_its_latest_period_and_the_first_paid_one_is_published_once() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Subscription Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    let account_id = create_account(&channel, &admin, ordering_account("SUB1")).await;
    set_credit_terms(&channel, &admin, &account_id, "1000", None).await;
    let product_id = create_product(&channel, &admin, "STREAM", "10.00", "").await;

    let quote =
        subscribe(&channel, &clerk, subscription_request(&account_id, "STREAM", "1", PaymentType::RunningQuote)).await;
    assert!(!quote.paid, "a running quote is not a paid subscription");
    let first =
        subscribe(&channel, &clerk, subscription_request(&account_id, "STREAM", "2", PaymentType::OnAccount)).await;
    assert_eq!((amount(&first.unit_price), first.paid), ("10.00", true));

    let update = UpdateProductRequest {
        product: Some(Product { id: product_id, list_price: eur("12.50"), ..Product::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["list_price".to_owned()] }),
        request_id: String::new(),
    };
    CatalogServiceClient::new(channel.clone()).update_product(authorized(update, &admin)).await.expect("repriced");
    let second =
        subscribe(&channel, &clerk, subscription_request(&account_id, "STREAM", "1", PaymentType::OnAccount)).await;
    assert_eq!(amount(&second.unit_price), "12.50", "a new subscription takes the new price");
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let again =
        subscriptions.get_subscription(authorized(GetSubscriptionRequest { id: first.id.clone() }, &clerk)).await;
    assert_eq!(amount(&again.expect("read").into_inner().subscription.expect("subscription").unit_price), "10.00");
    let listed = subscriptions
        .list_subscriptions(authorized(
            ListSubscriptionsRequest { account_id: account_id.clone(), ..ListSubscriptionsRequest::default() },
            &clerk,
        ))
        .await
        .expect("listed")
        .into_inner()
        .subscriptions;
    assert_eq!(listed.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), vec![quote.id, first.id.clone(), second.id]);

    // Exactly one FirstPaidSubscriptionCreated, naming the first paid one.
    let mut stream = BillingEventServiceClient::new(channel.clone())
        .stream_events(authorized(StreamEventsRequest { after_sequence: 0 }, &clerk))
        .await
        .expect("stream")
        .into_inner();
    let mut firsts = Vec::new();
    while let Ok(Ok(Some(message))) = tokio::time::timeout(Duration::from_secs(2), stream.message()).await {
        if let Some(Payload::FirstPaidSubscriptionCreated(created)) = message.event.and_then(|event| event.payload) {
            firsts.push((created.account_id, created.subscription_id));
        }
    }
    assert_eq!(firsts, vec![(account_id.clone(), first.id)]);

    AccountServiceClient::new(channel.clone())
        .suspend_account(authorized(
            SuspendAccountRequest { id: account_id.clone(), reason: "dispute".to_owned(), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("suspended");
    let refused = SubscriptionServiceClient::new(channel.clone())
        .create_subscription(authorized(
            subscription_request(&account_id, "STREAM", "1", PaymentType::OnAccount),
            &clerk,
        ))
        .await
        .expect_err("refused");
    assert_eq!(
        (refused.code(), bss_testkit::reason(&refused)),
        (Code::FailedPrecondition, "ACCOUNT_SUSPENDED".to_owned())
    );
    let bad = SubscriptionServiceClient::new(channel.clone())
        .create_subscription(authorized(subscription_request(&account_id, "", "0", PaymentType::OnAccount), &clerk))
        .await
        .expect_err("invalid");
    assert_eq!(bss_testkit::violated_fields(&bad), vec!["subscription.product", "subscription.quantity"]);
}

#[tokio::test]
async fn generated_invoices_bill_group_parents_for_what_they_fund_and_keep_separate_members_apart() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Group Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "GADGET", "30.00", "TOOLS").await;
    create_product(&channel, &admin, "PHONE", "100.00", "PHONES").await;
    let parent = create_account(&channel, &admin, ordering_account("PARENT")).await;
    let merged = create_account(&channel, &admin, ordering_account("MERGED")).await;
    let separate = create_account(
        &channel,
        &admin,
        bss_proto::accounts::Account { separate_invoices: true, ..ordering_account("SEPARATE") },
    )
    .await;
    let partial = create_account(&channel, &admin, ordering_account("PARTIAL")).await;
    let mut groups = GroupServiceClient::new(channel.clone());
    for (member, funding) in [
        (&merged, Funding { scope: FundingScope::Full as i32, ..Funding::default() }),
        (&separate, Funding { scope: FundingScope::Full as i32, ..Funding::default() }),
        (
            &partial,
            Funding {
                scope: FundingScope::Partial as i32,
                product_families: vec!["PHONES".to_owned()],
                ..Funding::default()
            },
        ),
    ] {
        let add = AddGroupMemberRequest {
            parent_account_id: parent.clone(),
            member_account_id: member.clone(),
            funding: Some(funding),
            request_id: String::new(),
        };
        groups.add_group_member(authorized(add, &admin)).await.expect("member");
    }
    for account in [&parent, &merged, &separate, &partial] {
        set_credit_terms(&channel, &admin, account, "10000", None).await;
    }
    let own = order(&channel, &clerk, &parent, &[("GADGET", "1")]).await;
    let of_merged = order(&channel, &clerk, &merged, &[("GADGET", "2")]).await;
    let of_separate = order(&channel, &clerk, &separate, &[("PHONE", "1")]).await;
    let of_partial = order(&channel, &clerk, &partial, &[("PHONE", "1"), ("GADGET", "3")]).await;

    let today = bss_platform::time::format_date(bss_platform::time::now().date_naive());
    let parents = generate(&channel, &clerk, &parent, &today, true).await;
    let line = |product: &str, order: &Order| format!("{product} ({})", order.reference);
    let expected: BTreeSet<_> = [
        (
            parent.clone(),
            String::new(),
            vec![line("GADGET", &own), line("GADGET", &of_merged), line("PHONE", &of_partial)],
            "190.00".to_owned(),
        ),
        (parent.clone(), separate.clone(), vec![line("PHONE", &of_separate)], "100.00".to_owned()),
    ]
    .into();
    assert_eq!(summary(&parents), expected);
    for invoice in &parents {
        assert_eq!(invoice.status, InvoiceStatus::Posted as i32);
        assert!(invoice.number > 0 && !invoice.due_date.is_empty());
    }
    let numbers: BTreeSet<i64> = parents.iter().map(|invoice| invoice.number).collect();
    assert_eq!(numbers, [1, 2].into());

    // The partly funded member pays for what its parent does not fund;
    // nothing is invoiced twice.
    let members = generate(&channel, &clerk, &partial, &today, false).await;
    let expected: BTreeSet<_> =
        [(partial.clone(), String::new(), vec![line("GADGET", &of_partial)], "90.00".to_owned())].into();
    assert_eq!(summary(&members), expected);
    assert_eq!(members[0].status, InvoiceStatus::Draft as i32);
    assert!(generate(&channel, &clerk, &parent, &today, true).await.is_empty(), "nothing owed any more");
    assert!(generate(&channel, &clerk, &merged, &today, true).await.is_empty());
}

#[tokio::test]
async fn a_billing_run_invoices_every_account_reports_progress_and_resumes_where_it_stopped() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Run Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "PLAN", "9.99", "").await;
    let mut accounts = Vec::new();
    for index in 0..12 {
        let account_id = create_account(&channel, &admin, ordering_account(&format!("RUN{index}"))).await;
        set_credit_terms(&channel, &admin, &account_id, "1000", None).await;
        subscribe(&channel, &clerk, subscription_request(&account_id, "PLAN", "1", PaymentType::OnAccount)).await;
        accounts.push(account_id);
    }
    accounts.sort();
    let mut invoices = InvoiceServiceClient::new(channel.clone());

    // A run a stopped replica left after invoicing the first half: the
    // worker resumes it and invoices only the rest.
    let pool = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    let today = bss_platform::time::now().date_naive();
    let left = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO billing.billing_runs (tenant_id, id, invoice_date, post, accounts_total, accounts_done,
             cursor_account_id, actor)
         VALUES ($1, $2, $3, true, 12, 6, $4, 'test')",
    )
    .bind(tenant_id)
    .bind(left)
    .bind(today)
    .bind(accounts[5].parse::<uuid::Uuid>().expect("id"))
    .execute(&pool)
    .await
    .expect("left run");
    let resumed = wait_for_run(&mut invoices, &clerk, &left.to_string()).await;
    assert_eq!((resumed.accounts_total, resumed.accounts_done, resumed.invoices_created), (12, 12, 6));
    for (index, account_id) in accounts.iter().enumerate() {
        let list = ListInvoicesRequest { account_id: account_id.clone(), ..ListInvoicesRequest::default() };
        let listed = invoices.list_invoices(authorized(list, &clerk)).await.expect("listed").into_inner().invoices;
        assert_eq!(listed.len(), usize::from(index > 5), "account {index}");
    }

    // A new run invoices the first half, numbered after the others.
    let start = StartBillingRunRequest { invoice_date: String::new(), post: true, request_id: "run-1".to_owned() };
    let started = invoices.start_billing_run(authorized(start.clone(), &clerk)).await.expect("started");
    let run = started.into_inner().run.expect("run");
    assert_eq!((run.status, run.accounts_total), (BillingRunStatus::Running as i32, 6));
    let retried = invoices.start_billing_run(authorized(start, &clerk)).await.expect("retried");
    assert_eq!(retried.into_inner().run.expect("run").id, run.id, "a retry starts nothing");
    let done = wait_for_run(&mut invoices, &clerk, &run.id).await;
    assert_eq!((done.accounts_done, done.invoices_created), (6, 6));
    let mut numbers = Vec::new();
    for account_id in &accounts {
        let list = ListInvoicesRequest { account_id: account_id.clone(), ..ListInvoicesRequest::default() };
        let listed = invoices.list_invoices(authorized(list, &clerk)).await.expect("listed").into_inner().invoices;
        assert_eq!(listed.len(), 1);
        assert_eq!(amount(&listed[0].total), "9.99");
        assert!(listed[0].lines[0].description.starts_with("PLAN subscription from "));
        numbers.push(listed[0].number);
    }
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=12).collect::<Vec<i64>>(), "gapless across runs");

    // One run at a time: while a run is held (as by a worker on another
    // replica), another is refused. The worker may finish a new run before
    // this test locks it; then it tries again.
    let (holder, held) = loop {
        let held = uuid::Uuid::now_v7();
        sqlx::query(
            "INSERT INTO billing.billing_runs (tenant_id, id, invoice_date, post, accounts_total, actor)
             VALUES ($1, $2, $3, false, 0, 'test')",
        )
        .bind(tenant_id)
        .bind(held)
        .bind(today)
        .execute(&pool)
        .await
        .expect("held run");
        let mut holder = pool.begin().await.expect("tx");
        let status: String = sqlx::query_scalar("SELECT status FROM billing.billing_runs WHERE id = $1 FOR UPDATE")
            .bind(held)
            .fetch_one(&mut *holder)
            .await
            .expect("locked");
        if status == "RUNNING" {
            break (holder, held);
        }
    };
    let start = StartBillingRunRequest { invoice_date: String::new(), post: false, request_id: String::new() };
    let refused = invoices.start_billing_run(authorized(start, &clerk)).await.expect_err("refused");
    assert_eq!(bss_testkit::reason(&refused), "BILLING_RUN_IN_PROGRESS");
    holder.rollback().await.expect("released");
    let finished = wait_for_run(&mut invoices, &clerk, &held.to_string()).await;
    assert_eq!(finished.invoices_created, 0, "nothing left to invoice");
    let bad = StartBillingRunRequest { invoice_date: "tomorrow".to_owned(), post: false, request_id: String::new() };
    let bad = invoices.start_billing_run(authorized(bad, &clerk)).await.expect_err("invalid");
    assert_eq!(bss_testkit::violated_fields(&bad), vec!["invoice_date"]);
}

async fn wait_for_run(invoices: &mut InvoiceServiceClient<Channel>, token: &str, id: &str) -> BillingRun {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let run = invoices.get_billing_run(authorized(GetBillingRunRequest { id: id.to_owned() }, token)).await;
        let run = run.expect("run").into_inner().run.expect("run");
        if run.status != BillingRunStatus::Running as i32 {
            assert_eq!(run.status, BillingRunStatus::Completed as i32, "{run:?}");
            return run;
        }
        assert!(tokio::time::Instant::now() < deadline, "the run never finished: {run:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_account_is_terminated_only_once_its_billing_is_final() {
    use bss_proto::accounts::TerminateAccountRequest;

    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Closing Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "PLAN", "20.00", "").await;
    let account_id = create_account(&channel, &admin, ordering_account("LEAVING")).await;
    set_credit_terms(&channel, &admin, &account_id, "1000", None).await;
    let mut accounts = AccountServiceClient::new(channel.clone());
    let terminate = |accounts: &mut AccountServiceClient<Channel>| {
        let request =
            TerminateAccountRequest { id: account_id.clone(), reason: "leaving".to_owned(), request_id: String::new() };
        let mut accounts = accounts.clone();
        let admin = admin.clone();
        async move {
            accounts
                .terminate_account(authorized(request, &admin))
                .await
                .map(|_| ())
                .map_err(|status| bss_testkit::reason(&status))
        }
    };

    let plan =
        subscribe(&channel, &clerk, subscription_request(&account_id, "PLAN", "1", PaymentType::OnAccount)).await;
    assert_eq!(terminate(&mut accounts).await, Err("SUBSCRIPTIONS_ACTIVE".to_owned()));
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let cancel = CancelSubscriptionRequest { id: plan.id.clone(), request_id: String::new(), ..Default::default() };
    let cancelled = subscriptions.cancel_subscription(authorized(cancel.clone(), &clerk)).await.expect("cancelled");
    let cancelled = cancelled.into_inner().subscription.expect("subscription");
    assert_eq!(cancelled.status, SubscriptionStatus::Cancelled as i32);
    let twice = subscriptions.cancel_subscription(authorized(cancel, &clerk)).await.expect_err("cancelled already");
    assert_eq!(bss_testkit::reason(&twice), "SUBSCRIPTION_CANCELLED");

    order(&channel, &clerk, &account_id, &[("PLAN", "2")]).await;
    assert_eq!(terminate(&mut accounts).await, Err("CHARGES_NOT_INVOICED".to_owned()));
    let today = bss_platform::time::format_date(bss_platform::time::now().date_naive());
    let drafts = generate(&channel, &clerk, &account_id, &today, false).await;
    assert_eq!(
        summary(&drafts).into_iter().map(|(_, _, lines, total)| (lines.len(), total)).collect::<Vec<_>>(),
        vec![(1, "40.00".to_owned())],
        "a subscription cancelled on its first day charges nothing"
    );
    assert_eq!(terminate(&mut accounts).await, Err("INVOICES_NOT_POSTED".to_owned()));
    let post = PostInvoiceRequest { id: drafts[0].id.clone(), request_id: String::new() };
    InvoiceServiceClient::new(channel.clone()).post_invoice(authorized(post, &clerk)).await.expect("posted");
    assert_eq!(terminate(&mut accounts).await, Ok(()));
}

#[tokio::test]
async fn back_ordered_quantity_is_invoiced_only_once_it_ships() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Stock Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "WIDGET", "2.50", "").await;
    let account_id = create_account(&channel, &admin, ordering_account("STOCK")).await;
    set_credit_terms(&channel, &admin, &account_id, "1000", None).await;
    let mut orders = OrderServiceClient::new(channel.clone());
    let place = |available: &str| PlaceOrderRequest {
        order: Some(Order {
            account_id: account_id.clone(),
            lines: vec![OrderLine {
                product: "WIDGET".to_owned(),
                quantity: decimal("10"),
                available_quantity: decimal(available),
                ..OrderLine::default()
            }],
            payment_type: PaymentType::OnAccount as i32,
            ..Order::default()
        }),
        request_id: String::new(),
        ..Default::default()
    };
    let bad = orders.place_order(authorized(place("11"), &clerk)).await.expect_err("more than ordered");
    assert_eq!(bss_testkit::violated_fields(&bad), vec!["order.lines[0].available_quantity"]);
    let placed = orders.place_order(authorized(place("4"), &clerk)).await.expect("placed").into_inner();
    let placed = placed.order.expect("order");
    assert_eq!(placed.status, OrderStatus::Executed as i32);
    assert_eq!(placed.lines[0].backordered_quantity, decimal("6"));
    let back_orders = |orders: &mut OrderServiceClient<Channel>| {
        let list = ListOrdersRequest {
            account_id: account_id.clone(),
            back_ordered_only: true,
            ..ListOrdersRequest::default()
        };
        let mut orders = orders.clone();
        let clerk = clerk.clone();
        async move { orders.list_orders(authorized(list, &clerk)).await.expect("listed").into_inner().orders.len() }
    };
    assert_eq!(back_orders(&mut orders).await, 1);

    let today = bss_platform::time::format_date(bss_platform::time::now().date_naive());
    let quantities = |invoices: &[Invoice]| -> Vec<String> {
        invoices
            .iter()
            .flat_map(|invoice| invoice.lines.iter().map(|line| line.quantity.clone().expect("q").value))
            .collect()
    };
    let first = generate(&channel, &clerk, &account_id, &today, true).await;
    assert_eq!((quantities(&first), amount(&first[0].total)), (vec!["4".to_owned()], "10.00"));

    let ship = |quantity: &str, request_id: &str| ShipBackOrderRequest {
        order_id: placed.id.clone(),
        line_number: 1,
        quantity: decimal(quantity),
        request_id: request_id.to_owned(),
    };
    let shipped = orders.ship_back_order(authorized(ship("2", "ship-1"), &clerk)).await.expect("shipped").into_inner();
    assert_eq!(shipped.order.expect("order").lines[0].backordered_quantity, decimal("4"));
    orders.ship_back_order(authorized(ship("2", "ship-1"), &clerk)).await.expect("retried: ships once");
    let too_much = orders.ship_back_order(authorized(ship("5", ""), &clerk)).await.expect_err("only 4 left");
    assert_eq!(bss_testkit::reason(&too_much), "NOTHING_BACK_ORDERED");
    let second = generate(&channel, &clerk, &account_id, &today, true).await;
    assert_eq!((quantities(&second), amount(&second[0].total)), (vec!["2".to_owned()], "5.00"));

    orders.ship_back_order(authorized(ship("4", ""), &clerk)).await.expect("shipped");
    assert_eq!(back_orders(&mut orders).await, 0, "nothing back-ordered any more");
    let third = generate(&channel, &clerk, &account_id, &today, true).await;
    assert_eq!(quantities(&third), vec!["4".to_owned()]);
    assert!(generate(&channel, &clerk, &account_id, &today, true).await.is_empty());
}

#[tokio::test]
async fn a_managed_copy_is_invoiced_to_its_tenant_reseller_and_never_orders() {
    use bss_proto::accounts::{Account, AccountKind, ManagedBy};

    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Distributor Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let sync = bss_testkit::token(tenant_id, &[Role::Integration]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "PLAN", "20.00", "").await;
    let reseller = create_account(
        &channel,
        &admin,
        Account { kind: AccountKind::Reseller as i32, ..ordering_account("RESELLER") },
    )
    .await;
    let managed_by = ManagedBy {
        tenant_reseller_account_id: reseller.clone(),
        reseller_name: "Acme Telecom".to_owned(),
        locked_fields: vec!["name".to_owned(), "code".to_owned()],
    };
    let copy =
        create_account(&channel, &sync, Account { managed_by: Some(managed_by), ..ordering_account("COPY") }).await;

    // The distributor may not order or subscribe for the copy...
    let order = order_request(&copy, &[("PLAN", "1")], PaymentType::OnAccount);
    let refused =
        OrderServiceClient::new(channel.clone()).place_order(authorized(order, &clerk)).await.expect_err("copy");
    assert_eq!(bss_testkit::reason(&refused), "MANAGED_BY_RESELLER");
    let refused = SubscriptionServiceClient::new(channel.clone())
        .create_subscription(authorized(subscription_request(&copy, "PLAN", "1", PaymentType::OnAccount), &clerk))
        .await
        .expect_err("copy");
    assert_eq!(bss_testkit::reason(&refused), "MANAGED_BY_RESELLER");

    // ... but invoices it: to the tenant reseller, listed as the copy's
    // pending invoice until posted.
    let mut invoices = InvoiceServiceClient::new(channel.clone());
    let draft = CreateInvoiceRequest {
        invoice: Some(Invoice {
            account_id: copy.clone(),
            lines: vec![InvoiceLine {
                description: "Support".to_owned(),
                quantity: decimal("1"),
                unit_price: eur("15.00"),
                ..InvoiceLine::default()
            }],
            ..Invoice::default()
        }),
        request_id: String::new(),
    };
    let draft =
        invoices.create_invoice(authorized(draft, &clerk)).await.expect("draft").into_inner().invoice.expect("invoice");
    assert_eq!((draft.account_id.as_str(), draft.for_account_id.as_str()), (reseller.as_str(), copy.as_str()));
    let pending = ListInvoicesRequest {
        account_id: copy.clone(),
        status: InvoiceStatus::Draft as i32,
        ..ListInvoicesRequest::default()
    };
    let pending = invoices.list_invoices(authorized(pending, &clerk)).await.expect("pending").into_inner().invoices;
    assert_eq!(pending.iter().map(|invoice| invoice.id.clone()).collect::<Vec<_>>(), vec![draft.id.clone()]);
    let today = bss_platform::time::format_date(bss_platform::time::now().date_naive());
    assert!(generate(&channel, &clerk, &copy, &today, true).await.is_empty(), "the copy owes nothing else");
    let post = PostInvoiceRequest { id: draft.id.clone(), request_id: String::new() };
    invoices.post_invoice(authorized(post, &clerk)).await.expect("posted");
    let balance = bss_proto::billing::payment_service_client::PaymentServiceClient::new(channel.clone())
        .get_account_balance(authorized(GetAccountBalanceRequest { account_id: reseller }, &clerk))
        .await
        .expect("balance")
        .into_inner();
    assert_eq!(amount(&balance.balance), "15.00", "the tenant reseller owes it");
}

/// A rate plan of the tenant pricing `product` at `price` (EUR).
async fn rate_plan(channel: &Channel, admin: &str, name: &str, product_id: &str, price: &str) -> String {
    use bss_proto::pricing::PricelistKind;
    use bss_proto::pricing::pricelist_service_client::PricelistServiceClient;
    let request = pricelist_request(name, PricelistKind::RatePlan, (product_id, price), "EUR");
    let created = PricelistServiceClient::new(channel.clone()).create_pricelist(authorized(request, admin)).await;
    created.expect("rate plan").into_inner().pricelist.expect("rate plan").id
}

/// Each line of the invoices as (priced on, unit price, total, rule,
/// source, the reason of its note), sorted.
fn priced_lines(invoices: &[Invoice]) -> Vec<(String, String, String, String, String, String)> {
    let mut lines: Vec<_> = invoices
        .iter()
        .flat_map(|invoice| &invoice.lines)
        .map(|line| {
            (
                line.priced_on.clone(),
                amount(&line.unit_price).to_owned(),
                amount(&line.total).to_owned(),
                line.price_rule.clone(),
                line.price_source_id.clone(),
                line.price_note.split(':').next().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    lines.sort();
    lines
}

/// A line as [`priced_lines`] shows it.
fn line(
    priced_on: &str,
    (unit_price, total): (&str, &str),
    (rule, source): (&str, &str),
    note: &str,
) -> (String, String, String, String, String, String) {
    let owned = str::to_owned;
    (owned(priced_on), owned(unit_price), owned(total), owned(rule), owned(source), owned(note))
}

#[tokio::test]
async fn every_period_after_the_first_is_priced_by_the_account_pricing_of_its_first_day_and_names_its_rule() {
    use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
    use bss_proto::pricing::{AccountPricing, GetAccountPricingRequest, ProductAvailability, SetAccountPricingRequest};
    use chrono::Months;

    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Rated Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    let account_id = create_account(&channel, &admin, ordering_account("RATED")).await;
    set_credit_terms(&channel, &admin, &account_id, "1000", None).await;
    let product_id = create_product(&channel, &admin, "VOICE", "10.00", "").await;
    let basic = rate_plan(&channel, &admin, "Basic", &product_id, "8.00").await;

    // The account has no rate plan of its own: the tenant's first prices it.
    let mut account_pricing = AccountPricingServiceClient::new(channel.clone());
    let read = GetAccountPricingRequest { account_id: account_id.clone() };
    let pricing = account_pricing.get_account_pricing(authorized(read.clone(), &clerk)).await.expect("pricing");
    let pricing = pricing.into_inner().pricing.expect("pricing");
    assert_eq!((pricing.rate_plan_id.as_str(), pricing.rate_plan_defaulted), (basic.as_str(), true));
    let subscription =
        subscribe(&channel, &clerk, subscription_request(&account_id, "VOICE", "2", PaymentType::OnAccount)).await;
    assert_eq!(amount(&subscription.unit_price), "8.00");

    // The account gets a rate plan of its own: the charges change from the
    // next period on; the first stays as credit authorized it.
    let gold = rate_plan(&channel, &admin, "Gold", &product_id, "6.00").await;
    let assign = AccountPricing { account_id: account_id.clone(), pricelist_ids: vec![gold.clone()], ..pricing };
    let assign = SetAccountPricingRequest {
        pricing: Some(AccountPricing { etag: String::new(), ..assign }),
        request_id: String::new(),
    };
    account_pricing.set_account_pricing(authorized(assign, &admin)).await.expect("gold assigned");
    let pricing = account_pricing.get_account_pricing(authorized(read, &clerk)).await.expect("pricing");
    let pricing = pricing.into_inner().pricing.expect("pricing");
    assert_eq!((pricing.rate_plan_id.as_str(), pricing.rate_plan_defaulted), (gold.as_str(), false));

    // An order is priced by the same rules, and its line says so too.
    order(&channel, &admin, &account_id, &[("VOICE", "1")]).await;

    let today = chrono::Utc::now().date_naive();
    let month = |months: u32| today.checked_add_months(Months::new(months)).expect("date").to_string();
    let invoices = generate(&channel, &clerk, &account_id, &month(1), true).await;
    let rate_plan = "PRICE_RULE_RATE_PLAN";
    assert_eq!(
        priced_lines(&invoices),
        vec![
            line(&today.to_string(), ("6.00", "6.00"), (rate_plan, &gold), ""),
            line(&today.to_string(), ("8.00", "16.00"), (rate_plan, &basic), ""),
            line(&month(1), ("6.00", "12.00"), (rate_plan, &gold), ""),
        ]
    );
    let read = GetSubscriptionRequest { id: subscription.id.clone() };
    let again =
        SubscriptionServiceClient::new(channel.clone()).get_subscription(authorized(read.clone(), &clerk)).await;
    assert_eq!(amount(&again.expect("read").into_inner().subscription.expect("subscription").unit_price), "6.00");

    // Credit's side: the posted invoice is owed, and the reservations of
    // the order and of the first period were captured by it (nothing is
    // counted twice).
    credit_settles(&channel, &admin, &account_id, "34.00", "0.00").await;

    // The product is then sold only under contract, which the account has
    // not: the next period keeps the previous price and says why, rather
    // than charging nothing.
    let update = UpdateProductRequest {
        product: Some(Product {
            id: product_id,
            availability: ProductAvailability::ContractOnly as i32,
            ..Product::default()
        }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["availability".to_owned()] }),
        request_id: String::new(),
    };
    CatalogServiceClient::new(channel.clone()).update_product(authorized(update, &admin)).await.expect("contract only");
    let invoices = generate(&channel, &clerk, &account_id, &month(2), true).await;
    assert_eq!(
        priced_lines(&invoices),
        vec![line(&month(2), ("6.00", "12.00"), ("PRICE_RULE_KEPT", ""), "PRODUCT_NOT_AVAILABLE")]
    );
    credit_settles(&channel, &admin, &account_id, "46.00", "0.00").await;
}
