//! Billing's own terms to and from its contract (`bss.billing.v1`) and the
//! messages of the peers it reads: the one place that knows both, used by
//! `grpc/` for answers and by `app/` for the events it publishes.

use bss_platform::money::{Currency, decimal_to_wire, money_to_wire, parse_decimal};
use bss_platform::payment::PaymentType;
use bss_platform::time::{format_date, parse_date, timestamp};
use bss_proto::accounts::{Account, AccountStatus};
use bss_proto::billing::{self as wire, billing_event};
use bss_proto::credit::{CreditAction, DecisionReason};
use chrono::{DateTime, Utc};
use prost::Message;
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::domain::asset::{Asset, AssetEvent, AssetStatus, EventKind};
use crate::domain::change::{ChangeKind, ChangeStatus, SubscriptionChange, Terms};
use crate::domain::collection::{Collection, CollectionStatus};
use crate::domain::cycle::{AnchorDay, Cycle, Timing};
use crate::domain::location::{AccountAddress, AddressPurpose, Location, LocationKind, OrderAddress};
use crate::domain::order::{CreditReason, Line, Order, OrderState, Orderer, Payer, PaymentStatus, PricedBy, Standing};
use crate::domain::period::{Frequency, Period, PeriodSettings, Posting};
use crate::domain::rebate::Rebate;
use crate::domain::settings::BankDetails;
use crate::domain::settle::Receipt;
use crate::domain::subscription::{Subscription, SubscriptionState};
use crate::domain::usage::{Aggregation, Rating, UsageTier};
use crate::domain::wallet::{Movement, Wallet, WalletTransaction};

/// An amount on the wire at its currency's minor unit, half away from zero
/// ("10.5" EUR is "10.50").
pub fn money_in(amount: Decimal, currency: Currency) -> bss_proto::types::Money {
    money_to_wire(currency.round(amount), currency)
}

/// The aging of one currency's receivables on the wire.
pub fn aging(aging: &crate::domain::receivables::Aging, currency: Currency) -> wire::ReceivablesAging {
    let money = |amount| Some(money_in(amount, currency));
    wire::ReceivablesAging {
        currency_code: currency.code.to_owned(),
        current: money(aging.current),
        days_1_to_30: money(aging.days_1_to_30),
        days_31_to_60: money(aging.days_31_to_60),
        days_61_to_90: money(aging.days_61_to_90),
        over_90_days: money(aging.over_90_days),
        total: money(aging.total()),
        open_invoices: aging.open_invoices,
    }
}

/// A payment on the wire.
pub fn payment(receipt: &Receipt) -> wire::Payment {
    wire::Payment {
        id: receipt.id.to_string(),
        account_id: receipt.account_id.to_string(),
        amount: Some(money_in(receipt.amount, receipt.currency)),
        allocations: allocations(receipt),
        unallocated: Some(money_in(receipt.unallocated, receipt.currency)),
        create_time: Some(timestamp(receipt.created_at)),
    }
}

/// A credit note, write-off or refund on the wire.
pub fn adjustment(receipt: &Receipt) -> wire::Adjustment {
    wire::Adjustment {
        id: receipt.id.to_string(),
        account_id: receipt.account_id.to_string(),
        amount: Some(money_in(receipt.amount, receipt.currency)),
        reason: receipt.reason.clone(),
        allocations: allocations(receipt),
        unallocated: Some(money_in(receipt.unallocated, receipt.currency)),
        create_time: Some(timestamp(receipt.created_at)),
    }
}

fn allocations(receipt: &Receipt) -> Vec<wire::Allocation> {
    receipt
        .allocations
        .iter()
        .map(|allocation| wire::Allocation {
            invoice_id: allocation.invoice_id.to_string(),
            invoice_number: allocation.invoice_number,
            amount: Some(money_in(allocation.amount, receipt.currency)),
            settled: allocation.settled,
        })
        .collect()
}

/// An accounting period on the wire.
pub fn period(period: &Period) -> wire::AccountingPeriod {
    wire::AccountingPeriod {
        id: period.id.to_string(),
        start_date: format_date(period.start),
        end_date: format_date(period.end),
        status: if period.is_open() { wire::PeriodStatus::Open } else { wire::PeriodStatus::Closed } as i32,
        close_time: period.closed_at.map(timestamp),
    }
}

/// Period settings on the wire.
pub fn period_settings(settings: &PeriodSettings, created_at: DateTime<Utc>) -> wire::PeriodSettings {
    let frequency = match settings.frequency {
        Frequency::Monthly => wire::PeriodFrequency::Monthly,
        Frequency::Yearly => wire::PeriodFrequency::Yearly,
    };
    wire::PeriodSettings {
        frequency: frequency as i32,
        first_period_start: format_date(settings.first_start),
        create_time: Some(timestamp(created_at)),
    }
}

/// The frequency a wire value names.
pub fn frequency(value: i32) -> Option<Frequency> {
    match wire::PeriodFrequency::try_from(value) {
        Ok(wire::PeriodFrequency::Monthly) => Some(Frequency::Monthly),
        Ok(wire::PeriodFrequency::Yearly) => Some(Frequency::Yearly),
        _ => None,
    }
}

