//! Billing cycles through the gateway, read back from billing and credit:
//! a quarterly plan anchored off its start day (a part period prorated by
//! the day, then whole quarters), a plan billed in arrears, an account's
//! billing anchor aligning its new subscriptions, and bad cycles refused.
//! Expected figures are worked out here from the calendar, not by the
//! suite's own rule.

use bss_e2e::{
    TestApp, amount, billing_balance, create_account, create_product, credit_settles, generate, ordering_account,
    set_credit_terms, subscription_request, today,
};
use bss_platform::auth::Role;
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::payment_service_client::PaymentServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::*;
use bss_proto::types::PaymentType;
use bss_testkit::authorized;
use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use tonic::Code;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

fn text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// `price` for `days` of `whole` days, to the cent, half away from zero.
fn share(price: &str, days: i64, whole: i64) -> String {
    let price: Decimal = price.parse().expect("price");
    (price * Decimal::from(days) / Decimal::from(whole))
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        .to_string()
}

/// The first date on or after `from` on day `anchor` of its month or the
/// next (a month without that day: its last day).
fn next_anchor(from: NaiveDate, anchor: u32) -> NaiveDate {
    let on_day = |first: NaiveDate| {
        let last = first.checked_add_months(Months::new(1)).and_then(|next| next.pred_opt()).expect("date");
        first.with_day(anchor.min(last.day())).expect("date")
    };
    let this_month = from.with_day(1).expect("date");
    let here = on_day(this_month);
    if here >= from { here } else { on_day(this_month.checked_add_months(Months::new(1)).expect("date")) }
}

async fn subscribe(
    channel: &tonic::transport::Channel,
    token: &str,
    request: CreateSubscriptionRequest,
) -> Subscription {
    let created = SubscriptionServiceClient::new(channel.clone()).create_subscription(authorized(request, token)).await;
    created.expect("created").into_inner().subscription.expect("subscription")
}

/// A subscription to one of `product` on account, as `edit` sets its
/// billing.
fn on_account(account: &str, product: &str, edit: impl FnOnce(&mut Subscription)) -> CreateSubscriptionRequest {
    let mut request = subscription_request(account, product, "1", PaymentType::OnAccount);
    if let Some(subscription) = request.subscription.as_mut() {
        edit(subscription);
    }
    request
}

fn totals(invoices: &[Invoice]) -> Vec<String> {
    invoices.iter().map(|invoice| amount(&invoice.total).to_owned()).collect()
}

#[tokio::test]
async fn a_quarterly_plan_off_its_anchor_bills_a_part_period_then_whole_quarters_and_credit_follows() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Quarter Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "QPLAN", "300.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("QUARTERS")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;

    // Anchored on a day other than today: a part period up to the anchor,
    // its share of the quarter ending there.
    let start = date(&today());
    let anchor = if start.day() == 1 { 15 } else { 1 };
    let first_anchor = next_anchor(start, anchor);
    let quarter_start = first_anchor.checked_sub_months(Months::new(3)).expect("date");
    let (days, whole) = ((first_anchor - start).num_days(), (first_anchor - quarter_start).num_days());
    let part = share("300.00", days, whole);
    let request = on_account(&account, "QPLAN", |subscription| {
        subscription.billing_cycle = BillingCycle::Quarterly as i32;
        subscription.billing_anchor_day = anchor as i32;
    });
    let plan = subscribe(&channel, &clerk, request).await;
    assert_eq!(plan.status, SubscriptionStatus::Active as i32, "{plan:?}");
    assert_eq!(
        (plan.billing_cycle, plan.billing_anchor_day, plan.billing_timing),
        (BillingCycle::Quarterly as i32, anchor as i32, BillingTiming::InAdvance as i32)
    );
    assert_eq!(
        (plan.current_period_start.as_str(), plan.current_period_end.clone()),
        (today().as_str(), text(first_anchor))
    );
    // Credit authorized and reserved the part period, not the quarter.
    assert_eq!(
        plan.payers.iter().map(|payer| amount(&payer.amount).to_owned()).collect::<Vec<_>>(),
        vec![part.clone()]
    );
    credit_settles(&channel, &clerk, &account, "0.00", &part).await;

    // Invoiced today: the part period; its invoice captures what credit
    // reserved, and billing and credit agree on the balance.
    let first = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(totals(&first), vec![part.clone()]);
    let line = &first[0].lines[0];
    assert!(line.description.ends_with(&format!(", {days} of {whole} days")), "the part named: {line:?}");
    credit_settles(&channel, &clerk, &account, &part, "0.00").await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), part);

    // On the anchor, a whole quarter; nothing a month later; the next
    // quarter three months on.
    let quarter: Decimal = "300.00".parse().expect("price");
    let owed = |quarters: i64| (part.parse::<Decimal>().expect("part") + quarter * Decimal::from(quarters)).to_string();
    let invoiced = generate(&channel, &clerk, &account, &text(first_anchor), true).await;
    assert_eq!(totals(&invoiced), vec!["300.00"]);
    credit_settles(&channel, &clerk, &account, &owed(1), "0.00").await;
    let month_on = first_anchor.checked_add_months(Months::new(1)).expect("date");
    assert!(generate(&channel, &clerk, &account, &text(month_on), true).await.is_empty(), "no period starts then");
    let next_quarter = first_anchor.checked_add_months(Months::new(3)).expect("date");
    assert_eq!(totals(&generate(&channel, &clerk, &account, &text(next_quarter), true).await), vec!["300.00"]);
    credit_settles(&channel, &clerk, &account, &owed(2), "0.00").await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), owed(2));
}

