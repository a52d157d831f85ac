//! Subscriptions proven exact over random cases: each a subscription
//! started some days back (monthly, quarterly or yearly; in advance or in
//! arrears; its first period invoiced or not), then a random sequence of
//! what a customer does today: changes now or at the period's end,
//! pauses, a resumption, cancellations now or at the period's end. Every
//! account is then invoiced up to two cycles on, and what billing says it
//! owes (and what credit says, and holds) is compared with an independent
//! calculation written here: each period's price, and the running period
//! split on today, each part prorated by the day against the whole period
//! and rounded half away from zero to the cent. Before the later periods
//! are invoiced, billing and credit must have invoiced what today's
//! invoice bills, and credit must hold the rest of what is committed
//! today (the running period, its calls, a change scheduled for its end).
//! Each subscription also
//! meters calls (some events sent twice), rated graduated by the account's
//! tiers and billed in arrears, and a late event after its period was
//! billed is billed again as the difference. The seed is fixed (every
//! run checks the same cases); `SUBSCRIPTIONS_EXACT_SEED` draws others
//! (the failing seed is printed), `SUBSCRIPTIONS_EXACT_CASES` more of
//! them (24 by default).

use bss_e2e::{
    TestApp, amount, billing_balance, create_account, create_product, credit_settles, decimal, generate,
    ordering_account, set_credit_terms, subscription_request, today,
};
use bss_platform::auth::Role;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::usage_service_client::UsageServiceClient;
use bss_proto::billing::*;
use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
use bss_proto::pricing::{AccountPrice, CreateAccountPriceRequest, QuantityBreak};
use bss_proto::types::{Money, PaymentType};
use bss_testkit::authorized;
use chrono::{Days, Months, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use tonic::transport::Channel;

/// What is done today, in order.
#[derive(Clone, Copy, Debug)]
enum Step {
    ChangeNow(u32),
    ChangeAtEnd(u32),
    Pause,
    Resume,
    CancelNow,
    CancelAtEnd,
}

/// The sequences a customer may follow today (each step allowed after the
/// ones before it).
fn sequences(mut quantity: impl FnMut() -> u32) -> Vec<Vec<Step>> {
    use Step::*;
    vec![
        vec![],
        vec![ChangeNow(quantity())],
        vec![ChangeAtEnd(quantity())],
        vec![Pause],
        vec![Pause, Resume],
        vec![CancelNow],
        vec![CancelAtEnd],
        vec![ChangeNow(quantity()), CancelAtEnd],
        vec![ChangeAtEnd(quantity()), CancelNow],
        vec![ChangeNow(quantity()), ChangeNow(quantity())],
        vec![ChangeAtEnd(quantity()), ChangeAtEnd(quantity())],
        vec![Pause, Resume, ChangeNow(quantity())],
        vec![ChangeNow(quantity()), CancelNow],
        vec![Pause, Resume, CancelNow],
    ]
}

/// One random case.
#[derive(Debug)]
struct Case {
    months: u32,
    arrears: bool,
    /// Days between its start and today.
    back: u64,
    quantity: u32,
    /// Its first period invoiced before today's steps.
    invoiced_first: bool,
    steps: Vec<Step>,
    /// Calls recorded before the steps: (days after its start, quantity),
    /// each on a day before today.
    calls: Vec<(u64, u32)>,
}

const UNIT: &str = "10.00";

/// A whole period's price of `quantity`.
fn price(quantity: u32) -> Decimal {
    UNIT.parse::<Decimal>().expect("price") * Decimal::from(quantity)
}

/// The calls' tiers: 0.10 up to 1,000, 0.08 from 1,000, 0.05 from 10,000.
const TIERS: [(u32, &str); 3] = [(0, "0.10"), (1_000, "0.08"), (10_000, "0.05")];

/// What `calls` cost, graduated: each part at its tier's price, each
/// tier's amount to the cent.
fn graduated(calls: u32) -> Decimal {
    let mut amount = Decimal::ZERO;
    for (index, (from, price)) in TIERS.iter().enumerate() {
        let to = TIERS.get(index + 1).map_or(u32::MAX, |(next, _)| *next);
        if calls > *from {
            let quantity = Decimal::from(calls.min(to) - from);
            amount += (quantity * price.parse::<Decimal>().expect("price"))
                .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        }
    }
    amount
}

/// `amount` for `days` of `whole`, to the cent, half away from zero.
fn part(amount: Decimal, days: i64, whole: i64) -> Decimal {
    (amount * Decimal::from(days) / Decimal::from(whole))
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// The terms the steps leave: whether the running period is split on
/// today (something taking effect today happened: a change now, a pause,
/// a cancellation now), the quantity of its days from today, and that of
/// the periods after it (none once paused or cancelled).
fn terms_after_steps(case: &Case) -> (bool, Option<u32>, Option<u32>) {
    let mut now_terms = Some(case.quantity);
    let mut later_terms = Some(case.quantity);
    let (mut split, mut cancelled_at_end) = (false, false);
    for step in &case.steps {
        match *step {
            Step::ChangeNow(quantity) => (now_terms, later_terms, split) = (Some(quantity), Some(quantity), true),
            Step::ChangeAtEnd(quantity) => later_terms = Some(quantity),
            Step::Pause | Step::CancelNow => (now_terms, later_terms, split) = (None, None, true),
            Step::Resume => (now_terms, later_terms) = (Some(case.quantity), Some(case.quantity)),
            Step::CancelAtEnd => cancelled_at_end = true,
        }
    }
    if cancelled_at_end {
        later_terms = None;
    }
    (split, now_terms, later_terms)
}

/// The running period's days (from `start` to its end, today in it):
/// all of them, those before today and those from today.
fn days(case: &Case, start: NaiveDate, today: NaiveDate) -> (i64, i64, i64) {
    let end = start.checked_add_months(Months::new(case.months)).expect("date");
    ((end - start).num_days(), (today - start).num_days(), (end - today).num_days())
}

/// What today's invoice bills: in advance the running period as the steps
/// leave it; in arrears only the old terms' days before today of a period
/// split today (the rest is billed when it ends); and the calls, billed in
/// arrears, only when a cancellation now ends the period today.
fn invoiced_today(case: &Case, start: NaiveDate, today: NaiveDate, calls: Decimal) -> Decimal {
    let (whole, before, _) = days(case, start, today);
    let subscription = match (case.arrears, terms_after_steps(case)) {
        (false, _) => running_period(case, start, today),
        (true, (true, _, _)) => part(price(case.quantity), before, whole),
        (true, (false, _, _)) => Decimal::ZERO,
    };
    let ended_today = case.steps.iter().any(|step| matches!(step, Step::CancelNow));
    subscription + if ended_today { calls } else { Decimal::ZERO }
}

/// What the running period owes: split on today between the terms before
/// and after the steps, each part prorated by the day.
fn running_period(case: &Case, start: NaiveDate, today: NaiveDate) -> Decimal {
    let (whole, before, after) = days(case, start, today);
    match terms_after_steps(case) {
        (false, _, _) => price(case.quantity),
        (true, now_terms, _) => {
            part(price(case.quantity), before, whole)
                + now_terms.map_or(Decimal::ZERO, |quantity| part(price(quantity), after, whole))
        }
    }
}

/// What credit answers for today, invoiced or held: the running period,
/// and what a change at the period's end costs beyond the terms it
/// replaces over a whole period (authorized, and held until that period
/// is charged).
fn committed_today(case: &Case, start: NaiveDate, today: NaiveDate) -> Decimal {
    let scheduled = match terms_after_steps(case) {
        (_, Some(now), Some(later)) => (price(later) - price(now)).max(Decimal::ZERO),
        _ => Decimal::ZERO,
    };
    running_period(case, start, today) + scheduled
}

/// What the case owes once invoiced through `horizon`, worked out from the
/// calendar: the running period, then whole periods at the terms in
/// force, while it runs.
fn expected(case: &Case, start: NaiveDate, today: NaiveDate, horizon: NaiveDate) -> Decimal {
    let period_start = |k: u32| start.checked_add_months(Months::new(case.months * k)).expect("date");
    let mut owed = running_period(case, start, today);
    if let (_, _, Some(quantity)) = terms_after_steps(case) {
        // Each later period billed by the horizon: on its first day, or in
        // arrears on the day after its last.
        for k in 1.. {
            let billed_on = if case.arrears { period_start(k + 1) } else { period_start(k) };
            if billed_on > horizon {
                break;
            }
            owed += price(quantity);
        }
    }
    owed
}

/// A small deterministic generator (xorshift), seeded.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn case(dice: &mut Dice) -> Case {
    let months = [1, 3, 12][dice.below(3) as usize];
    // Back no further than its first period runs today, from a day of the
    // month every month has (periods never clamp).
    let longest = match months {
        1 => 27,
        3 => 88,
        _ => 360,
    };
    let quantity = 1 + dice.below(4) as u32;
    let all = sequences(|| 1 + dice.below(5) as u32);
    let mut steps = all[dice.below(all.len() as u64) as usize].clone();
    // A change changes the quantity it has now (never to the same).
    let mut current = quantity;
    for step in &mut steps {
        if let Step::ChangeNow(asked) | Step::ChangeAtEnd(asked) = step {
            if *asked == current {
                *asked = current % 5 + 1;
            }
            if let Step::ChangeNow(asked) = step {
                current = *asked;
            }
        }
    }
    let back = dice.below(longest);
    let calls = match back {
        0 => Vec::new(),
        _ => (0..dice.below(5)).map(|_| (dice.below(back), 1 + dice.below(6_000) as u32)).collect(),
    };
    Case { months, arrears: dice.below(2) == 1, back, quantity, invoiced_first: dice.below(2) == 1, steps, calls }
}

/// A call event of `quantity` at noon of `day`.
fn call_event(subscription_id: &str, key: &str, day: NaiveDate, quantity: u32) -> UsageEvent {
    let noon = day.and_hms_opt(12, 0, 0).expect("noon").and_utc().timestamp();
    UsageEvent {
        subscription_id: subscription_id.to_owned(),
        metric: "calls".to_owned(),
        quantity: decimal(&quantity.to_string()),
        time: Some(prost_types::Timestamp { seconds: noon, nanos: 0 }),
        idempotency_key: key.to_owned(),
        property: String::new(),
        account_id: String::new(),
    }
}

/// Records the events, as a client would: each batch sent twice.
async fn record(channel: &Channel, token: &str, events: Vec<UsageEvent>) -> Result<(), tonic::Status> {
    let mut meter = UsageServiceClient::new(channel.clone());
    for _ in 0..2 {
        let batch = IngestUsageBatchRequest { events: events.clone() };
        meter.ingest_usage_batch(authorized(batch, token)).await?;
    }
    Ok(())
}

async fn step(channel: &Channel, token: &str, id: &str, (index, step): (usize, Step)) -> Result<(), tonic::Status> {
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let request_id = format!("{id}-{index}");
    let change = |quantity: u32, at_period_end: bool| ChangeSubscriptionRequest {
        id: id.to_owned(),
        request_id: request_id.clone(),
        quantity: decimal(&quantity.to_string()),
        at_period_end,
        ..Default::default()
    };
    let cancel = |at_period_end: bool| CancelSubscriptionRequest {
        id: id.to_owned(),
        request_id: request_id.clone(),
        at_period_end,
    };
    match step {
        Step::ChangeNow(quantity) => {
            subscriptions.change_subscription(authorized(change(quantity, false), token)).await.map(|_| ())
        }
        Step::ChangeAtEnd(quantity) => {
            subscriptions.change_subscription(authorized(change(quantity, true), token)).await.map(|_| ())
        }
        Step::Pause => {
            let pause = PauseSubscriptionRequest { id: id.to_owned(), request_id };
            subscriptions.pause_subscription(authorized(pause, token)).await.map(|_| ())
        }
        Step::Resume => {
            let resume = ResumeSubscriptionRequest { id: id.to_owned(), request_id };
            subscriptions.resume_subscription(authorized(resume, token)).await.map(|_| ())
        }
        Step::CancelNow => subscriptions.cancel_subscription(authorized(cancel(false), token)).await.map(|_| ()),
        Step::CancelAtEnd => subscriptions.cancel_subscription(authorized(cancel(true), token)).await.map(|_| ()),
    }
}

#[tokio::test]
async fn invoices_match_an_independent_calculation_over_random_changes_pauses_and_cancellations() {
    let seed: u64 =
        std::env::var("SUBSCRIPTIONS_EXACT_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or(20_261_205);
    let cases: usize = std::env::var("SUBSCRIPTIONS_EXACT_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(24);
    eprintln!("SUBSCRIPTIONS_EXACT_SEED={seed}");
    let mut dice = Dice(seed | 1);
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Exact Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "UNIT", UNIT, "").await;
    let calls_product = create_product(&channel, &admin, "CALLS", "1.00", "").await;
    let today_date: NaiveDate = today().parse().expect("today");
    let eur = |amount: &str| Some(Money { currency_code: "EUR".to_owned(), amount: amount.to_owned() });

    for number in 0..cases {
        let case = case(&mut dice);
        let context = format!("case {number} of seed {seed}: {case:?}");
        let account = create_account(&channel, &admin, ordering_account(&format!("EXACT{number}"))).await;
        set_credit_terms(&channel, &admin, &account, "100000", None).await;
        let tiers = AccountPrice {
            account_id: account.clone(),
            product_id: calls_product.clone(),
            price: eur(TIERS[0].1),
            breaks: TIERS[1..]
                .iter()
                .map(|(from, price)| QuantityBreak { min_quantity: decimal(&from.to_string()), price: eur(price) })
                .collect(),
            valid_from: "2020-01-01".to_owned(),
            ..AccountPrice::default()
        };
        let tiers = CreateAccountPriceRequest { account_price: Some(tiers), request_id: String::new() };
        AccountPricingServiceClient::new(channel.clone())
            .create_account_price(authorized(tiers, &admin))
            .await
            .unwrap_or_else(|status| panic!("{context}: tiers: {status:?}"));
        let start = today_date - Days::new(case.back);
        let mut request = subscription_request(&account, "UNIT", &case.quantity.to_string(), PaymentType::OnAccount);
        let asked = request.subscription.as_mut().expect("subscription");
        asked.start_date = start.format("%Y-%m-%d").to_string();
        asked.billing_cycle = match case.months {
            1 => BillingCycle::Monthly,
            3 => BillingCycle::Quarterly,
            _ => BillingCycle::Yearly,
        } as i32;
        asked.billing_timing = if case.arrears { BillingTiming::InArrears } else { BillingTiming::InAdvance } as i32;
        asked.metered = vec![MeteredMetric {
            metric: "calls".to_owned(),
            aggregation: UsageAggregation::Sum as i32,
            product: "CALLS".to_owned(),
            ..MeteredMetric::default()
        }];
        let created =
            SubscriptionServiceClient::new(channel.clone()).create_subscription(authorized(request, &clerk)).await;
        let subscription = created.unwrap_or_else(|status| panic!("{context}: {status:?}")).into_inner();
        let id = subscription.subscription.expect("subscription").id;
        let events = case
            .calls
            .iter()
            .enumerate()
            .map(|(index, (day, quantity))| call_event(&id, &format!("e{index}"), start + Days::new(*day), *quantity))
            .collect::<Vec<_>>();
        if !events.is_empty() {
            record(&channel, &clerk, events).await.unwrap_or_else(|status| panic!("{context}: calls: {status:?}"));
        }
        if case.invoiced_first {
            generate(&channel, &clerk, &account, &today(), true).await;
        }
        for (index, one) in case.steps.iter().enumerate() {
            step(&channel, &clerk, &id, (index, *one))
                .await
                .unwrap_or_else(|status| panic!("{context}: step {index}: {status:?}"));
        }
        let horizon = start.checked_add_months(Months::new(case.months * 2)).expect("date");
        generate(&channel, &clerk, &account, &today(), true).await;
        let calls: u32 = case.calls.iter().map(|(_, quantity)| quantity).sum();
        // Mid-run, billing and credit have invoiced what today's invoice
        // bills, and credit holds the rest of what is committed today: the
        // running period, its calls rated so far, a change scheduled.
        let invoiced = invoiced_today(&case, start, today_date, graduated(calls));
        let committed = committed_today(&case, start, today_date) + graduated(calls);
        let billed = billing_balance(&channel, &clerk, &account).await;
        assert_eq!(amount(&billed.balance), format!("{invoiced:.2}"), "{context}: billing invoiced today");
        eprintln!("{context}: invoiced {invoiced}, committed {committed}");
        let held = format!("{:.2}", committed - invoiced);
        credit_settles(&channel, &clerk, &account, &format!("{invoiced:.2}"), &held).await;
        generate(&channel, &clerk, &account, &horizon.format("%Y-%m-%d").to_string(), true).await;
        let owed = expected(&case, start, today_date, horizon) + graduated(calls);
        let billed = billing_balance(&channel, &clerk, &account).await;
        assert_eq!(amount(&billed.balance), format!("{owed:.2}"), "{context}: billing owes");
        credit_settles(&channel, &clerk, &account, &format!("{owed:.2}"), "0.00").await;
        // A late call for the first period, billed: the difference comes on
        // the next invoice.
        if case.back > 0 {
            let late = vec![call_event(&id, "late", start, 700)];
            record(&channel, &clerk, late).await.unwrap_or_else(|status| panic!("{context}: late: {status:?}"));
            generate(&channel, &clerk, &account, &horizon.format("%Y-%m-%d").to_string(), true).await;
            let owed = owed - graduated(calls) + graduated(calls + 700);
            let billed = billing_balance(&channel, &clerk, &account).await;
            assert_eq!(amount(&billed.balance), format!("{owed:.2}"), "{context}: billing owes after a late call");
            credit_settles(&channel, &clerk, &account, &format!("{owed:.2}"), "0.00").await;
        }
    }
}