/// The wire kind of a posting.
pub fn transaction_kind(posting: Posting) -> wire::TransactionKind {
    match posting {
        Posting::Invoice => wire::TransactionKind::Invoice,
        Posting::Payment => wire::TransactionKind::Payment,
        Posting::CreditNote => wire::TransactionKind::CreditNote,
        Posting::Refund => wire::TransactionKind::Refund,
        Posting::WriteOff => wire::TransactionKind::WriteOff,
    }
}

/// The posting a wire kind names (`None`: any; `Err`: not a kind).
pub fn posting(value: i32) -> Result<Option<Posting>, String> {
    match wire::TransactionKind::try_from(value) {
        Ok(wire::TransactionKind::Unspecified) => Ok(None),
        Ok(kind) => Ok(Posting::ALL.into_iter().find(|posting| transaction_kind(*posting) == kind)),
        Err(_) => Err(format!("{value} is not a transaction kind")),
    }
}

/// A transaction of the account enquiry: amounts signed by what they do
/// to the balance (an invoice owes, a payment pays).
pub fn transaction(transaction: &crate::repo::ledger::Transaction) -> wire::Transaction {
    let currency = transaction.currency;
    let signed = |amount: Decimal| money_in(transaction.posting.owed(amount), currency);
    wire::Transaction {
        id: transaction.id.to_string(),
        kind: transaction_kind(transaction.posting) as i32,
        post_time: transaction.post_time.map(timestamp),
        invoice_number: transaction.number.unwrap_or(0),
        amount: Some(signed(transaction.amount)),
        open_amount: Some(signed(transaction.open_amount)),
        period_id: transaction.period_id.map(|id| id.to_string()).unwrap_or_default(),
    }
}

/// A rebate issued, on the wire.
pub fn rebate(rebate: &Rebate) -> wire::Rebate {
    wire::Rebate {
        account_id: rebate.account_id.to_string(),
        term_id: rebate.term_id.to_string(),
        period_start: format_date(rebate.period_start),
        period_end: format_date(rebate.period_end),
        turnover: Some(money_to_wire(rebate.turnover, rebate.currency)),
        rebate: Some(money_to_wire(rebate.rebate, rebate.currency)),
        credit_note_id: rebate.credit_note_id.map(|id| id.to_string()).unwrap_or_default(),
    }
}

/// The wire status of a state.
pub fn order_status(state: OrderState) -> wire::OrderStatus {
    match state {
        OrderState::Executed => wire::OrderStatus::Executed,
        OrderState::HeldForApproval => wire::OrderStatus::HeldForApproval,
        OrderState::Rejected => wire::OrderStatus::Rejected,
        OrderState::RunningQuote => wire::OrderStatus::RunningQuote,
        OrderState::Cancelled => wire::OrderStatus::Cancelled,
    }
}

fn state_of(status: wire::OrderStatus) -> Option<OrderState> {
    OrderState::ALL.into_iter().find(|state| order_status(*state) == status)
}

pub fn money(amount: Decimal, currency: &str) -> Option<bss_proto::types::Money> {
    Some(match Currency::parse(currency) {
        Ok(currency) => money_to_wire(amount, currency),
        Err(_) => bss_proto::types::Money { currency_code: currency.to_owned(), amount: amount.to_string() },
    })
}

/// Bank details as the contract shows them.
pub fn bank_details(details: &BankDetails) -> wire::BankDetails {
    wire::BankDetails {
        account_name: details.account_name.clone(),
        bank_name: details.bank_name.clone(),
        account_number: details.account_number.clone(),
        routing_code: details.routing_code.clone(),
        iban: details.iban.clone(),
        bic: details.bic.clone(),
        instructions: details.instructions.clone(),
    }
}

/// Bank details as a request gives them (not checked yet).
pub fn bank_details_from_wire(details: &wire::BankDetails) -> BankDetails {
    BankDetails {
        account_name: details.account_name.clone(),
        bank_name: details.bank_name.clone(),
        account_number: details.account_number.clone(),
        routing_code: details.routing_code.clone(),
        iban: details.iban.clone(),
        bic: details.bic.clone(),
        instructions: details.instructions.clone(),
    }
}

