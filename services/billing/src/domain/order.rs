//! The rules of an order once it is priced: what of a line ships now and
//! what waits as a back order, what each part costs (exact to the cent: the
//! parts of a line always add up to its total), who pays what, what
//! credit's verdict makes of it, and when it may be cancelled, shipped or
//! cut short. [`Order`] is the order as billing keeps it (stored as it is,
//! in billing's own terms, not as the wire message).

use bss_platform::money::Currency;
use bss_platform::payment::PaymentType;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bill_to::BillTo;
use super::change::Covers;
use super::error::BillingError;
use super::location::OrderAddress;
use super::settings::PaymentInstructions;

/// An order as billing keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: Uuid,
    pub account_id: Uuid,
    /// The reference credit knows it by (see [`credit_reference`]).
    pub reference: String,
    pub lines: Vec<Line>,
    #[serde(with = "payment_code")]
    pub payment_type: PaymentType,
    pub delivery_date: Option<NaiveDate>,
    /// Who placed it (the caller's subject).
    pub placed_by: String,
    pub state: OrderState,
    /// The currency of every amount of the order (pricing's quote).
    pub currency: String,
    pub total: Decimal,
    /// Why credit decided as it did.
    pub reasons: Vec<CreditReason>,
    /// Who pays what, with the reservation credit made on each.
    pub payers: Vec<Payer>,
    /// Credit's held order while (or since) it waited for approval.
    pub held_order_id: Option<Uuid>,
    /// The reservation credit made for the order (its first payer's).
    #[serde(default)]
    pub reservation_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub cancel_reason: String,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// How a direct deposit order is paid, as its payer was told when it
    /// was placed.
    #[serde(default)]
    pub payment_instructions: Option<PaymentInstructions>,
    /// The payment taken for a card or PayPal order at the payment
    /// provider (or its decline), and its refund.
    #[serde(default)]
    pub payment: Option<CardPayment>,
    /// The location it ships from (its stock decided what shipped).
    #[serde(default)]
    pub location_id: Option<Uuid>,
    /// Where it is billed and delivered, as the account's addresses were.
    #[serde(default)]
    pub billing_address: Option<OrderAddress>,
    #[serde(default)]
    pub delivery_address: Option<OrderAddress>,
    /// The saved method the caller chose to pay with (card and PayPal).
    #[serde(default)]
    pub payment_method_id: Option<String>,
}

/// Where a card or PayPal order's payment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentStatus {
    Captured,
    Declined,
    Refunded,
}

/// An order's payment at submission: a card or PayPal order's at the
/// payment provider, or an order prepaid from its account's wallet
/// (`from_wallet`: the capture and refund ids are wallet transactions').
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardPayment {
    pub status: PaymentStatus,
    pub amount: Decimal,
    pub authorization_id: String,
    pub capture_id: String,
    pub refund_id: String,
    pub decline_reason: String,
    #[serde(default)]
    pub from_wallet: bool,
    /// What was given back of it so far: cancelled back orders' shares,
    /// then the rest when the order is cancelled.
    #[serde(default)]
    pub refunded: Decimal,
}

impl CardPayment {
    /// What is still held of it: taken and not given back.
    pub fn held(&self) -> Decimal {
        self.amount - self.refunded
    }

    /// Records a refund of `amount` by `refund_id` (none for nothing given
    /// back); `whole`: what was held is all given back, the payment is
    /// refunded.
    pub fn refund(&mut self, amount: Decimal, refund_id: String, whole: bool) {
        self.refunded += amount;
        if !refund_id.is_empty() {
            self.refund_id = refund_id;
        }
        if whole {
            self.status = PaymentStatus::Refunded;
        }
    }
}

/// Whether orders paid this way are paid at the payment provider before
/// they are executed (card and PayPal).
pub fn paid_at_checkout(payment_type: PaymentType) -> bool {
    matches!(payment_type, PaymentType::CreditCard | PaymentType::PayPal)
}

impl Order {
    /// Records the payment provider's answer: a captured payment leaves the
    /// order executed, a declined one rejects it.
    pub fn paid(&mut self, payment: CardPayment) {
        if payment.status == PaymentStatus::Declined {
            self.state = OrderState::Rejected;
        }
        self.payment = Some(payment);
    }

    /// What of each line shipped so far: (line number, quantity).
    pub fn shipped_lines(&self) -> Vec<(i32, Decimal)> {
        (1..).zip(&self.lines).map(|(number, line)| (number, line.shipped())).collect()
    }

    /// Records that the account's wallet paid the whole order at
    /// submission, by its transaction `transaction_id`.
    pub fn prepaid_from_wallet(&mut self, transaction_id: Uuid) {
        self.payment = Some(CardPayment {
            status: PaymentStatus::Captured,
            amount: self.total,
            authorization_id: String::new(),
            capture_id: transaction_id.to_string(),
            refund_id: String::new(),
            decline_reason: String::new(),
            from_wallet: true,
            refunded: Decimal::ZERO,
        });
    }

    /// Whether the order's charges are invoiced: an order on account or
    /// by direct deposit, executed or waiting for approval, unless its
    /// wallet paid it at submission.
    pub fn invoiced(&self) -> bool {
        self.state.keeps_charges()
            && self.payment_type.uses_credit()
            && !self.payment.as_ref().is_some_and(|payment| payment.from_wallet)
    }

