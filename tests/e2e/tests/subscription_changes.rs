//! Subscription changes and phases through the gateway, read back from
//! billing (the subscription, its history, its invoices, the balance, its
//! events) and credit (the balance and what it holds reserved): an upgrade
//! in the middle of a paid period, a downgrade at the period's end
//! (replaced, then applied), a quantity change in arrears, a change credit
//! holds until approved, a scheduled change dropped by a cancellation, a
//! trial that converts and a paid one cancelled, and fixed terms that end
//! or renew. Expected figures are worked out here from the calendar, not
//! by the suite's rule.

use bss_e2e::{
    TestApp, amount, billing_balance, create_account, create_product, credit_settles, decimal, generate,
    ordering_account, set_credit_policy, set_credit_terms, subscription_request, today,
};
use bss_platform::auth::Role;
use bss_proto::accounts::group_service_client::GroupServiceClient;
use bss_proto::accounts::{AddGroupMemberRequest, Funding, FundingScope};
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::billing_event_service_client::BillingEventServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::*;
use bss_proto::credit::credit_service_client::CreditServiceClient;
use bss_proto::credit::{ApproveHeldOrderRequest, CreditAction, CreditPolicy};
use bss_proto::types::PaymentType;
use bss_testkit::authorized;
use chrono::{Days, Months, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use tonic::Code;
use tonic::transport::Channel;

fn date(text: &str) -> NaiveDate {
    text.parse().expect("date")
}

fn text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn money(text: &str) -> Decimal {
    text.parse().expect("amount")
}

/// `price` for `days` of `whole` days, to the cent, half away from zero.
fn share(price: &str, days: i64, whole: i64) -> Decimal {
    (money(price) * Decimal::from(days) / Decimal::from(whole))
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Exactly two decimals, as the wire carries euros.
fn cents(value: Decimal) -> String {
    format!("{:.2}", value)
}

fn totals(invoices: &[Invoice]) -> Vec<String> {
    invoices.iter().map(|invoice| amount(&invoice.total).to_owned()).collect()
}

async fn subscribe(channel: &Channel, token: &str, request: CreateSubscriptionRequest) -> Subscription {
    let created = SubscriptionServiceClient::new(channel.clone()).create_subscription(authorized(request, token)).await;
    created.expect("created").into_inner().subscription.expect("subscription")
}

/// A change of `id` to `product` (empty: the same) and `quantity` (empty:
/// the same).
fn change(id: &str, product: &str, quantity: &str, at_period_end: bool) -> ChangeSubscriptionRequest {
    ChangeSubscriptionRequest {
        id: id.to_owned(),
        request_id: format!("change-{id}-{product}-{quantity}-{at_period_end}"),
        product: product.to_owned(),
        quantity: (!quantity.is_empty()).then(|| decimal(quantity)).flatten(),
        at_period_end,
        min_pricing_version: 0,
    }
}

async fn changed(
    channel: &Channel,
    token: &str,
    request: ChangeSubscriptionRequest,
) -> (Subscription, SubscriptionChange) {
    let answer = SubscriptionServiceClient::new(channel.clone()).change_subscription(authorized(request, token)).await;
    let answer = answer.expect("changed").into_inner();
    (answer.subscription.expect("subscription"), answer.change.expect("change"))
}

async fn history(channel: &Channel, token: &str, id: &str) -> Vec<(i32, i32)> {
    let request = ListSubscriptionChangesRequest { id: id.to_owned(), ..Default::default() };
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let listed = subscriptions.list_subscription_changes(authorized(request, token)).await;
    let listed = listed.expect("history").into_inner().changes;
    listed.iter().map(|entry| (entry.kind, entry.status)).collect()
}

async fn get(channel: &Channel, token: &str, id: &str) -> Subscription {
    let request = GetSubscriptionRequest { id: id.to_owned() };
    let got = SubscriptionServiceClient::new(channel.clone()).get_subscription(authorized(request, token)).await;
    got.expect("subscription").into_inner().subscription.expect("subscription")
}

/// The month from `start`, and its days.
fn month_from(start: NaiveDate) -> (NaiveDate, i64) {
    let end = start.checked_add_months(Months::new(1)).expect("date");
    (end, (end - start).num_days())
}

use SubscriptionChangeKind as Kind;
use SubscriptionChangeStatus as Status;

#[tokio::test]
async fn an_upgrade_mid_period_credits_the_old_plans_unused_days_charges_the_new_ones_and_credit_follows() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Upgrade Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "BASIC", "30.00", "").await;
    create_product(&channel, &admin, "PRO", "45.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("UPGRADER")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;

    // Monthly from ten days ago, invoiced and posted: 30.00.
    let start = date(&today()) - Days::new(10);
    let (end, whole) = month_from(start);
    let mut request = subscription_request(&account, "BASIC", "1", PaymentType::OnAccount);
    request.subscription.as_mut().expect("subscription").start_date = text(start);
    let plan = subscribe(&channel, &clerk, request).await;
    assert_eq!(plan.current_period_end, text(end), "{plan:?}");
    assert_eq!(totals(&generate(&channel, &clerk, &account, &today(), true).await), vec!["30.00"]);
    credit_settles(&channel, &clerk, &account, "30.00", "0.00").await;

    // Upgraded today: the 20-odd days left are credited (what the 30.00
    // charged beyond the ten days used) and charged at 45.00 a month;
    // credit authorized the difference and holds the new days' amount
    // until invoiced.
    let left = whole - 10;
    let used = share("30.00", 10, whole);
    let (credited, charged) = (money("30.00") - used, share("45.00", left, whole));
    let (upgraded, entry) = changed(&channel, &clerk, change(&plan.id, "PRO", "", false)).await;
    assert_eq!((upgraded.product.as_str(), amount(&upgraded.unit_price)), ("PRO", "45.00"));
    assert_eq!((entry.kind, entry.status), (Kind::Upgrade as i32, Status::Applied as i32), "{entry:?}");
    assert_eq!(entry.effective_date, today());
    assert_eq!(
        (amount(&entry.credited), amount(&entry.charged), amount(&entry.authorized)),
        (cents(credited).as_str(), cents(charged).as_str(), cents(charged - share("30.00", left, whole)).as_str())
    );
    let owed = money("30.00") - credited;
    credit_settles(&channel, &clerk, &account, &cents(owed), &cents(charged)).await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), cents(owed));

    // The next invoice bills the new days, named; credit captures them.
    let invoiced = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(totals(&invoiced), vec![cents(charged)]);
    let line = &invoiced[0].lines[0];
    assert_eq!(line.description, format!("PRO subscription from {}, {left} of {whole} days", today()));
    let owed = owed + charged;
    credit_settles(&channel, &clerk, &account, &cents(owed), "0.00").await;

    // The next month is the new plan's, whole.
    assert_eq!(totals(&generate(&channel, &clerk, &account, &text(end), true).await), vec!["45.00"]);
    let owed = owed + money("45.00");
    credit_settles(&channel, &clerk, &account, &cents(owed), "0.00").await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), cents(owed));
    assert_eq!(
        history(&channel, &clerk, &plan.id).await,
        vec![(Kind::Created as i32, Status::Applied as i32), (Kind::Upgrade as i32, Status::Applied as i32)]
    );

    // Cancelled today after all: the new plan's days and the month charged
    // ahead are credited whole, the old plan's days are not credited again:
    // it owes the ten days it ran.
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let cancel = CancelSubscriptionRequest { id: plan.id.clone(), request_id: "stop".to_owned(), ..Default::default() };
    subscriptions.cancel_subscription(authorized(cancel, &clerk)).await.expect("cancelled");
    credit_settles(&channel, &clerk, &account, &cents(used), "0.00").await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), cents(used));

    // A change to what it is, or to nothing, is refused by field; another
    // tenant's subscription is not found; a cancelled one is not changed.
    let other = subscribe(&channel, &clerk, subscription_request(&account, "PRO", "1", PaymentType::OnAccount)).await;
    let same = subscriptions.change_subscription(authorized(change(&other.id, "PRO", "1", false), &clerk)).await;
    assert_eq!(same.expect_err("nothing changes").code(), Code::InvalidArgument);
    let empty = subscriptions.change_subscription(authorized(change(&other.id, "", "", false), &clerk)).await;
    assert_eq!(empty.expect_err("nothing asked").code(), Code::InvalidArgument);
    let (_, stranger) = suite.tenant("Stranger Books", "EUR").await;
    let theirs = subscriptions.change_subscription(authorized(change(&other.id, "PRO", "2", false), &stranger)).await;
    assert_eq!(theirs.expect_err("not theirs").code(), Code::NotFound);
    let ended = subscriptions.change_subscription(authorized(change(&plan.id, "BASIC", "", false), &clerk)).await;
    assert_eq!(bss_testkit::reason(&ended.expect_err("cancelled")), "SUBSCRIPTION_CANCELLED");
}