/// An order as the contract shows it.
pub fn order(order: &Order) -> wire::Order {
    let currency = order.currency.as_str();
    wire::Order {
        id: order.id.to_string(),
        account_id: order.account_id.to_string(),
        reference: order.reference.clone(),
        lines: order
            .lines
            .iter()
            .map(|line| wire::OrderLine {
                product: line.product.clone(),
                quantity: Some(decimal_to_wire(line.quantity)),
                unit_price: money(line.unit_price, currency),
                total: money(line.total, currency),
                available_quantity: line.available.map(decimal_to_wire),
                backordered_quantity: line.backordered.map(decimal_to_wire),
                cancelled_quantity: line.cancelled.map(decimal_to_wire),
                surcharge: line.surcharge,
                refunded: line.refunded.and_then(|refunded| money(refunded, currency)),
            })
            .collect(),
        payment_type: order.payment_type.to_wire() as i32,
        delivery_date: order.delivery_date.map(format_date).unwrap_or_default(),
        placed_by: order.placed_by.clone(),
        status: order_status(order.state) as i32,
        total: money(order.total, currency),
        reasons: order.reasons.iter().map(reason).collect(),
        reservation_id: order.reservation_id.map(|id| id.to_string()).unwrap_or_default(),
        held_order_id: order.held_order_id.map(|id| id.to_string()).unwrap_or_default(),
        create_time: Some(timestamp(order.created_at)),
        payers: order.payers.iter().map(|payer| order_payer(payer, currency)).collect(),
        payment_instructions: order.payment_instructions.as_ref().map(|told| wire::PaymentInstructions {
            bank_details: told.bank_details.as_ref().map(bank_details),
            amount: money(told.amount, currency),
            reference: told.reference.clone(),
        }),
        payment: order.payment.as_ref().map(|payment| wire::OrderPayment {
            status: match payment.status {
                PaymentStatus::Captured => wire::OrderPaymentStatus::Captured,
                PaymentStatus::Declined => wire::OrderPaymentStatus::Declined,
                PaymentStatus::Refunded => wire::OrderPaymentStatus::Refunded,
            } as i32,
            amount: money(payment.amount, currency),
            authorization_id: payment.authorization_id.clone(),
            capture_id: payment.capture_id.clone(),
            refund_id: payment.refund_id.clone(),
            decline_reason: payment.decline_reason.clone(),
            from_wallet: payment.from_wallet,
            refunded: money(payment.refunded, currency),
        }),
        cancel_reason: order.cancel_reason.clone(),
        cancel_time: order.cancelled_at.map(timestamp),
        location_id: order.location_id.map(|id| id.to_string()).unwrap_or_default(),
        billing_address_id: order.billing_address.as_ref().map(|a| a.address_id.clone()).unwrap_or_default(),
        delivery_address_id: order.delivery_address.as_ref().map(|a| a.address_id.clone()).unwrap_or_default(),
        billing_address: order.billing_address.as_ref().map(order_address),
        delivery_address: order.delivery_address.as_ref().map(order_address),
        payment_method_id: order.payment_method_id.clone().unwrap_or_default(),
    }
}

/// One of an account's addresses (accounts' message), as an order chooses
/// among them.
pub fn account_address(address: &bss_proto::accounts::Address) -> AccountAddress {
    use bss_proto::accounts::AddressType;
    AccountAddress {
        address: OrderAddress {
            address_id: address.id.clone(),
            lines: address.lines.clone(),
            city: address.city.clone(),
            region: address.region.clone(),
            postal_code: address.postal_code.clone(),
            country_code: address.country_code.clone(),
        },
        purpose: match AddressType::try_from(address.r#type) {
            Ok(AddressType::Billing) => AddressPurpose::Billing,
            Ok(AddressType::Delivery) => AddressPurpose::Delivery,
            _ => AddressPurpose::Other,
        },
        primary: address.is_primary,
    }
}

/// An address an order or invoice carries, as the contract shows it.
pub fn order_address(address: &OrderAddress) -> wire::OrderAddress {
    wire::OrderAddress {
        address_id: address.address_id.clone(),
        lines: address.lines.clone(),
        city: address.city.clone(),
        region: address.region.clone(),
        postal_code: address.postal_code.clone(),
        country_code: address.country_code.clone(),
    }
}

/// An invoice's automatic collection as the contract shows it (never
/// the method's token), its amount in `currency`.
pub fn collection(collection: &Collection, currency: Currency) -> wire::InvoiceCollection {
    wire::InvoiceCollection {
        status: match collection.status {
            CollectionStatus::Pending => wire::InvoiceCollectionStatus::Pending,
            CollectionStatus::Collected => wire::InvoiceCollectionStatus::Collected,
            CollectionStatus::Failed => wire::InvoiceCollectionStatus::Failed,
            CollectionStatus::NotNeeded => wire::InvoiceCollectionStatus::NotNeeded,
        } as i32,
        payment_method_id: collection.method_id.clone(),
        payment_method_label: collection.label.clone(),
        amount: Some(money_in(collection.amount, currency)),
        attempts: i32::try_from(collection.attempts).unwrap_or(i32::MAX),
        payment_id: collection.payment_id.map(|id| id.to_string()).unwrap_or_default(),
        decline_reason: collection.decline_reason.clone(),
        update_time: Some(timestamp(collection.updated_at)),
    }
}

/// A location as the contract shows it.
pub fn location(location: &Location) -> wire::Location {
    wire::Location {
        id: location.id.to_string(),
        code: location.code.clone(),
        name: location.name.clone(),
        kind: match location.kind {
            LocationKind::Physical => wire::LocationKind::Physical,
            LocationKind::Logical => wire::LocationKind::Logical,
        } as i32,
        surcharge: location.surcharge.as_ref().and_then(|(amount, currency)| money(*amount, currency)),
        create_time: Some(timestamp(location.created_at)),
    }
}

/// A payer as the contract shows it, its amount in `currency`.
pub fn order_payer(payer: &Payer, currency: &str) -> wire::OrderPayer {
    wire::OrderPayer {
        account_id: payer.account_id.to_string(),
        amount: money(payer.amount, currency),
        reservation_id: payer.reservation_id.map(|id| id.to_string()).unwrap_or_default(),
    }
}

