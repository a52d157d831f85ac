//! Charges become invoices: subscription periods are charged, open charges
//! are grouped by who pays (one invoice per bill-to account and currency,
//! one per sub-account with separate invoices), and drafts are posted.
//! GenerateInvoices does it for one account, a billing run batch by batch.

use std::collections::HashMap;

use bss_platform::client;
use bss_platform::money::{Currency, decimal_to_wire, money_to_wire};
use bss_platform::peers::PEER_TIMEOUT;
use bss_platform::time::{format_date, now};
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::{InvoicePosted, OrderAmount, SubscriptionPeriodCharged, SubscriptionRenewed};
use bss_proto::pricing::quote_service_client::QuoteServiceClient;
use bss_proto::pricing::{QuoteBatchRequest, QuoteBatchResult, QuoteLineRequest, QuoteRequest};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::app::{Billing, collections, priced_amount, publish_all, rule_name, unreadable, upstream, wallets};
use crate::domain::error::BillingError;
use crate::domain::invoice;
use crate::domain::order::{Charge, PricedBy};
use crate::domain::subscription::{DuePeriod, PeriodKey, PeriodPrice};
use crate::overdue::ACTOR;
use crate::repo::{self, InvoiceRow, LineRow};

/// Whose charges are invoiced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// What is billed to the accounts (a billing run).
    BilledTo,
    /// What is billed to the accounts or was bought by them
    /// (GenerateInvoices: a funded member's or managed copy's charges go to
    /// its parent or tenant reseller).
    BilledToOrBought,
}

impl Billing {
    /// Drafts the invoices of what the accounts owe (`scope`) up to `date`,
    /// in the caller's transaction: the subscription periods started by
    /// then are charged first, each priced by pricing on its first day.
    pub async fn draft(
        &self,
        tx: &mut PgConnection,
        tenant_id: Uuid,
        accounts: &[Uuid],
        scope: Scope,
        date: NaiveDate,
    ) -> Result<Vec<(InvoiceRow, Vec<LineRow>)>, BillingError> {
        let bought = scope == Scope::BilledToOrBought;
        self.charge_subscriptions(tx, tenant_id, accounts, bought, date).await?;
        draft_open(tx, tenant_id, accounts, bought, date).await
    }

    /// Charges the periods of the subscriptions billed to the accounts (or,
    /// when `bought`, bought by them) that started by `date`, each once:
    /// the first as activated, every later one at pricing's price on its
    /// first day (the previous price, with pricing's reason, when pricing
    /// refuses to price it); then the usage of metered periods that ended
    /// ([`Billing::charge_usage`]). Answers how many periods it charged.
    pub(crate) async fn charge_subscriptions(
        &self,
        tx: &mut PgConnection,
        tenant_id: Uuid,
        accounts: &[Uuid],
        bought: bool,
        date: NaiveDate,
    ) -> Result<usize, BillingError> {
        // A change scheduled for a period's start applies once the periods
        // before it are charged: before charging (in advance, the period
        // starting that day is next) and after (in arrears, the period
        // before is billed that day, at the old terms).
        let mut applied = repo::changes::apply_ready(tx, tenant_id, (accounts, bought), date).await?;
        let mut charged = 0;
        loop {
            let releases = super::changes::applied_releases(tx, tenant_id, &applied).await?;
            if !releases.is_empty() {
                publish_all(tx, tenant_id, ACTOR, releases).await?;
            }
            let now_charged = self.charge_due_periods(tx, tenant_id, accounts, bought, date).await?;
            charged += now_charged;
            if now_charged == 0 {
                break;
            }
            applied = repo::changes::apply_ready(tx, tenant_id, (accounts, bought), date).await?;
            if applied.is_empty() {
                break;
            }
        }
        // Usage is billed in arrears, once its periods end.
        Ok(charged + self.charge_usage(tx, tenant_id, (accounts, bought), date).await?)
    }