#[tokio::test]
async fn a_downgrade_at_period_end_is_replaced_by_a_later_one_applied_from_the_next_period_and_a_cancellation_drops_one()
 {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Downgrade Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "BASIC", "30.00", "").await;
    create_product(&channel, &admin, "LITE", "10.00", "").await;
    create_product(&channel, &admin, "PRO", "45.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("DOWNGRADER")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;
    let plan = subscribe(&channel, &clerk, subscription_request(&account, "BASIC", "1", PaymentType::OnAccount)).await;
    let (end, _) = month_from(date(&today()));
    assert_eq!(totals(&generate(&channel, &clerk, &account, &today(), true).await), vec!["30.00"]);

    // Scheduled for the next period: nothing changes now, nothing is
    // authorized (it costs less), and a later change replaces it.
    let (unchanged, first) = changed(&channel, &clerk, change(&plan.id, "LITE", "", true)).await;
    assert_eq!(unchanged.product, "BASIC");
    assert_eq!((first.kind, first.status), (Kind::Downgrade as i32, Status::Scheduled as i32));
    assert_eq!((first.effective_date.as_str(), amount(&first.authorized)), (text(end).as_str(), "0.00"));
    let (_, second) = changed(&channel, &clerk, change(&plan.id, "LITE", "2", true)).await;
    assert_eq!((second.kind, second.status), (Kind::Downgrade as i32, Status::Scheduled as i32));
    credit_settles(&channel, &clerk, &account, "30.00", "0.00").await;
    assert!(generate(&channel, &clerk, &account, &today(), true).await.is_empty(), "nothing more this month");

    // From the next period: two of LITE.
    let invoiced = generate(&channel, &clerk, &account, &text(end), true).await;
    assert_eq!(totals(&invoiced), vec!["20.00"]);
    assert_eq!(invoiced[0].lines[0].description, format!("LITE subscription from {}", text(end)));
    let now = get(&channel, &clerk, &plan.id).await;
    assert_eq!((now.product.as_str(), now.quantity.as_ref().map(|q| q.value.as_str())), ("LITE", Some("2")));
    credit_settles(&channel, &clerk, &account, "50.00", "0.00").await;
    assert_eq!(
        history(&channel, &clerk, &plan.id).await,
        vec![
            (Kind::Created as i32, Status::Applied as i32),
            (Kind::Downgrade as i32, Status::Superseded as i32),
            (Kind::Downgrade as i32, Status::Applied as i32),
        ]
    );

    // Its next period was charged by the run dated ahead: a change from
    // then is refused (changed now, it would be credited and charged anew).
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let ahead = subscriptions.change_subscription(authorized(change(&plan.id, "PRO", "1", true), &clerk)).await;
    assert_eq!(bss_testkit::reason(&ahead.expect_err("charged ahead")), "SUBSCRIPTION_PERIOD_CHARGED");

    // Another plan: an upgrade at its period's end is authorized for a
    // whole period's difference (45.00 less 30.00), held by credit until
    // then; a cancellation at the period's end drops it and credit lets the
    // hold go (the running month is still owed).
    let second =
        subscribe(&channel, &clerk, subscription_request(&account, "BASIC", "1", PaymentType::OnAccount)).await;
    let (_, upgrade) = changed(&channel, &clerk, change(&second.id, "PRO", "1", true)).await;
    assert_eq!((upgrade.status, amount(&upgrade.authorized)), (Status::Scheduled as i32, "15.00"));
    credit_settles(&channel, &clerk, &account, "50.00", "45.00").await;
    let cancel = CancelSubscriptionRequest { id: second.id.clone(), request_id: "end".to_owned(), at_period_end: true };
    subscriptions.cancel_subscription(authorized(cancel, &clerk)).await.expect("ends");
    credit_settles(&channel, &clerk, &account, "50.00", "30.00").await;
    assert_eq!(
        history(&channel, &clerk, &second.id).await,
        vec![
            (Kind::Created as i32, Status::Applied as i32),
            (Kind::Upgrade as i32, Status::Superseded as i32),
            (Kind::Cancelled as i32, Status::Applied as i32),
        ]
    );
    let ended = subscriptions.change_subscription(authorized(change(&second.id, "PRO", "1", false), &clerk)).await;
    assert_eq!(bss_testkit::reason(&ended.expect_err("ending")), "SUBSCRIPTION_CANCELLED");
}