/// The wire status of a subscription's state.
pub fn subscription_status(state: SubscriptionState) -> wire::SubscriptionStatus {
    match state {
        SubscriptionState::Active => wire::SubscriptionStatus::Active,
        SubscriptionState::Cancelled => wire::SubscriptionStatus::Cancelled,
        SubscriptionState::PendingApproval => wire::SubscriptionStatus::PendingApproval,
        SubscriptionState::Rejected => wire::SubscriptionStatus::Rejected,
        SubscriptionState::Paused => wire::SubscriptionStatus::Paused,
    }
}

/// A billing cycle on the wire: UNSPECIFIED is monthly.
pub fn billing_cycle(value: i32) -> Result<Cycle, String> {
    match wire::BillingCycle::try_from(value) {
        Ok(wire::BillingCycle::Unspecified | wire::BillingCycle::Monthly) => Ok(Cycle::Monthly),
        Ok(wire::BillingCycle::Quarterly) => Ok(Cycle::Quarterly),
        Ok(wire::BillingCycle::HalfYearly) => Ok(Cycle::HalfYearly),
        Ok(wire::BillingCycle::Yearly) => Ok(Cycle::Yearly),
        Err(_) => Err(format!("{value} is not a billing cycle")),
    }
}

pub fn billing_cycle_to_wire(cycle: Cycle) -> wire::BillingCycle {
    match cycle {
        Cycle::Monthly => wire::BillingCycle::Monthly,
        Cycle::Quarterly => wire::BillingCycle::Quarterly,
        Cycle::HalfYearly => wire::BillingCycle::HalfYearly,
        Cycle::Yearly => wire::BillingCycle::Yearly,
    }
}

/// A billing timing on the wire: UNSPECIFIED is in advance.
pub fn billing_timing(value: i32) -> Result<Timing, String> {
    match wire::BillingTiming::try_from(value) {
        Ok(wire::BillingTiming::Unspecified | wire::BillingTiming::InAdvance) => Ok(Timing::Advance),
        Ok(wire::BillingTiming::InArrears) => Ok(Timing::Arrears),
        Err(_) => Err(format!("{value} is not a billing timing")),
    }
}

/// A subscription as the contract shows it, with the period running today.
pub fn subscription(subscription: &Subscription) -> wire::Subscription {
    let currency = subscription.currency.as_str();
    let current = subscription.current_period(bss_platform::time::now().date_naive());
    wire::Subscription {
        id: subscription.id.to_string(),
        account_id: subscription.account_id.to_string(),
        product: subscription.product.clone(),
        quantity: Some(decimal_to_wire(subscription.quantity)),
        payment_type: subscription.payment_type.to_wire() as i32,
        unit_price: money(subscription.unit_price, currency),
        paid: subscription.paid,
        create_time: Some(timestamp(subscription.created_at)),
        status: subscription_status(subscription.state) as i32,
        cancel_date: subscription.cancel_date.map(format_date).unwrap_or_default(),
        reasons: subscription.reasons.iter().map(reason).collect(),
        payers: subscription.payers.iter().map(|payer| order_payer(payer, currency)).collect(),
        reference: subscription.reference.clone(),
        held_order_id: subscription.held_order_id.map(|id| id.to_string()).unwrap_or_default(),
        billing_cycle: billing_cycle_to_wire(subscription.cycle) as i32,
        billing_anchor_day: subscription
            .anchor
            .or(subscription.start_date.map(AnchorDay::of))
            .map_or(0, |anchor| anchor.day() as i32),
        billing_timing: match subscription.timing {
            Timing::Advance => wire::BillingTiming::InAdvance,
            Timing::Arrears => wire::BillingTiming::InArrears,
        } as i32,
        current_period_start: current.map(|span| format_date(span.start)).unwrap_or_default(),
        current_period_end: current.map(|span| format_date(span.end)).unwrap_or_default(),
        start_date: subscription
            .trial_span()
            .map(|(first, _)| first)
            .or(subscription.start_date)
            .map(format_date)
            .unwrap_or_default(),
        trial_days: subscription.trial.map_or(0, |trial| trial.days as i32),
        trial_price: subscription.trial.and_then(|trial| trial.price).map(decimal_to_wire),
        trial_end_date: subscription.trial_span().map(|(_, end)| format_date(end)).unwrap_or_default(),
        term_periods: subscription.term.map_or(0, |term| term.periods as i32),
        auto_renew: subscription.term.is_some_and(|term| term.auto_renew),
        term_end_date: subscription
            .term_end(bss_platform::time::now().date_naive())
            .map(format_date)
            .unwrap_or_default(),
        paused_date: subscription
            .paused_on
            .filter(|_| subscription.state == SubscriptionState::Paused)
            .map(format_date)
            .unwrap_or_default(),
        metered: subscription
            .metered
            .iter()
            .map(|metered| wire::MeteredMetric {
                metric: metered.metric.clone(),
                aggregation: usage_aggregation_to_wire(metered.aggregation) as i32,
                product: metered.product.clone(),
                rating: rating_to_wire(metered.rating) as i32,
            })
            .collect(),
    }
}