    /// Charges the due periods (see [`Billing::charge_subscriptions`]) up to
    /// a scheduled change's day.
    async fn charge_due_periods(
        &self,
        tx: &mut PgConnection,
        tenant_id: Uuid,
        accounts: &[Uuid],
        bought: bool,
        date: NaiveDate,
    ) -> Result<usize, BillingError> {
        // Priced before anything is locked: no subscription row waits on
        // pricing. What became due between this read and the lock is priced
        // under the lock (rare).
        let seen = repo::charges::due_periods(tx, tenant_id, accounts, bought, (date, false)).await?;
        if seen.is_empty() {
            return Ok(0);
        }
        let mut prices = self.quote_periods(tenant_id, &seen.iter().collect::<Vec<_>>()).await?;
        let due = repo::charges::due_periods(tx, tenant_id, accounts, bought, (date, true)).await?;
        let unpriced: Vec<&DuePeriod> =
            due.iter().filter(|period| period.index > 0 && !prices.contains_key(&period.key())).collect();
        if !unpriced.is_empty() {
            prices.extend(self.quote_periods(tenant_id, &unpriced).await?);
        }
        // Each period after another of the same batch follows it: a price
        // kept is the previous period's, not the one from before the batch.
        // Kept, as stored, is a whole period's price: a part period is
        // charged its share of it.
        let mut previous: HashMap<Uuid, (Decimal, Decimal)> = HashMap::new();
        let mut charges = Vec::with_capacity(due.len());
        let mut prices_kept = Vec::with_capacity(due.len());
        for period in &due {
            let price = match period.index {
                0 => PeriodPrice::AsActivated,
                _ => prices.remove(&period.key()).unwrap_or(PeriodPrice::AsActivated),
            };
            let period = match previous.get(&period.subscription_id) {
                Some((unit_price, total)) => DuePeriod { unit_price: *unit_price, total: *total, ..period.clone() },
                None => period.clone(),
            };
            let (unit_price, total, _) = period.priced(price.clone());
            previous.insert(period.subscription_id, (unit_price, total));
            prices_kept.push(total);
            charges.push(period.charge(price));
        }
        let billed: Vec<Charge> =
            charges.iter().filter(|charge| charge.covers.is_none_or(|covers| covers.bills_a_line())).cloned().collect();
        repo::insert_charges(tx, tenant_id, &billed).await?;
        let charged: Vec<(&DuePeriod, &Charge, Decimal)> = due
            .iter()
            .zip(&charges)
            .zip(prices_kept)
            .map(|((period, charge), total)| (period, charge, total))
            .collect();
        repo::charges::mark_charged(tx, tenant_id, &charged).await?;
        // Credit reserves each later period on its payer until its invoice
        // captures it (the first was reserved at activation).
        let mut reserved = Vec::new();
        for (period, charge) in due.iter().zip(&charges) {
            if period.reserved_when_charged(charge) {
                let currency = Currency::parse(&charge.currency).map_err(|cause| unreadable("billing", cause))?;
                reserved.push(Payload::SubscriptionPeriodCharged(SubscriptionPeriodCharged {
                    subscription_id: period.subscription_id.to_string(),
                    account_id: charge.account_id.to_string(),
                    payer_account_id: charge.bill_to_account_id.to_string(),
                    reference: charge.order_reference.clone().unwrap_or_default(),
                    amount: Some(money_to_wire(charge.total, currency)),
                    period_start: format_date(period.start),
                }));
            }
        }
        // The first period of each renewed term announces the renewal.
        for (period, charge) in due.iter().zip(&charges) {
            if let Some((term, ends)) = period.renews {
                reserved.push(Payload::SubscriptionRenewed(SubscriptionRenewed {
                    subscription_id: period.subscription_id.to_string(),
                    account_id: charge.account_id.to_string(),
                    term: i32::try_from(term).unwrap_or(i32::MAX),
                    term_start_date: format_date(period.start),
                    term_end_date: format_date(ends),
                }));
            }
        }
        if !reserved.is_empty() {
            publish_all(tx, tenant_id, ACTOR, reserved).await?;
        }
        Ok(charges.len())
    }