#[tokio::test]
async fn a_quantity_change_in_arrears_bills_the_old_days_now_and_the_new_terms_at_the_period_end() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Arrears Change Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "SEAT", "30.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("SEATS")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;

    let start = date(&today()) - Days::new(10);
    let (end, whole) = month_from(start);
    let mut request = subscription_request(&account, "SEAT", "1", PaymentType::OnAccount);
    let subscription = request.subscription.as_mut().expect("subscription");
    subscription.start_date = text(start);
    subscription.billing_timing = BillingTiming::InArrears as i32;
    let plan = subscribe(&channel, &clerk, request).await;
    credit_settles(&channel, &clerk, &account, "0.00", "30.00").await;

    // Two seats from today: the ten days of one seat are billed now, the
    // rest of the month at two seats when it ends.
    let (used, left) = (share("30.00", 10, whole), share("60.00", whole - 10, whole));
    let (seats, entry) = changed(&channel, &clerk, change(&plan.id, "", "2", false)).await;
    assert_eq!(seats.quantity.as_ref().map(|quantity| quantity.value.as_str()), Some("2"));
    assert_eq!((entry.kind, amount(&entry.charged)), (Kind::Quantity as i32, cents(used).as_str()));
    // Credit holds the ten days billed now and, in place of the
    // activation's month of one seat, the rest of the month at two.
    credit_settles(&channel, &clerk, &account, "0.00", &cents(used + left)).await;
    let now = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(totals(&now), vec![cents(used)]);
    assert_eq!(now[0].lines[0].description, format!("SEAT subscription from {}, 10 of {whole} days", text(start)));
    credit_settles(&channel, &clerk, &account, &cents(used), &cents(left)).await;

    let last_day = end.pred_opt().expect("date");
    assert!(generate(&channel, &clerk, &account, &text(last_day), true).await.is_empty(), "still running");
    let at_end = generate(&channel, &clerk, &account, &text(end), true).await;
    assert_eq!(totals(&at_end), vec![cents(left)]);
    assert_eq!(
        at_end[0].lines[0].description,
        format!("SEAT subscription from {}, {} of {whole} days", today(), whole - 10)
    );
    credit_settles(&channel, &clerk, &account, &cents(used + left), "0.00").await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), cents(used + left));

    // Paid for by its group: the same change moves what the group holds
    // (the activation's month released there, not on the member), and the
    // member holds nothing.
    let group = create_account(&channel, &admin, ordering_account("SEATGROUP")).await;
    let member = create_account(&channel, &admin, ordering_account("SEATMEMBER")).await;
    for one in [&group, &member] {
        set_credit_terms(&channel, &admin, one, "5000", None).await;
    }
    let add = AddGroupMemberRequest {
        parent_account_id: group.clone(),
        member_account_id: member.clone(),
        funding: Some(Funding { scope: FundingScope::Full as i32, ..Funding::default() }),
        request_id: String::new(),
    };
    GroupServiceClient::new(channel.clone()).add_group_member(authorized(add, &admin)).await.expect("member");
    let mut request = subscription_request(&member, "SEAT", "1", PaymentType::OnAccount);
    let subscription = request.subscription.as_mut().expect("subscription");
    (subscription.start_date, subscription.billing_timing) = (text(start), BillingTiming::InArrears as i32);
    let funded = subscribe(&channel, &clerk, request).await;
    credit_settles(&channel, &clerk, &group, "0.00", "30.00").await;
    changed(&channel, &clerk, change(&funded.id, "", "2", false)).await;
    credit_settles(&channel, &clerk, &group, "0.00", &cents(used + left)).await;
    credit_settles(&channel, &clerk, &member, "0.00", "0.00").await;
    assert_eq!(totals(&generate(&channel, &clerk, &group, &text(end), true).await), vec![cents(used + left)]);
    credit_settles(&channel, &clerk, &group, &cents(used + left), "0.00").await;

    // Cancelled now, in arrears, ten days into its first month: credit
    // holds only the ten days still owed (not the month) until invoiced.
    let mut request = subscription_request(&member, "SEAT", "1", PaymentType::OnAccount);
    let subscription = request.subscription.as_mut().expect("subscription");
    (subscription.start_date, subscription.billing_timing) = (text(start), BillingTiming::InArrears as i32);
    let cancelled = subscribe(&channel, &clerk, request).await;
    let before = used + left;
    credit_settles(&channel, &clerk, &group, &cents(before), "30.00").await;
    let cancel = CancelSubscriptionRequest {
        id: cancelled.id.clone(),
        request_id: "seat-cancel".to_owned(),
        ..Default::default()
    };
    SubscriptionServiceClient::new(channel.clone())
        .cancel_subscription(authorized(cancel, &clerk))
        .await
        .expect("cancelled");
    credit_settles(&channel, &clerk, &group, &cents(before), &cents(used)).await;
    assert_eq!(totals(&generate(&channel, &clerk, &group, &today(), true).await), vec![cents(used)]);
    credit_settles(&channel, &clerk, &group, &cents(before + used), "0.00").await;
}

