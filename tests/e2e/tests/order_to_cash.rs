//! Order to cash through the gateway, as far as it is built: credit terms,
//! an order authorized on credit (reserved), its invoice drafted and posted
//! (numbered, due by the account's payment terms), credit capturing the
//! reservation from billing's event, payments settling invoices oldest
//! first, and the balance, available credit and outstanding amount right at
//! each step, in billing and in credit.

use std::time::Duration;

use bss_e2e::{TestApp, amount, credit_status, credit_until, eur, order_request};
use bss_platform::auth::Role;
use bss_proto::accounts::account_service_client::AccountServiceClient;
use bss_proto::accounts::{Account, CreateAccountRequest};
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::payment_service_client::PaymentServiceClient;
use bss_proto::billing::*;
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::*;
use bss_proto::types::{Decimal, Money, PaymentType};
use bss_testkit::authorized;
use tonic::Code;
use tonic::transport::Channel;

fn invoice(account_id: &str, date: &str, amount: &str, orders: &[&str]) -> CreateInvoiceRequest {
    CreateInvoiceRequest {
        invoice: Some(Invoice {
            account_id: account_id.to_owned(),
            invoice_date: date.to_owned(),
            lines: vec![InvoiceLine {
                description: "Widgets".to_owned(),
                quantity: Some(Decimal { value: "1".to_owned() }),
                unit_price: eur(amount),
                ..InvoiceLine::default()
            }],
            order_references: orders.iter().map(|order| (*order).to_owned()).collect(),
            ..Invoice::default()
        }),
        request_id: String::new(),
    }
}