    /// Pricing's price of each later period on its first day, by
    /// (subscription, period), asked in batches of [`QUOTES_PER_CALL`].
    async fn quote_periods(
        &self,
        tenant_id: Uuid,
        periods: &[&DuePeriod],
    ) -> Result<HashMap<PeriodKey, PeriodPrice>, BillingError> {
        let later: Vec<&DuePeriod> = periods.iter().copied().filter(|period| period.index > 0).collect();
        let mut prices = HashMap::with_capacity(later.len());
        if later.is_empty() {
            return Ok(prices);
        }
        let quotes = later
            .iter()
            .map(|period| QuoteRequest {
                account_id: period.account_id.to_string(),
                currency_code: period.currency.clone(),
                date: format_date(period.start),
                lines: vec![QuoteLineRequest {
                    product: period.product_id.clone(),
                    quantity: Some(decimal_to_wire(period.quantity)),
                    ..QuoteLineRequest::default()
                }],
                ..QuoteRequest::default()
            })
            .collect();
        for (period, result) in later.iter().zip(self.quote_batches(tenant_id, quotes).await?) {
            prices.insert(period.key(), period_price(result)?);
        }
        Ok(prices)
    }

    /// Pricing's answer to each quote (priced, or refused with its
    /// reason), asked as billing in batches of [`QUOTES_PER_CALL`].
    pub(crate) async fn quote_batches(
        &self,
        tenant_id: Uuid,
        mut quotes: Vec<QuoteRequest>,
    ) -> Result<Vec<QuoteBatchResult>, BillingError> {
        let mut results = Vec::with_capacity(quotes.len());
        if quotes.is_empty() {
            return Ok(results);
        }
        let service = self.as_service(tenant_id)?;
        let channel = self.peer("pricing", &self.peers.pricing)?;
        while !quotes.is_empty() {
            let rest = quotes.split_off(quotes.len().min(QUOTES_PER_CALL));
            let asked = quotes.len();
            let answer = QuoteServiceClient::new(channel.clone())
                .quote_batch(client::request(QuoteBatchRequest { quotes }, &service, PEER_TIMEOUT))
                .await
                .map_err(upstream("pricing"))?
                .into_inner();
            if answer.results.len() != asked {
                return Err(unreadable("pricing", format!("{} quotes for {asked}", answer.results.len())));
            }
            results.extend(answer.results);
            quotes = rest;
        }
        Ok(results)
    }
}

/// Most subscription periods priced per call to pricing.
const QUOTES_PER_CALL: usize = 500;

/// A batch quote's answer for one period: its one line's price and rule,
/// or pricing's refusal.
fn period_price(result: QuoteBatchResult) -> Result<PeriodPrice, BillingError> {
    let Some(quote) = result.quote else {
        return Ok(PeriodPrice::Refused { reason: refusal(&result) });
    };
    let line = quote.lines.first().ok_or_else(|| unreadable("pricing", "a quote without its line"))?;
    Ok(PeriodPrice::Quoted {
        unit_price: priced_amount(&line.unit_price)?,
        total: priced_amount(&line.total)?,
        rule: rule_name(line.rule),
        source_id: line.source_id.clone(),
    })
}

/// Why pricing refused a quote of a batch: its reason, with its message.
pub(crate) fn refusal(result: &QuoteBatchResult) -> String {
    match result.error_message.as_str() {
        "" => result.error_reason.clone(),
        message => format!("{}: {message}", result.error_reason),
    }
}