#[tokio::test]
async fn a_change_credit_holds_waits_and_is_applied_the_day_it_is_approved() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Held Change Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "BASIC", "30.00", "").await;
    create_product(&channel, &admin, "PRO", "45.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("HELDCHANGE")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;
    let plan = subscribe(&channel, &clerk, subscription_request(&account, "BASIC", "1", PaymentType::OnAccount)).await;
    assert_eq!(totals(&generate(&channel, &clerk, &account, &today(), true).await), vec!["30.00"]);
    credit_settles(&channel, &clerk, &account, "30.00", "0.00").await;

    // Over its limit now: the upgrade (15.00 more for the whole month, as
    // it starts today) is held, and nothing changes.
    let policy = CreditPolicy { out_of_credit_action: CreditAction::HoldForApproval as i32, ..CreditPolicy::default() };
    set_credit_policy(&channel, &admin, &account, "35", policy).await;
    let (waiting, held) = changed(&channel, &clerk, change(&plan.id, "PRO", "", false)).await;
    assert_eq!((held.status, waiting.product.as_str()), (Status::PendingApproval as i32, "BASIC"), "{held:?}");
    assert!(!held.held_order_id.is_empty(), "{held:?}");
    assert!(generate(&channel, &clerk, &account, &today(), true).await.is_empty(), "nothing charged while held");

    // Approved: applied that day, the whole month credited and charged
    // anew at the new price.
    let approve = ApproveHeldOrderRequest {
        held_order_id: held.held_order_id.clone(),
        note: "paid".to_owned(),
        request_id: String::new(),
    };
    CreditServiceClient::new(channel.clone()).approve_held_order(authorized(approve, &admin)).await.expect("approved");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while get(&channel, &clerk, &plan.id).await.product != "PRO" {
        assert!(tokio::time::Instant::now() < deadline, "the approval never reached billing");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    credit_settles(&channel, &clerk, &account, "0.00", "45.00").await;
    assert_eq!(totals(&generate(&channel, &clerk, &account, &today(), true).await), vec!["45.00"]);
    credit_settles(&channel, &clerk, &account, "45.00", "0.00").await;
    assert_eq!(
        history(&channel, &clerk, &plan.id).await,
        vec![(Kind::Created as i32, Status::Applied as i32), (Kind::Upgrade as i32, Status::Applied as i32)]
    );

    // Another change held, then the subscription cancelled today: the
    // change is withdrawn (credit's held order with it), and the month,
    // which started today, is credited whole.
    let (_, second) = changed(&channel, &clerk, change(&plan.id, "", "2", false)).await;
    assert_eq!(second.status, Status::PendingApproval as i32, "{second:?}");
    let cancel = CancelSubscriptionRequest { id: plan.id.clone(), request_id: "stop".to_owned(), ..Default::default() };
    SubscriptionServiceClient::new(channel.clone())
        .cancel_subscription(authorized(cancel, &clerk))
        .await
        .expect("ends");
    let approve = ApproveHeldOrderRequest {
        held_order_id: second.held_order_id.clone(),
        note: "late".to_owned(),
        request_id: String::new(),
    };
    // Credit withdrew it, or had not seen the withdrawal yet and approved:
    // then what it reserved goes back as soon as billing hears of it.
    let answer = CreditServiceClient::new(channel.clone()).approve_held_order(authorized(approve, &admin)).await;
    if let Err(status) = answer {
        assert_eq!(bss_testkit::reason(&status), "HELD_ORDER_DECIDED");
    }
    credit_settles(&channel, &clerk, &account, "0.00", "0.00").await;
    assert_eq!(
        history(&channel, &clerk, &plan.id).await[2..],
        [(Kind::Quantity as i32, Status::Superseded as i32), (Kind::Cancelled as i32, Status::Applied as i32)]
    );
}

/// The first of billing's events `found` picks, waiting for it.
async fn event<T>(channel: &Channel, token: &str, found: impl Fn(Payload) -> Option<T>) -> T {
    let request = StreamEventsRequest { after_sequence: 0 };
    let mut stream = BillingEventServiceClient::new(channel.clone())
        .stream_events(authorized(request, token))
        .await
        .expect("stream")
        .into_inner();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let next = tokio::time::timeout_at(deadline, stream.message()).await;
        let message = next.expect("the event never came").expect("stream").expect("an event");
        if let Some(found) = message.event.and_then(|event| event.payload).and_then(&found) {
            return found;
        }
    }
}