/// A usage aggregation on the wire.
pub fn usage_aggregation_to_wire(aggregation: Aggregation) -> wire::UsageAggregation {
    match aggregation {
        Aggregation::Sum => wire::UsageAggregation::Sum,
        Aggregation::Count => wire::UsageAggregation::Count,
        Aggregation::Max => wire::UsageAggregation::Max,
        Aggregation::UniqueCount => wire::UsageAggregation::UniqueCount,
        Aggregation::Last => wire::UsageAggregation::Last,
    }
}

/// A usage rating on the wire (pricing's).
pub fn rating_to_wire(rating: Rating) -> bss_proto::pricing::Rating {
    match rating {
        Rating::Volume => bss_proto::pricing::Rating::Volume,
        Rating::Graduated => bss_proto::pricing::Rating::Graduated,
    }
}

/// A usage rating from the wire: UNSPECIFIED is GRADUATED.
pub fn rating(value: i32) -> Result<Rating, String> {
    match bss_proto::pricing::Rating::try_from(value) {
        Ok(bss_proto::pricing::Rating::Volume) => Ok(Rating::Volume),
        Ok(bss_proto::pricing::Rating::Graduated | bss_proto::pricing::Rating::Unspecified) => Ok(Rating::Graduated),
        Err(_) => Err("is VOLUME or GRADUATED".to_owned()),
    }
}

/// A rated tier on the wire.
pub fn tier_to_wire(tier: &UsageTier, currency: &str) -> bss_proto::pricing::RatedTier {
    bss_proto::pricing::RatedTier {
        from: Some(decimal_to_wire(tier.from)),
        to: tier.to.map(decimal_to_wire),
        quantity: Some(decimal_to_wire(tier.quantity)),
        unit_price: money(tier.unit_price, currency),
        amount: money(tier.amount, currency),
    }
}

/// A usage aggregation from the wire: UNSPECIFIED is none (it is required).
pub fn usage_aggregation(value: i32) -> Result<Aggregation, String> {
    Aggregation::ALL
        .into_iter()
        .find(|aggregation| usage_aggregation_to_wire(*aggregation) as i32 == value)
        .ok_or_else(|| "is required: SUM, COUNT, MAX, UNIQUE_COUNT or LAST".to_owned())
}

/// A subscription's terms on the wire.
fn subscription_terms(terms: &Terms, currency: &str) -> wire::SubscriptionTerms {
    wire::SubscriptionTerms {
        product: terms.product.clone(),
        product_id: terms.product_id.clone(),
        description: terms.description.clone(),
        quantity: Some(decimal_to_wire(terms.quantity)),
        unit_price: money(terms.unit_price, currency),
        period_price: money(terms.total, currency),
        price_rule: terms.price_rule.clone(),
    }
}

/// An entry of a subscription's history on the wire (amounts in the
/// subscription's `currency`).
pub fn subscription_change(change: &SubscriptionChange, currency: &str) -> wire::SubscriptionChange {
    wire::SubscriptionChange {
        id: change.id.to_string(),
        subscription_id: change.subscription_id.to_string(),
        kind: match change.kind {
            ChangeKind::Created => wire::SubscriptionChangeKind::Created,
            ChangeKind::Upgrade => wire::SubscriptionChangeKind::Upgrade,
            ChangeKind::Downgrade => wire::SubscriptionChangeKind::Downgrade,
            ChangeKind::Quantity => wire::SubscriptionChangeKind::Quantity,
            ChangeKind::Cancelled => wire::SubscriptionChangeKind::Cancelled,
            ChangeKind::Paused => wire::SubscriptionChangeKind::Paused,
            ChangeKind::Resumed => wire::SubscriptionChangeKind::Resumed,
        } as i32,
        status: match change.status {
            ChangeStatus::Applied => wire::SubscriptionChangeStatus::Applied,
            ChangeStatus::Scheduled => wire::SubscriptionChangeStatus::Scheduled,
            ChangeStatus::PendingApproval => wire::SubscriptionChangeStatus::PendingApproval,
            ChangeStatus::Rejected => wire::SubscriptionChangeStatus::Rejected,
            ChangeStatus::Superseded => wire::SubscriptionChangeStatus::Superseded,
        } as i32,
        at_period_end: change.at_period_end,
        effective_date: format_date(change.effective_on),
        from: change.from.as_ref().map(|terms| subscription_terms(terms, currency)),
        to: change.to.as_ref().map(|terms| subscription_terms(terms, currency)),
        credited: money(change.credited, currency),
        charged: money(change.charged, currency),
        authorized: money(change.authorized, currency),
        reference: change.reference.clone(),
        reasons: change.reasons.iter().map(reason).collect(),
        held_order_id: change.held_order_id.map(|id| id.to_string()).unwrap_or_default(),
        actor: change.actor.clone(),
        create_time: Some(timestamp(change.created_at)),
    }
}

/// Credit's reason as the contract shows it.
pub fn reason(reason: &CreditReason) -> DecisionReason {
    let action = CreditAction::from_str_name(&format!("CREDIT_ACTION_{}", reason.action.to_ascii_uppercase()));
    DecisionReason {
        code: reason.code.clone(),
        action: action.unwrap_or(CreditAction::Unspecified) as i32,
        message: reason.message.clone(),
        account_id: reason.account_id.clone(),
    }
}