    /// The captured payment a cancellation gives back, if any.
    pub fn refundable(&self) -> Option<&CardPayment> {
        self.payment.as_ref().filter(|payment| payment.status == PaymentStatus::Captured)
    }
}

/// One line of an order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// The product as the caller named it (id or code).
    pub product: String,
    /// The product's id and code, as pricing resolved it.
    pub product_id: String,
    pub product_code: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub total: Decimal,
    /// What the caller's stock could ship when it was placed (none: all).
    pub available: Option<Decimal>,
    /// What still waits to ship.
    pub backordered: Option<Decimal>,
    /// What of the back order was cancelled.
    pub cancelled: Option<Decimal>,
    /// The location's surcharge, not a product.
    #[serde(default)]
    pub surcharge: bool,
    /// What of a paid line was given back (its back orders cancelled).
    #[serde(default)]
    pub refunded: Option<Decimal>,
    /// The rule that priced it (pricing's quote).
    #[serde(default)]
    pub priced_by: PricedBy,
    /// The product's physical good settings (pricing's quote); none for a
    /// service. What ships of a good becomes an asset of the account.
    #[serde(default)]
    pub goods: Option<crate::domain::asset::Goods>,
}

/// Which of pricing's rules priced a line or charge, from what, on which
/// day: the quote's winning rule, by the name of bss.pricing.v1.PriceRule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedBy {
    pub rule: String,
    pub source_id: String,
    pub on: Option<NaiveDate>,
    /// Why the previous price was kept ([`PricedBy::KEPT`]); else empty.
    #[serde(default)]
    pub note: String,
    /// The tiers a usage charge was rated by (their amounts add up to its
    /// total); empty for any other.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<super::usage::UsageTier>,
}

impl PricedBy {
    /// The rule of a subscription period pricing could not price: its
    /// previous period's price was kept.
    pub const KEPT: &'static str = "PRICE_RULE_KEPT";
    /// A subscription's trial, at the trial's price.
    pub const TRIAL: &'static str = "PRICE_RULE_TRIAL";
}

impl Line {
    /// What cancelling `part` of what waits gives back of a paid line: the
    /// waiting part's share of what is left of its total, each part rounded
    /// to the currency's minor unit half away from zero as the line's
    /// charges are (`split_total`), so every refund of a line adds up to
    /// exactly what waited.
    pub fn refund_of(&self, part: Decimal, currency: Currency) -> Decimal {
        let waiting = self.backordered.unwrap_or_default();
        let active = self.quantity - self.cancelled.unwrap_or_default();
        let left = self.total - self.refunded.unwrap_or_default();
        let (_, waiting_value) = split_total(left, active, self.unit_price, active - waiting, currency);
        split_total(waiting_value, waiting, self.unit_price, part, currency).0
    }

    /// What of the line shipped: all but what waits or was cancelled.
    pub fn shipped(&self) -> Decimal {
        self.quantity - self.backordered.unwrap_or_default() - self.cancelled.unwrap_or_default()
    }

    /// What of the line left its location's stock: all but what waits or
    /// was cancelled (nothing for a line the stock did not decide).
    pub fn taken_from_stock(&self) -> Decimal {
        match self.available {
            Some(_) => self.quantity - self.backordered.unwrap_or_default() - self.cancelled.unwrap_or_default(),
            None => Decimal::ZERO,
        }
    }
}

/// One of credit's reasons for its verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditReason {
    /// The condition (CREDIT_LIMIT_EXCEEDED, ACCOUNT_ON_HOLD, ...).
    pub code: String,
    /// Credit's action for it, as credit names it (`block`, `warn`, ...).
    pub action: String,
    pub message: String,
    /// The account the condition applies to (the orderer or a payer).
    pub account_id: String,
}

/// A payer of an order: its share and the reservation credit made for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    pub account_id: Uuid,
    pub amount: Decimal,
    pub reservation_id: Option<Uuid>,
}

/// A charge: what an account bought, billed to its payer, waiting for an
/// invoice (undated while it waits to ship: not billable).
#[derive(Clone, Debug, PartialEq)]
pub struct Charge {
    pub id: Uuid,
    pub account_id: Uuid,
    pub bill_to_account_id: Uuid,
    pub separate: bool,
    pub order_id: Option<Uuid>,
    pub order_reference: Option<String>,
    /// Position of the order line, from 1.
    pub order_line: Option<i32>,
    pub product_id: String,
    pub description: String,
    pub currency: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub total: Decimal,
    /// None while back-ordered: not billable.
    pub charge_date: Option<NaiveDate>,
    /// The subscription whose period it charges.
    pub subscription_id: Option<Uuid>,
    pub priced_by: PricedBy,
    /// A subscription charge's days and its whole period's price.
    pub covers: Option<Covers>,
    /// Written by a subscription's change, not a period's own charge.
    pub changed: bool,
}

/// The payment type stored by its two-letter code.
pub(crate) mod payment_code {
    use bss_platform::payment::PaymentType;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(payment_type: &PaymentType, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(payment_type.code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PaymentType, D::Error> {
        let code = String::deserialize(deserializer)?;
        PaymentType::from_code(&code).map_err(serde::de::Error::custom)
    }
}

/// Where an order stands; stored by [`OrderState::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Executed,
    HeldForApproval,
    Rejected,
    RunningQuote,
    Cancelled,
}

/// Credit's verdict on an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreditVerdict {
    Approved,
    ApprovedWithWarning,
    CreditCardOnly,
    HeldForApproval,
    Blocked,
}