#[tokio::test]
async fn a_trial_converts_on_its_last_day_and_a_paid_one_cancelled_on_its_first_owes_nothing() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Trial Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "BASIC", "30.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("TRIALIST")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;

    // A free trial of 14 days that started 14 days ago: its first month
    // starts today, authorized by credit when it was created.
    let started = date(&today()) - Days::new(14);
    let mut request = subscription_request(&account, "BASIC", "1", PaymentType::OnAccount);
    let asked = request.subscription.as_mut().expect("subscription");
    (asked.start_date, asked.trial_days) = (text(started), 14);
    let trial = subscribe(&channel, &clerk, request).await;
    assert_eq!(
        (trial.start_date.as_str(), trial.trial_end_date.clone(), trial.current_period_start.clone()),
        (text(started).as_str(), today(), today()),
        "{trial:?}"
    );
    credit_settles(&channel, &clerk, &account, "0.00", "30.00").await;
    let ended = event(&channel, &clerk, |payload| match payload {
        Payload::SubscriptionTrialEnded(ended) if ended.subscription_id == trial.id => Some(ended),
        _ => None,
    })
    .await;
    assert_eq!((ended.account_id.as_str(), ended.trial_end_date), (account.as_str(), today()));
    let converted = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(totals(&converted), vec!["30.00"], "the trial's days are free");
    assert_eq!(converted[0].lines[0].description, format!("BASIC subscription from {}", today()));
    credit_settles(&channel, &clerk, &account, "30.00", "0.00").await;

    // A trial of 10 days at 5.00 from today: the 5.00 is billed now, the
    // first month reserved for when it ends; cancelled now, both come back.
    let mut request = subscription_request(&account, "BASIC", "1", PaymentType::OnAccount);
    let asked = request.subscription.as_mut().expect("subscription");
    (asked.trial_days, asked.trial_price) = (10, decimal("5.00"));
    let paid = subscribe(&channel, &clerk, request).await;
    assert_eq!(paid.trial_end_date, text(date(&today()) + Days::new(10)));
    credit_settles(&channel, &clerk, &account, "30.00", "35.00").await;
    let billed = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(totals(&billed), vec!["5.00"]);
    let line = &billed[0].lines[0];
    assert_eq!(
        (line.description.clone(), line.price_rule.as_str()),
        (format!("BASIC subscription trial from {}, 10 days", today()), "PRICE_RULE_TRIAL")
    );
    credit_settles(&channel, &clerk, &account, "35.00", "30.00").await;
    let cancel =
        CancelSubscriptionRequest { id: paid.id.clone(), request_id: "no-thanks".to_owned(), ..Default::default() };
    SubscriptionServiceClient::new(channel.clone())
        .cancel_subscription(authorized(cancel, &clerk))
        .await
        .expect("cancelled");
    credit_settles(&channel, &clerk, &account, "30.00", "0.00").await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), "30.00");

    // The same trial started three days ago and cancelled before any
    // invoice: its three days (1.50) are still owed, and credit holds
    // them until they are invoiced.
    let mut request = subscription_request(&account, "BASIC", "1", PaymentType::OnAccount);
    let asked = request.subscription.as_mut().expect("subscription");
    (asked.start_date, asked.trial_days, asked.trial_price) =
        (text(date(&today()) - Days::new(3)), 10, decimal("5.00"));
    let late = subscribe(&channel, &clerk, request).await;
    credit_settles(&channel, &clerk, &account, "30.00", "35.00").await;
    let cancel =
        CancelSubscriptionRequest { id: late.id.clone(), request_id: "not-for-me".to_owned(), ..Default::default() };
    SubscriptionServiceClient::new(channel.clone())
        .cancel_subscription(authorized(cancel, &clerk))
        .await
        .expect("cancelled");
    credit_settles(&channel, &clerk, &account, "30.00", "1.50").await;
    assert_eq!(totals(&generate(&channel, &clerk, &account, &today(), true).await), vec!["1.50"]);
    credit_settles(&channel, &clerk, &account, "31.50", "0.00").await;

    // A trial's price without a trial, or a trial too long, is refused by
    // field.
    let mut request = subscription_request(&account, "BASIC", "1", PaymentType::OnAccount);
    let asked = request.subscription.as_mut().expect("subscription");
    (asked.trial_days, asked.term_periods) = (400, -1);
    let refused =
        SubscriptionServiceClient::new(channel.clone()).create_subscription(authorized(request, &clerk)).await;
    let refused = refused.expect_err("refused");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(bss_testkit::violated_fields(&refused), vec!["subscription.trial_days", "subscription.term_periods"]);
}

#[tokio::test]
async fn a_fixed_term_ends_with_its_last_period_or_renews_and_says_so() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Term Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "BASIC", "30.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("TERMS")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;
    let two_months = |renews: bool| {
        let mut request = subscription_request(&account, "BASIC", "1", PaymentType::OnAccount);
        let asked = request.subscription.as_mut().expect("subscription");
        (asked.term_periods, asked.auto_renew) = (2, renews);
        request
    };
    let start = date(&today());
    let (month, _) = month_from(start);
    let term_end = start.checked_add_months(Months::new(2)).expect("date");

    // Two months, not renewed: it ends with them, and may be changed within.
    let fixed = subscribe(&channel, &clerk, two_months(false)).await;
    assert_eq!((fixed.cancel_date.clone(), fixed.term_end_date.clone()), (text(term_end), text(term_end)));
    assert_eq!(fixed.status, SubscriptionStatus::Active as i32);
    let (_, seats) = changed(&channel, &clerk, change(&fixed.id, "", "2", true)).await;
    assert_eq!(seats.status, Status::Scheduled as i32, "changed within its term");
    // Renewed every two months.
    let renewing = subscribe(&channel, &clerk, two_months(true)).await;
    assert_eq!((renewing.cancel_date.as_str(), renewing.term_end_date.clone()), ("", text(term_end)));

    assert_eq!(totals(&generate(&channel, &clerk, &account, &today(), true).await), vec!["60.00"]);
    assert_eq!(totals(&generate(&channel, &clerk, &account, &text(month), true).await), vec!["90.00"], "two seats");
    // At the term's end: only the renewed one, and its renewal announced.
    assert_eq!(totals(&generate(&channel, &clerk, &account, &text(term_end), true).await), vec!["30.00"]);
    let renewed = event(&channel, &clerk, |payload| match payload {
        Payload::SubscriptionRenewed(renewed) if renewed.subscription_id == renewing.id => Some(renewed),
        _ => None,
    })
    .await;
    let next_end = start.checked_add_months(Months::new(4)).expect("date");
    assert_eq!((renewed.term, renewed.term_start_date, renewed.term_end_date), (2, text(term_end), text(next_end)));
    credit_settles(&channel, &clerk, &account, "180.00", "0.00").await;

    // A term of one month started five days ago runs its last month:
    // changed at the month's end it would be for a month that never
    // comes, so it is refused, and credit is asked nothing; changed now,
    // it is applied.
    let mut request = two_months(false);
    let asked = request.subscription.as_mut().expect("subscription");
    (asked.term_periods, asked.start_date) = (1, text(start - Days::new(5)));
    let last = subscribe(&channel, &clerk, request).await;
    assert_eq!(last.cancel_date, last.term_end_date);
    assert_eq!(totals(&generate(&channel, &clerk, &account, &today(), true).await), vec!["30.00"]);
    credit_settles(&channel, &clerk, &account, "210.00", "0.00").await;
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let at_end = subscriptions.change_subscription(authorized(change(&last.id, "", "2", true), &clerk)).await;
    let at_end = at_end.expect_err("no period after the term");
    assert_eq!(
        (at_end.code(), bss_testkit::reason(&at_end).as_str()),
        (Code::FailedPrecondition, "SUBSCRIPTION_TERM_ENDS")
    );
    credit_settles(&channel, &clerk, &account, "210.00", "0.00").await;
    assert_eq!(history(&channel, &clerk, &last.id).await, vec![(Kind::Created as i32, Status::Applied as i32)]);
    let (_, now) = changed(&channel, &clerk, change(&last.id, "", "2", false)).await;
    assert_eq!((now.status, now.effective_date.clone()), (Status::Applied as i32, today()));
}