/// Credit's reason in billing's terms.
pub fn credit_reason(reason: &DecisionReason) -> CreditReason {
    let action = CreditAction::try_from(reason.action).unwrap_or(CreditAction::Unspecified);
    CreditReason {
        code: reason.code.clone(),
        action: action.as_str_name().trim_start_matches("CREDIT_ACTION_").to_ascii_lowercase(),
        message: reason.message.clone(),
        account_id: reason.account_id.clone(),
    }
}

/// The event of where an order stands.
pub fn order_outcome(order: &Order) -> billing_event::Payload {
    billing_event::Payload::OrderOutcome(wire::OrderOutcome {
        order_id: order.id.to_string(),
        account_id: order.account_id.to_string(),
        reference: order.reference.clone(),
        status: order_status(order.state) as i32,
        reasons: order.reasons.iter().map(reason).collect(),
    })
}

/// What the order rules look at of an account, as accounts shows it.
pub fn orderer(account: &Account) -> Orderer {
    Orderer {
        standing: standing(account),
        managed: account.managed_by.is_some(),
        ordering_enabled: account.enable_ordering,
        payment_types: account.payment_types.iter().filter_map(|value| PaymentType::from_wire(*value).ok()).collect(),
    }
}

/// Where an account stands, as accounts shows it.
pub fn standing(account: &Account) -> Standing {
    match AccountStatus::try_from(account.status) {
        Ok(AccountStatus::Suspended) => Standing::Suspended,
        Ok(AccountStatus::Terminated) => Standing::Terminated,
        _ => Standing::Active,
    }
}

fn decimal(value: &Option<bss_proto::types::Decimal>) -> Option<Decimal> {
    value.as_ref().and_then(|value| parse_decimal(&value.value).ok())
}

fn amount(value: &Option<bss_proto::types::Money>) -> Decimal {
    value.as_ref().and_then(|money| parse_decimal(&money.amount).ok()).unwrap_or_default()
}

fn id(value: &str) -> Result<Uuid, String> {
    value.parse().map_err(|_| format!("{value:?} is not an id"))
}

fn optional_id(value: &str) -> Result<Option<Uuid>, String> {
    if value.is_empty() { Ok(None) } else { id(value).map(Some) }
}

fn time(value: &Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    value.as_ref().and_then(|time| DateTime::<Utc>::from_timestamp(time.seconds, time.nanos.max(0) as u32))
}

fn stored_payers(payers: &[wire::OrderPayer]) -> Result<Vec<Payer>, String> {
    payers
        .iter()
        .map(|payer| {
            Ok(Payer {
                account_id: id(&payer.account_id)?,
                amount: amount(&payer.amount),
                reservation_id: optional_id(&payer.reservation_id)?,
            })
        })
        .collect()
}

/// An order stored before orders were kept in billing's own terms (an
/// encoded `bss.billing.v1.Order`), in billing's terms. `status` is its
/// status column (by billing's code since migration 0012): it, not the
/// message, says where the order stands.
pub fn stored_order(body: &[u8], status: &str) -> Result<Order, String> {
    let stored = wire::Order::decode(body).map_err(|error| error.to_string())?;
    let state = OrderState::from_code(status)
        .or_else(|| wire::OrderStatus::try_from(stored.status).ok().and_then(state_of))
        .ok_or_else(|| format!("an order with the status {status:?}"))?;
    Ok(Order {
        id: id(&stored.id)?,
        account_id: id(&stored.account_id)?,
        reference: stored.reference.clone(),
        lines: stored
            .lines
            .iter()
            .map(|line| Line {
                product: line.product.clone(),
                product_id: String::new(),
                product_code: String::new(),
                quantity: decimal(&line.quantity).unwrap_or_default(),
                unit_price: amount(&line.unit_price),
                total: amount(&line.total),
                available: decimal(&line.available_quantity),
                backordered: decimal(&line.backordered_quantity),
                cancelled: decimal(&line.cancelled_quantity),
                surcharge: false,
                refunded: None,
                priced_by: PricedBy::default(),
                goods: None,
            })
            .collect(),
        payment_type: PaymentType::from_wire(stored.payment_type)?,
        delivery_date: if stored.delivery_date.is_empty() { None } else { Some(parse_date(&stored.delivery_date)?) },
        placed_by: stored.placed_by.clone(),
        state,
        currency: stored.total.as_ref().map(|total| total.currency_code.clone()).unwrap_or_default(),
        total: amount(&stored.total),
        reasons: stored.reasons.iter().map(credit_reason).collect(),
        payers: stored_payers(&stored.payers)?,
        held_order_id: optional_id(&stored.held_order_id)?,
        reservation_id: optional_id(&stored.reservation_id)?,
        created_at: time(&stored.create_time).unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        cancel_reason: stored.cancel_reason.clone(),
        cancelled_at: time(&stored.cancel_time),
        payment_instructions: None,
        payment: None,
        location_id: None,
        billing_address: None,
        delivery_address: None,
        payment_method_id: None,
    })
}

