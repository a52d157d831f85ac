//! `bssctl subscriptions`, `bssctl invoices` and `bssctl payments`: what
//! billing keeps of an account's recurring charges, invoices and payments.

use bss_platform::payment::PaymentType;
use bss_proto::billing::invoice_service_client::InvoiceServiceClient;
use bss_proto::billing::payment_service_client::PaymentServiceClient;
use bss_proto::billing::subscription_service_client::SubscriptionServiceClient;
use bss_proto::billing::usage_service_client::UsageServiceClient;
use bss_proto::billing::{
    BillingCycle, BillingTiming, CancelSubscriptionRequest, ChangeSubscriptionRequest, CreateSubscriptionRequest,
    GetAccountBalanceRequest, GetBillingAnchorRequest, GetCurrentUsageRequest, GetInvoiceRequest,
    GetSubscriptionRequest, IngestUsageBatchRequest, InvoiceStatus, ListInvoicesRequest,
    ListSubscriptionChangesRequest, ListSubscriptionsRequest, MeteredMetric, PauseSubscriptionRequest, Payment,
    PostInvoiceRequest, RecordPaymentRequest, ResumeSubscriptionRequest, SetBillingAnchorRequest, Subscription,
    UsageAggregation, UsageEvent, VoidInvoiceRequest,
};
use bss_proto::pricing::Rating;
use bss_proto::types::{Decimal, Money};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::output::{message, messages};
use crate::{Client, Failure, PageArgs, RetryArgs, enum_arg, note_replay};