#[tokio::test]
async fn a_paused_subscription_owes_nothing_for_its_paused_days_and_a_resumed_one_from_the_day_it_resumes() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Pause Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "BASIC", "30.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("PAUSER")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());

    // Monthly from ten days ago, invoiced: 30.00.
    let start = date(&today()) - Days::new(10);
    let (end, whole) = month_from(start);
    let mut request = subscription_request(&account, "BASIC", "1", PaymentType::OnAccount);
    request.subscription.as_mut().expect("subscription").start_date = text(start);
    let plan = subscribe(&channel, &clerk, request).await;
    assert_eq!(totals(&generate(&channel, &clerk, &account, &today(), true).await), vec!["30.00"]);

    // Paused today: what the month charged beyond its ten days is
    // credited; nothing more is billed while paused.
    let used = share("30.00", 10, whole);
    let pause = |request_id: &str| PauseSubscriptionRequest { id: plan.id.clone(), request_id: request_id.to_owned() };
    let paused = subscriptions.pause_subscription(authorized(pause("pause-1"), &clerk)).await.expect("paused");
    let paused = paused.into_inner().subscription.expect("subscription");
    assert_eq!((paused.status, paused.paused_date.clone()), (SubscriptionStatus::Paused as i32, today()));
    assert_eq!((paused.current_period_start.as_str(), paused.current_period_end.as_str()), ("", ""));
    credit_settles(&channel, &clerk, &account, &cents(used), "0.00").await;
    assert!(generate(&channel, &clerk, &account, &text(end), true).await.is_empty(), "paused: nothing billed");
    let again = subscriptions.pause_subscription(authorized(pause("pause-2"), &clerk)).await;
    assert_eq!(bss_testkit::reason(&again.expect_err("paused already")), "SUBSCRIPTION_PAUSED");
    let change_it = subscriptions.change_subscription(authorized(change(&plan.id, "", "2", false), &clerk)).await;
    assert_eq!(bss_testkit::reason(&change_it.expect_err("paused")), "SUBSCRIPTION_PAUSED");

    // Resumed today: the month is owed again from today, authorized and
    // reserved by credit, charged on the next invoice; then whole months.
    let left = share("30.00", whole - 10, whole);
    let resume = ResumeSubscriptionRequest { id: plan.id.clone(), request_id: "resume-1".to_owned() };
    let resumed = subscriptions.resume_subscription(authorized(resume, &clerk)).await.expect("resumed");
    let resumed = resumed.into_inner().subscription.expect("subscription");
    assert_eq!((resumed.status, resumed.current_period_end.clone()), (SubscriptionStatus::Active as i32, text(end)));
    credit_settles(&channel, &clerk, &account, &cents(used), &cents(left)).await;
    let invoiced = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(totals(&invoiced), vec![cents(left)]);
    assert_eq!(
        invoiced[0].lines[0].description,
        format!("BASIC subscription from {}, {} of {whole} days", today(), whole - 10)
    );
    assert_eq!(totals(&generate(&channel, &clerk, &account, &text(end), true).await), vec!["30.00"]);
    credit_settles(&channel, &clerk, &account, &cents(used + left + money("30.00")), "0.00").await;
    let not_paused = ResumeSubscriptionRequest { id: plan.id.clone(), request_id: "resume-2".to_owned() };
    let not_paused = subscriptions.resume_subscription(authorized(not_paused, &clerk)).await;
    assert_eq!(bss_testkit::reason(&not_paused.expect_err("running")), "SUBSCRIPTION_NOT_PAUSED");
    assert_eq!(
        history(&channel, &clerk, &plan.id).await,
        vec![
            (Kind::Created as i32, Status::Applied as i32),
            (Kind::Paused as i32, Status::Applied as i32),
            (Kind::Resumed as i32, Status::Applied as i32),
        ]
    );
    // The resumption shows what credit authorized for it, and under what.
    let request = ListSubscriptionChangesRequest { id: plan.id.clone(), ..Default::default() };
    let listed = subscriptions.list_subscription_changes(authorized(request, &clerk)).await.expect("history");
    let resumed = listed.into_inner().changes.pop().expect("resumed");
    assert_eq!(amount(&resumed.authorized), cents(left));
    assert!(resumed.reference.starts_with("subscription-resume"), "{resumed:?}");

    // In arrears, a pause bills the days the period ran, now.
    let mut request = subscription_request(&account, "BASIC", "1", PaymentType::OnAccount);
    let asked = request.subscription.as_mut().expect("subscription");
    (asked.start_date, asked.billing_timing) = (text(start), BillingTiming::InArrears as i32);
    let arrears = subscribe(&channel, &clerk, request).await;
    let before = used + left + money("30.00");
    credit_settles(&channel, &clerk, &account, &cents(before), "30.00").await;
    let pause = PauseSubscriptionRequest { id: arrears.id.clone(), request_id: "pause-arrears".to_owned() };
    subscriptions.pause_subscription(authorized(pause, &clerk)).await.expect("paused");
    let billed = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(totals(&billed), vec![cents(used)]);
    credit_settles(&channel, &clerk, &account, &cents(before + used), "0.00").await;
    // Resumed the same day: credit holds the rest of the first period
    // again until the period's end bills it.
    let resume = ResumeSubscriptionRequest { id: arrears.id.clone(), request_id: "resume-arrears".to_owned() };
    subscriptions.resume_subscription(authorized(resume, &clerk)).await.expect("resumed");
    credit_settles(&channel, &clerk, &account, &cents(before + used), &cents(left)).await;
    assert_eq!(totals(&generate(&channel, &clerk, &account, &text(end), true).await), vec![cents(left)]);
    credit_settles(&channel, &clerk, &account, &cents(before + used + left), "0.00").await;

    // In arrears, a paid trial paused on its first period's first day
    // still owes its trial's price: credit holds it until invoiced.
    let mut request = subscription_request(&account, "BASIC", "1", PaymentType::OnAccount);
    let asked = request.subscription.as_mut().expect("subscription");
    (asked.start_date, asked.billing_timing) = (text(date(&today()) - Days::new(10)), BillingTiming::InArrears as i32);
    (asked.trial_days, asked.trial_price) = (10, decimal("5.00"));
    let trial = subscribe(&channel, &clerk, request).await;
    let before = before + used + left;
    credit_settles(&channel, &clerk, &account, &cents(before), "35.00").await;
    let pause = PauseSubscriptionRequest { id: trial.id.clone(), request_id: "pause-trial".to_owned() };
    subscriptions.pause_subscription(authorized(pause, &clerk)).await.expect("paused");
    credit_settles(&channel, &clerk, &account, &cents(before), "5.00").await;
    assert_eq!(totals(&generate(&channel, &clerk, &account, &today(), true).await), vec!["5.00"]);
    credit_settles(&channel, &clerk, &account, &cents(before + money("5.00")), "0.00").await;

    // In arrears, paused, resumed and cancelled the same day: it owes the
    // ten days it ran, billed in one line (no line of no days), and credit
    // holds them until then.
    let before = before + money("5.00");
    let mut request = subscription_request(&account, "BASIC", "1", PaymentType::OnAccount);
    let asked = request.subscription.as_mut().expect("subscription");
    (asked.start_date, asked.billing_timing) = (text(start), BillingTiming::InArrears as i32);
    let brief = subscribe(&channel, &clerk, request).await;
    let (id, request_id) = (brief.id.clone(), "brief-pause".to_owned());
    subscriptions
        .pause_subscription(authorized(PauseSubscriptionRequest { id, request_id }, &clerk))
        .await
        .expect("pause");
    let (id, request_id) = (brief.id.clone(), "brief-resume".to_owned());
    subscriptions
        .resume_subscription(authorized(ResumeSubscriptionRequest { id, request_id }, &clerk))
        .await
        .expect("resume");
    let cancel =
        CancelSubscriptionRequest { id: brief.id.clone(), request_id: "brief-cancel".to_owned(), ..Default::default() };
    subscriptions.cancel_subscription(authorized(cancel, &clerk)).await.expect("cancel");
    credit_settles(&channel, &clerk, &account, &cents(before), &cents(used)).await;
    let billed = generate(&channel, &clerk, &account, &today(), true).await;
    let lines: Vec<String> =
        billed.iter().flat_map(|invoice| invoice.lines.iter().map(|line| amount(&line.total).to_owned())).collect();
    assert_eq!(lines, vec![cents(used)], "{billed:?}");
    credit_settles(&channel, &clerk, &account, &cents(before + used), "0.00").await;
}