#[tokio::test]
async fn a_plan_in_arrears_is_billed_after_its_period_and_one_cancelled_on_its_first_day_never() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Arrears Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "APLAN", "62.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("ARREARS")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;
    let arrears =
        || on_account(&account, "APLAN", |subscription| subscription.billing_timing = BillingTiming::InArrears as i32);

    // Whole months from today (no anchor); credit reserves the month it
    // will be billed for.
    let plan = subscribe(&channel, &clerk, arrears()).await;
    let month_end = date(&today()).checked_add_months(Months::new(1)).expect("date");
    assert_eq!(plan.billing_timing, BillingTiming::InArrears as i32);
    assert_eq!(plan.billing_anchor_day, date(&today()).day() as i32, "its start's day");
    assert_eq!(plan.current_period_end, text(month_end));
    credit_settles(&channel, &clerk, &account, "0.00", "62.00").await;

    // Nothing is billed while the month runs; the day after its last, the
    // month.
    assert!(generate(&channel, &clerk, &account, &today(), true).await.is_empty(), "not billed in advance");
    let last_day = month_end.pred_opt().expect("date");
    assert!(generate(&channel, &clerk, &account, &text(last_day), true).await.is_empty(), "still running");
    assert_eq!(totals(&generate(&channel, &clerk, &account, &text(month_end), true).await), vec!["62.00"]);
    credit_settles(&channel, &clerk, &account, "62.00", "0.00").await;

    // Cancelled the day it starts, one in arrears ran no day: never billed,
    // its reservation freed.
    let second = subscribe(&channel, &clerk, arrears()).await;
    credit_settles(&channel, &clerk, &account, "62.00", "62.00").await;
    let cancel = CancelSubscriptionRequest { id: second.id.clone(), request_id: String::new(), ..Default::default() };
    let cancelled =
        SubscriptionServiceClient::new(channel.clone()).cancel_subscription(authorized(cancel, &clerk)).await;
    let cancelled = cancelled.expect("cancelled").into_inner().subscription.expect("subscription");
    assert_eq!((cancelled.current_period_start.as_str(), cancelled.current_period_end.as_str()), ("", ""));
    credit_settles(&channel, &clerk, &account, "62.00", "0.00").await;
    let later = month_end.checked_add_months(Months::new(2)).expect("date");
    let invoiced = generate(&channel, &clerk, &account, &text(later), true).await;
    assert_eq!(totals(&invoiced), vec!["124.00"], "the first plan's next two months only");
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), "186.00");
}

