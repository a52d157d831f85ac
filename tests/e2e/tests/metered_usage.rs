//! A metered plan with graduated and volume tiers, through the gateway:
//! usage recorded, its running amount (in billing's answer and in credit's
//! exposure), the period billed in arrears with its tiers on the invoice,
//! a late event billed as an adjustment on the next invoice, read back
//! from billing (invoices, balance) and credit (balance, reserved,
//! available). Tier figures are worked out here by hand.

use bss_e2e::{
    TestApp, amount, billing_balance, create_account, create_product, credit_settles, decimal, generate,
    ordering_account, set_credit_terms, subscription_request, today,
};
use bss_platform::auth::Role;
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::usage_service_client::UsageServiceClient;
use bss_proto::billing::*;
use bss_proto::pricing::account_pricing_service_client::AccountPricingServiceClient;
use bss_proto::pricing::{AccountPrice, CreateAccountPriceRequest, QuantityBreak, RatedTier, Rating};
use bss_proto::types::{Money, PaymentType};
use bss_testkit::authorized;
use chrono::{Days, Months, NaiveDate};
use tonic::transport::Channel;
use tonic_types::StatusExt;

fn eur(amount: &str) -> Option<Money> {
    Some(Money { currency_code: "EUR".to_owned(), amount: amount.to_owned() })
}

/// Prices `product` for the account at `base`, lower from each break's
/// minimum on.
async fn tiered_price(
    channel: &Channel,
    token: &str,
    (account, product): (&str, &str),
    base: &str,
    breaks: &[(&str, &str)],
) {
    let price = AccountPrice {
        account_id: account.to_owned(),
        product_id: product.to_owned(),
        price: eur(base),
        breaks: breaks
            .iter()
            .map(|(minimum, price)| QuantityBreak { min_quantity: decimal(minimum), price: eur(price) })
            .collect(),
        valid_from: "2020-01-01".to_owned(),
        ..AccountPrice::default()
    };
    let request = CreateAccountPriceRequest { account_price: Some(price), request_id: String::new() };
    AccountPricingServiceClient::new(channel.clone())
        .create_account_price(authorized(request, token))
        .await
        .expect("account price");
}

/// A usage event `hours` after the first instant of `day`.
fn event(subscription_id: &str, metric: &str, key: &str, quantity: &str, (day, hours): (NaiveDate, i64)) -> UsageEvent {
    let at = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp() + hours * 3600;
    UsageEvent {
        subscription_id: subscription_id.to_owned(),
        metric: metric.to_owned(),
        quantity: decimal(quantity),
        time: Some(prost_types::Timestamp { seconds: at, nanos: 0 }),
        idempotency_key: key.to_owned(),
        property: String::new(),
        account_id: String::new(),
    }
}

/// (from, to, quantity, unit price, amount) of each tier.
fn tiers(tiers: &[RatedTier]) -> Vec<(String, String, String, String, String)> {
    let value =
        |decimal: &Option<bss_proto::types::Decimal>| decimal.as_ref().map(|d| d.value.clone()).unwrap_or_default();
    tiers
        .iter()
        .map(|tier| {
            let money = |money: &Option<Money>| amount(money).to_owned();
            (value(&tier.from), value(&tier.to), value(&tier.quantity), money(&tier.unit_price), money(&tier.amount))
        })
        .collect()
}

fn tier(
    from: &str,
    to: &str,
    quantity: &str,
    unit_price: &str,
    amount: &str,
) -> (String, String, String, String, String) {
    (from.to_owned(), to.to_owned(), quantity.to_owned(), unit_price.to_owned(), amount.to_owned())
}

