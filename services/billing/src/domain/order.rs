//! The rules of an order once it is priced: what of a line ships now and
//! what waits as a back order, what each part costs (exact to the cent: the
//! parts of a line always add up to its total), who pays what, what
//! credit's verdict makes of it, and when it may be cancelled.

use bss_platform::money::Currency;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::error::BillingError;

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

    /// Whether its charges are recorded at all: executed, or held and
    /// waiting to be executed.
    pub fn keeps_charges(self) -> bool {
        matches!(self, OrderState::Executed | OrderState::HeldForApproval)
    }
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
}