/// Drafts the invoices of the open charges billed to the accounts (or,
/// when `bought`, bought by them) up to `date`.
async fn draft_open(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    accounts: &[Uuid],
    bought: bool,
    date: NaiveDate,
) -> Result<Vec<(InvoiceRow, Vec<LineRow>)>, BillingError> {
    let charges = repo::charges::open(tx, tenant_id, accounts, bought, date).await?;
    let created_at = now();
    let drafts = invoice::group(charges);
    let mut invoices = Vec::with_capacity(drafts.len());
    let mut invoiced: (Vec<Uuid>, Vec<Uuid>) = (Vec::new(), Vec::new());
    for draft in drafts {
        let id = Uuid::now_v7();
        let lines: Vec<LineRow> = draft
            .charges
            .iter()
            .map(|charge| LineRow {
                product_id: Some(charge.product_id.clone()),
                description: charge.description.clone(),
                quantity: charge.quantity,
                unit_price: charge.unit_price,
                total: charge.total,
                credited: Decimal::ZERO,
                priced_by: PricedBy {
                    rule: charge.price_rule.clone(),
                    source_id: charge.price_source_id.clone(),
                    on: charge.priced_on,
                    note: charge.price_note.clone(),
                    tiers: charge.tiers.clone().map(|tiers| tiers.0).unwrap_or_default(),
                },
            })
            .collect();
        invoiced.0.extend(draft.charges.iter().map(|charge| charge.id));
        invoiced.1.extend(draft.charges.iter().map(|_| id));
        let row = InvoiceRow {
            id,
            account_id: draft.bill_to,
            for_account_id: draft.for_account,
            total: draft.total(),
            order_references: draft.order_references(),
            currency: draft.currency,
            number: None,
            status: "DRAFT".to_owned(),
            invoice_date: date,
            delivery_date: None,
            due_date: None,
            settled: Decimal::ZERO,
            created_at,
            posted_at: None,
            void_reason: None,
            billing_address: None,
            collection: None,
        };
        invoices.push((row, lines));
    }
    if invoices.is_empty() {
        return Ok(invoices);
    }
    repo::insert_invoices(tx, tenant_id, &invoices).await?;
    repo::charges::assign(tx, tenant_id, (&invoiced.0, &invoiced.1)).await?;
    let ids: Vec<Uuid> = invoices.iter().map(|(row, _)| row.id).collect();
    for (id, address) in repo::charges::address_invoices(tx, tenant_id, &ids).await? {
        if let Some((row, _)) = invoices.iter_mut().find(|(row, _)| row.id == id) {
            row.billing_address = Some(address);
        }
    }
    Ok(invoices)
}

/// Posts drafts (id, due date) in order and publishes each as
/// InvoicePosted, with what it bills of each order (credit captures that
/// much of the order's reservation), in the caller's transaction.
pub async fn post(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    drafts: &[(Uuid, NaiveDate)],
) -> Result<Vec<InvoiceRow>, BillingError> {
    let mut posted = repo::post_invoices(tx, tenant_id, drafts).await?;
    let ids: Vec<Uuid> = posted.iter().map(|row| row.id).collect();
    let billed = repo::charges::billed_per_order(tx, tenant_id, &ids).await?;
    let mut events = Vec::with_capacity(posted.len());
    for row in &posted {
        let currency = row.currency()?;
        let order_amounts = billed
            .iter()
            // Zero amounts too: credit captures nothing for them, rather
            // than the whole reservation of a reference it was not told
            // an amount for.
            .filter(|(invoice_id, _, _)| *invoice_id == row.id)
            .map(|(_, reference, amount)| OrderAmount {
                reference: reference.clone(),
                amount: Some(money_to_wire(currency.round(*amount), currency)),
            })
            .collect();
        events.push(Payload::InvoicePosted(InvoicePosted {
            invoice_id: row.id.to_string(),
            account_id: row.account_id.to_string(),
            amount: Some(money_to_wire(currency.round(row.total), currency)),
            due_date: row.due_date.map(format_date).unwrap_or_default(),
            order_references: row.order_references.clone(),
            order_amounts,
        }));
    }
    publish_all(tx, tenant_id, actor, events).await?;
    // What credit captures of a subscription's usage reservation.
    let usage: Vec<(Uuid, Decimal)> = billed
        .iter()
        .filter_map(|(_, reference, amount)| Some((crate::domain::usage::usage_of(reference)?, *amount)))
        .collect();
    if !usage.is_empty() {
        repo::usage::captured(tx, tenant_id, &usage).await?;
    }
    // Paid from wallets opted in for subscriptions first (after the events
    // of the invoices they pay); what is left is collected with the
    // account's saved method.
    wallets::pay_posted(tx, tenant_id, actor, &mut posted).await?;
    collections::queue(tx, tenant_id, &mut posted).await?;
    Ok(posted)
}