impl OrderState {
    pub const ALL: [OrderState; 5] = [
        OrderState::Executed,
        OrderState::HeldForApproval,
        OrderState::Rejected,
        OrderState::RunningQuote,
        OrderState::Cancelled,
    ];

    /// The code billing stores the state by (its `status` column).
    pub fn code(self) -> &'static str {
        match self {
            OrderState::Executed => "executed",
            OrderState::HeldForApproval => "held_for_approval",
            OrderState::Rejected => "rejected",
            OrderState::RunningQuote => "running_quote",
            OrderState::Cancelled => "cancelled",
        }
    }

    pub fn from_code(code: &str) -> Option<OrderState> {
        OrderState::ALL.into_iter().find(|state| state.code() == code)
    }

    /// What credit's verdict makes of an order: approved (with or without
    /// a warning) executes it, held stores it for approval, anything else
    /// (blocked, card only) rejects it.
    pub fn after(verdict: CreditVerdict) -> OrderState {
        match verdict {
            CreditVerdict::Approved | CreditVerdict::ApprovedWithWarning => OrderState::Executed,
            CreditVerdict::HeldForApproval => OrderState::HeldForApproval,
            CreditVerdict::CreditCardOnly | CreditVerdict::Blocked => OrderState::Rejected,
        }
    }

    /// Whether its charges may be invoiced: only an executed order's are
    /// (a held order's wait for credit's approval).
    pub fn billable(self) -> bool {
        self == OrderState::Executed
    }

    /// The stored codes of the billable states: the SQL that finds
    /// invoiceable charges asks for these, so the rule lives here alone.
    pub fn billable_codes() -> Vec<&'static str> {
        OrderState::ALL.into_iter().filter(|state| state.billable()).map(OrderState::code).collect()
    }

    /// Whether its charges are recorded at all: executed, or held and
    /// waiting to be executed.
    pub fn keeps_charges(self) -> bool {
        matches!(self, OrderState::Executed | OrderState::HeldForApproval)
    }
}

impl Order {
    /// Whether any line still waits to ship.
    pub fn back_ordered(&self) -> bool {
        self.lines.iter().any(|line| line.backordered.is_some())
    }

    /// The line `line_number` (from 1); refused naming the field when the
    /// order has no such line.
    fn line_mut(&mut self, line_number: i32) -> Result<&mut Line, BillingError> {
        let count = self.lines.len();
        let index = usize::try_from(line_number - 1).unwrap_or(usize::MAX);
        self.lines.get_mut(index).ok_or_else(|| {
            bss_platform::error::Violations::single("line_number", format!("the order has {count} lines")).into()
        })
    }

    /// Ships `quantity` of line `line_number`'s back order: refused unless
    /// the order is executed and the line has that much waiting.
    pub fn ship(&mut self, line_number: i32, quantity: Decimal) -> Result<(), BillingError> {
        check_executed(self.state, self.id)?;
        let line = self.line_mut(line_number)?;
        let left = take_back_order(line_number, line.backordered.unwrap_or_default(), quantity)?;
        line.backordered = (left > Decimal::ZERO).then_some(left);
        Ok(())
    }

    /// Cancels `quantity` (all when none) of line `line_number`'s back
    /// order; returns the quantity cancelled and, for an order paid at
    /// submission, what of the payment that gives back (recorded on the
    /// line and the payment; the caller gives it back and names the refund).
    pub fn cancel_back_order(
        &mut self,
        line_number: i32,
        quantity: Option<Decimal>,
        currency: Currency,
    ) -> Result<(Decimal, Option<Decimal>), BillingError> {
        check_executed(self.state, self.id)?;
        let paid = self.refundable().is_some();
        let line = self.line_mut(line_number)?;
        let waiting = line.backordered.unwrap_or_default();
        let quantity = quantity.unwrap_or(waiting);
        let left = take_back_order(line_number, waiting, quantity)?;
        if quantity.is_zero() {
            return Err(BillingError::precondition(
                "NOTHING_BACK_ORDERED",
                format!("line {line_number} has nothing back-ordered"),
            ));
        }
        let refund = paid.then(|| line.refund_of(quantity, currency));
        line.backordered = (left > Decimal::ZERO).then_some(left);
        line.cancelled = Some(line.cancelled.unwrap_or_default() + quantity);
        if let Some(amount) = refund {
            line.refunded = Some(line.refunded.unwrap_or_default() + amount);
            if let Some(payment) = self.payment.as_mut() {
                payment.refunded += amount;
            }
        }
        Ok((quantity, refund))
    }

    /// Cancels the whole order (checked by [`check_cancellable`] first):
    /// nothing of it waits any more, what was back-ordered is cancelled.
    pub fn cancel(&mut self, reason: String, at: DateTime<Utc>) {
        for line in &mut self.lines {
            if let Some(waiting) = line.backordered.take() {
                line.cancelled = Some(line.cancelled.unwrap_or_default() + waiting);
            }
        }
        self.state = OrderState::Cancelled;
        self.cancel_reason = reason;
        self.cancelled_at = Some(at);
    }

    /// Credit's decision on the held order: approved executes it with the
    /// reservation credit made (`reservation_id`) and those on its payers
    /// (by position), rejected or expired rejects it.
    pub fn decide(&mut self, approved: bool, reservation_id: Option<Uuid>, reservations: &[Option<Uuid>]) {
        self.state = if approved { OrderState::Executed } else { OrderState::Rejected };
        with_reservations(&mut self.payers, reservations);
        self.reservation_id = reservation_id.or(self.reservation_id);
    }
}