/// A subscription stored before subscriptions were kept in billing's own
/// terms (an encoded `bss.billing.v1.Subscription`), in billing's terms.
/// `status` is its status column: older messages carry no status of
/// their own (migration 0010 set the column only).
pub fn stored_subscription(body: &[u8], status: &str) -> Result<Subscription, String> {
    let stored = wire::Subscription::decode(body).map_err(|error| error.to_string())?;
    let state = SubscriptionState::ALL
        .into_iter()
        .find(|state| state.code() == status)
        .ok_or_else(|| format!("a subscription with the status {status:?}"))?;
    Ok(Subscription {
        id: id(&stored.id)?,
        account_id: id(&stored.account_id)?,
        product: stored.product.clone(),
        quantity: decimal(&stored.quantity).unwrap_or_default(),
        payment_type: PaymentType::from_wire(stored.payment_type)?,
        currency: stored.unit_price.as_ref().map(|price| price.currency_code.clone()).unwrap_or_default(),
        unit_price: amount(&stored.unit_price),
        paid: stored.paid,
        state,
        created_at: time(&stored.create_time).unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        cancel_date: if stored.cancel_date.is_empty() { None } else { Some(parse_date(&stored.cancel_date)?) },
        reasons: stored.reasons.iter().map(credit_reason).collect(),
        payers: stored_payers(&stored.payers)?,
        reference: stored.reference.clone(),
        held_order_id: optional_id(&stored.held_order_id)?,
        cycle: Cycle::Monthly,
        anchor: None,
        timing: Timing::Advance,
        start_date: None,
        trial: None,
        term: None,
        paused_on: None,
        pauses: Vec::new(),
        metered: Vec::new(),
    })
}

/// A billing run on the wire.
pub fn run_to_wire(run: &crate::repo::runs::RunRow) -> wire::BillingRun {
    wire::BillingRun {
        id: run.id.to_string(),
        invoice_date: format_date(run.invoice_date),
        post: run.post,
        status: match run.status.as_str() {
            "RUNNING" => wire::BillingRunStatus::Running,
            "COMPLETED" => wire::BillingRunStatus::Completed,
            _ => wire::BillingRunStatus::Failed,
        } as i32,
        accounts_total: run.accounts_total,
        accounts_done: run.accounts_done,
        invoices_created: run.invoices_created,
        error: run.error.clone(),
        create_time: Some(timestamp(run.created_at)),
        complete_time: run.completed_at.map(timestamp),
    }
}

/// A wallet on the wire.
pub fn wallet(wallet: &Wallet, currency: Currency) -> wire::Wallet {
    wire::Wallet {
        account_id: wallet.account_id.to_string(),
        balance: Some(money_in(wallet.balance, currency)),
        use_for_purchases: wallet.use_for_purchases,
        use_for_subscriptions: wallet.use_for_subscriptions,
        create_time: Some(timestamp(wallet.created_at)),
        update_time: Some(timestamp(wallet.updated_at)),
    }
}

/// A wallet transaction on the wire.
pub fn wallet_transaction(moved: &WalletTransaction, currency: Currency) -> wire::WalletTransaction {
    let kind = match moved.movement {
        Movement::TopUp => wire::WalletTransactionKind::TopUp,
        Movement::OrderPayment => wire::WalletTransactionKind::OrderPayment,
        Movement::InvoicePayment => wire::WalletTransactionKind::InvoicePayment,
        Movement::OrderRefund => wire::WalletTransactionKind::OrderRefund,
        Movement::PayOut => wire::WalletTransactionKind::PayOut,
    };
    let id = |id: Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
    wire::WalletTransaction {
        id: moved.id.to_string(),
        account_id: moved.account_id.to_string(),
        kind: kind as i32,
        amount: Some(money_in(moved.amount, currency)),
        balance_after: Some(money_in(moved.balance_after, currency)),
        order_id: id(moved.order_id),
        payment_id: id(moved.payment_id),
        reason: moved.reason.clone(),
        create_time: Some(timestamp(moved.created_at)),
        actor: moved.actor.clone(),
    }
}

/// What a stock receipt or a return shipped of waiting back orders, on the
/// wire.
pub fn shipped_back_orders(shipped: &[(Uuid, i32, Decimal)]) -> Vec<wire::ShippedBackOrder> {
    shipped
        .iter()
        .map(|(order_id, line_number, quantity)| wire::ShippedBackOrder {
            order_id: order_id.to_string(),
            line_number: *line_number,
            quantity: Some(decimal_to_wire(*quantity)),
        })
        .collect()
}

/// An asset on the wire; `current`: the account asked holds it now. To a
/// customer's own user (of account `viewer`), other accounts' ids and the
/// order of another buyer are left out.
pub fn asset(asset: &Asset, current: bool, viewer: Option<Uuid>) -> wire::Asset {
    let shown = |account: Option<Uuid>| account.filter(|account| viewer.is_none_or(|viewer| viewer == *account));
    let bought_by = shown(asset.bought_by);
    let holder = shown(Some(asset.account_id)).is_some();
    let order_line = asset.order_line.filter(|_| bought_by.is_some());
    let status = match asset.status {
        AssetStatus::Active => wire::AssetStatus::Active,
        AssetStatus::Returned => wire::AssetStatus::Returned,
        AssetStatus::Cancelled => wire::AssetStatus::Cancelled,
    };
    let id = |id: Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
    wire::Asset {
        id: asset.id.to_string(),
        account_id: id(shown(Some(asset.account_id))),
        bought_by_account_id: id(bought_by),
        order_id: id(order_line.map(|(order, _)| order)),
        line_number: order_line.map_or(0, |(_, line)| line),
        product_id: asset.product_id.clone(),
        product_code: asset.product_code.clone(),
        quantity: Some(decimal_to_wire(asset.quantity)),
        traceable: asset.traceable,
        serial_number: asset.serial_number.clone().unwrap_or_default(),
        warranty_end_date: asset.warranty_end.map(format_date).unwrap_or_default(),
        customer_owned: asset.customer_owned,
        status: status as i32,
        // Where another holder returned it, and when, is not a past
        // holder's to see.
        location_id: id(asset.location_id.filter(|_| holder)),
        create_time: Some(timestamp(asset.created_at)),
        update_time: holder.then(|| timestamp(asset.updated_at)),
        current,
    }
}