#[tokio::test]
async fn a_metered_plan_bills_each_period_by_its_tiers_in_arrears_and_late_usage_as_an_adjustment() {
    let suite = TestApp::start().await;
    let (tenant_id, admin) = suite.tenant("Metered Books", "EUR").await;
    let clerk = bss_testkit::token(tenant_id, &[Role::BillingClerk]);
    let channel = suite.gateway().await;
    create_product(&channel, &admin, "PLATFORM", "20.00", "").await;
    let calls = create_product(&channel, &admin, "API-CALLS", "0.10", "").await;
    let storage = create_product(&channel, &admin, "STORAGE-GB", "1.00", "").await;
    let account = create_account(&channel, &admin, ordering_account("METERED")).await;
    set_credit_terms(&channel, &admin, &account, "5000", None).await;
    // Calls: 0.10 up to 1,000, 0.08 from 1,000, 0.05 from 10,000.
    tiered_price(&channel, &admin, (&account, &calls), "0.10", &[("1000", "0.08"), ("10000", "0.05")]).await;
    // Storage: 1.00 a GB, 0.50 a GB for all of it from 100 GB.
    tiered_price(&channel, &admin, (&account, &storage), "1.00", &[("100", "0.50")]).await;

    // Monthly from ten days ago, in advance: calls summed and rated
    // graduated, storage held at the period's end rated by volume.
    let start = today().parse::<NaiveDate>().expect("today") - Days::new(10);
    let end = start.checked_add_months(Months::new(1)).expect("month");
    let mut request = subscription_request(&account, "PLATFORM", "1", PaymentType::OnAccount);
    let asked = request.subscription.as_mut().expect("subscription");
    asked.start_date = start.to_string();
    let metric = |metric: &str, aggregation: UsageAggregation, product: &str, rating: Rating| MeteredMetric {
        metric: metric.to_owned(),
        aggregation: aggregation as i32,
        product: product.to_owned(),
        rating: rating as i32,
    };
    asked.metered = vec![
        metric("api_calls", UsageAggregation::Sum, "API-CALLS", Rating::Unspecified),
        metric("storage", UsageAggregation::Last, "STORAGE-GB", Rating::Volume),
    ];
    let mut subscriptions = SubscriptionServiceClient::new(channel.clone());
    let plan = subscriptions.create_subscription(authorized(request.clone(), &clerk)).await.expect("created");
    let plan = plan.into_inner().subscription.expect("subscription");
    let products: Vec<(&str, &str, i32)> =
        plan.metered.iter().map(|m| (m.metric.as_str(), m.product.as_str(), m.rating)).collect();
    assert_eq!(
        products,
        vec![
            ("api_calls", calls.as_str(), Rating::Graduated as i32),
            ("storage", storage.as_str(), Rating::Volume as i32)
        ],
        "products are resolved to their ids, an unspecified rating is graduated"
    );
    // A metric without its product is refused by field.
    let asked = request.subscription.as_mut().expect("subscription");
    asked.metered[1].product.clear();
    let refused = subscriptions.create_subscription(authorized(request.clone(), &clerk)).await.expect_err("no product");
    assert_eq!(bss_testkit::violated_fields(&refused), vec!["subscription.metered[1].product"]);
    // One pricing does not know is refused naming that metric's product.
    request.subscription.as_mut().expect("subscription").metered[1].product = "NO-SUCH-PRODUCT".to_owned();
    let refused = subscriptions.create_subscription(authorized(request, &clerk)).await.expect_err("unknown");
    let rules = refused.get_details_precondition_failure().expect("rules").violations;
    let rules: Vec<(&str, &str)> = rules.iter().map(|rule| (rule.r#type.as_str(), rule.subject.as_str())).collect();
    assert_eq!(rules, vec![("PRODUCT_UNKNOWN", "subscription.metered[1].product")]);

    // The first period, in advance: 20.00.
    let first = generate(&channel, &clerk, &account, &today(), true).await;
    assert_eq!(first.iter().map(|invoice| amount(&invoice.total)).collect::<Vec<_>>(), vec!["20.00"]);

    // 12,500 calls (one event sent twice, counted once); storage 40 GB,
    // then 150 GB (the latest counts).
    let mut meter = UsageServiceClient::new(channel.clone());
    let id = plan.id.as_str();
    let batch = IngestUsageBatchRequest {
        events: vec![
            event(id, "api_calls", "c1", "5000", (start, 1)),
            event(id, "api_calls", "c2", "5000", (start, 30)),
            event(id, "api_calls", "c2", "5000", (start, 30)),
            event(id, "api_calls", "c3", "2500", (start, 100)),
            event(id, "storage", "s1", "40", (start, 2)),
            event(id, "storage", "s2", "150", (start, 50)),
        ],
    };
    let recorded = meter.ingest_usage_batch(authorized(batch, &clerk)).await.expect("recorded").into_inner();
    assert_eq!((recorded.accepted, recorded.duplicates), (5, 1));
    // Before the subscription started: refused, nothing recorded.
    let early = IngestUsageBatchRequest { events: vec![event(id, "api_calls", "c0", "1", (start, -1))] };
    let refused = meter.ingest_usage_batch(authorized(early, &clerk)).await.expect_err("before its start");
    assert_eq!(bss_testkit::reason(&refused), "USAGE_OUTSIDE_SUBSCRIPTION");

    // The running amount: graduated 1,000 × 0.10 + 9,000 × 0.08 + 2,500 ×
    // 0.05 = 100.00 + 720.00 + 125.00 = 945.00; storage 150 × 0.50 =
    // 75.00 (volume: all of it at the break reached).
    let current = GetCurrentUsageRequest { subscription_id: plan.id.clone() };
    let current = meter.get_current_usage(authorized(current, &clerk)).await.expect("usage").into_inner();
    assert_eq!(amount(&current.amount), "1020.00");
    assert_eq!(
        current.metrics.iter().map(|metric| amount(&metric.amount)).collect::<Vec<_>>(),
        vec!["945.00", "75.00"]
    );
    let graduated = vec![
        tier("0", "1000", "1000", "0.10", "100.00"),
        tier("1000", "10000", "9000", "0.08", "720.00"),
        tier("10000", "", "2500", "0.05", "125.00"),
    ];
    assert_eq!(tiers(&current.metrics[0].tiers), graduated);
    assert_eq!(tiers(&current.metrics[1].tiers), vec![tier("100", "", "150", "0.50", "75.00")]);
    // Credit counts the running usage in the account's exposure once the
    // accrual rated it: what the account may still spend is less by it.
    let status = credit_settles(&channel, &clerk, &account, "20.00", "1020.00").await;
    assert_eq!((amount(&status.exposure), amount(&status.available_credit)), ("1040.00", "3960.00"));
    // More usage moves the hold: 1,000 more calls at 0.05 are 50.00, sent
    // to the account (its one subscription metering calls takes them).
    let to_account = UsageEvent {
        account_id: account.clone(),
        subscription_id: String::new(),
        ..event(id, "api_calls", "c5", "1000", (start, 110))
    };
    let more = IngestUsageBatchRequest { events: vec![to_account.clone()] };
    let sent = meter.ingest_usage_batch(authorized(more.clone(), &clerk)).await.expect("more").into_inner();
    assert_eq!((sent.accepted, sent.duplicates), (1, 0));
    let again = meter.ingest_usage_batch(authorized(more, &clerk)).await.expect("again").into_inner();
    assert_eq!((again.accepted, again.duplicates), (0, 1), "its key is the subscription's");
    // A metric none of the account's subscriptions meters, and both
    // addresses at once, are refused.
    let unmetered = UsageEvent { metric: "minutes".to_owned(), ..to_account.clone() };
    let refused = meter
        .ingest_usage_batch(authorized(IngestUsageBatchRequest { events: vec![unmetered] }, &clerk))
        .await
        .expect_err("not metered");
    assert_eq!(bss_testkit::reason(&refused), "METRIC_NOT_METERED");
    let both = UsageEvent { subscription_id: id.to_owned(), ..to_account };
    let refused = meter
        .ingest_usage_batch(authorized(IngestUsageBatchRequest { events: vec![both] }, &clerk))
        .await
        .expect_err("both");
    assert_eq!(bss_testkit::violated_fields(&refused), vec!["events[0].account_id"]);
    credit_settles(&channel, &clerk, &account, "20.00", "1070.00").await;
    // Nothing is billed before the period ends.
    let early = generate(&channel, &clerk, &account, &today(), true).await;
    assert!(early.is_empty(), "{early:?}");

    // On the period's end: the next period in advance (20.00) and the
    // ended period's usage in arrears, each line with its quantity and
    // tiers.
    let billed = generate(&channel, &clerk, &account, &end.to_string(), true).await;
    assert_eq!(billed.len(), 1, "{billed:?}");
    // Calls: 13,500 rate 100.00 + 720.00 + 3,500 × 0.05 = 995.00.
    assert_eq!(amount(&billed[0].total), "1090.00");
    let last_day = end.pred_opt().expect("day");
    let lines: Vec<(String, String, String)> = billed[0]
        .lines
        .iter()
        .map(|line| {
            let quantity = line.quantity.as_ref().map(|q| q.value.clone()).unwrap_or_default();
            (line.description.clone(), quantity, amount(&line.total).to_owned())
        })
        .collect();
    let line = |description: String, quantity: &str, total: &str| (description, quantity.to_owned(), total.to_owned());
    assert_eq!(
        lines,
        vec![
            line(format!("PLATFORM subscription from {end}"), "1", "20.00"),
            line(format!("api_calls usage {start} to {last_day}: 13500"), "13500", "995.00"),
            line(format!("storage usage {start} to {last_day}: 150"), "150", "75.00"),
        ]
    );
    let calls_line = billed[0].lines.iter().find(|line| line.description.starts_with("api_calls")).expect("calls");
    assert_eq!(tiers(&calls_line.tiers)[2], tier("10000", "", "3500", "0.05", "175.00"));
    // Billing and credit agree: 20.00 + 1,090.00 owed; the invoice captured
    // what credit held for the usage, nothing is held.
    credit_settles(&channel, &clerk, &account, "1110.00", "0.00").await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), "1110.00");
    // A second run bills nothing again.
    assert!(generate(&channel, &clerk, &account, &end.to_string(), true).await.is_empty());

    // A late event for the billed period: 600 more calls rate 30.00 more
    // (14,100: the last tier holds 4,100 × 0.05 = 205.00), billed on the
    // next invoice as an adjustment of 600 calls.
    let late = IngestUsageBatchRequest { events: vec![event(id, "api_calls", "c4", "600", (start, 120))] };
    meter.ingest_usage_batch(authorized(late, &clerk)).await.expect("late");
    let adjusted = generate(&channel, &clerk, &account, &end.to_string(), true).await;
    assert_eq!(adjusted.len(), 1, "{adjusted:?}");
    let line = &adjusted[0].lines[0];
    assert_eq!(
        (line.description.as_str(), line.quantity.as_ref().map(|q| q.value.as_str()), amount(&line.total)),
        (
            format!("api_calls usage {start} to {last_day}, late events: 14100 (billed 13500)").as_str(),
            Some("600"),
            "30.00"
        )
    );
    assert!(line.tiers.is_empty(), "an adjustment's amount is a difference, not tiers: {line:?}");
    credit_settles(&channel, &clerk, &account, "1140.00", "0.00").await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), "1140.00");

    // A late storage reading, later in the period than the 150 GB: the
    // latest is now 120 GB, 120 × 0.50 = 60.00, 15.00 less than billed.
    // The adjustment line charges nothing and shows the new quantity; the
    // 15.00 comes back as a credit note on the line that billed 75.00.
    let lower = IngestUsageBatchRequest { events: vec![event(id, "storage", "s3", "120", (start, 200))] };
    meter.ingest_usage_batch(authorized(lower, &clerk)).await.expect("late reading");
    let adjusted = generate(&channel, &clerk, &account, &end.to_string(), true).await;
    let line = &adjusted[0].lines[0];
    assert_eq!(
        (line.description.as_str(), line.quantity.as_ref().map(|q| q.value.as_str()), amount(&line.total)),
        (format!("storage usage {start} to {last_day}, late events: 120 (billed 150)").as_str(), Some("-30"), "0.00")
    );
    credit_settles(&channel, &clerk, &account, "1125.00", "0.00").await;
    assert_eq!(amount(&billing_balance(&channel, &clerk, &account).await.balance), "1125.00");
    let storage_line = billed[0].lines.iter().position(|line| line.description.starts_with("storage")).expect("line");
    let invoice = GetInvoiceRequest { id: billed[0].id.clone() };
    let invoice = InvoiceServiceClient::new(channel.clone()).get_invoice(authorized(invoice, &clerk)).await;
    let invoice = invoice.expect("invoice").into_inner().invoice.expect("invoice");
    assert_eq!(amount(&invoice.lines[storage_line].credited), "15.00", "{invoice:?}");
    // Given back once: another run gives nothing more.
    assert!(generate(&channel, &clerk, &account, &end.to_string(), true).await.is_empty());
    credit_settles(&channel, &clerk, &account, "1125.00", "0.00").await;

    // A hand-made invoice may not name the usage's reference (it would
    // capture what credit holds for usage billing has not invoiced).
    let manual = CreateInvoiceRequest {
        invoice: Some(Invoice {
            account_id: account.clone(),
            lines: vec![InvoiceLine {
                description: "Setup".to_owned(),
                quantity: decimal("1"),
                unit_price: eur("5.00"),
                ..InvoiceLine::default()
            }],
            order_references: vec![format!("usage:{id}")],
            ..Invoice::default()
        }),
        request_id: String::new(),
    };
    let refused = InvoiceServiceClient::new(channel.clone())
        .create_invoice(authorized(manual, &clerk))
        .await
        .expect_err("usage is invoiced by runs");
    assert_eq!(bss_testkit::violated_fields(&refused), vec!["invoice.order_references[0]"]);
}