/// Gives each payer the reservation credit made on it, by position (a
/// position credit named none keeps what the payer had).
pub fn with_reservations(payers: &mut [Payer], reservations: &[Option<Uuid>]) {
    for (payer, reservation) in payers.iter_mut().zip(reservations) {
        if let Some(reservation) = reservation {
            payer.reservation_id = Some(*reservation);
        }
    }
}

/// The charges of priced lines, each billed to its payer in `bill_to`
/// (one per line): what ships now dated `today`, what is back-ordered
/// undated (not billable until it ships). The parts of a line add up to
/// its total. `order` is the order's id and reference, none for a
/// subscription's charge.
pub fn charges(
    account_id: Uuid,
    lines: &[Line],
    bill_to: &[BillTo],
    order: Option<(Uuid, &str)>,
    currency: Currency,
    today: NaiveDate,
) -> Vec<Charge> {
    let mut charges = Vec::with_capacity(lines.len());
    for (index, (line, bill_to)) in lines.iter().zip(bill_to).enumerate() {
        let waiting = line.backordered.unwrap_or_default();
        let shipped = line.quantity - waiting;
        let (shipped_total, waiting_total) = split_total(line.total, line.quantity, line.unit_price, shipped, currency);
        let charge = |quantity: Decimal, total: Decimal, charge_date: Option<NaiveDate>| Charge {
            id: Uuid::now_v7(),
            account_id,
            bill_to_account_id: bill_to.account_id,
            separate: bill_to.separate,
            order_id: order.map(|(id, _)| id),
            order_reference: order.map(|(_, reference)| reference.to_owned()),
            order_line: order.map(|_| index as i32 + 1),
            product_id: line.product_id.clone(),
            description: match order {
                Some((_, reference)) => format!("{} ({reference})", line.product_code),
                None => line.product_code.clone(),
            },
            currency: currency.code.to_owned(),
            quantity,
            unit_price: line.unit_price,
            total,
            charge_date,
            subscription_id: None,
            priced_by: line.priced_by.clone(),
            covers: None,
            changed: false,
        };
        if shipped > Decimal::ZERO {
            charges.push(charge(shipped, shipped_total, Some(today)));
        }
        if waiting > Decimal::ZERO {
            charges.push(charge(waiting, waiting_total, None));
        }
    }
    charges
}

/// Where an account stands with accounts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Active,
    Suspended,
    Terminated,
}

/// What the order rules look at of the ordering account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orderer {
    pub standing: Standing,
    /// A copy managed by its reseller: orders are placed there.
    pub managed: bool,
    pub ordering_enabled: bool,
    pub payment_types: Vec<PaymentType>,
}

/// A suspended or terminated account takes no new orders or
/// subscriptions: the refusal, with `suspended` or `terminated` as its
/// reason, `who` in its description.
fn check_standing(
    standing: Standing,
    (suspended, terminated): (&'static str, &'static str),
    who: &str,
) -> Result<(), BillingError> {
    match standing {
        Standing::Suspended => Err(BillingError::precondition(suspended, format!("{who} is suspended"))),
        Standing::Terminated => Err(BillingError::precondition(terminated, format!("{who} is terminated"))),
        Standing::Active => Ok(()),
    }
}

/// FAILED_PRECONDITION ACCOUNT_TERMINATED: a terminated account takes
/// nothing new (`what`: "open or top up a wallet", "hold a new asset"); a
/// suspended one may, money still moves for it.
pub fn check_not_terminated(account_id: Uuid, standing: Standing, what: &str) -> Result<(), BillingError> {
    match standing {
        Standing::Terminated => Err(BillingError::precondition(
            "ACCOUNT_TERMINATED",
            format!("account {account_id} is terminated: it cannot {what}"),
        )),
        Standing::Active | Standing::Suspended => Ok(()),
    }
}

/// The account rules an order or a subscription must pass, each with its
/// reason.
pub fn check_orderer(orderer: &Orderer, payment_type: PaymentType) -> Result<(), BillingError> {
    let refuse = |reason: &'static str, why: String| Err(BillingError::precondition(reason, why));
    check_standing(orderer.standing, ("ACCOUNT_SUSPENDED", "ACCOUNT_TERMINATED"), "the account")?;
    if orderer.managed {
        return refuse(
            "MANAGED_BY_RESELLER",
            "the account is a copy managed by its reseller: orders are placed there".to_owned(),
        );
    }
    if !orderer.ordering_enabled {
        return refuse("ORDERING_DISABLED", "ordering is not enabled for the account".to_owned());
    }
    if orderer.payment_types.is_empty() {
        return refuse("NO_PAYMENT_TYPE", "the account has no payment type enabled".to_owned());
    }
    if !orderer.payment_types.contains(&payment_type) {
        return refuse(
            "PAYMENT_TYPE_NOT_ALLOWED",
            format!("the account does not allow {} orders", payment_type.code()),
        );
    }
    Ok(())
}

/// A payer's own standing: a suspended or terminated payer takes no new
/// orders or subscriptions for the accounts it pays for.
pub fn check_payer(payer_id: Uuid, standing: Standing) -> Result<(), BillingError> {
    let who = format!("account {payer_id} that pays for the account");
    check_standing(standing, ("PAYER_SUSPENDED", "PAYER_TERMINATED"), &who)
}

