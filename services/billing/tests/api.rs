//! Billing's API called straight: bad input named field by field, what
//! does not exist (or is another tenant's) NOT_FOUND, lists paged.

#![allow(clippy::expect_used)]

use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::order_service_client::OrderServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::*;
use bss_proto::types::PaymentType;
use bss_testapp::{TestApp, decimal, order_request};
use bss_testkit::{authorized, violated_fields};
use tonic::Code;

#[tokio::test]
async fn bad_orders_name_each_bad_field_and_other_tenants_accounts_are_not_found() {
    let app = TestApp::start().await;
    let books = app.books("Api Books", "API", "1000").await;
    let (account, clerk) = (books.account, books.clerk);
    let (_, stranger) = app.tenant("Other Books", "EUR").await;
    let mut orders = OrderServiceClient::new(bss_testkit::channel(app.endpoints.billing).await);

    let mut bad = order_request("", &[("", "1"), ("WIDGET", "abc"), ("WIDGET", "-2")], PaymentType::Unspecified);
    bad.order.as_mut().expect("order").lines[0].available_quantity = decimal("5");
    bad.min_pricing_version = -1;
    let refused = orders.place_order(authorized(bad, &clerk)).await.expect_err("bad input");
    assert_eq!(refused.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&refused);
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "min_pricing_version",
            "order.account_id",
            "order.lines[0].available_quantity",
            "order.lines[0].product",
            "order.lines[1].quantity",
            "order.lines[2].quantity",
            "order.payment_type",
        ]
    );

    // The pricing version is passed on to pricing: one its book reached
    // prices the order, one it never reached is refused by pricing.
    let ahead = PlaceOrderRequest {
        min_pricing_version: 1_000_000,
        ..order_request(&account, &[("WIDGET", "1")], PaymentType::OnAccount)
    };
    let refused = orders.place_order(authorized(ahead, &clerk)).await.expect_err("a version pricing never reached");
    assert_eq!(
        (refused.code(), violated_fields(&refused)),
        (Code::InvalidArgument, vec!["min_book_version".to_owned()])
    );
    let reached = PlaceOrderRequest {
        min_pricing_version: 1,
        ..order_request(&account, &[("WIDGET", "1")], PaymentType::OnAccount)
    };
    orders.place_order(authorized(reached, &clerk)).await.expect("priced by version 1 or later");

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
    let books = app.books("Paged Books", "PAGED", "1000").await;
    let (account, clerk) = (books.account, books.clerk);
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
    let books = app.books("Sized Books", "SIZED", "1000").await;
    let (account, clerk) = (books.account, books.clerk);
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

#[tokio::test]
async fn an_order_stored_as_a_wire_message_is_converted_and_reads_back_the_same() {
    use prost::Message;

    let app = TestApp::start().await;
    let books = app.books("Converted Books", "CONVERTED", "1000").await;
    let mut orders = OrderServiceClient::new(bss_testkit::channel(app.endpoints.billing).await);
    let mut request = order_request(&books.account, &[("WIDGET", "3")], PaymentType::OnAccount);
    request.order.as_mut().expect("order").lines[0].available_quantity = decimal("1");
    let placed = orders.place_order(authorized(request, &books.clerk)).await.expect("placed").into_inner();
    let placed = placed.order.expect("order");
    let id: uuid::Uuid = placed.id.parse().expect("id");

    // As a release before orders were kept in billing's terms stored it.
    let db = sqlx::PgPool::connect(app.database_url()).await.expect("database");
    sqlx::query("UPDATE billing.orders SET doc = NULL, body = $2 WHERE id = $1")
        .bind(id)
        .bind(placed.encode_to_vec())
        .execute(&db)
        .await
        .expect("an encoded order");
    let converted =
        bss_billing::repo::convert_encoded(&db, bss_billing::repo::Encoded::Orders, bss_billing::wire::stored_order)
            .await;
    assert_eq!(converted.expect("converted"), 1);
    assert_eq!(
        bss_billing::repo::convert_encoded(&db, bss_billing::repo::Encoded::Orders, bss_billing::wire::stored_order)
            .await
            .ok(),
        Some(0)
    );

    let read = orders.get_order(authorized(GetOrderRequest { id: placed.id.clone() }, &books.clerk)).await;
    assert_eq!(read.expect("read").into_inner().order, Some(placed.clone()), "the same order, field by field");
    let stored: (String, Option<Vec<u8>>, bool) =
        sqlx::query_as("SELECT status, body, back_ordered FROM billing.orders WHERE id = $1")
            .bind(id)
            .fetch_one(&db)
            .await
            .expect("row");
    assert_eq!(stored, ("executed".to_owned(), None, true), "its own status code, no wire message left");

    // It goes on as any order: its back order ships.
    let ship = ShipBackOrderRequest {
        order_id: placed.id.clone(),
        line_number: 1,
        quantity: decimal("2"),
        request_id: "ship-converted".to_owned(),
    };
    let shipped = orders.ship_back_order(authorized(ship, &books.clerk)).await.expect("shipped").into_inner();
    assert_eq!(shipped.order.expect("order").lines[0].backordered_quantity, None);
}

