//! What an account owes over time, read from every side: the aging of its
//! open invoices and its balance day by day (billing), beside the balance
//! billing and credit each keep.

use bss_e2e::{TestApp, amount, create_account, credit_settles, decimal, eur, ordering_account, set_credit_terms};
use bss_platform::auth::Role;
use bss_platform::time::{format_date, now};
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::ledger_service_client::LedgerServiceClient;
use bss_proto::billing::payment_service_client::PaymentServiceClient;
use bss_proto::billing::*;
use bss_proto::credit::{PaymentTerms, PaymentTermsKind};
use bss_testkit::authorized;
use chrono::Days;
use tonic::Code;
use tonic::transport::Channel;

/// Creates and posts an invoice of one line dated `days_ago` days back;
/// returns its id.
async fn post_invoice(channel: &Channel, clerk: &str, account_id: &str, days_ago: u64, price: &str) -> String {
    let mut invoices = InvoiceServiceClient::new(channel.clone());
    let date = now().date_naive().checked_sub_days(Days::new(days_ago)).expect("date");
    let draft = CreateInvoiceRequest {
        invoice: Some(Invoice {
            account_id: account_id.to_owned(),
            invoice_date: format_date(date),
            lines: vec![InvoiceLine {
                description: format!("Service of {}", format_date(date)),
                quantity: decimal("1"),
                unit_price: eur(price),
                ..InvoiceLine::default()
            }],
            ..Invoice::default()
        }),
        request_id: String::new(),
    };
    let draft = invoices.create_invoice(authorized(draft, clerk)).await.expect("draft").into_inner();
    let id = draft.invoice.expect("invoice").id;
    let post = PostInvoiceRequest { id: id.clone(), request_id: String::new() };
    invoices.post_invoice(authorized(post, clerk)).await.expect("posted");
    id
}

/// The account's balance history of yesterday and `today` (UTC days).
fn zoned_request(account_id: &str, today: chrono::NaiveDate) -> GetBalanceHistoryRequest {
    GetBalanceHistoryRequest {
        account_id: account_id.to_owned(),
        from_date: format_date(today.pred_opt().expect("date")),
        to_date: format_date(today),
        time_zone: String::new(),
    }
}

async fn aging(channel: &Channel, token: &str, account_id: &str) -> Result<GetReceivablesAgingResponse, tonic::Status> {
    let request = GetReceivablesAgingRequest { account_id: account_id.to_owned(), time_zone: String::new() };
    PaymentServiceClient::new(channel.clone())
        .get_receivables_aging(authorized(request, token))
        .await
        .map(|r| r.into_inner())
}

/// The buckets of one currency's aging, as amounts, current first, and the total.
fn buckets(aging: &ReceivablesAging) -> [&str; 6] {
    [
        amount(&aging.current),
        amount(&aging.days_1_to_30),
        amount(&aging.days_31_to_60),
        amount(&aging.days_61_to_90),
        amount(&aging.over_90_days),
        amount(&aging.total),
    ]
}