/// Longest request id kept as it is in a credit reference.
const MAX_REFERENCED_REQUEST_ID: usize = 64;

/// The reference credit knows an order or a subscription's activation by
/// (`kind` is "order" or "subscription"): from the request id, so a retried
/// request decides and reserves once, else from its id. A request id
/// longer than 64 characters is named by its SHA-256, so the reference
/// stays within what credit accepts (100 characters) whatever the id.
pub fn credit_reference(kind: &str, request_id: &str, id: Uuid) -> String {
    use sha2::{Digest, Sha256};
    if request_id.is_empty() {
        return format!("{kind}:{id}");
    }
    if request_id.len() <= MAX_REFERENCED_REQUEST_ID {
        return format!("{kind}:{request_id}");
    }
    let digest = Sha256::digest(request_id.as_bytes());
    let hex: String = digest.iter().take(20).map(|byte| format!("{byte:02x}")).collect();
    format!("{kind}:sha256-{hex}")
}

/// The quantity of a line that is back-ordered: what the caller's stock
/// cannot ship now. `None` when all of it ships.
pub fn backordered(quantity: Decimal, available: Option<Decimal>) -> Option<Decimal> {
    let waiting = quantity - available?;
    (waiting > Decimal::ZERO).then_some(waiting)
}

/// Splits a line's `total` (for `quantity` at `unit_price`) into the part
/// of `part` quantity and the rest. The part is `part` x `unit_price`
/// rounded half away from zero to the currency's minor unit; the rest is
/// the total less the part, so the two always add up to the total (two
/// separately rounded parts could differ from it by a cent).
pub fn split_total(
    total: Decimal,
    quantity: Decimal,
    unit_price: Decimal,
    part: Decimal,
    currency: Currency,
) -> (Decimal, Decimal) {
    if part >= quantity {
        return (total, Decimal::ZERO);
    }
    let part_total = currency.round(part * unit_price).min(total);
    (part_total, total - part_total)
}

/// Each payer with the sum of what it pays, in the order payers first
/// appear among `charges` (payer, amount).
pub fn payer_shares(charges: impl IntoIterator<Item = (Uuid, Decimal)>) -> Vec<(Uuid, Decimal)> {
    let mut shares: Vec<(Uuid, Decimal)> = Vec::new();
    for (payer, amount) in charges {
        match shares.iter_mut().find(|(seen, _)| *seen == payer) {
            Some((_, sum)) => *sum += amount,
            None => shares.push((payer, amount)),
        }
    }
    shares.retain(|(_, amount)| *amount > Decimal::ZERO);
    shares
}

/// Whether an order may be cancelled: an executed order none of whose
/// charges is on an invoice (`invoice` names one that is), or a held one.
pub fn check_cancellable(state: OrderState, order_id: Uuid, invoice: Option<Uuid>) -> Result<(), BillingError> {
    match state {
        OrderState::Cancelled => {
            Err(BillingError::precondition("ORDER_CANCELLED", format!("order {order_id} was cancelled already")))
        }
        OrderState::Rejected | OrderState::RunningQuote => Err(BillingError::precondition(
            "ORDER_NOT_CANCELLABLE",
            format!("order {order_id} was never executed: a rejected order or a running quote holds nothing"),
        )),
        OrderState::Executed | OrderState::HeldForApproval => match invoice {
            Some(invoice) => Err(BillingError::precondition(
                "ORDER_INVOICED",
                format!(
                    "invoice {invoice} bills order {order_id}: credit a posted invoice with a credit note, void a \
                     draft first"
                ),
            )),
            None => Ok(()),
        },
    }
}

/// Back orders ship or are cancelled only on an executed order.
pub fn check_executed(state: OrderState, order_id: Uuid) -> Result<(), BillingError> {
    if state == OrderState::Executed {
        return Ok(());
    }
    Err(BillingError::precondition("ORDER_NOT_EXECUTED", format!("order {order_id} is not executed ({state:?})")))
}

/// What is left back-ordered on a line after `quantity` of it ships or is
/// cancelled; refused when the line has less back-ordered.
pub fn take_back_order(line_number: i32, backordered: Decimal, quantity: Decimal) -> Result<Decimal, BillingError> {
    if quantity > backordered {
        return Err(BillingError::precondition(
            "NOTHING_BACK_ORDERED",
            format!("line {line_number} has {backordered} back-ordered"),
        ));
    }
    Ok(backordered - quantity)
}