#[tokio::test]
async fn accounting_periods_are_listed_page_by_page_oldest_first() {
    use bss_proto::billing::ledger_service_client::LedgerServiceClient;
    use chrono::{Datelike, Months};

    let app = TestApp::start().await;
    let (tenant_id, admin) = app.tenant("Period Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[bss_platform::auth::Role::BillingClerk]);
    let mut ledger = LedgerServiceClient::new(bss_testkit::channel(app.endpoints.billing).await);
    let this_month = bss_platform::time::now().date_naive().with_day(1).expect("first");
    let start = this_month.checked_sub_months(Months::new(3)).expect("month");
    let settings = PeriodSettings {
        frequency: PeriodFrequency::Monthly as i32,
        first_period_start: bss_platform::time::format_date(start),
        create_time: None,
    };
    let set = SetPeriodSettingsRequest { settings: Some(settings), request_id: String::new() };
    let mut period = ledger.set_period_settings(authorized(set, &admin)).await.expect("settings").into_inner().period;
    let mut opened = Vec::new();
    for _ in 0..2 {
        let open = period.expect("an open period");
        opened.push(open.start_date.clone());
        let close = ClosePeriodRequest { period_id: open.id, request_id: String::new() };
        period = ledger.close_period(authorized(close, &admin)).await.expect("closed").into_inner().opened;
    }
    opened.push(period.expect("the next open period").start_date);

    let listed = bss_testkit::every_page(1, |page_token| {
        let (mut ledger, clerk) = (ledger.clone(), clerk.clone());
        async move {
            let list = ListPeriodsRequest { page_size: 1, page_token };
            let page = ledger.list_periods(authorized(list, &clerk)).await.expect("periods").into_inner();
            (page.periods.into_iter().map(|period| period.start_date).collect::<Vec<_>>(), page.next_page_token)
        }
    })
    .await;
    assert_eq!(listed, opened, "oldest first, each once");
    let forged = ListPeriodsRequest { page_size: 1, page_token: "AAAA".to_owned() };
    let refused = ledger.list_periods(authorized(forged, &clerk)).await.expect_err("a token billing never gave");
    assert_eq!(violated_fields(&refused), vec!["page_token"]);
}

#[tokio::test]
async fn a_subscription_stored_as_a_wire_message_is_converted_and_reads_back_the_same() {
    use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
    use prost::Message;

    let app = TestApp::start().await;
    let books = app.books("Converted Subscriptions", "SUBSCRIBER", "1000").await;
    let mut subscriptions = SubscriptionServiceClient::new(bss_testkit::channel(app.endpoints.billing).await);
    let request = bss_testapp::subscription_request(&books.account, "WIDGET", "2", PaymentType::OnAccount);
    let created = subscriptions.create_subscription(authorized(request, &books.clerk)).await.expect("created");
    let created = created.into_inner().subscription.expect("subscription");
    let id: uuid::Uuid = created.id.parse().expect("id");

    let db = sqlx::PgPool::connect(app.database_url()).await.expect("database");
    sqlx::query("UPDATE billing.subscriptions SET doc = NULL, body = $2 WHERE id = $1")
        .bind(id)
        .bind(created.encode_to_vec())
        .execute(&db)
        .await
        .expect("an encoded subscription");
    let converted = bss_billing::repo::convert_encoded(
        &db,
        bss_billing::repo::Encoded::Subscriptions,
        bss_billing::wire::stored_subscription,
    );
    assert_eq!(converted.await.expect("converted"), 1);
    let read =
        subscriptions.get_subscription(authorized(GetSubscriptionRequest { id: created.id.clone() }, &books.clerk));
    assert_eq!(read.await.expect("read").into_inner().subscription, Some(created.clone()), "field by field");

    // It goes on as any subscription: cancelled once, then refused.
    let cancel = CancelSubscriptionRequest { id: created.id.clone(), request_id: String::new(), ..Default::default() };
    let cancelled =
        subscriptions.cancel_subscription(authorized(cancel.clone(), &books.clerk)).await.expect("cancelled");
    assert_eq!(cancelled.into_inner().subscription.expect("subscription").status, SubscriptionStatus::Cancelled as i32);
    let again = subscriptions.cancel_subscription(authorized(cancel, &books.clerk)).await.expect_err("once");
    assert_eq!(bss_testkit::reason(&again), "SUBSCRIPTION_CANCELLED");
}

/// The balance billing keeps, the opening balance a close carries to the
/// next period, and credit's balance all equal the ledger rule applied to
/// the account's listed transactions.
#[tokio::test]
async fn closing_a_period_carries_each_accounts_balance_as_the_rule_computes_it() {
    use bss_billing::domain::period::{Posting, closing_balance};
    use bss_proto::billing::ledger_service_client::LedgerServiceClient;
    use bss_proto::billing::payment_service_client::PaymentServiceClient;
    use bss_testapp::{amount, billing_balance, credit_settles, eur, generate, place, today};
    use chrono::{Datelike, Months};
    use rust_decimal::Decimal;

    let app = TestApp::start().await;
    let books = app.books("Carried Books", "CARRIED", "1000").await;
    let (gateway, clerk, account) = (&books.gateway, &books.clerk, &books.account);
    let order = place(gateway, clerk, order_request(account, &[("WIDGET", "3")], PaymentType::OnAccount)).await;
    assert_eq!(order.status, OrderStatus::Executed as i32);
    let invoiced = generate(gateway, clerk, account, &today(), true).await;
    assert_eq!(invoiced.iter().map(|invoice| amount(&invoice.total)).collect::<Vec<_>>(), vec!["30.00"]);
    let mut payments = PaymentServiceClient::new(gateway.clone());
    let payment = Payment { account_id: account.clone(), amount: eur("50.00"), ..Payment::default() };
    let pay = RecordPaymentRequest { payment: Some(payment), ..RecordPaymentRequest::default() };
    payments.record_payment(authorized(pay, clerk)).await.expect("paid");
    let note = CreateCreditNoteRequest {
        account_id: account.clone(),
        amount: eur("5.00"),
        reason: "goodwill".to_owned(),
        ..CreateCreditNoteRequest::default()
    };
    payments.create_credit_note(authorized(note, clerk)).await.expect("credited");
    let refund = RefundCreditRequest {
        account_id: account.clone(),
        amount: eur("10.00"),
        reason: "returned to the customer".to_owned(),
        request_id: String::new(),
    };
    payments.refund_credit(authorized(refund, clerk)).await.expect("refunded");

    let ledger_client = LedgerServiceClient::new(bss_testkit::channel(app.endpoints.billing).await);
    let mut ledger = ledger_client.clone();
    let list = |period_id: Option<String>| {
        let (mut ledger, clerk, account) = (ledger_client.clone(), clerk.clone(), account.clone());
        async move {
            let list =
                ListTransactionsRequest { account_id: account, page_size: 100, ..ListTransactionsRequest::default() };
            let listed = ledger.list_transactions(authorized(list, &clerk)).await.expect("transactions").into_inner();
            if let Some(period_id) = period_id {
                assert!(listed.transactions.iter().all(|t| t.period_id == period_id), "all in the closed period");
            }
            listed.transactions
        }
    };
    let postings: Vec<(Posting, Decimal)> = list(None)
        .await
        .iter()
        .map(|t| {
            let posting = bss_billing::wire::posting(t.kind).expect("a kind").expect("not unspecified");
            let listed: Decimal = amount(&t.amount).parse().expect("amount");
            assert_eq!(posting.owed(listed.abs()), listed, "listed signed as it moves the balance");
            (posting, listed.abs())
        })
        .collect();
    assert_eq!(postings.len(), 4, "invoice, payment, credit note, refund");
    let expected = closing_balance(Decimal::ZERO, postings);
    assert_eq!(expected.to_string(), "-15.00", "30 owed, 50 paid, 5 credited, 10 refunded");
    assert_eq!(amount(&billing_balance(gateway, clerk, account).await.balance), "-15.00");
    credit_settles(gateway, &books.admin, account, "-15.00", "0.00").await;

    // A period that ended long ago takes everything posted; the next opens
    // with the balance.
    let start = bss_platform::time::now().date_naive().with_day(1).expect("first").checked_sub_months(Months::new(2));
    let settings = PeriodSettings {
        frequency: PeriodFrequency::Monthly as i32,
        first_period_start: bss_platform::time::format_date(start.expect("month")),
        create_time: None,
    };
    let set = SetPeriodSettingsRequest { settings: Some(settings), request_id: String::new() };
    let first = ledger.set_period_settings(authorized(set, &books.admin)).await.expect("settings").into_inner();
    let first = first.period.expect("first period");
    let close = ClosePeriodRequest { period_id: first.id.clone(), request_id: "close-carried".to_owned() };
    let closed = ledger.close_period(authorized(close.clone(), &books.admin)).await.expect("closed").into_inner();
    assert_eq!(closed.accounts, 1, "one account posted in the period");
    let again = ledger.close_period(authorized(close, &books.admin)).await.expect("the same answer").into_inner();
    assert_eq!(again, closed, "a retry is answered, not closed twice");
    list(Some(first.id)).await;
    assert_eq!(amount(&billing_balance(gateway, clerk, account).await.balance), expected.to_string(), "the opening");
    credit_settles(gateway, &books.admin, account, "-15.00", "0.00").await;
}

/// The SQL that picks the subscription periods to charge, and the accounts
/// the accrual worker visits, agree with the domain's rule
/// (`domain::cycle::Schedule::due`) on random subscriptions: starts on
/// month ends and leap days, cycles of 1 to 12 months, anchors off the
/// start, billing in advance or in arrears, periods already charged,
/// cancellations, and billing dates (a seeded xorshift makes any failure
/// replayable).
#[tokio::test]
async fn the_periods_the_sql_charges_are_the_periods_the_rule_says_are_due() {
    use bss_billing::domain::cycle::{AnchorDay, Cycle, Schedule, Timing};
    use bss_billing::repo::charges;
    use chrono::{Days, NaiveDate};
    use std::collections::{BTreeMap, BTreeSet};
    use uuid::Uuid;

    let suite = TestApp::start().await;
    let pool = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    let tenant_id = Uuid::now_v7();
    let mut next = bss_testkit::seeded(0x5EED_2026_u64);
    let first = NaiveDate::from_ymd_opt(2027, 1, 1).expect("date");
    let month_ends = ["2027-01-31", "2027-03-31", "2028-01-31", "2028-02-29", "2027-08-30", "2027-05-29"];
    for round in 0..30 {
        // Half the rounds bill on the (clamped) first day of a month-end
        // start's period, where counting whole months goes wrong.
        let date = match round % 2 {
            0 => {
                let start: NaiveDate = month_ends[next(month_ends.len() as u64) as usize].parse().expect("date");
                Schedule::from_start(Cycle::Monthly, start).period(1 + next(20) as u32).expect("date").start
            }
            _ => first + Days::new(next(900)),
        };
        // (subscription, account, schedule, timing, charged, cancelled on)
        let mut subscriptions = Vec::new();
        for _ in 0..60 {
            let start = match next(3) {
                0 => month_ends[next(month_ends.len() as u64) as usize].parse().expect("date"),
                _ => first + Days::new(next(700)),
            };
            let cancelled = (next(3) == 0).then(|| start + Days::new(next(500)));
            let charged = next(12) as i32;
            // Most monthly from their start, as subscriptions were before
            // cycles; the rest any cycle, anchor and timing.
            let (cycle, anchor, timing) = match next(2) {
                0 => (Cycle::Monthly, None, Timing::Advance),
                _ => (
                    Cycle::ALL[next(4) as usize],
                    (next(2) == 0).then(|| AnchorDay::new(1 + next(31) as u32).expect("anchor")),
                    if next(2) == 0 { Timing::Advance } else { Timing::Arrears },
                ),
            };
            let schedule = Schedule { cycle, anchor: anchor.unwrap_or(AnchorDay::of(start)), start };
            subscriptions.push((Uuid::now_v7(), Uuid::now_v7(), (schedule, anchor), timing, charged, cancelled));
        }
        let mut tx = pool.begin().await.expect("transaction");
        for (id, account, (schedule, anchor), timing, charged, cancelled) in &subscriptions {
            sqlx::query(
                "INSERT INTO billing.subscriptions (tenant_id, id, account_id, doc, bill_to_account_id, separate,
                     product_id, description, currency, quantity, unit_price, total, start_date, charged_periods,
                     cancelled_on, status, reference, cycle_months, anchor_day, in_arrears)
                 VALUES ($1, $2, $3, '{}', $3, false, 'P', 'P subscription', 'EUR', 1, 1, 1, $4, $5, $6, 'ACTIVE',
                     'subscription:' || $2, $7, $8, $9)",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(account)
            .bind(schedule.start)
            .bind(charged)
            .bind(cancelled)
            .bind(schedule.cycle.months() as i32)
            .bind(anchor.map(|anchor| anchor.day() as i32))
            .bind(*timing == Timing::Arrears)
            .execute(&mut *tx)
            .await
            .expect("subscription");
        }
        let accounts: Vec<Uuid> = subscriptions.iter().map(|subscription| subscription.1).collect();
        let mut charged: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
        for period in
            charges::due_periods(&mut tx, tenant_id, &accounts, false, (date, true)).await.expect("due periods")
        {
            charged.entry(period.subscription_id).or_default().push(period.index);
        }
        let mut later_due = BTreeSet::new();
        for (id, account, (schedule, _), timing, done, cancelled) in &subscriptions {
            let rule: Vec<i32> = schedule
                .due(*done as u32, *timing, date, *cancelled)
                .into_iter()
                .map(|(index, _)| index as i32)
                .collect();
            let sql = charged.get(id).cloned().unwrap_or_default();
            assert_eq!(
                sql, rule,
                "round {round}: {schedule:?} {timing:?}, {done} charged, cancelled {cancelled:?}, on {date}"
            );
            if rule.iter().any(|index| *index > 0) {
                later_due.insert(*account);
            }
        }
        tx.commit().await.expect("committed");
        // Paged as the accrual worker pages, a few at a time from the last
        // one it got (other tenants' accounts skipped).
        let others: Vec<Uuid> = sqlx::query_scalar("SELECT DISTINCT tenant_id FROM billing.subscriptions")
            .fetch_all(&pool)
            .await
            .expect("tenants");
        let others: Vec<Uuid> = others.into_iter().filter(|tenant| *tenant != tenant_id).collect();
        let (mut visited, mut after) = (Vec::new(), (Uuid::nil(), Uuid::nil()));
        loop {
            let page = charges::accounts_with_later_periods_due(&pool, date, &others, (after, 7)).await;
            let page = page.expect("accounts");
            let Some(last) = page.last() else { break };
            after = *last;
            visited.extend(page.into_iter().map(|(_, account)| account));
        }
        assert_eq!(
            visited,
            later_due.iter().copied().collect::<Vec<_>>(),
            "round {round}: the accrual worker visits exactly the accounts owing a later period, each once, in order"
        );
        sqlx::query("DELETE FROM billing.subscriptions WHERE tenant_id = $1")
            .bind(tenant_id)
            .execute(&pool)
            .await
            .expect("cleaned");
    }
}

/// The SQL that applies scheduled changes (`repo::changes::apply_ready`)
/// applies exactly those the rule (`Schedule::change_ready`) says are
/// ready, over random cycles, anchors, starts, periods charged, change
/// days and billing dates: the applied change's terms are stored and it
/// is APPLIED; the others stay scheduled.
#[tokio::test]
async fn the_changes_the_sql_applies_are_the_changes_the_rule_says_are_ready() {
    use bss_billing::domain::change::{ChangeKind, ChangeStatus, SubscriptionChange, Terms};
    use bss_billing::domain::cycle::{AnchorDay, Cycle, Schedule};
    use bss_billing::repo::changes;
    use chrono::{Days, NaiveDate};
    use rust_decimal::Decimal;
    use std::collections::BTreeSet;
    use uuid::Uuid;

    let suite = TestApp::start().await;
    let pool = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    let mut next = bss_testkit::seeded(0x0C4A_4E5D_u64);
    let first = NaiveDate::from_ymd_opt(2027, 1, 1).expect("date");
    let terms = |quantity: u64| Terms {
        product: "P".to_owned(),
        product_id: "P".to_owned(),
        description: "P subscription".to_owned(),
        quantity: Decimal::from(quantity),
        unit_price: Decimal::ONE,
        total: Decimal::from(quantity),
        price_rule: "PRICE_RULE_LIST_PRICE".to_owned(),
        price_source_id: String::new(),
    };
    let mut outcomes = BTreeSet::new();
    for round in 0..20 {
        let tenant_id = Uuid::now_v7();
        let date = first + Days::new(next(700));
        // (subscription, schedule, anchor, charged, change day, new quantity)
        let mut subscriptions = Vec::new();
        let mut tx = pool.begin().await.expect("transaction");
        for _ in 0..60 {
            let start = first + Days::new(next(500));
            let cycle = Cycle::ALL[next(4) as usize];
            let anchor = (next(2) == 0).then(|| AnchorDay::new(1 + next(31) as u32).expect("anchor"));
            let schedule = Schedule { cycle, anchor: anchor.unwrap_or(AnchorDay::of(start)), start };
            let charged = next(8) as u32;
            // On a period's first day, as changes at a period's end are,
            // or any day (one asked on a day the schedule since moved).
            let on = match next(3) {
                0 => start + Days::new(next(600)),
                _ => schedule.period(next(10) as u32).expect("period").start,
            };
            let (id, account, quantity) = (Uuid::now_v7(), Uuid::now_v7(), 2 + next(5));
            let change = SubscriptionChange {
                id: Uuid::now_v7(),
                subscription_id: id,
                account_id: account,
                kind: ChangeKind::Quantity,
                status: ChangeStatus::Scheduled,
                at_period_end: true,
                effective_on: on,
                from: Some(terms(1)),
                to: Some(terms(quantity)),
                credited: Decimal::ZERO,
                charged: Decimal::ZERO,
                authorized: Decimal::ZERO,
                reference: String::new(),
                reasons: Vec::new(),
                held_order_id: None,
                actor: "test".to_owned(),
                created_at: chrono::Utc::now(),
            };
            sqlx::query(
                "INSERT INTO billing.subscriptions (tenant_id, id, account_id, doc, bill_to_account_id, separate,
                     product_id, description, currency, quantity, unit_price, total, start_date, charged_periods,
                     status, reference, cycle_months, anchor_day, in_arrears, change_id, change_on)
                 VALUES ($1, $2, $3, '{}', $3, false, 'P', 'P subscription', 'EUR', 1, 1, 1, $4, $5, 'ACTIVE',
                     'subscription:' || $2, $6, $7, $8, $9, $10)",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(account)
            .bind(start)
            .bind(charged as i32)
            .bind(cycle.months() as i32)
            .bind(anchor.map(|anchor| anchor.day() as i32))
            .bind(next(2) == 0)
            .bind(change.id)
            .bind(on)
            .execute(&mut *tx)
            .await
            .expect("subscription");
            sqlx::query(
                "INSERT INTO billing.subscription_changes (tenant_id, id, subscription_id, kind, status, effective_on,
                     doc)
                 VALUES ($1, $2, $3, 'QUANTITY', 'SCHEDULED', $4, $5)",
            )
            .bind(tenant_id)
            .bind(change.id)
            .bind(id)
            .bind(on)
            .bind(sqlx::types::Json(&change))
            .execute(&mut *tx)
            .await
            .expect("change");
            subscriptions.push((id, schedule, charged, on, quantity));
        }
        let accounts: Vec<Uuid> = {
            let ids: Vec<Uuid> = subscriptions.iter().map(|(id, ..)| *id).collect();
            sqlx::query_scalar("SELECT account_id FROM billing.subscriptions WHERE tenant_id = $1 AND id = ANY($2)")
                .bind(tenant_id)
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await
                .expect("accounts")
        };
        let applied: BTreeSet<Uuid> = changes::apply_ready(&mut tx, tenant_id, (&accounts, false), date)
            .await
            .expect("applied")
            .into_iter()
            .map(|change| {
                assert_eq!(change.status, ChangeStatus::Applied, "round {round}");
                change.subscription_id
            })
            .collect();
        for (id, schedule, charged, on, quantity) in &subscriptions {
            let ready = schedule.change_ready(*charged, *on, date);
            outcomes.insert(ready);
            assert_eq!(
                applied.contains(id),
                ready,
                "round {round}: {schedule:?}, {charged} charged, a change for {on}, on {date}"
            );
            let stored: (Decimal, Option<NaiveDate>) = sqlx::query_as(
                "SELECT quantity, change_on FROM billing.subscriptions WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .expect("stored");
            let expected = if ready { (Decimal::from(*quantity), None) } else { (Decimal::ONE, Some(*on)) };
            assert_eq!(stored, expected, "round {round}: {id}");
        }
        tx.rollback().await.expect("rolled back");
    }
    assert_eq!(outcomes.len(), 2, "some changes applied and some left waiting");
}

/// A subscription cancelled at its period's end is ended (CANCELLED, in
/// its column and its document) once that day comes, and not before.
#[tokio::test]
async fn a_subscription_cancelled_at_its_periods_end_ends_on_that_day() {
    use bss_billing::domain::subscription::SubscriptionState;
    use bss_billing::repo::subscriptions;
    use chrono::{Days, NaiveDate};
    use uuid::Uuid;

    let suite = TestApp::start().await;
    let pool = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    let tenant_id = Uuid::now_v7();
    let today = NaiveDate::from_ymd_opt(2027, 3, 10).expect("date");
    let (due, later) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, ends) in [(due, today), (later, today + Days::new(1))] {
        sqlx::query(
            "INSERT INTO billing.subscriptions (tenant_id, id, account_id, doc, bill_to_account_id, separate,
                 product_id, description, currency, quantity, unit_price, total, start_date, charged_periods,
                 cancelled_on, status, reference)
             VALUES ($1, $2, $2, jsonb_build_object('state', 'ACTIVE'), $2, false, 'P', 'P subscription', 'EUR',
                 1, 1, 1, '2027-02-10', 1, $3, 'ACTIVE', 'subscription:' || $2)",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(ends)
        .execute(&pool)
        .await
        .expect("subscription");
    }
    subscriptions::end_cancelled(&pool, today).await.expect("ended");
    let state = |id: Uuid| {
        let pool = pool.clone();
        async move {
            let (status, state): (String, String) = sqlx::query_as(
                "SELECT status, doc->>'state' FROM billing.subscriptions WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("read back");
            (status, state)
        }
    };
    let cancelled = SubscriptionState::Cancelled.code().to_owned();
    assert_eq!(state(due).await, (cancelled.clone(), cancelled), "ended on its day");
    let active = SubscriptionState::Active.code().to_owned();
    assert_eq!(state(later).await, (active.clone(), active), "not before");
}

#[tokio::test]
async fn a_wallet_moves_money_exactly_as_the_rule_says_even_when_payments_race() {
    use bss_billing::domain::wallet::{Movement, Wallet, moved};
    use bss_billing::repo::wallets::{self, Move};
    use rust_decimal::Decimal;
    use uuid::Uuid;

    let suite = TestApp::start().await;
    let pool = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    let tenant_id = Uuid::now_v7();
    let mut next = bss_testkit::seeded(0x003A_11E7_u64);
    let open = async |account_id: Uuid| {
        let at = bss_platform::time::now();
        let wallet = Wallet {
            account_id,
            currency: "EUR".to_owned(),
            balance: Decimal::ZERO,
            use_for_purchases: true,
            use_for_subscriptions: false,
            created_at: at,
            updated_at: at,
        };
        let mut tx = pool.begin().await.expect("transaction");
        assert!(wallets::open(&mut tx, tenant_id, &wallet).await.expect("opened"));
        assert!(!wallets::open(&mut tx, tenant_id, &wallet).await.expect("once"), "one wallet per account");
        tx.commit().await.expect("committed");
    };
    let step = |account_id: Uuid, movement: Movement, amount: Decimal| Move {
        id: Uuid::now_v7(),
        account_id,
        movement,
        amount,
        order_id: None,
        payment_id: None,
        reason: "",
        actor: "property",
    };
    // One after another: each movement is refused exactly when the rule
    // refuses it, and leaves the balance the rule computes.
    let account_id = Uuid::now_v7();
    open(account_id).await;
    let mut balance = Decimal::ZERO;
    for _ in 0..300 {
        let movement = Movement::ALL[next(4) as usize];
        let amount = Decimal::new(1 + next(20_000) as i64, 2);
        let expected = moved(balance, movement, amount);
        let mut tx = pool.begin().await.expect("transaction");
        let stored = wallets::move_money(&mut tx, tenant_id, &step(account_id, movement, amount)).await;
        tx.commit().await.expect("committed");
        match (expected, stored) {
            (Ok(after), Ok(done)) => {
                assert_eq!(done.balance_after, after, "{movement:?} of {amount} on {balance}");
                balance = after;
            }
            (Err(_), Err(refused)) => {
                assert!(refused.to_string().contains("less than"), "{refused}");
            }
            (expected, stored) => panic!("{movement:?} of {amount} on {balance}: rule {expected:?}, SQL {stored:?}"),
        }
    }
    let mut connection = pool.acquire().await.expect("connection");
    let read = wallets::get(&mut connection, tenant_id, account_id).await.expect("read").expect("wallet");
    assert_eq!(read.balance, balance);
    // Racing: payments taken at once from one balance never take more than
    // it holds, and each refused one asked for more than was left.
    for round in 0..5 {
        let account_id = Uuid::now_v7();
        open(account_id).await;
        let start = Decimal::new(10_000 + next(10_000) as i64, 2);
        let mut tx = pool.begin().await.expect("transaction");
        wallets::move_money(&mut tx, tenant_id, &step(account_id, Movement::TopUp, start)).await.expect("top up");
        tx.commit().await.expect("committed");
        let amounts: Vec<Decimal> = (0..16).map(|_| Decimal::new(500 + next(3_000) as i64, 2)).collect();
        let payments = amounts.iter().map(|amount| {
            let pool = pool.clone();
            let new = step(account_id, Movement::OrderPayment, *amount);
            async move {
                let mut tx = pool.begin().await.expect("transaction");
                let paid = wallets::move_money(&mut tx, tenant_id, &new).await;
                tx.commit().await.expect("committed");
                paid.is_ok()
            }
        });
        let paid = futures::future::join_all(payments).await;
        let taken: Decimal = amounts.iter().zip(&paid).filter(|(_, paid)| **paid).map(|(amount, _)| *amount).sum();
        let left = wallets::get(&mut connection, tenant_id, account_id).await.expect("read").expect("wallet").balance;
        assert_eq!(left, start - taken, "round {round}: the balance is what was paid from it");
        assert!(left >= Decimal::ZERO);
        for (amount, _) in amounts.iter().zip(&paid).filter(|(_, paid)| !**paid) {
            assert!(*amount > left, "round {round}: {amount} was refused though {left} was left");
        }
        let listed = wallets::transactions(&mut connection, tenant_id, account_id, (None, 100)).await.expect("list");
        assert_eq!(listed.len(), 1 + paid.iter().filter(|paid| **paid).count(), "every movement recorded once");
        assert_eq!(listed.first().map(|moved| moved.balance_after), Some(left), "newest first");
    }
}

#[tokio::test]
async fn an_asset_moves_in_sql_exactly_when_the_rules_say_it_may() {
    use bss_billing::domain::asset::{Asset, AssetStatus, check_cancellable, check_return, check_transfer};
    use bss_billing::domain::order::Standing;
    use bss_billing::repo::assets;
    use rust_decimal::Decimal;
    use uuid::Uuid;

    let suite = TestApp::start().await;
    let pool = sqlx::PgPool::connect(suite.database_url()).await.expect("database");
    let tenant_id = Uuid::now_v7();
    let mut next = bss_testkit::seeded(0x00A5_5E75_u64);
    let accounts = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    let at = bss_platform::time::now();
    // A pool of assets: bought by one of the accounts, or the customer's own.
    let mut model: Vec<Asset> = (0..12)
        .map(|index| {
            let holder = accounts[index % 3];
            let own = index % 4 == 0;
            Asset {
                id: Uuid::now_v7(),
                account_id: holder,
                bought_by: (!own).then_some(holder),
                order_line: (!own).then_some((Uuid::now_v7(), 1)),
                product_id: "p".to_owned(),
                product_code: "PHONE".to_owned(),
                quantity: Decimal::ONE,
                traceable: true,
                serial_number: own.then(|| format!("OWN-{index}")),
                warranty_end: None,
                customer_owned: own,
                status: AssetStatus::Active,
                location_id: None,
                created_at: at,
                updated_at: at,
            }
        })
        .collect();
    let mut tx = pool.begin().await.expect("transaction");
    assets::insert(&mut tx, tenant_id, &model, &[]).await.expect("stored");
    tx.commit().await.expect("committed");
    let location = Uuid::now_v7();
    for step in 0..400 {
        let index = next(model.len() as u64) as usize;
        let asset = model[index].clone();
        let mut tx = pool.begin().await.expect("transaction");
        let (allowed, moved) = match next(3) {
            0 => {
                let to = accounts[next(3) as usize];
                let allowed = check_transfer(&asset, to, Standing::Active).is_ok();
                let moved = assets::transfer(&mut tx, tenant_id, asset.id, to).await.expect("transfer");
                (allowed, moved.map(|moved| vec![moved]).unwrap_or_default())
            }
            1 => {
                let allowed = check_return(&asset).is_ok();
                let ended = assets::end(&mut tx, tenant_id, &[asset.id], (AssetStatus::Returned, Some(location))).await;
                (allowed, ended.expect("return"))
            }
            _ => {
                let allowed = check_cancellable(Uuid::nil(), std::slice::from_ref(&asset)).is_ok();
                let ended = assets::end(&mut tx, tenant_id, &[asset.id], (AssetStatus::Cancelled, None)).await;
                (allowed, ended.expect("cancel"))
            }
        };
        tx.commit().await.expect("committed");
        assert_eq!(
            allowed,
            moved.len() == 1,
            "step {step}: the rule says {allowed} for {asset:?}, the SQL moved {moved:?}"
        );
        if let Some(moved) = moved.into_iter().next() {
            model[index] = moved;
        }
    }
    let mut connection = pool.acquire().await.expect("connection");
    for asset in &model {
        let stored = assets::get(&mut connection, tenant_id, asset.id, false).await.expect("read").expect("asset");
        assert_eq!((stored.account_id, stored.status), (asset.account_id, asset.status), "the model is the table");
    }
    assert!(model.iter().any(|asset| asset.status == AssetStatus::Returned), "returns were tried");
    assert!(model.iter().any(|asset| asset.status == AssetStatus::Cancelled), "cancellations were tried");
}