#[tokio::test]
async fn an_accounts_billing_anchor_aligns_the_subscriptions_created_after_it() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Anchor Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "MPLAN", "31.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("ANCHORED")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());

    let anchor: u32 = if date(&today()).day() == 10 { 20 } else { 10 };
    let set = |anchor_day: i32, request_id: &str| SetBillingAnchorRequest {
        account_id: account.clone(),
        anchor_day,
        request_id: request_id.to_owned(),
    };
    let answer = subscriptions.set_billing_anchor(authorized(set(anchor as i32, "anchor-1"), &clerk)).await;
    assert_eq!(answer.expect("set").into_inner().anchor_day, anchor as i32);
    let get = || GetBillingAnchorRequest { account_id: account.clone() };
    let read = subscriptions.get_billing_anchor(authorized(get(), &clerk)).await.expect("read").into_inner();
    assert_eq!(read.anchor_day, anchor as i32);

    // A monthly plan without an anchor of its own takes the account's: a
    // part month up to it.
    let start = date(&today());
    let first_anchor = next_anchor(start, anchor);
    let month_start = first_anchor.checked_sub_months(Months::new(1)).expect("date");
    let part = share("31.00", (first_anchor - start).num_days(), (first_anchor - month_start).num_days());
    let plan = subscribe(&channel, &clerk, subscription_request(&account, "MPLAN", "1", PaymentType::OnAccount)).await;
    assert_eq!((plan.billing_anchor_day, plan.current_period_end.clone()), (anchor as i32, text(first_anchor)));
    credit_settles(&channel, &clerk, &account, "0.00", &part).await;
    assert_eq!(totals(&generate(&channel, &clerk, &account, &today(), true).await), vec![part.clone()]);
    credit_settles(&channel, &clerk, &account, &part, "0.00").await;

    // Its own anchor wins over the account's.
    let own = if start.day() == 1 { 2 } else { start.day() };
    let request = on_account(&account, "MPLAN", |subscription| subscription.billing_anchor_day = own as i32);
    assert_eq!(subscribe(&channel, &clerk, request).await.billing_anchor_day, own as i32);

    // Cleared: 0, and a new plan is billed from its own start day.
    let cleared = subscriptions.set_billing_anchor(authorized(set(0, "anchor-2"), &clerk)).await;
    assert_eq!(cleared.expect("cleared").into_inner().anchor_day, 0);
    let read = subscriptions.get_billing_anchor(authorized(get(), &clerk)).await.expect("read").into_inner();
    assert_eq!(read.anchor_day, 0);
    let plain = subscribe(&channel, &clerk, subscription_request(&account, "MPLAN", "1", PaymentType::OnAccount)).await;
    assert_eq!(plain.billing_anchor_day, start.day() as i32);
    // The first request retried answers as it did, and changes nothing.
    let replayed = subscriptions.set_billing_anchor(authorized(set(anchor as i32, "anchor-1"), &clerk)).await;
    assert_eq!(replayed.expect("replayed").into_inner().anchor_day, anchor as i32);
    let read = subscriptions.get_billing_anchor(authorized(get(), &clerk)).await.expect("read").into_inner();
    assert_eq!(read.anchor_day, 0, "a retry does not set it again");
}

#[tokio::test]
async fn a_cycle_or_anchor_that_is_not_one_is_refused_by_name() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Refusing Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "RPLAN", "10.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("REFUSED")).await;
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let request = on_account(&account, "RPLAN", |subscription| {
        subscription.billing_cycle = 9;
        subscription.billing_anchor_day = 32;
        subscription.billing_timing = -1;
    });
    let refused = subscriptions.create_subscription(authorized(request, &clerk)).await.expect_err("refused");
    assert_eq!(refused.code(), Code::InvalidArgument);
    let mut fields = bss_testkit::violated_fields(&refused);
    fields.sort();
    assert_eq!(
        fields,
        vec!["subscription.billing_anchor_day", "subscription.billing_cycle", "subscription.billing_timing"]
    );
    let set = SetBillingAnchorRequest { account_id: account.clone(), anchor_day: -3, request_id: String::new() };
    let refused = subscriptions.set_billing_anchor(authorized(set, &clerk)).await.expect_err("refused");
    assert_eq!(
        (refused.code(), bss_testkit::violated_fields(&refused)),
        (Code::InvalidArgument, vec!["anchor_day".to_owned()])
    );
    // Another tenant's account is not found.
    let (other, _) = suite.tenant("Other Books", "EUR").await;
    let stranger = bss_testkit::token(other, &[Role::BillingClerk]);
    let set = SetBillingAnchorRequest { account_id: account.clone(), anchor_day: 5, request_id: String::new() };
    let hidden = subscriptions.set_billing_anchor(authorized(set, &stranger)).await.expect_err("hidden");
    assert_eq!(hidden.code(), Code::NotFound);
}