#[tokio::test]
async fn open_invoices_age_by_due_date_and_each_day_closes_with_what_was_posted() {
    // The test reads "today" (UTC) before and after posting: it starts well
    // clear of midnight.
    let left = chrono::TimeDelta::days(1) - (now().time() - chrono::NaiveTime::MIN);
    if left < chrono::TimeDelta::minutes(2) {
        tokio::time::sleep((left + chrono::TimeDelta::seconds(5)).to_std().expect("positive")).await;
    }
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Aging Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    let account_id = create_account(&channel, &admin, ordering_account("AGED")).await;
    let net_30 = PaymentTerms { kind: PaymentTermsKind::NetDays as i32, days: 30, day_of_month: 0 };
    set_credit_terms(&channel, &admin, &account_id, "10000", Some(net_30)).await;

    // Due 100 days ago, 15 days ago, and in 30 days (net 30).
    let oldest = post_invoice(&channel, &clerk, &account_id, 130, "100.00").await;
    post_invoice(&channel, &clerk, &account_id, 45, "40.50").await;
    post_invoice(&channel, &clerk, &account_id, 0, "19.99").await;
    // Part of the oldest paid.
    let payment = RecordPaymentRequest {
        payment: Some(Payment { account_id: account_id.clone(), amount: eur("30.00"), ..Payment::default() }),
        invoice_id: oldest,
        request_id: String::new(),
    };
    PaymentServiceClient::new(channel.clone()).record_payment(authorized(payment, &clerk)).await.expect("paid");

    // Billing's aging of the account: each invoice's open amount by age.
    let aged = aging(&channel, &clerk, &account_id).await.expect("aging");
    assert_eq!(aged.as_of_date, format_date(now().date_naive()));
    assert_eq!(aged.aging.len(), 1, "{aged:?}");
    let euros = &aged.aging[0];
    assert_eq!(euros.currency_code, "EUR");
    assert_eq!(buckets(euros), ["19.99", "40.50", "0.00", "0.00", "70.00", "130.49"]);
    assert_eq!(euros.open_invoices, 3);
    // The tenant's aging (its one account) is the same.
    let tenant = aging(&channel, &clerk, "").await.expect("the tenant's aging");
    assert_eq!(tenant.aging, aged.aging);
    // Billing's balance agrees: everything unsettled, what is past due.
    let balance = bss_e2e::billing_balance(&channel, &clerk, &account_id).await;
    assert_eq!(
        (amount(&balance.balance), amount(&balance.outstanding), amount(&balance.unsettled)),
        ("130.49", "110.50", "130.49")
    );
    // Credit keeps the same balance (from billing's events).
    credit_settles(&channel, &admin, &account_id, "130.49", "0.00").await;

    // Day by day: everything was posted today (whatever the invoice dates).
    let today = now().date_naive();
    let yesterday = today.pred_opt().expect("date");
    let mut ledger = LedgerServiceClient::new(channel.clone());
    let history = zoned_request(&account_id, today);
    let history = ledger.get_balance_history(authorized(history, &clerk)).await.expect("history").into_inner();
    let points: Vec<(String, &str)> =
        history.points.iter().map(|point| (point.date.clone(), amount(&point.balance))).collect();
    assert_eq!(points, vec![(format_date(yesterday), "0.00"), (format_date(today), "130.49")]);

    // Counted in a time zone fourteen hours ahead of UTC (Etc/GMT-14): each
    // posting falls on the day its post time reads there.
    let listed = ListTransactionsRequest { account_id: account_id.clone(), page_size: 50, ..Default::default() };
    let posted = ledger.list_transactions(authorized(listed, &clerk)).await.expect("transactions").into_inner();
    let ahead = chrono::FixedOffset::east_opt(14 * 3600).expect("offset");
    let local_day = |transaction: &Transaction| {
        let time = transaction.post_time.expect("posted");
        chrono::DateTime::from_timestamp(time.seconds, 0).expect("time").with_timezone(&ahead).date_naive()
    };
    let days: Vec<chrono::NaiveDate> = yesterday.iter_days().take(4).collect();
    let expected: Vec<(String, String)> = days
        .iter()
        .map(|day| {
            let owed: rust_decimal::Decimal = posted
                .transactions
                .iter()
                .filter(|transaction| local_day(transaction) <= *day)
                .map(|transaction| amount(&transaction.amount).parse::<rust_decimal::Decimal>().expect("amount"))
                .sum();
            (format_date(*day), format!("{owed:.2}"))
        })
        .collect();
    let zoned = GetBalanceHistoryRequest {
        account_id: account_id.clone(),
        from_date: format_date(days[0]),
        to_date: format_date(days[3]),
        time_zone: "Etc/GMT-14".to_owned(),
    };
    let zoned = ledger.get_balance_history(authorized(zoned, &clerk)).await.expect("zoned history").into_inner();
    let points: Vec<(String, String)> =
        zoned.points.iter().map(|point| (point.date.clone(), amount(&point.balance).to_owned())).collect();
    assert_eq!(points, expected);
    let unknown =
        GetBalanceHistoryRequest { time_zone: "Mars/Olympus_Mons".to_owned(), ..zoned_request(&account_id, today) };
    let refused = ledger.get_balance_history(authorized(unknown, &clerk)).await.expect_err("unknown time zone");
    assert_eq!(bss_testkit::violated_fields(&refused), vec!["time_zone"]);
    let aging_request =
        GetReceivablesAgingRequest { account_id: account_id.clone(), time_zone: "Mars/Olympus_Mons".to_owned() };
    let refused = PaymentServiceClient::new(channel.clone())
        .get_receivables_aging(authorized(aging_request, &clerk))
        .await
        .expect_err("unknown time zone");
    assert_eq!(bss_testkit::violated_fields(&refused), vec!["time_zone"]);
    // Aged to today there: the day it is fourteen hours ahead of UTC (read
    // before and after the call, should a day end in between).
    let ahead_today = || now().with_timezone(&ahead).date_naive();
    let before = ahead_today();
    let zoned_aging = GetReceivablesAgingRequest { account_id: account_id.clone(), time_zone: "Etc/GMT-14".to_owned() };
    let zoned_aging = PaymentServiceClient::new(channel.clone())
        .get_receivables_aging(authorized(zoned_aging, &clerk))
        .await
        .expect("zoned aging")
        .into_inner();
    assert!([format_date(before), format_date(ahead_today())].contains(&zoned_aging.as_of_date), "{zoned_aging:?}");
    assert_eq!(zoned_aging.aging, aged.aging, "no invoice changes bucket by a day here");

    // A range backwards or longer than a leap year is refused by field.
    for (from, to) in [(today, yesterday), (today.checked_sub_days(Days::new(366)).expect("date"), today)] {
        let bad = GetBalanceHistoryRequest {
            from_date: format_date(from),
            to_date: format_date(to),
            ..zoned_request(&account_id, today)
        };
        let refused = ledger.get_balance_history(authorized(bad, &clerk)).await.expect_err("refused");
        assert_eq!(bss_testkit::violated_fields(&refused), vec!["to_date"]);
    }

    // A sales rep sees the aging of its own accounts only, never the tenant's.
    let rep = bss_testkit::sales_rep_token(tenant_id, "REP-9");
    let refused = aging(&channel, &rep, "").await.expect_err("the tenant's aging");
    assert_eq!(
        (refused.code(), bss_testkit::reason(&refused)),
        (Code::PermissionDenied, "ACCOUNT_REQUIRED".to_owned())
    );
    assert_eq!(aging(&channel, &rep, &account_id).await.expect_err("not its account").code(), Code::NotFound);
    // A customer's own user gets its account's aging, named or not, and
    // no other account's.
    let user_id = bss_e2e::create_user(&channel, &admin, &account_id, "ap@aged.example").await;
    let customer = bss_testkit::customer_user_token(tenant_id, user_id);
    assert_eq!(aging(&channel, &customer, "").await.expect("its own").aging, aged.aging);
    let other = create_account(&channel, &admin, ordering_account("OTHER")).await;
    assert_eq!(aging(&channel, &customer, &other).await.expect_err("another account").code(), Code::NotFound);
}