/// A usage event of `metric` for the subscription, at `seconds` after its
/// period's first instant (negative: before it).
fn usage(subscription_id: &str, metric: &str, key: &str, (quantity, property): (&str, &str), at: i64) -> UsageEvent {
    let start = date(&today()).and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp();
    UsageEvent {
        subscription_id: subscription_id.to_owned(),
        metric: metric.to_owned(),
        quantity: decimal(quantity),
        time: Some(prost_types::Timestamp { seconds: start + at, nanos: 0 }),
        idempotency_key: key.to_owned(),
        property: property.to_owned(),
        account_id: String::new(),
    }
}

#[tokio::test]
async fn usage_is_recorded_once_per_event_and_each_metric_aggregates_its_own_way() {
    use bss_proto::billing::usage_service_client::UsageServiceClient;
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Usage Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "METERED", "30.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("METERS")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;
    let metric = |metric: &str, aggregation: UsageAggregation| MeteredMetric {
        metric: metric.to_owned(),
        aggregation: aggregation as i32,
        product: "METERED".to_owned(),
        ..MeteredMetric::default()
    };
    let mut request = subscription_request(&account, "METERED", "1", PaymentType::OnAccount);
    request.subscription.as_mut().expect("subscription").metered = vec![
        metric("api_calls", UsageAggregation::Count),
        metric("gb", UsageAggregation::Sum),
        metric("seats", UsageAggregation::Max),
        metric("users", UsageAggregation::UniqueCount),
        metric("storage", UsageAggregation::Last),
    ];
    let plan = subscribe(&channel, &clerk, request).await;
    assert_eq!(plan.metered.len(), 5, "{plan:?}");
    let id = plan.id.as_str();
    let mut meter = UsageServiceClient::new(channel.clone());

    // A batch: one event twice (counted once).
    let batch = IngestUsageBatchRequest {
        events: vec![
            usage(id, "api_calls", "c1", ("1", ""), 60),
            usage(id, "api_calls", "c2", ("1", ""), 120),
            usage(id, "api_calls", "c2", ("1", ""), 120),
            usage(id, "gb", "g1", ("1.25", ""), 60),
            usage(id, "gb", "g2", ("2.5", ""), 90),
            usage(id, "seats", "s1", ("3", ""), 60),
            usage(id, "seats", "s2", ("7", ""), 61),
            usage(id, "users", "u1", ("1", "ann"), 60),
            usage(id, "users", "u2", ("1", "bob"), 61),
            usage(id, "users", "u3", ("1", "ann"), 62),
            usage(id, "users", "u4", ("1", ""), 63),
            usage(id, "storage", "t1", ("40", ""), 100),
            usage(id, "storage", "t2", ("25", ""), 200),
        ],
    };
    let recorded = meter.ingest_usage_batch(authorized(batch.clone(), &clerk)).await.expect("recorded").into_inner();
    assert_eq!((recorded.accepted, recorded.duplicates), (12, 1));
    // Sent again: nothing counted twice.
    let again = meter.ingest_usage_batch(authorized(batch, &clerk)).await.expect("recorded").into_inner();
    assert_eq!((again.accepted, again.duplicates), (0, 13));
    // One before the subscription started: refused, the batch not recorded.
    let early = IngestUsageBatchRequest {
        events: vec![usage(id, "api_calls", "c8", ("1", ""), 400), usage(id, "api_calls", "c0", ("1", ""), -60)],
    };
    let refused = meter.ingest_usage_batch(authorized(early, &clerk)).await.expect_err("before its start");
    assert_eq!(bss_testkit::reason(&refused), "USAGE_OUTSIDE_SUBSCRIPTION");
    // Streamed in two batches, the second repeating an event of the first.
    let streamed = vec![
        IngestUsageRequest {
            events: vec![usage(id, "api_calls", "c3", ("1", ""), 300), usage(id, "gb", "g3", ("0.25", ""), 300)],
        },
        IngestUsageRequest {
            events: vec![usage(id, "api_calls", "c3", ("1", ""), 300), usage(id, "storage", "t3", ("31", ""), 150)],
        },
    ];
    let answer = meter.ingest_usage(authorized(futures::stream::iter(streamed), &clerk)).await.expect("streamed");
    assert_eq!((answer.get_ref().accepted, answer.get_ref().duplicates), (3, 1));

    // The running period's usage: 3 calls, 4.00 GB, 7 seats at most, 2
    // users, 25 of storage (the latest event, not the last sent).
    let current = GetCurrentUsageRequest { subscription_id: plan.id.clone() };
    let current = meter.get_current_usage(authorized(current, &clerk)).await.expect("usage").into_inner();
    assert_eq!(
        (current.period_start.as_str(), current.period_end.as_str()),
        (today().as_str(), plan.current_period_end.as_str())
    );
    let quantities: Vec<(String, String, i64)> = current
        .metrics
        .iter()
        .map(|usage| {
            (usage.metric.clone(), usage.quantity.as_ref().map(|q| q.value.clone()).unwrap_or_default(), usage.events)
        })
        .collect();
    let expected =
        [("api_calls", "3", 3), ("gb", "4.00", 3), ("seats", "7", 2), ("users", "2", 4), ("storage", "25", 3)];
    assert_eq!(
        quantities,
        expected
            .iter()
            .map(|(metric, quantity, events)| (metric.to_string(), quantity.to_string(), *events))
            .collect::<Vec<_>>()
    );

    // Refused: a metric it does not meter (nothing of the batch recorded),
    // bad fields by name, another tenant's subscription.
    let unknown = IngestUsageBatchRequest {
        events: vec![usage(id, "api_calls", "c9", ("1", ""), 400), usage(id, "minutes", "m1", ("1", ""), 400)],
    };
    let refused = meter.ingest_usage_batch(authorized(unknown, &clerk)).await.expect_err("not metered");
    assert_eq!(bss_testkit::reason(&refused), "METRIC_NOT_METERED");
    let bad = IngestUsageBatchRequest {
        events: vec![UsageEvent { time: None, ..usage(id, "API calls", "", ("-1", ""), 0) }],
    };
    let refused = meter.ingest_usage_batch(authorized(bad, &clerk)).await.expect_err("bad");
    assert_eq!(
        bss_testkit::violated_fields(&refused),
        vec!["events[0].metric", "events[0].quantity", "events[0].time", "events[0].idempotency_key"]
    );
    // A quantity a period's sum could not hold exactly: too large, or with
    // more than six decimals.
    let huge = IngestUsageBatchRequest {
        events: vec![
            usage(id, "api_calls", "h1", ("1000000000001", ""), 400),
            usage(id, "api_calls", "h2", ("0.0000001", ""), 400),
            usage(id, "api_calls", "h3", ("0.000001000", ""), 400),
        ],
    };
    let refused = meter.ingest_usage_batch(authorized(huge, &clerk)).await.expect_err("not exact");
    assert_eq!(bss_testkit::violated_fields(&refused), vec!["events[0].quantity", "events[1].quantity"]);
    let (_, stranger) = suite.tenant("Other Usage Books", "EUR").await;
    let theirs = IngestUsageBatchRequest { events: vec![usage(id, "api_calls", "x1", ("1", ""), 400)] };
    let refused = meter.ingest_usage_batch(authorized(theirs, &stranger)).await.expect_err("not theirs");
    assert_eq!(refused.code(), Code::NotFound);
    let current = GetCurrentUsageRequest { subscription_id: plan.id.clone() };
    let current = meter.get_current_usage(authorized(current, &clerk)).await.expect("usage").into_inner();
    assert_eq!(current.metrics[0].events, 3, "the refused batch recorded nothing");

    // Paused, its period's usage so far is still shown (it is still to be
    // billed); once cancelled, no period runs.
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let pause = PauseSubscriptionRequest { id: plan.id.clone(), request_id: "usage-pause".to_owned() };
    subscriptions.pause_subscription(authorized(pause, &clerk)).await.expect("paused");
    let paused = GetCurrentUsageRequest { subscription_id: plan.id.clone() };
    let paused = meter.get_current_usage(authorized(paused, &clerk)).await.expect("paused usage").into_inner();
    assert_eq!(
        (paused.period_start.as_str(), paused.amount.clone(), paused.metrics.len()),
        (current.period_start.as_str(), current.amount.clone(), current.metrics.len())
    );
    let cancel =
        CancelSubscriptionRequest { id: plan.id.clone(), request_id: "usage-cancel".to_owned(), ..Default::default() };
    subscriptions.cancel_subscription(authorized(cancel, &clerk)).await.expect("cancelled");
    let ended = GetCurrentUsageRequest { subscription_id: plan.id.clone() };
    let ended = meter.get_current_usage(authorized(ended, &clerk)).await.expect_err("none runs");
    assert_eq!(bss_testkit::reason(&ended), "NO_PERIOD_RUNNING");
}