#[tokio::test]
async fn cancelled_at_its_periods_end_a_plan_is_billed_to_that_day_and_no_further() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Ending Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "EPLAN", "45.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("ENDING")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let cancel = |id: &str, at_period_end: bool| CancelSubscriptionRequest {
        id: id.to_owned(),
        request_id: String::new(),
        at_period_end,
    };

    // In advance: cancelled at the end of its first month, it stays active
    // with that day as its cancel date and still owes (and credit still
    // holds) the month.
    let month_end = date(&today()).checked_add_months(Months::new(1)).expect("date");
    let plan = subscribe(&channel, &clerk, subscription_request(&account, "EPLAN", "1", PaymentType::OnAccount)).await;
    let ending = subscriptions.cancel_subscription(authorized(cancel(&plan.id, true), &clerk)).await;
    let ending = ending.expect("cancelled").into_inner().subscription.expect("subscription");
    assert_eq!((ending.status, ending.cancel_date.clone()), (SubscriptionStatus::Active as i32, text(month_end)));
    assert_eq!(ending.current_period_end, text(month_end), "it runs to the end of its period");
    credit_settles(&channel, &clerk, &account, "0.00", "45.00").await;
    let again = subscriptions.cancel_subscription(authorized(cancel(&plan.id, true), &clerk)).await;
    assert_eq!(bss_testkit::reason(&again.expect_err("set already")), "SUBSCRIPTION_CANCELLED");
    assert_eq!(totals(&generate(&channel, &clerk, &account, &today(), true).await), vec!["45.00"]);
    credit_settles(&channel, &clerk, &account, "45.00", "0.00").await;
    let two_months_on = month_end.checked_add_months(Months::new(1)).expect("date");
    assert!(generate(&channel, &clerk, &account, &text(two_months_on), true).await.is_empty(), "no later month");

    // In arrears: cancelled at its period's end, its month is billed the
    // day after its last, whole, and nothing after.
    let arrears = on_account(&account, "EPLAN", |subscription| {
        subscription.billing_timing = BillingTiming::InArrears as i32;
    });
    let arrears = subscribe(&channel, &clerk, arrears).await;
    subscriptions.cancel_subscription(authorized(cancel(&arrears.id, true), &clerk)).await.expect("cancelled");
    credit_settles(&channel, &clerk, &account, "45.00", "45.00").await;
    assert!(generate(&channel, &clerk, &account, &today(), true).await.is_empty(), "not before its end");
    assert_eq!(totals(&generate(&channel, &clerk, &account, &text(month_end), true).await), vec!["45.00"]);
    assert!(generate(&channel, &clerk, &account, &text(two_months_on), true).await.is_empty(), "no later month");
    credit_settles(&channel, &clerk, &account, "90.00", "0.00").await;

    // A period-end cancellation is brought forward to today: cancelled
    // now, on the day its first month began, it ran no day of it, and the
    // month billed already is credited whole.
    let now = subscriptions.cancel_subscription(authorized(cancel(&plan.id, false), &clerk)).await;
    let now = now.expect("cancelled now").into_inner().subscription.expect("subscription");
    assert_eq!((now.status, now.cancel_date.as_str()), (SubscriptionStatus::Cancelled as i32, today().as_str()));
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), "45.00");
    credit_settles(&channel, &clerk, &account, "45.00", "0.00").await;
}