#[derive(Subcommand)]
pub enum SubscriptionsCommand {
    Get {
        id: String,
    },
    /// An account's subscriptions.
    List {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Subscribe an account to a product, authorized by credit like an
    /// order.
    Create {
        #[arg(long)]
        account: String,
        /// The product, by id or code.
        #[arg(long)]
        product: String,
        #[arg(long, default_value = "1")]
        quantity: String,
        /// How it pays, by code (AC on account, CC card, ...).
        #[arg(long, default_value = "AC")]
        payment_type: String,
        #[arg(long, default_value = "")]
        reference: String,
        /// How often it is billed: monthly, quarterly, half-yearly or
        /// yearly (the product's price is one period's).
        #[arg(long, default_value = "monthly")]
        cycle: String,
        /// The day of the month its periods start on, 1 to 31 (0: its
        /// account's anchor, else the day it starts).
        #[arg(long, default_value_t = 0)]
        anchor_day: i32,
        /// When a period is billed: in-advance or in-arrears.
        #[arg(long, default_value = "in-advance")]
        timing: String,
        /// A trial of this many days before its first period (0: none).
        #[arg(long, default_value_t = 0)]
        trial_days: i32,
        /// The trial's price for all its days (none: free).
        #[arg(long)]
        trial_price: Option<String>,
        /// A fixed term of this many periods (0: evergreen).
        #[arg(long, default_value_t = 0)]
        term_periods: i32,
        /// Renew the fixed term at its end (else it ends with it).
        #[arg(long)]
        auto_renew: bool,
        /// A metric it meters, as `<metric>=<aggregation>:<product>[:<rating>]`:
        /// its aggregation (sum, count, max, unique-count or last), the
        /// product whose price rates it, and graduated (the default) or
        /// volume; repeatable.
        #[arg(long = "meter")]
        meters: Vec<String>,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// Cancel a subscription, today or at the end of its running period.
    Cancel {
        id: String,
        /// Run to the end of the period running today, then end.
        #[arg(long)]
        at_period_end: bool,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// Change a subscription's product (an upgrade or a downgrade) or
    /// quantity, now (the running period prorated by the day) or from its
    /// next period; credit authorizes the difference.
    Change {
        id: String,
        /// The new product, by id or code (none: the same).
        #[arg(long, default_value = "")]
        product: String,
        /// The new quantity (none: the same).
        #[arg(long)]
        quantity: Option<String>,
        /// From the next period's first day rather than today.
        #[arg(long)]
        at_period_end: bool,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// Pause a subscription from today (nothing owed for its days until
    /// resumed).
    Pause {
        id: String,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// Resume a paused subscription from today (its period prorated).
    Resume {
        id: String,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// Record one usage event of a metric the subscription meters, once by
    /// its key.
    Record {
        id: String,
        #[arg(long)]
        metric: String,
        #[arg(long, default_value = "1")]
        quantity: String,
        /// The event's idempotency key: the same key again counts once.
        #[arg(long)]
        key: String,
        /// When it was used, RFC 3339 (none: now).
        #[arg(long)]
        time: Option<String>,
        /// What a unique count counts once.
        #[arg(long, default_value = "")]
        property: String,
    },
    /// The usage of a subscription's period running today, per metric.
    Usage {
        id: String,
    },
    /// A subscription's history: its creation, changes and cancellation.
    History {
        id: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Set the day of the month an account's new subscriptions are billed
    /// on (0 clears it).
    SetAnchor {
        #[arg(long)]
        account: String,
        #[arg(long)]
        day: i32,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// An account's billing anchor day (0: none).
    GetAnchor {
        #[arg(long)]
        account: String,
    },
}

#[derive(Subcommand)]
pub enum InvoicesCommand {
    Get {
        id: String,
    },
    /// Invoices, newest first.
    List {
        /// Only this account's.
        #[arg(long)]
        account: Option<String>,
        /// draft, posted or voided.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Post a draft invoice to the ledger.
    Post {
        id: String,
        #[command(flatten)]
        retry: RetryArgs,
    },
    /// Void an invoice nothing was paid on.
    Void {
        id: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        retry: RetryArgs,
    },
}

#[derive(Subcommand)]
pub enum PaymentsCommand {
    /// Record a payment; it settles the account's oldest invoices, or the
    /// one named.
    Record {
        #[arg(long)]
        account: String,
        /// The amount, exact (`25.00`).
        #[arg(long)]
        amount: String,
        #[arg(long)]
        currency: String,
        /// Settle this invoice first.
        #[arg(long, default_value = "")]
        invoice: String,
        /// Id of this payment, required: the same id again records nothing
        /// twice, and two payments of the same amount are told apart by it
        /// (the bank's reference makes a good one).
        #[arg(long, value_parser = clap::builder::NonEmptyStringValueParser::new())]
        request_id: String,
    },
    /// An account's balance, what is outstanding and unsettled, and its
    /// wallet.
    Balance { account: String },
}

pub async fn subscriptions(client: &Client, command: SubscriptionsCommand) -> Result<Value, Failure> {
    let mut subscriptions = SubscriptionServiceClient::new(client.channel()?);
    Ok(match command {
        SubscriptionsCommand::Get { id } => {
            let found = subscriptions.get_subscription(client.request(GetSubscriptionRequest { id })?).await?;
            message(&found.into_inner().subscription.unwrap_or_default())
        }
        SubscriptionsCommand::List { account, page } => {
            let request = ListSubscriptionsRequest {
                account_id: account,
                page_size: page.page_size,
                page_token: page.page_token.unwrap_or_default(),
            };
            let listed = subscriptions.list_subscriptions(client.request(request)?).await?.into_inner();
            json!({ "subscriptions": messages(&listed.subscriptions), "next_page_token": listed.next_page_token })
        }
        SubscriptionsCommand::Create {
            account,
            product,
            quantity,
            payment_type,
            reference,
            cycle,
            anchor_day,
            timing,
            trial_days,
            trial_price,
            term_periods,
            auto_renew,
            meters,
            retry,
        } => {
            let mut metered = Vec::with_capacity(meters.len());
            for meter in &meters {
                let shape =
                    || Failure::Other(format!("--meter {meter:?}: <metric>=<aggregation>:<product>[:<rating>]"));
                let (metric, rest) = meter.split_once('=').ok_or_else(shape)?;
                let mut parts = rest.split(':');
                let (Some(aggregation), Some(product)) = (parts.next(), parts.next()) else {
                    return Err(shape());
                };
                let aggregation =
                    enum_arg("--meter", "USAGE_AGGREGATION_", aggregation, UsageAggregation::from_str_name)?;
                let rating = match parts.next() {
                    Some(rating) => enum_arg("--meter", "RATING_", rating, Rating::from_str_name)? as i32,
                    None => 0,
                };
                metered.push(MeteredMetric {
                    metric: metric.to_owned(),
                    aggregation: aggregation as i32,
                    product: product.to_owned(),
                    rating,
                });
            }
            let payment_type = PaymentType::from_code(&payment_type)
                .map_err(|why| Failure::Other(format!("--payment-type: {why}")))?;
            let subscription = Subscription {
                account_id: account,
                product,
                quantity: Some(Decimal { value: quantity }),
                payment_type: payment_type.to_wire() as i32,
                reference,
                billing_cycle: enum_arg("--cycle", "BILLING_CYCLE_", &cycle, BillingCycle::from_str_name)? as i32,
                billing_anchor_day: anchor_day,
                billing_timing: enum_arg("--timing", "BILLING_TIMING_", &timing, BillingTiming::from_str_name)? as i32,
                trial_days,
                trial_price: trial_price.map(|value| Decimal { value }),
                term_periods,
                auto_renew,
                metered,
                ..Subscription::default()
            };
            let request_id =
                retry.derived_request_id("subscriptions-create", &prost::Message::encode_to_vec(&subscription));
            let request =
                CreateSubscriptionRequest { subscription: Some(subscription), request_id, ..Default::default() };
            let started = std::time::SystemTime::now();
            let created = subscriptions.create_subscription(client.request(request)?).await?.into_inner();
            let subscription = created.subscription.unwrap_or_default();
            note_replay("subscription", subscription.create_time.as_ref(), started);
            message(&subscription)
        }
        SubscriptionsCommand::Cancel { id, at_period_end, retry } => {
            let request = CancelSubscriptionRequest { id, request_id: retry.request_id(), at_period_end };
            let cancelled = subscriptions.cancel_subscription(client.request(request)?).await?.into_inner();
            message(&cancelled.subscription.unwrap_or_default())
        }
        SubscriptionsCommand::Change { id, product, quantity, at_period_end, retry } => {
            let quantity = quantity.map(|value| Decimal { value });
            let request = ChangeSubscriptionRequest {
                id,
                request_id: retry.request_id(),
                product,
                quantity,
                at_period_end,
                min_pricing_version: 0,
            };
            let changed = subscriptions.change_subscription(client.request(request)?).await?.into_inner();
            message(&changed)
        }
        SubscriptionsCommand::Pause { id, retry } => {
            let request = PauseSubscriptionRequest { id, request_id: retry.request_id() };
            let paused = subscriptions.pause_subscription(client.request(request)?).await?.into_inner();
            message(&paused.subscription.unwrap_or_default())
        }
        SubscriptionsCommand::Resume { id, retry } => {
            let request = ResumeSubscriptionRequest { id, request_id: retry.request_id() };
            let resumed = subscriptions.resume_subscription(client.request(request)?).await?.into_inner();
            message(&resumed.subscription.unwrap_or_default())
        }
        SubscriptionsCommand::Record { id, metric, quantity, key, time, property } => {
            let at = match time {
                Some(time) => time
                    .parse::<prost_types::Timestamp>()
                    .map_err(|why| Failure::Other(format!("--time {time:?}: {why}")))?,
                None => prost_types::Timestamp::from(std::time::SystemTime::now()),
            };
            let event = UsageEvent {
                subscription_id: id,
                metric,
                quantity: Some(Decimal { value: quantity }),
                time: Some(at),
                idempotency_key: key,
                property,
                account_id: String::new(),
            };
            let request = IngestUsageBatchRequest { events: vec![event] };
            let mut usage = UsageServiceClient::new(client.channel()?);
            message(&usage.ingest_usage_batch(client.request(request)?).await?.into_inner())
        }
        SubscriptionsCommand::Usage { id } => {
            let request = GetCurrentUsageRequest { subscription_id: id };
            let mut usage = UsageServiceClient::new(client.channel()?);
            message(&usage.get_current_usage(client.request(request)?).await?.into_inner())
        }
        SubscriptionsCommand::History { id, page } => {
            let request = ListSubscriptionChangesRequest {
                id,
                page_size: page.page_size,
                page_token: page.page_token.unwrap_or_default(),
            };
            let listed = subscriptions.list_subscription_changes(client.request(request)?).await?.into_inner();
            json!({ "changes": messages(&listed.changes), "next_page_token": listed.next_page_token })
        }
        SubscriptionsCommand::SetAnchor { account, day, retry } => {
            let request =
                SetBillingAnchorRequest { account_id: account, anchor_day: day, request_id: retry.request_id() };
            message(&subscriptions.set_billing_anchor(client.request(request)?).await?.into_inner())
        }
        SubscriptionsCommand::GetAnchor { account } => {
            let request = GetBillingAnchorRequest { account_id: account };
            message(&subscriptions.get_billing_anchor(client.request(request)?).await?.into_inner())
        }
    })
}

pub async fn invoices(client: &Client, command: InvoicesCommand) -> Result<Value, Failure> {
    let mut invoices = InvoiceServiceClient::new(client.channel()?);
    Ok(match command {
        InvoicesCommand::Get { id } => {
            let found = invoices.get_invoice(client.request(GetInvoiceRequest { id })?).await?;
            message(&found.into_inner().invoice.unwrap_or_default())
        }
        InvoicesCommand::List { account, status, page } => {
            let status = match status {
                Some(status) => enum_arg("--status", "INVOICE_STATUS_", &status, InvoiceStatus::from_str_name)?,
                None => InvoiceStatus::Unspecified,
            };
            let request = ListInvoicesRequest {
                account_id: account.unwrap_or_default(),
                status: status as i32,
                page_size: page.page_size,
                page_token: page.page_token.unwrap_or_default(),
            };
            let listed = invoices.list_invoices(client.request(request)?).await?.into_inner();
            json!({ "invoices": messages(&listed.invoices), "next_page_token": listed.next_page_token })
        }
        InvoicesCommand::Post { id, retry } => {
            let request = PostInvoiceRequest { id, request_id: retry.request_id() };
            message(&invoices.post_invoice(client.request(request)?).await?.into_inner().invoice.unwrap_or_default())
        }
        InvoicesCommand::Void { id, reason, retry } => {
            let request = VoidInvoiceRequest { id, reason, request_id: retry.request_id() };
            message(&invoices.void_invoice(client.request(request)?).await?.into_inner().invoice.unwrap_or_default())
        }
    })
}

pub async fn payments(client: &Client, command: PaymentsCommand) -> Result<Value, Failure> {
    let mut payments = PaymentServiceClient::new(client.channel()?);
    Ok(match command {
        PaymentsCommand::Record { account, amount, currency, invoice, request_id } => {
            let payment = Payment {
                account_id: account,
                amount: Some(Money { currency_code: currency, amount }),
                ..Payment::default()
            };
            let started = std::time::SystemTime::now();
            let request = RecordPaymentRequest { payment: Some(payment), invoice_id: invoice, request_id };
            let payment = payments.record_payment(client.request(request)?).await?.into_inner().payment;
            let payment = payment.unwrap_or_default();
            note_replay("payment", payment.create_time.as_ref(), started);
            message(&payment)
        }
        PaymentsCommand::Balance { account } => {
            let request = GetAccountBalanceRequest { account_id: account };
            message(&payments.get_account_balance(client.request(request)?).await?.into_inner())
        }
    })
}