/// An entry of an asset's history on the wire; to a customer's own user
/// (of account `viewer`), other accounts' ids and who did it are left out.
pub fn asset_event(event: &AssetEvent, viewer: Option<Uuid>) -> wire::AssetEvent {
    let shown = |account: Option<Uuid>| account.filter(|account| viewer.is_none_or(|viewer| viewer == *account));
    let kind = match event.kind {
        EventKind::Bought => wire::AssetEventKind::Bought,
        EventKind::Imported => wire::AssetEventKind::Imported,
        EventKind::Transferred => wire::AssetEventKind::Transferred,
        EventKind::Returned => wire::AssetEventKind::Returned,
        EventKind::SerialRecorded => wire::AssetEventKind::SerialRecorded,
        EventKind::Cancelled => wire::AssetEventKind::Cancelled,
    };
    let id = |id: Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
    wire::AssetEvent {
        kind: kind as i32,
        from_account_id: id(shown(event.from_account)),
        to_account_id: id(shown(event.to_account)),
        location_id: id(event.location_id),
        reason: event.reason.clone(),
        actor: if viewer.is_some() { String::new() } else { event.actor.clone() },
        create_time: Some(timestamp(event.created_at)),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn an_order_stored_as_a_wire_message_reads_back_as_the_same_order() {
        let kept = Order {
            lines: vec![Line {
                product: "WIDGET".to_owned(),
                product_id: String::new(),
                product_code: String::new(),
                quantity: dec!(10),
                unit_price: dec!(1.25),
                total: dec!(12.50),
                available: Some(dec!(4)),
                backordered: Some(dec!(6)),
                cancelled: None,
                surcharge: false,
                refunded: None,
                priced_by: PricedBy::default(),
                goods: None,
            }],
            delivery_date: chrono::NaiveDate::from_ymd_opt(2026, 12, 24),
            state: OrderState::HeldForApproval,
            total: dec!(12.50),
            reasons: vec![CreditReason {
                code: "CREDIT_LIMIT_EXCEEDED".to_owned(),
                action: "hold_for_approval".to_owned(),
                message: "over the limit".to_owned(),
                account_id: Uuid::from_u128(2).to_string(),
            }],
            payers: vec![Payer { account_id: Uuid::from_u128(2), amount: dec!(12.50), reservation_id: None }],
            held_order_id: Some(Uuid::from_u128(3)),
            created_at: DateTime::<Utc>::from_timestamp(1_764_000_000, 5_000).expect("time"),
            ..Order::example(Vec::new())
        };
        let encoded = order(&kept).encode_to_vec();
        assert_eq!(stored_order(&encoded, "held_for_approval"), Ok(kept.clone()));
        assert_eq!(reason(&kept.reasons[0]).action, CreditAction::HoldForApproval as i32);
        assert!(stored_order(b"\xff\xff", "executed").is_err(), "not an order");
        let mut unspecified = order(&kept);
        unspecified.status = 0;
        let read = stored_order(&unspecified.encode_to_vec(), "executed").expect("the column says");
        assert_eq!(read.state, OrderState::Executed);
    }

    #[test]
    fn a_subscription_stored_as_a_wire_message_reads_back_as_the_same_subscription() {
        let kept = Subscription {
            id: Uuid::from_u128(1),
            account_id: Uuid::from_u128(2),
            product: "PLAN".to_owned(),
            quantity: dec!(2),
            payment_type: PaymentType::DirectDeposit,
            currency: "EUR".to_owned(),
            unit_price: dec!(9.99),
            paid: true,
            state: SubscriptionState::Cancelled,
            created_at: DateTime::<Utc>::from_timestamp(1_764_000_000, 0).expect("time"),
            cancel_date: chrono::NaiveDate::from_ymd_opt(2026, 12, 1),
            reasons: vec![],
            payers: vec![Payer {
                account_id: Uuid::from_u128(3),
                amount: dec!(19.98),
                reservation_id: Some(Uuid::from_u128(4)),
            }],
            reference: "subscription:s-1".to_owned(),
            held_order_id: None,
            cycle: Cycle::Monthly,
            anchor: None,
            timing: Timing::Advance,
            start_date: None,
            trial: None,
            term: None,
            paused_on: None,
            pauses: Vec::new(),
            metered: Vec::new(),
        };
        let mut encoded = subscription(&kept);
        encoded.status = 0; // as written before subscriptions had a status of their own
        assert_eq!(stored_subscription(&encoded.encode_to_vec(), "CANCELLED"), Ok(kept));
    }
}