#[cfg(test)]
impl Order {
    /// An executed on-account order of `lines` for tests (total 0.25 EUR).
    #[cfg(test)]
    pub(crate) fn example(lines: Vec<Line>) -> Order {
        Order {
            id: Uuid::from_u128(1),
            account_id: Uuid::from_u128(2),
            reference: "order:so-1".to_owned(),
            lines,
            payment_type: PaymentType::OnAccount,
            delivery_date: None,
            placed_by: "clerk".to_owned(),
            state: OrderState::Executed,
            currency: "EUR".to_owned(),
            total: rust_decimal_macros::dec!(0.25),
            reasons: vec![],
            payers: vec![Payer {
                account_id: Uuid::from_u128(2),
                amount: rust_decimal_macros::dec!(0.25),
                reservation_id: None,
            }],
            held_order_id: None,
            reservation_id: None,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            cancel_reason: String::new(),
            cancelled_at: None,
            payment_instructions: None,
            payment: None,
            location_id: None,
            billing_address: None,
            delivery_address: None,
            payment_method_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").expect("EUR")
    }

    #[test]
    fn the_parts_of_a_line_add_up_to_its_total_to_the_cent() {
        // 2 x 0.125 = 0.25, but each unit alone rounds to 0.13: two
        // separately rounded parts would make 0.26.
        let (now, later) = split_total(dec!(0.25), dec!(2), dec!(0.125), dec!(1), eur());
        assert_eq!((now, later), (dec!(0.13), dec!(0.12)));
        assert_eq!(split_total(dec!(0.25), dec!(2), dec!(0.125), dec!(2), eur()), (dec!(0.25), dec!(0)));
        let yen = Currency::parse("JPY").expect("JPY");
        assert_eq!(split_total(dec!(1000), dec!(3), dec!(333.33), dec!(1), yen), (dec!(333), dec!(667)));
    }

    #[test]
    fn a_credit_reference_follows_the_request_id_and_stays_short() {
        let id = Uuid::from_u128(5);
        assert_eq!(credit_reference("order", "", id), format!("order:{id}"));
        assert_eq!(credit_reference("order", "so-1", id), "order:so-1");
        let long = "x".repeat(128);
        let hashed = credit_reference("subscription", &long, id);
        assert!(hashed.starts_with("subscription:sha256-") && hashed.len() <= 100, "{hashed}");
        assert_eq!(hashed, credit_reference("subscription", &long, Uuid::from_u128(6)), "the same for a retry");
        assert_ne!(hashed, credit_reference("subscription", &"y".repeat(128), id));
    }

    #[test]
    fn what_ships_now_and_what_waits() {
        assert_eq!(backordered(dec!(10), Some(dec!(4))), Some(dec!(6)));
        assert_eq!(backordered(dec!(10), Some(dec!(10))), None);
        assert_eq!(backordered(dec!(10), None), None);
        assert_eq!(take_back_order(1, dec!(6), dec!(2)).ok(), Some(dec!(4)));
        assert!(take_back_order(1, dec!(6), dec!(7)).is_err());
    }

    #[test]
    fn payers_are_summed_in_order_of_first_appearance() {
        let (child, parent) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let shares = payer_shares([(parent, dec!(10.00)), (child, dec!(2.50)), (parent, dec!(5.00))]);
        assert_eq!(shares, vec![(parent, dec!(15.00)), (child, dec!(2.50))]);
        assert_eq!(payer_shares([(child, dec!(0))]), vec![], "a free line makes no payer");
    }

    #[test]
    fn credits_verdict_decides_the_orders_state() {
        assert_eq!(OrderState::after(CreditVerdict::Approved), OrderState::Executed);
        assert_eq!(OrderState::after(CreditVerdict::ApprovedWithWarning), OrderState::Executed);
        assert_eq!(OrderState::after(CreditVerdict::HeldForApproval), OrderState::HeldForApproval);
        assert_eq!(OrderState::after(CreditVerdict::CreditCardOnly), OrderState::Rejected);
        assert_eq!(OrderState::after(CreditVerdict::Blocked), OrderState::Rejected);
        assert!(OrderState::Executed.billable() && !OrderState::HeldForApproval.billable());
        assert!(OrderState::HeldForApproval.keeps_charges() && !OrderState::Rejected.keeps_charges());
    }

    #[test]
    fn only_executed_uninvoiced_or_held_orders_may_be_cancelled() {
        let id = Uuid::from_u128(7);
        assert!(check_cancellable(OrderState::Executed, id, None).is_ok());
        assert!(check_cancellable(OrderState::HeldForApproval, id, None).is_ok());
        let reason = |result: Result<(), BillingError>| match result {
            Err(BillingError::Precondition { reason, .. }) => reason,
            other => panic!("refused with a reason, not {other:?}"),
        };
        assert_eq!(reason(check_cancellable(OrderState::Executed, id, Some(Uuid::from_u128(9)))), "ORDER_INVOICED");
        assert_eq!(reason(check_cancellable(OrderState::Cancelled, id, None)), "ORDER_CANCELLED");
        assert_eq!(reason(check_cancellable(OrderState::Rejected, id, None)), "ORDER_NOT_CANCELLABLE");
        assert_eq!(reason(check_cancellable(OrderState::RunningQuote, id, None)), "ORDER_NOT_CANCELLABLE");
    }

    #[test]
    fn an_order_its_wallet_prepaid_is_not_invoiced_and_is_refunded_to_the_wallet() {
        let mut order = Order { payment_type: PaymentType::OnAccount, total: dec!(80.00), ..order(vec![]) };
        order.state = OrderState::Executed;
        assert!(order.invoiced(), "on account: invoiced");
        order.prepaid_from_wallet(Uuid::from_u128(5));
        assert!(!order.invoiced(), "paid already");
        let payment = order.refundable().expect("refundable");
        assert!(payment.from_wallet && payment.amount == dec!(80.00));
        let held = Order { state: OrderState::HeldForApproval, payment: None, ..order.clone() };
        assert!(held.invoiced());
        let card = Order { payment_type: PaymentType::CreditCard, payment: None, ..order };
        assert!(!card.invoiced());
    }

    fn card(status: PaymentStatus, amount: Decimal) -> CardPayment {
        CardPayment {
            status,
            amount,
            authorization_id: "auth".to_owned(),
            capture_id: "capture".to_owned(),
            refund_id: String::new(),
            decline_reason: String::new(),
            from_wallet: false,
            refunded: Decimal::ZERO,
        }
    }

    #[test]
    fn a_declined_payment_rejects_the_order_and_a_paid_one_is_refunded_once() {
        assert!(paid_at_checkout(PaymentType::CreditCard) && paid_at_checkout(PaymentType::PayPal));
        assert!(!paid_at_checkout(PaymentType::OnAccount) && !paid_at_checkout(PaymentType::DirectDeposit));
        let mut declined = Order { payment_type: PaymentType::CreditCard, ..order(vec![]) };
        declined.paid(card(PaymentStatus::Declined, dec!(0.25)));
        assert_eq!(declined.state, OrderState::Rejected);
        assert!(declined.refundable().is_none());
        let mut captured = Order { payment_type: PaymentType::CreditCard, ..order(vec![]) };
        captured.paid(card(PaymentStatus::Captured, dec!(0.25)));
        assert_eq!(captured.state, OrderState::Executed);
        assert_eq!(captured.refundable().map(|payment| payment.capture_id.as_str()), Some("capture"));
        let mut payment = card(PaymentStatus::Captured, dec!(0.25));
        payment.refund(dec!(0.10), "r1".to_owned(), false);
        assert_eq!((payment.status, payment.held()), (PaymentStatus::Captured, dec!(0.15)));
        payment.refund(payment.held(), "r2".to_owned(), true);
        assert_eq!(
            (payment.status, payment.held(), payment.refund_id.as_str()),
            (PaymentStatus::Refunded, dec!(0), "r2")
        );
        let refunded = Order { payment: Some(card(PaymentStatus::Refunded, dec!(0.25))), ..captured };
        assert!(refunded.refundable().is_none(), "refunded once");
    }

    #[test]
    fn cancelled_back_orders_of_a_paid_line_give_back_exactly_what_waited() {
        // 3 x 3.33 = 9.99: one shipped, two waiting, paid by card.
        let mut paid = order(vec![line(dec!(3), dec!(3.33), dec!(9.99), Some(dec!(2)))]);
        paid.paid(card(PaymentStatus::Captured, dec!(9.99)));
        let first = paid.cancel_back_order(1, Some(dec!(1)), eur()).expect("cancels one");
        assert_eq!(first, (dec!(1), Some(dec!(3.33))));
        let second = paid.cancel_back_order(1, None, eur()).expect("cancels the other");
        assert_eq!(second, (dec!(1), Some(dec!(3.33))));
        assert_eq!(paid.lines[0].refunded, Some(dec!(6.66)), "what waited, to the cent");
        let payment = paid.refundable().expect("still captured: one shipped");
        assert_eq!((payment.refunded, payment.held()), (dec!(6.66), dec!(3.33)));

        // A total that does not divide evenly: 3 for 10.00, all waiting;
        // one, then the other two, give back 10.00 exactly.
        let mut odd = order(vec![line(dec!(3), dec!(3.333333), dec!(10.00), Some(dec!(3)))]);
        odd.paid(card(PaymentStatus::Captured, dec!(10.00)));
        let parts = [
            odd.cancel_back_order(1, Some(dec!(1)), eur()).expect("one").1,
            odd.cancel_back_order(1, None, eur()).expect("the rest").1,
        ];
        assert_eq!(parts, [Some(dec!(3.33)), Some(dec!(6.67))]);
        assert_eq!(odd.refundable().map(CardPayment::held), Some(dec!(0.00)));
    }

    fn order(lines: Vec<Line>) -> Order {
        Order::example(lines)
    }

    fn line(quantity: Decimal, unit_price: Decimal, total: Decimal, backordered: Option<Decimal>) -> Line {
        Line {
            product: "WIDGET".to_owned(),
            product_id: "p-1".to_owned(),
            product_code: "WIDGET".to_owned(),
            quantity,
            unit_price,
            total,
            available: backordered.map(|waiting| quantity - waiting),
            backordered,
            cancelled: None,
            surcharge: false,
            refunded: None,
            priced_by: PricedBy::default(),
            goods: None,
        }
    }

    #[test]
    fn a_state_is_stored_by_its_own_code_in_the_column_and_in_the_document() {
        for state in OrderState::ALL {
            assert_eq!(OrderState::from_code(state.code()), Some(state));
            assert_eq!(serde_json::to_value(state).expect("json"), serde_json::json!(state.code()));
        }
        assert_eq!(OrderState::from_code("ORDER_STATUS_EXECUTED"), None, "not the wire's enum names");
    }

    #[test]
    fn an_order_is_kept_exactly_as_it_was_decided() {
        let mut kept = order(vec![line(dec!(2), dec!(0.125), dec!(0.25), Some(dec!(1)))]);
        kept.payment_type = PaymentType::DirectDeposit;
        kept.delivery_date = NaiveDate::from_ymd_opt(2026, 12, 24);
        let json = serde_json::to_string(&kept).expect("json");
        assert!(json.contains("\"0.125\"") && json.contains("\"DD\""), "amounts as exact strings: {json}");
        assert_eq!(serde_json::from_str::<Order>(&json).expect("read back"), kept);
    }

    #[test]
    fn what_ships_is_charged_today_what_waits_undated_and_the_parts_make_the_total() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 2).expect("date");
        let (payer, separate_payer) = (Uuid::from_u128(8), Uuid::from_u128(9));
        let lines = [line(dec!(2), dec!(0.125), dec!(0.25), Some(dec!(1))), line(dec!(3), dec!(1), dec!(3), None)];
        let bill_to =
            [BillTo { account_id: payer, separate: false }, BillTo { account_id: separate_payer, separate: true }];
        let made = charges(Uuid::from_u128(2), &lines, &bill_to, Some((Uuid::from_u128(1), "so-1")), eur(), today);
        let seen: Vec<_> =
            made.iter().map(|c| (c.order_line, c.quantity, c.total, c.charge_date, c.bill_to_account_id)).collect();
        assert_eq!(
            seen,
            vec![
                (Some(1), dec!(1), dec!(0.13), Some(today), payer),
                (Some(1), dec!(1), dec!(0.12), None, payer),
                (Some(2), dec!(3), dec!(3), Some(today), separate_payer),
            ]
        );
        assert!(made[2].separate && made[0].description == "WIDGET (so-1)");
        let subscription = charges(Uuid::from_u128(2), &lines[1..], &bill_to[..1], None, eur(), today);
        assert_eq!((subscription[0].order_id, subscription[0].description.as_str()), (None, "WIDGET"));
    }

    #[test]
    fn a_back_order_ships_or_is_cancelled_part_by_part_on_an_executed_order() {
        let mut placed = order(vec![line(dec!(10), dec!(1), dec!(10), Some(dec!(6)))]);
        placed.ship(1, dec!(2)).expect("ships");
        assert_eq!(placed.lines[0].backordered, Some(dec!(4)));
        assert!(placed.ship(2, dec!(1)).is_err(), "no line 2");
        assert!(placed.ship(1, dec!(5)).is_err(), "only 4 wait");
        let cancel = |order: &mut Order, quantity| order.cancel_back_order(1, quantity, eur());
        assert_eq!(cancel(&mut placed, Some(dec!(1))).expect("cancels one"), (dec!(1), None), "nothing was paid");
        assert_eq!(cancel(&mut placed, None).expect("cancels the rest"), (dec!(3), None));
        assert_eq!((placed.lines[0].backordered, placed.lines[0].cancelled), (None, Some(dec!(4))));
        assert!(!placed.back_ordered());
        assert!(cancel(&mut placed, None).is_err(), "nothing waits");
        let mut held = order(vec![line(dec!(10), dec!(1), dec!(10), Some(dec!(6)))]);
        held.state = OrderState::HeldForApproval;
        assert!(held.ship(1, dec!(1)).is_err(), "a held order ships nothing");
    }

    #[test]
    fn a_cancelled_order_waits_for_nothing_and_credits_decision_sets_its_reservations() {
        let mut placed = order(vec![line(dec!(10), dec!(1), dec!(10), Some(dec!(6)))]);
        placed.cancel("changed mind".to_owned(), DateTime::<Utc>::UNIX_EPOCH);
        assert_eq!(
            (placed.state, placed.lines[0].backordered, placed.lines[0].cancelled),
            (OrderState::Cancelled, None, Some(dec!(6)))
        );
        let mut held = order(vec![line(dec!(1), dec!(1), dec!(1), None)]);
        held.state = OrderState::HeldForApproval;
        held.decide(true, Some(Uuid::from_u128(42)), &[None, Some(Uuid::from_u128(43))]);
        assert_eq!((held.state, held.reservation_id), (OrderState::Executed, Some(Uuid::from_u128(42))));
        assert_eq!(held.payers[0].reservation_id, None, "an unreadable first reservation shifts no other");
        held.decide(false, None, &[]);
        assert_eq!(held.state, OrderState::Rejected);
    }

    #[test]
    fn an_account_orders_only_in_good_standing_with_ordering_and_the_payment_type_enabled() {
        let open = Orderer {
            standing: Standing::Active,
            managed: false,
            ordering_enabled: true,
            payment_types: vec![PaymentType::OnAccount],
        };
        assert!(check_orderer(&open, PaymentType::OnAccount).is_ok());
        let reason = |result: Result<(), BillingError>| match result {
            Err(BillingError::Precondition { reason, .. }) => reason,
            other => panic!("refused with a reason, not {other:?}"),
        };
        let with = |change: fn(&mut Orderer)| {
            let mut orderer = open.clone();
            change(&mut orderer);
            orderer
        };
        assert_eq!(reason(check_orderer(&open, PaymentType::CreditCard)), "PAYMENT_TYPE_NOT_ALLOWED");
        assert_eq!(
            reason(check_orderer(&with(|o| o.payment_types.clear()), PaymentType::OnAccount)),
            "NO_PAYMENT_TYPE"
        );
        assert_eq!(
            reason(check_orderer(&with(|o| o.ordering_enabled = false), PaymentType::OnAccount)),
            "ORDERING_DISABLED"
        );
        assert_eq!(reason(check_orderer(&with(|o| o.managed = true), PaymentType::OnAccount)), "MANAGED_BY_RESELLER");
        assert_eq!(
            reason(check_orderer(&with(|o| o.standing = Standing::Suspended), PaymentType::OnAccount)),
            "ACCOUNT_SUSPENDED"
        );
        assert_eq!(reason(check_payer(Uuid::nil(), Standing::Terminated)), "PAYER_TERMINATED");
        assert!(check_payer(Uuid::nil(), Standing::Active).is_ok());
    }
}