#[tokio::test]
async fn an_order_is_reserved_invoiced_captured_and_paid() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Cash Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    let account_id = AccountServiceClient::new(channel.clone())
        .create_account(authorized(
            CreateAccountRequest {
                account: Some(Account { code: "CASH1".to_owned(), name: "Cash One".to_owned(), ..Account::default() }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account")
        .id;
    let mut credit = CreditServiceClient::new(channel.clone());
    let terms = CreditTerms {
        credit_limit: Some(Decimal { value: "1000".to_owned() }),
        payment_terms: Some(PaymentTerms {
            kind: PaymentTermsKind::DaysAfterEndOfMonth as i32,
            days: 15,
            day_of_month: 0,
        }),
        ..CreditTerms::default()
    };
    credit
        .change_credit_terms(authorized(
            ChangeCreditTermsRequest {
                account_id: account_id.clone(),
                terms: Some(terms),
                reason: "opening".to_owned(),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("terms");

    // An order of 600 on account: approved, reserved.
    let order = AuthorizeOrderRequest {
        keep_until_invoiced: false,
        payers: Vec::new(),
        request_id: "so-1".to_owned(),
        account_id: account_id.clone(),
        order_reference: "SO-1".to_owned(),
        amount: eur("600.00"),
        payment_type: PaymentType::OnAccount as i32,
        event_kind: EventKind::Order as i32,
        prepay_over_limit: false,
    };
    let authorized_order = credit.authorize_order(authorized(order, &clerk)).await.expect("authorized").into_inner();
    assert_eq!(authorized_order.decision, Decision::Approved as i32);

    // Its invoice, and an older one without an order.
    let mut invoices = InvoiceServiceClient::new(channel.clone());
    let draft =
        invoices.create_invoice(authorized(invoice(&account_id, "2028-02-10", "600.00", &["SO-1"]), &clerk)).await;
    let draft = draft.expect("draft").into_inner().invoice.expect("invoice");
    assert_eq!((draft.status, draft.number), (InvoiceStatus::Draft as i32, 0));
    let older = invoices.create_invoice(authorized(invoice(&account_id, "2028-01-20", "150.00", &[]), &clerk)).await;
    let older = older.expect("draft").into_inner().invoice.expect("invoice");

    let post = |id: &str| PostInvoiceRequest { id: id.to_owned(), request_id: format!("post-{id}") };
    let posted = invoices.post_invoice(authorized(post(&draft.id), &clerk)).await.expect("posted").into_inner();
    let posted = posted.invoice.expect("invoice");
    assert_eq!((posted.number, posted.due_date.as_str()), (1, "2028-03-15"), "end of February 2028 + 15 days");
    let again = invoices.post_invoice(authorized(post(&draft.id), &clerk)).await.expect("retry").into_inner();
    assert_eq!(again.invoice.expect("invoice").number, 1, "a retry posts nothing twice");
    let twice = invoices
        .post_invoice(authorized(PostInvoiceRequest { id: draft.id.clone(), request_id: String::new() }, &clerk))
        .await
        .expect_err("posted already");
    assert_eq!(twice.code(), Code::FailedPrecondition);
    let older = invoices.post_invoice(authorized(post(&older.id), &clerk)).await.expect("posted").into_inner();
    assert_eq!(older.invoice.expect("invoice").number, 2);

    // Credit captured the order's reservation into the balance.
    let status = credit_until(&channel, &clerk, &account_id, |status| amount(&status.balance) == "750.00").await;
    assert_eq!((amount(&status.reserved), amount(&status.available_credit)), ("0.00", "250.00"));

    // 200 pays the older invoice (150) first, then 50 of the order's.
    let mut payments = PaymentServiceClient::new(channel.clone());
    let payment = RecordPaymentRequest {
        payment: Some(Payment { account_id: account_id.clone(), amount: eur("200.00"), ..Payment::default() }),
        invoice_id: String::new(),
        request_id: "pay-1".to_owned(),
    };
    let paid = payments.record_payment(authorized(payment.clone(), &clerk)).await.expect("paid").into_inner();
    let paid = paid.payment.expect("payment");
    let settled: Vec<(i64, &str, bool)> =
        paid.allocations.iter().map(|a| (a.invoice_number, amount(&a.amount), a.settled)).collect();
    assert_eq!(settled, vec![(2, "150.00", true), (1, "50.00", false)]);
    payments.record_payment(authorized(payment, &clerk)).await.expect("retry");

    let balance = payments
        .get_account_balance(authorized(GetAccountBalanceRequest { account_id: account_id.clone() }, &clerk))
        .await
        .expect("balance")
        .into_inner();
    assert_eq!((amount(&balance.balance), amount(&balance.unsettled)), ("550.00", "550.00"), "the retry paid nothing");
    let status = credit_until(&channel, &clerk, &account_id, |status| amount(&status.balance) == "550.00").await;
    assert_eq!(amount(&status.available_credit), "450.00");

    // Overpaying leaves credit: the balance goes negative.
    let overpay = RecordPaymentRequest {
        payment: Some(Payment { account_id: account_id.clone(), amount: eur("600.00"), ..Payment::default() }),
        invoice_id: String::new(),
        request_id: String::new(),
    };
    let over = payments
        .record_payment(authorized(overpay, &clerk))
        .await
        .expect("paid")
        .into_inner()
        .payment
        .expect("payment");
    assert_eq!(amount(&over.unallocated), "50.00");
    let status = credit_until(&channel, &clerk, &account_id, |status| amount(&status.balance) == "-50.00").await;
    assert_eq!(amount(&status.available_credit), "1050.00");
}

#[tokio::test]
async fn invoices_posted_in_parallel_are_numbered_without_gaps_or_duplicates_and_bad_ones_name_each_field() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Numbering Books", "JPY").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    let account_id = AccountServiceClient::new(channel.clone())
        .create_account(authorized(
            CreateAccountRequest {
                account: Some(Account { code: "NUM1".to_owned(), name: "Numbered".to_owned(), ..Account::default() }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account")
        .id;
    let mut invoices = InvoiceServiceClient::new(channel.clone());
    let yen = |amount: &str| Some(Money { currency_code: "JPY".to_owned(), amount: amount.to_owned() });
    let bad = CreateInvoiceRequest {
        invoice: Some(Invoice {
            account_id: account_id.clone(),
            invoice_date: "2026-02-30".to_owned(),
            lines: vec![InvoiceLine {
                description: String::new(),
                quantity: Some(Decimal { value: "-1".to_owned() }),
                unit_price: eur("5"),
                ..InvoiceLine::default()
            }],
            ..Invoice::default()
        }),
        request_id: String::new(),
    };
    let refused = invoices.create_invoice(authorized(bad, &clerk)).await.expect_err("bad invoice");
    let mut fields = bss_testkit::violated_fields(&refused);
    fields.sort();
    assert_eq!(
        fields,
        vec![
            "invoice.invoice_date",
            "invoice.lines[0].description",
            "invoice.lines[0].quantity",
            "invoice.lines[0].unit_price.currency_code",
        ]
    );

    let mut drafts = Vec::new();
    for index in 0..12 {
        let request = CreateInvoiceRequest {
            invoice: Some(Invoice {
                account_id: account_id.clone(),
                lines: vec![InvoiceLine {
                    description: format!("Item {index}"),
                    quantity: Some(Decimal { value: "3".to_owned() }),
                    unit_price: yen("333.5"),
                    ..InvoiceLine::default()
                }],
                ..Invoice::default()
            }),
            request_id: String::new(),
        };
        let draft = invoices.create_invoice(authorized(request, &clerk)).await.expect("draft").into_inner();
        let draft = draft.invoice.expect("invoice");
        assert_eq!(amount(&draft.total), "1001", "1000.5 rounds half away from zero to whole yen");
        drafts.push(draft.id);
    }
    let posts = drafts.iter().map(|id| {
        let mut invoices = invoices.clone();
        let request = PostInvoiceRequest { id: id.clone(), request_id: String::new() };
        let clerk = clerk.clone();
        async move { invoices.post_invoice(authorized(request, &clerk)).await.expect("posted").into_inner() }
    });
    let mut numbers: Vec<i64> = futures::future::join_all(posts)
        .await
        .into_iter()
        .map(|posted| posted.invoice.expect("invoice").number)
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=12).collect::<Vec<i64>>());
}

#[tokio::test]
async fn overdue_invoices_put_the_account_out_of_terms_until_credit_notes_and_a_write_off_settle_them() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Overdue Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    let account_id = AccountServiceClient::new(channel.clone())
        .create_account(authorized(
            CreateAccountRequest {
                account: Some(Account {
                    code: "LATE1".to_owned(),
                    name: "Late Payer".to_owned(),
                    ..Account::default()
                }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account")
        .id;
    let mut invoices = InvoiceServiceClient::new(channel.clone());
    // Dated long ago: due 30 days later (the default period), so past due.
    let draft = invoices.create_invoice(authorized(invoice(&account_id, "2026-01-01", "300.00", &[]), &clerk)).await;
    let draft = draft.expect("draft").into_inner().invoice.expect("invoice");
    let post = PostInvoiceRequest { id: draft.id.clone(), request_id: String::new() };
    let posted =
        invoices.post_invoice(authorized(post, &clerk)).await.expect("posted").into_inner().invoice.expect("i");
    assert_eq!(posted.due_date, "2026-01-31");

    let status = credit_until(&channel, &clerk, &account_id, |status| status.out_of_terms).await;
    assert_eq!(amount(&status.balance), "300.00");
    let mut payments = PaymentServiceClient::new(channel.clone());
    let balance = payments
        .get_account_balance(authorized(GetAccountBalanceRequest { account_id: account_id.clone() }, &clerk))
        .await
        .expect("balance")
        .into_inner();
    assert_eq!(amount(&balance.outstanding), "300.00", "past due and unsettled");

    let note = CreateCreditNoteRequest {
        lines: Vec::new(),
        whole_invoice: false,
        account_id: account_id.clone(),
        amount: eur("40.00"),
        reason: "damaged goods".to_owned(),
        invoice_id: draft.id.clone(),
        request_id: String::new(),
    };
    let note = payments.create_credit_note(authorized(note, &clerk)).await.expect("note").into_inner();
    assert_eq!(amount(&note.credit_note.expect("note").allocations[0].amount), "40.00");
    let write_off = WriteOffAccountRequest {
        account_id: account_id.clone(),
        reason: "uncollectable".to_owned(),
        request_id: String::new(),
    };
    let written =
        payments.write_off_account(authorized(write_off.clone(), &clerk)).await.expect("written off").into_inner();
    let written = written.write_off.expect("write-off");
    assert_eq!((amount(&written.amount), written.allocations[0].settled), ("260.00", true));
    let nothing = payments.write_off_account(authorized(write_off, &clerk)).await.expect_err("nothing owed");
    assert_eq!(nothing.code(), Code::FailedPrecondition);

    // Credit applies billing's events one by one: the write-off, then the
    // invoice settled (out of terms no more). Waits for both.
    let settled = |status: &CreditStatus| amount(&status.balance) == "0.00" && !status.out_of_terms;
    credit_until(&channel, &clerk, &account_id, settled).await;
    let balance = payments
        .get_account_balance(authorized(GetAccountBalanceRequest { account_id: account_id.clone() }, &clerk))
        .await
        .expect("balance")
        .into_inner();
    assert_eq!((amount(&balance.balance), amount(&balance.outstanding)), ("0.00", "0.00"));
}

#[tokio::test]
async fn orders_are_executed_held_or_refused_by_the_account_pricing_and_credit() {
    use bss_proto::accounts::SuspendAccountRequest;
    use bss_proto::billing::order_service_client::OrderServiceClient;
    use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
    use bss_proto::pricing::{CreateProductRequest, Product};

    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Order Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    let mut accounts = AccountServiceClient::new(channel.clone());
    let account_id = accounts
        .create_account(authorized(
            CreateAccountRequest {
                account: Some(Account {
                    code: "ORD1".to_owned(),
                    name: "Orderer".to_owned(),
                    enable_ordering: true,
                    payment_types: vec![
                        PaymentType::OnAccount as i32,
                        PaymentType::CreditCard as i32,
                        PaymentType::RunningQuote as i32,
                    ],
                    ..Account::default()
                }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("account")
        .into_inner()
        .account
        .expect("account")
        .id;
    bss_e2e::save_card(&channel, &admin, &account_id, "tok_visa").await;
    CatalogServiceClient::new(channel.clone())
        .create_product(authorized(
            CreateProductRequest {
                product: Some(Product {
                    code: "GADGET".to_owned(),
                    name: "Gadget".to_owned(),
                    list_price: eur("30.00"),
                    ..Product::default()
                }),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("product");
    let terms = CreditTerms {
        credit_limit: Some(Decimal { value: "100".to_owned() }),
        policy: Some(CreditPolicy {
            out_of_credit_action: CreditAction::HoldForApproval as i32,
            ..CreditPolicy::default()
        }),
        ..CreditTerms::default()
    };
    CreditServiceClient::new(channel.clone())
        .change_credit_terms(authorized(
            ChangeCreditTermsRequest {
                account_id: account_id.clone(),
                terms: Some(terms),
                reason: "opening".to_owned(),
                request_id: String::new(),
            },
            &admin,
        ))
        .await
        .expect("terms");

    let mut orders = OrderServiceClient::new(channel.clone());
    let place = |product: &str, quantity: &str, payment_type: PaymentType, request_id: &str| PlaceOrderRequest {
        request_id: request_id.to_owned(),
        ..order_request(&account_id, &[(product, quantity)], payment_type)
    };
    let executed = orders.place_order(authorized(place("GADGET", "2", PaymentType::OnAccount, "po-1"), &clerk)).await;
    let executed = executed.expect("placed").into_inner().order.expect("order");
    assert_eq!((executed.status, amount(&executed.total)), (OrderStatus::Executed as i32, "60.00"));
    assert!(!executed.reservation_id.is_empty());
    let retried = orders.place_order(authorized(place("GADGET", "2", PaymentType::OnAccount, "po-1"), &clerk)).await;
    assert_eq!(retried.expect("retry").into_inner().order.expect("order").id, executed.id, "placed once");
    assert_eq!(amount(&credit_status(&channel, &clerk, &account_id).await.reserved), "60.00", "reserved once");

    let held = orders.place_order(authorized(place("GADGET", "2", PaymentType::OnAccount, ""), &clerk)).await;
    let held = held.expect("placed").into_inner().order.expect("order");
    assert_eq!(held.status, OrderStatus::HeldForApproval as i32);
    assert_eq!((held.reasons[0].code.as_str(), held.reservation_id.as_str()), ("CREDIT_LIMIT_EXCEEDED", ""));
    assert!(!held.held_order_id.is_empty());

    // A credit manager approves it after a payment is arranged: billing
    // executes the order with the reservation credit made.
    let manager = bss_testkit::token(tenant_id, &[Role::CreditManager]);
    let approve = ApproveHeldOrderRequest {
        held_order_id: held.held_order_id.clone(),
        note: "paid 100 by transfer".to_owned(),
        request_id: String::new(),
    };
    let approved = CreditServiceClient::new(channel.clone()).approve_held_order(authorized(approve, &manager)).await;
    let reservation_id = approved.expect("approved").into_inner().reservation.expect("reservation").id;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let order = orders.get_order(authorized(GetOrderRequest { id: held.id.clone() }, &clerk)).await;
        let order = order.expect("order").into_inner().order.expect("order");
        if order.status == OrderStatus::Executed as i32 {
            assert_eq!(order.reservation_id, reservation_id);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "billing never executed the approved order: {order:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // The order's outcomes are on billing's stream: held, then executed.
    let mut stream = bss_proto::billing::billing_event_service_client::BillingEventServiceClient::new(channel.clone())
        .stream_events(authorized(bss_proto::billing::StreamEventsRequest { after_sequence: 0 }, &clerk))
        .await
        .expect("stream")
        .into_inner();
    let mut outcomes = Vec::new();
    while outcomes.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(30), stream.message()).await;
        let event = message.expect("in time").expect("stream").expect("event").event.expect("event");
        if let Some(billing_event::Payload::OrderOutcome(outcome)) = event.payload
            && outcome.order_id == held.id
        {
            outcomes.push(OrderStatus::try_from(outcome.status).expect("status"));
        }
    }
    assert_eq!(outcomes, vec![OrderStatus::HeldForApproval, OrderStatus::Executed]);

    let card = orders.place_order(authorized(place("GADGET", "10", PaymentType::CreditCard, ""), &clerk)).await;
    let card = card.expect("placed").into_inner().order.expect("order");
    assert_eq!((card.status, card.reservation_id.as_str()), (OrderStatus::Executed as i32, ""));
    let quote = orders.place_order(authorized(place("GADGET", "1", PaymentType::RunningQuote, ""), &clerk)).await;
    assert_eq!(quote.expect("placed").into_inner().order.expect("order").status, OrderStatus::RunningQuote as i32);

    let refused = |result: Result<tonic::Response<PlaceOrderResponse>, tonic::Status>| {
        let status = result.expect_err("refused");
        (status.code(), bss_testkit::reason(&status))
    };
    let direct = orders.place_order(authorized(place("GADGET", "1", PaymentType::DirectDeposit, ""), &clerk)).await;
    assert_eq!(refused(direct), (Code::FailedPrecondition, "PAYMENT_TYPE_NOT_ALLOWED".to_owned()));
    let unknown = orders.place_order(authorized(place("NOPE", "1", PaymentType::CreditCard, ""), &clerk)).await;
    assert_eq!(refused(unknown).0, Code::FailedPrecondition, "pricing's refusal passes through");
    let bad = orders.place_order(authorized(place("GADGET", "-1", PaymentType::CreditCard, ""), &clerk)).await;
    assert_eq!(bss_testkit::violated_fields(&bad.expect_err("bad")), vec!["order.lines[0].quantity"]);

    accounts
        .suspend_account(authorized(
            SuspendAccountRequest { id: account_id.clone(), reason: "dispute".to_owned(), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("suspended");
    let suspended = orders.place_order(authorized(place("GADGET", "1", PaymentType::CreditCard, ""), &clerk)).await;
    assert_eq!(refused(suspended), (Code::FailedPrecondition, "ACCOUNT_SUSPENDED".to_owned()));
}

/// The billing balance, outstanding and unsettled amounts of an account.
async fn billing_balance(channel: &Channel, token: &str, account_id: &str) -> (String, String, String) {
    let balance = PaymentServiceClient::new(channel.clone())
        .get_account_balance(authorized(GetAccountBalanceRequest { account_id: account_id.to_owned() }, token))
        .await
        .expect("balance")
        .into_inner();
    (
        amount(&balance.balance).to_owned(),
        amount(&balance.outstanding).to_owned(),
        amount(&balance.unsettled).to_owned(),
    )
}

#[tokio::test]
async fn the_whole_story_from_pricing_and_credit_to_a_period_close_and_a_rebate() {
    use bss_e2e::{create_account, create_product, decimal, ordering_account};
    use bss_proto::billing::ledger_service_client::LedgerServiceClient;
    use bss_proto::billing::order_service_client::OrderServiceClient;
    use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
    use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
    use bss_proto::pricing::contract_service_client::ContractServiceClient;
    use bss_proto::pricing::*;
    use chrono::{Datelike, Days, Months};

    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Story Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let manager = bss_testkit::token(tenant_id, &[Role::CreditManager]);
    let channel = suite.gateway().await;
    let today = bss_platform::time::now().date_naive();
    let day = bss_platform::time::format_date;
    let this_month = today.with_day(1).expect("first");
    let last_month = this_month.checked_sub_months(Months::new(1)).expect("month");

    // Monthly periods from last month: that period is open and has ended.
    let mut ledger = LedgerServiceClient::new(channel.clone());
    let settings = PeriodSettings {
        frequency: PeriodFrequency::Monthly as i32,
        first_period_start: day(last_month),
        create_time: None,
    };
    let set = SetPeriodSettingsRequest { settings: Some(settings.clone()), request_id: String::new() };
    let first_period = ledger.set_period_settings(authorized(set, &admin)).await.expect("settings").into_inner();
    let first_period = first_period.period.expect("period");
    assert_eq!(
        (first_period.start_date.as_str(), first_period.status),
        (day(last_month).as_str(), PeriodStatus::Open as i32)
    );
    let again = SetPeriodSettingsRequest { settings: Some(settings), request_id: String::new() };
    let fixed = ledger.set_period_settings(authorized(again, &admin)).await.expect_err("set once");
    assert_eq!(bss_testkit::reason(&fixed), "PERIOD_SETTINGS_FIXED");

    // Pricing: a level price for widgets, a contract price for gizmos with
    // a monthly 2 % rebate on everything invoiced.
    let widget = create_product(&channel, &admin, "WIDGET", "100.00", "").await;
    let gizmo = create_product(&channel, &admin, "GIZMO", "50.00", "").await;
    let account_id = create_account(&channel, &admin, ordering_account("STORY")).await;
    let mut catalog = CatalogServiceClient::new(channel.clone());
    let level = PriceLevel {
        code: "GOLD".to_owned(),
        name: "Gold".to_owned(),
        currency_code: "EUR".to_owned(),
        ..PriceLevel::default()
    };
    let level = catalog
        .create_price_level(authorized(
            CreatePriceLevelRequest { price_level: Some(level), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("level")
        .into_inner()
        .price_level
        .expect("level");
    let level_price =
        LevelPrice { level_id: level.id.clone(), product_id: widget, price: eur("80.00"), breaks: vec![] };
    catalog
        .set_level_price(authorized(
            SetLevelPriceRequest { level_price: Some(level_price), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("level price");
    let pricing =
        AccountPricing { account_id: account_id.clone(), price_level_id: level.id, ..AccountPricing::default() };
    AccountPricingServiceClient::new(channel.clone())
        .set_account_pricing(authorized(
            SetAccountPricingRequest { pricing: Some(pricing), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("account pricing");
    let mut contracts = ContractServiceClient::new(channel.clone());
    let contract = Contract {
        name: "Story deal".to_owned(),
        currency_code: "EUR".to_owned(),
        start_date: day(last_month),
        expiry_date: day(today.checked_add_months(Months::new(12)).expect("year")),
        items: vec![ContractItem { product_id: gizmo, price: eur("40.00"), breaks: vec![] }],
        account_ids: vec![account_id.clone()],
        ..Contract::default()
    };
    let contract = contracts
        .create_contract(authorized(
            CreateContractRequest { contract: Some(contract), request_id: String::new() },
            &admin,
        ))
        .await
        .expect("contract")
        .into_inner()
        .contract
        .expect("contract");
    let term = RebateTerm {
        scope: RebateScope::AllInvoicedItems as i32,
        period: RebatePeriod::Month as i32,
        mode: TierMode::Scale as i32,
        tiers: vec![RebateTier { from_amount: eur("0"), rate_percent: decimal("2") }],
        ..RebateTerm::default()
    };
    let add = AddRebateTermRequest { contract_id: contract.id, term: Some(term), request_id: String::new() };
    let term = contracts.add_rebate_term(authorized(add, &admin)).await.expect("term").into_inner().term.expect("term");

    // Credit: 1,000 on 30 days net; over the limit, orders wait for approval.
    let terms = CreditTerms {
        credit_limit: decimal("1000"),
        payment_terms: Some(PaymentTerms { kind: PaymentTermsKind::NetDays as i32, days: 30, day_of_month: 0 }),
        policy: Some(CreditPolicy {
            out_of_credit_action: CreditAction::HoldForApproval as i32,
            ..CreditPolicy::default()
        }),
        ..CreditTerms::default()
    };
    let change = ChangeCreditTermsRequest {
        account_id: account_id.clone(),
        terms: Some(terms),
        reason: "opening".to_owned(),
        request_id: String::new(),
    };
    CreditServiceClient::new(channel.clone()).change_credit_terms(authorized(change, &admin)).await.expect("terms");

    // An order within credit: 5 widgets at the level's 80 and 5 gizmos at
    // the contract's 40 = 600, executed and reserved.
    let mut orders = OrderServiceClient::new(channel.clone());
    let place = |lines: &[(&str, &str)]| order_request(&account_id, lines, PaymentType::OnAccount);
    let first = orders.place_order(authorized(place(&[("WIDGET", "5"), ("GIZMO", "5")]), &clerk)).await;
    let first = first.expect("placed").into_inner().order.expect("order");
    assert_eq!((first.status, amount(&first.total)), (OrderStatus::Executed as i32, "600.00"));
    let status = credit_status(&channel, &clerk, &account_id).await;
    assert_eq!((amount(&status.reserved), amount(&status.available_credit)), ("600.00", "400.00"));

    // One over credit: 6 widgets = 480 > 400, held.
    let held = orders.place_order(authorized(place(&[("WIDGET", "6")]), &clerk)).await;
    let held = held.expect("placed").into_inner().order.expect("order");
    assert_eq!(held.status, OrderStatus::HeldForApproval as i32);

    // Invoicing the executed order: due in 30 days; credit captures the
    // reservation into the balance.
    let mut invoices = InvoiceServiceClient::new(channel.clone());
    let generate = GenerateInvoicesRequest {
        account_id: account_id.clone(),
        invoice_date: String::new(),
        post: true,
        request_id: String::new(),
    };
    let generated =
        invoices.generate_invoices(authorized(generate.clone(), &clerk)).await.expect("invoiced").into_inner().invoices;
    assert_eq!(generated.len(), 1, "the held order is not invoiced");
    let first_invoice = &generated[0];
    assert_eq!(
        (amount(&first_invoice.total), first_invoice.due_date.clone()),
        ("600.00", day(today.checked_add_days(Days::new(30)).expect("day")))
    );
    assert_eq!(first_invoice.order_references, vec![first.reference.clone()]);
    assert_eq!(billing_balance(&channel, &clerk, &account_id).await, ("600.00".into(), "0.00".into(), "600.00".into()));
    let status = credit_until(&channel, &clerk, &account_id, |status| amount(&status.balance) == "600.00").await;
    assert_eq!((amount(&status.reserved), amount(&status.available_credit)), ("0.00", "400.00"));

    // A payment of 200, then the credit manager approves the held order.
    let mut payments = PaymentServiceClient::new(channel.clone());
    let pay = |value: &str| RecordPaymentRequest {
        payment: Some(Payment { account_id: account_id.clone(), amount: eur(value), ..Payment::default() }),
        invoice_id: String::new(),
        request_id: String::new(),
    };
    payments.record_payment(authorized(pay("200.00"), &clerk)).await.expect("paid");
    let status = credit_until(&channel, &clerk, &account_id, |status| amount(&status.balance) == "400.00").await;
    assert_eq!(amount(&status.available_credit), "600.00");
    let approve = ApproveHeldOrderRequest {
        held_order_id: held.held_order_id.clone(),
        note: "paid 200".to_owned(),
        request_id: String::new(),
    };
    CreditServiceClient::new(channel.clone())
        .approve_held_order(authorized(approve, &manager))
        .await
        .expect("approved");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while orders
        .get_order(authorized(GetOrderRequest { id: held.id.clone() }, &clerk))
        .await
        .expect("order")
        .into_inner()
        .order
        .expect("order")
        .status
        != OrderStatus::Executed as i32
    {
        assert!(tokio::time::Instant::now() < deadline, "the approved order was never executed");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(amount(&credit_status(&channel, &clerk, &account_id).await.available_credit), "120.00");
    let second =
        invoices.generate_invoices(authorized(generate, &clerk)).await.expect("invoiced").into_inner().invoices;
    assert_eq!(second.iter().map(|invoice| amount(&invoice.total)).collect::<Vec<_>>(), vec!["480.00"]);

    // An older fee invoice, already past due: outstanding.
    let fee = invoice(&account_id, &day(today.checked_sub_days(Days::new(45)).expect("day")), "100.00", &[]);
    let fee =
        invoices.create_invoice(authorized(fee, &clerk)).await.expect("draft").into_inner().invoice.expect("invoice");
    invoices
        .post_invoice(authorized(PostInvoiceRequest { id: fee.id.clone(), request_id: String::new() }, &clerk))
        .await
        .expect("posted");
    assert_eq!(
        billing_balance(&channel, &clerk, &account_id).await,
        ("980.00".into(), "100.00".into(), "980.00".into())
    );

    // 500 settles oldest first: the fee, the rest of the first invoice.
    let paid = payments
        .record_payment(authorized(pay("500.00"), &clerk))
        .await
        .expect("paid")
        .into_inner()
        .payment
        .expect("payment");
    let settled: Vec<(String, &str, bool)> =
        paid.allocations.iter().map(|a| (a.invoice_id.clone(), amount(&a.amount), a.settled)).collect();
    assert_eq!(settled, vec![(fee.id.clone(), "100.00", true), (first_invoice.id.clone(), "400.00", true)]);
    assert_eq!(billing_balance(&channel, &clerk, &account_id).await, ("480.00".into(), "0.00".into(), "480.00".into()));
    let status = credit_until(&channel, &clerk, &account_id, |status| amount(&status.balance) == "480.00").await;
    assert_eq!((amount(&status.reserved), amount(&status.available_credit)), ("0.00", "520.00"));

    // Closing last month's period fixes the balance as the next opening.
    let closed = ledger
        .close_period(authorized(
            ClosePeriodRequest { period_id: first_period.id.clone(), request_id: String::new() },
            &clerk,
        ))
        .await
        .expect("closed")
        .into_inner();
    let opened = closed.opened.expect("opened");
    assert_eq!((opened.start_date.clone(), opened.status), (day(this_month), PeriodStatus::Open as i32));
    let again = ClosePeriodRequest { period_id: first_period.id.clone(), request_id: String::new() };
    let again = ledger.close_period(authorized(again, &clerk)).await.expect_err("closed already");
    assert_eq!(bss_testkit::reason(&again), "PERIOD_NOT_OPEN");
    let early = ClosePeriodRequest { period_id: opened.id.clone(), request_id: String::new() };
    let early = ledger.close_period(authorized(early, &clerk)).await.expect_err("not ended");
    assert_eq!(bss_testkit::reason(&early), "PERIOD_NOT_ENDED");
    assert_eq!(billing_balance(&channel, &clerk, &account_id).await.0, "480.00");
    let enquiry = ListTransactionsRequest { account_id: account_id.clone(), ..ListTransactionsRequest::default() };
    let transactions =
        ledger.list_transactions(authorized(enquiry, &clerk)).await.expect("enquiry").into_inner().transactions;
    assert_eq!(transactions.len(), 5, "three invoices and two payments");
    assert!(transactions.iter().all(|transaction| transaction.period_id == first_period.id));

    // The month's rebate: 2 % of the 1,080 invoiced this month, once.
    let rebates = RunRebatesRequest { period_date: day(today), account_id: String::new(), request_id: String::new() };
    let issued = ledger.run_rebates(authorized(rebates.clone(), &clerk)).await.expect("rebates").into_inner().rebates;
    assert_eq!(issued.len(), 1);
    assert_eq!(
        (issued[0].term_id.as_str(), amount(&issued[0].turnover), amount(&issued[0].rebate)),
        (term.id.as_str(), "1080.00", "21.60")
    );
    assert!(!issued[0].credit_note_id.is_empty());
    assert!(
        ledger.run_rebates(authorized(rebates, &clerk)).await.expect("again").into_inner().rebates.is_empty(),
        "once per period"
    );
    assert_eq!(billing_balance(&channel, &clerk, &account_id).await, ("458.40".into(), "0.00".into(), "458.40".into()));
    credit_until(&channel, &clerk, &account_id, |status| amount(&status.balance) == "458.40").await;
    let credits = ListTransactionsRequest {
        account_id,
        kind: TransactionKind::CreditNote as i32,
        ..ListTransactionsRequest::default()
    };
    let credits =
        ledger.list_transactions(authorized(credits, &clerk)).await.expect("enquiry").into_inner().transactions;
    assert_eq!(
        credits.iter().map(|credit| (amount(&credit.amount), credit.period_id.as_str())).collect::<Vec<_>>(),
        vec![("-21.60", "")]
    );
}

#[tokio::test]
async fn orders_over_credit_are_warned_blocked_or_sent_to_card_as_the_policy_says() {
    use bss_e2e::{create_account, create_product, decimal, ordering_account};
    use bss_proto::billing::order_service_client::OrderServiceClient;

    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Policy Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "GADGET", "30.00", "").await;
    let mut orders = OrderServiceClient::new(channel.clone());
    for (code, action) in
        [("WARNED", CreditAction::Warn), ("BLOCKED", CreditAction::Block), ("CARD", CreditAction::WarnCreditCardOnly)]
    {
        let account_id = create_account(&channel, &admin, ordering_account(code)).await;
        bss_e2e::save_card(&channel, &admin, &account_id, "tok_visa").await;
        let terms = CreditTerms {
            credit_limit: decimal("10"),
            policy: Some(CreditPolicy { out_of_credit_action: action as i32, ..CreditPolicy::default() }),
            ..CreditTerms::default()
        };
        let change = ChangeCreditTermsRequest {
            account_id: account_id.clone(),
            terms: Some(terms),
            reason: "opening".to_owned(),
            request_id: String::new(),
        };
        CreditServiceClient::new(channel.clone()).change_credit_terms(authorized(change, &admin)).await.expect("terms");
        let place = |payment_type: PaymentType| order_request(&account_id, &[("GADGET", "2")], payment_type);
        let on_account = orders.place_order(authorized(place(PaymentType::OnAccount), &clerk)).await;
        let on_account = on_account.expect("placed").into_inner().order.expect("order");
        let reasons: Vec<(String, i32)> =
            on_account.reasons.iter().map(|reason| (reason.code.clone(), reason.action)).collect();
        let expected = match action {
            CreditAction::Warn => OrderStatus::Executed,
            _ => OrderStatus::Rejected,
        };
        assert_eq!(on_account.status, expected as i32, "{code}: {on_account:?}");
        assert_eq!(
            reasons.iter().map(|(_, action)| *action).collect::<Vec<_>>(),
            vec![action as i32],
            "{code}: {reasons:?}"
        );
        assert_eq!(
            on_account.reservation_id.is_empty(),
            action != CreditAction::Warn,
            "{code}: only an executed order reserves"
        );
        if action == CreditAction::WarnCreditCardOnly {
            let card = orders.place_order(authorized(place(PaymentType::CreditCard), &clerk)).await;
            assert_eq!(
                card.expect("placed").into_inner().order.expect("order").status,
                OrderStatus::Executed as i32,
                "a card pays"
            );
        }
    }
}
