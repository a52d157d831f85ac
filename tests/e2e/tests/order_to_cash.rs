//! Order to cash through the gateway, as far as it is built: credit terms,
//! an order authorized on credit (reserved), its invoice drafted and posted
//! (numbered, due by the account's payment terms), credit capturing the
//! reservation from billing's event, payments settling invoices oldest
//! first, and the balance, available credit and outstanding amount right at
//! each step, in billing and in credit.

use std::time::Duration;

use bss_e2e::{TestSuite, amount, eur};
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

async fn credit_status(channel: &Channel, token: &str, account_id: &str) -> CreditStatus {
    CreditServiceClient::new(channel.clone())
        .get_credit_status(authorized(GetCreditStatusRequest { account_id: account_id.to_owned() }, token))
        .await
        .expect("status")
        .into_inner()
        .status
        .expect("status")
}

/// Waits until credit has applied billing's events.
async fn credit_until(
    channel: &Channel,
    token: &str,
    account_id: &str,
    done: impl Fn(&CreditStatus) -> bool,
) -> CreditStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = credit_status(channel, token, account_id).await;
        if done(&status) {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "credit never caught up with billing: {status:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn invoice(account_id: &str, date: &str, amount: &str, orders: &[&str]) -> CreateInvoiceRequest {
    CreateInvoiceRequest {
        invoice: Some(Invoice {
            account_id: account_id.to_owned(),
            invoice_date: date.to_owned(),
            lines: vec![InvoiceLine {
                description: "Widgets".to_owned(),
                quantity: Some(Decimal { value: "1".to_owned() }),
                unit_price: eur(amount),
                total: None,
            }],
            order_references: orders.iter().map(|order| (*order).to_owned()).collect(),
            ..Invoice::default()
        }),
        request_id: String::new(),
    }
}

#[tokio::test]
async fn an_order_is_reserved_invoiced_captured_and_paid() {
    let suite = TestSuite::start().await;
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
        request_id: "so-1".to_owned(),
        account_id: account_id.clone(),
        order_reference: "SO-1".to_owned(),
        amount: eur("600.00"),
        payment_type: PaymentType::OnAccount as i32,
        event_kind: EventKind::Order as i32,
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
    let suite = TestSuite::start().await;
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
                total: None,
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
                    total: None,
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
    let suite = TestSuite::start().await;
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

    // Credit applies billing's events one by one: wait for the last.
    let status = credit_until(&channel, &clerk, &account_id, |status| amount(&status.balance) == "0.00").await;
    assert!(!status.out_of_terms, "the settled invoice ended out of terms");
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

    let suite = TestSuite::start().await;
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
        order: Some(Order {
            account_id: account_id.clone(),
            lines: vec![OrderLine {
                product: product.to_owned(),
                quantity: Some(Decimal { value: quantity.to_owned() }),
                ..OrderLine::default()
            }],
            payment_type: payment_type as i32,
            ..Order::default()
        }),
        request_id: request_id.to_owned(),
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