#[tokio::test]
async fn a_yearly_plan_cancelled_after_four_months_is_credited_its_unused_days() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Yearly Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "YPLAN", "1200.00", "").await;
    create_product(&channel, &admin, "MONTHLY", "31.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("YEARLY")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let cancel_now = |id: &str| CancelSubscriptionRequest { id: id.to_owned(), ..Default::default() };
    let backdated = |product: &str, cycle: BillingCycle, start: NaiveDate| {
        on_account(&account, product, |subscription| {
            subscription.billing_cycle = cycle as i32;
            subscription.start_date = text(start);
        })
    };

    // A yearly plan that started four months ago: its year is invoiced,
    // whole, at the next billing.
    let today = date(&today());
    let start = today.checked_sub_months(Months::new(4)).expect("date");
    let year_end = start.checked_add_months(Months::new(12)).expect("date");
    let plan = subscribe(&channel, &clerk, backdated("YPLAN", BillingCycle::Yearly, start)).await;
    assert_eq!((plan.start_date.clone(), plan.current_period_end.clone()), (text(start), text(year_end)));
    credit_settles(&channel, &clerk, &account, "0.00", "1200.00").await;
    let year = generate(&channel, &clerk, &account, &text(today), true).await;
    assert_eq!(totals(&year), vec!["1200.00"]);
    credit_settles(&channel, &clerk, &account, "1200.00", "0.00").await;
    // Paid in full.
    let pay = RecordPaymentRequest {
        payment: Some(Payment { account_id: account.clone(), amount: bss_e2e::eur("1200.00"), ..Payment::default() }),
        invoice_id: year[0].id.clone(),
        request_id: String::new(),
    };
    PaymentServiceClient::new(channel.clone()).record_payment(authorized(pay, &clerk)).await.expect("paid");
    credit_settles(&channel, &clerk, &account, "0.00", "0.00").await;

    // Cancelled today: a credit note for the days from today to the year's
    // end, crediting its invoice line; the account holds it as credit, and
    // billing and credit agree on it.
    let unused = share("1200.00", (year_end - today).num_days(), (year_end - start).num_days());
    let cancelled = subscriptions.cancel_subscription(authorized(cancel_now(&plan.id), &clerk)).await;
    let cancelled = cancelled.expect("cancelled").into_inner().subscription.expect("subscription");
    assert_eq!(cancelled.status, SubscriptionStatus::Cancelled as i32);
    let owed = (Decimal::ZERO - unused.parse::<Decimal>().expect("unused")).to_string();
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), owed);
    credit_settles(&channel, &clerk, &account, &owed, "0.00").await;
    let get = GetInvoiceRequest { id: year[0].id.clone() };
    let invoice = InvoiceServiceClient::new(channel.clone()).get_invoice(authorized(get, &clerk)).await;
    let line = invoice.expect("invoice").into_inner().invoice.expect("invoice").lines.remove(0);
    assert_eq!(amount(&line.credited), unused, "the line carries what was credited");
    let next_year = year_end.checked_add_months(Months::new(1)).expect("date");
    assert!(generate(&channel, &clerk, &account, &text(next_year), true).await.is_empty(), "nothing more");

    // A month started ten days ago, cancelled before it was invoiced, is
    // charged its ten days; on a draft invoice, cancelling is refused until
    // the draft is posted or voided.
    let ten_days_ago = today - chrono::Days::new(10);
    let month_end = ten_days_ago.checked_add_months(Months::new(1)).expect("date");
    let month = subscribe(&channel, &clerk, backdated("MONTHLY", BillingCycle::Monthly, ten_days_ago)).await;
    subscriptions.cancel_subscription(authorized(cancel_now(&month.id), &clerk)).await.expect("cancelled");
    let ten_days = share("31.00", 10, (month_end - ten_days_ago).num_days());
    let invoiced = generate(&channel, &clerk, &account, &text(today), true).await;
    assert_eq!(totals(&invoiced), vec![ten_days.clone()]);
    let owed = (owed.parse::<Decimal>().expect("owed") + ten_days.parse::<Decimal>().expect("ten days")).to_string();
    credit_settles(&channel, &clerk, &account, &owed, "0.00").await;

    let drafted = subscribe(&channel, &clerk, backdated("MONTHLY", BillingCycle::Monthly, ten_days_ago)).await;
    assert_eq!(generate(&channel, &clerk, &account, &text(today), false).await.len(), 1, "a draft");
    let refused = subscriptions.cancel_subscription(authorized(cancel_now(&drafted.id), &clerk)).await;
    assert_eq!(bss_testkit::reason(&refused.expect_err("refused")), "SUBSCRIPTION_PERIOD_ON_DRAFT");
    let get = GetSubscriptionRequest { id: drafted.id.clone() };
    let kept = subscriptions.get_subscription(authorized(get, &clerk)).await.expect("read").into_inner();
    assert_eq!(kept.subscription.expect("subscription").status, SubscriptionStatus::Active as i32, "nothing written");

    // Started further back than its first period: refused by name.
    let too_far = today.checked_sub_months(Months::new(2)).expect("date");
    let refused =
        subscriptions.create_subscription(authorized(backdated("MONTHLY", BillingCycle::Monthly, too_far), &clerk));
    let refused = refused.await.expect_err("refused");
    assert_eq!(
        (refused.code(), bss_testkit::violated_fields(&refused)),
        (Code::InvalidArgument, vec!["subscription.start_date".to_owned()])
    );
}

#[tokio::test]
async fn periods_charged_ahead_of_a_cancellation_are_credited_whole() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Ahead Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "APLAN", "40.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("AHEAD")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;

    // A run dated a month ahead bills this month and the next; cancelled
    // today, the plan ran no day of either: both are credited.
    let plan = subscribe(&channel, &clerk, subscription_request(&account, "APLAN", "1", PaymentType::OnAccount)).await;
    let month_on = date(&today()).checked_add_months(Months::new(1)).expect("date");
    assert_eq!(totals(&generate(&channel, &clerk, &account, &text(month_on), true).await), vec!["80.00"]);
    credit_settles(&channel, &clerk, &account, "80.00", "0.00").await;
    let cancel = CancelSubscriptionRequest { id: plan.id.clone(), ..Default::default() };
    SubscriptionServiceClient::new(channel.clone())
        .cancel_subscription(authorized(cancel, &clerk))
        .await
        .expect("cancelled");
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), "0.00");
    credit_settles(&channel, &clerk, &account, "0.00", "0.00").await;
}
