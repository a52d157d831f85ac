//! Authorizing an order against every account it concerns: the ordering
//! account and the accounts that pay for it (a bill-to parent, a group
//! parent for what it funds, a managed copy's tenant reseller) [S4].
//!
//! - Each account's hold and out-of-terms condition applies under its own
//!   policy: the ordering account's, and each payer's ("rules and
//!   restrictions that apply to a parent account also apply to its
//!   members").
//! - Out of credit belongs to the payers alone: each payer's share against
//!   its own limit and exposure, unless an override rule lifts that payer's
//!   limit for the order's event kind. Only orders that use credit (on
//!   account, direct deposit) are checked against limits.
//! - The verdict is the most severe over every account (see
//!   [`decision::decide`]); an accepted order that uses credit reserves each
//!   share on its payer, so no amount is ever counted on two accounts.
//! - An external credit check's veto blocks the order whatever else held.

use bss_platform::payment::PaymentType;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::account::{CreditAccount, Settings};
use super::decision::{self, Condition, Policy, Reason, Situation, Verdict};
use super::exposure::{Exposure, thresholds_crossed};

/// Most payers of one order.
pub const MAX_PAYERS: usize = 10;

/// One account an order concerns, as it stands when the order is decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    pub account_id: Uuid,
    /// The account's policy in force (its own actions, else the tenant's).
    pub policy: Policy,
    pub on_hold: bool,
    pub out_of_terms: bool,
    pub exposure: Exposure,
    /// What this account pays of the order; zero for an ordering account
    /// whose payers pay all of it.
    pub share: Decimal,
    /// An override rule lifts this account's limit for the order's kind.
    pub limit_lifted: bool,
}

impl Party {
    /// The party of a credit account with its share.
    pub fn of(account: &CreditAccount, settings: &Settings, share: Decimal, limit_lifted: bool) -> Party {
        Party {
            account_id: account.account_id,
            policy: account.terms.policy(settings),
            on_hold: account.on_hold,
            out_of_terms: account.out_of_terms(),
            exposure: account.exposure(),
            share,
            limit_lifted,
        }
    }

    /// Whether this account's share would take it over its limit.
    pub fn over_limit(&self, payment_type: PaymentType) -> bool {
        payment_type.uses_credit() && self.share > Decimal::ZERO && self.exposure.would_exceed(self.share)
    }
}

/// A condition that applied to one account, and the action taken on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountReason {
    pub account_id: Uuid,
    pub reason: Reason,
}

/// What credit decides about an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    pub verdict: Verdict,
    /// Every condition that applied, account by account in the parties'
    /// order, with the action taken (NO_ACTION included).
    pub reasons: Vec<AccountReason>,
    /// The external credit check's reason, when it vetoed the order.
    pub veto: Option<String>,
    /// Some payer's share would take it over its limit (an override rule
    /// did not lift): the caller may suggest another way to pay.
    pub over_limit: bool,
}

impl Authorization {
    /// Whether the order goes ahead now.
    pub fn accepted(&self) -> bool {
        matches!(self.verdict, Verdict::Approved | Verdict::ApprovedWithWarning)
    }

    /// The reservations an accepted order makes: each payer's share, on
    /// that payer; none for orders that do not use credit, or that were not
    /// accepted.
    pub fn reservations(&self, payment_type: PaymentType, parties: &[Party]) -> Vec<(Uuid, Decimal)> {
        if !self.accepted() || !payment_type.uses_credit() {
            return Vec::new();
        }
        parties
            .iter()
            .filter(|party| party.share > Decimal::ZERO)
            .map(|party| (party.account_id, party.share))
            .collect()
    }
}

/// Decides an order of `payment_type` concerning `parties` (each account
/// once: the ordering account and its payers); `veto` is an external credit
/// check's refusal.
pub fn authorize(payment_type: PaymentType, parties: &[Party], veto: Option<String>) -> Authorization {
    let mut verdict = Verdict::Approved;
    let mut reasons = Vec::new();
    let mut over_limit = false;
    for party in parties {
        let situation = Situation {
            payment_type,
            on_hold: party.on_hold,
            out_of_terms: party.out_of_terms,
            over_limit: party.over_limit(payment_type),
            limit_overridden: party.limit_lifted,
        };
        over_limit |= situation.over_limit && !situation.limit_overridden;
        let decision = decision::decide(&party.policy, &situation);
        verdict = verdict.max(decision.verdict);
        reasons
            .extend(decision.reasons.into_iter().map(|reason| AccountReason { account_id: party.account_id, reason }));
    }
    if veto.is_some() {
        verdict = Verdict::Blocked;
    }
    Authorization { verdict, reasons, veto, over_limit }
}

/// Whether, as last read, the account would simply approve an order of its
/// own for `amount` on credit: not on hold, not out of terms, within its
/// limit, crossing no notification threshold. This is the guard of the
/// one-statement fast path, which checks it again in SQL as it reserves
/// (`repo::reserve_if_clean`); a property test proves the two agree.
pub fn is_clean(account: &CreditAccount, thresholds: &[Decimal], amount: Decimal) -> bool {
    let exposure = account.exposure();
    let before = exposure.total();
    !account.on_hold
        && !account.out_of_terms()
        && !exposure.would_exceed(amount)
        && thresholds_crossed(exposure.limit, thresholds, before, before + amount).is_empty()
}

/// A sentence for people about a condition that applied to an account.
pub fn explain(condition: Condition, ordering: bool) -> &'static str {
    match (condition, ordering) {
        (Condition::OnHold, true) => "the account is on hold",
        (Condition::OnHold, false) => "the account paying for the order is on hold",
        (Condition::OutOfTerms, true) => "an invoice of the account is past due",
        (Condition::OutOfTerms, false) => "an invoice of the account paying for the order is past due",
        (Condition::OutOfCredit, true) => "the order would take the account over its credit limit",
        (Condition::OutOfCredit, false) => "the order would take the account paying for it over its credit limit",
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::domain::decision::Action;

    fn party(id: u128, share: Decimal, limit: Option<Decimal>) -> Party {
        Party {
            account_id: Uuid::from_u128(id),
            policy: Policy { on_hold: Action::Block, out_of_terms: Action::Warn, out_of_credit: Action::Block },
            on_hold: false,
            out_of_terms: false,
            exposure: Exposure { balance: Decimal::ZERO, reserved: Decimal::ZERO, limit },
            share,
            limit_lifted: false,
        }
    }

    #[test]
    fn a_child_without_credit_of_its_own_is_decided_by_its_parents_limit() {
        let child = party(1, Decimal::ZERO, Some(Decimal::ZERO));
        let parent = party(2, dec!(80.00), Some(dec!(100)));
        let parties = [child, parent];
        let decided = authorize(PaymentType::OnAccount, &parties, None);
        assert_eq!(decided.verdict, Verdict::Approved);
        assert_eq!(decided.reservations(PaymentType::OnAccount, &parties), vec![(Uuid::from_u128(2), dec!(80.00))]);
        let poor = [party(1, Decimal::ZERO, Some(dec!(1000))), party(2, dec!(80.00), Some(dec!(50)))];
        let decided = authorize(PaymentType::OnAccount, &poor, None);
        assert_eq!(decided.verdict, Verdict::Blocked, "the child's room does not help its parent");
        assert_eq!(decided.reasons[0].account_id, Uuid::from_u128(2));
        assert_eq!(decided.reasons[0].reason.condition, Condition::OutOfCredit);
        assert!(decided.over_limit);
        assert!(decided.reservations(PaymentType::OnAccount, &poor).is_empty());
    }

    #[test]
    fn a_partly_funded_order_reserves_each_share_on_its_payer_and_needs_both() {
        let parties = [party(1, dec!(30.00), Some(dec!(50))), party(2, dec!(70.00), Some(dec!(100)))];
        let decided = authorize(PaymentType::DirectDeposit, &parties, None);
        assert_eq!(
            decided.reservations(PaymentType::DirectDeposit, &parties),
            vec![(Uuid::from_u128(1), dec!(30.00)), (Uuid::from_u128(2), dec!(70.00))]
        );
        let child_short = [party(1, dec!(60.00), Some(dec!(50))), party(2, dec!(70.00), Some(dec!(100)))];
        assert_eq!(authorize(PaymentType::DirectDeposit, &child_short, None).verdict, Verdict::Blocked);
    }

    #[test]
    fn the_ordering_accounts_hold_applies_even_when_its_parent_pays() {
        let mut child = party(1, Decimal::ZERO, Some(Decimal::ZERO));
        child.on_hold = true;
        let parties = [child, party(2, dec!(10.00), None)];
        let decided = authorize(PaymentType::OnAccount, &parties, None);
        assert_eq!(decided.verdict, Verdict::Blocked);
        assert_eq!(
            decided.reasons,
            vec![AccountReason {
                account_id: Uuid::from_u128(1),
                reason: Reason { condition: Condition::OnHold, action: Action::Block }
            }]
        );
    }

    #[test]
    fn a_payers_hold_applies_to_its_members_card_orders_but_no_limit_does() {
        let mut parent = party(2, dec!(500.00), Some(Decimal::ZERO));
        parent.policy.on_hold = Action::WarnCreditCardOnly;
        parent.on_hold = true;
        let parties = [party(1, Decimal::ZERO, Some(Decimal::ZERO)), parent];
        let card = authorize(PaymentType::CreditCard, &parties, None);
        assert_eq!(card.verdict, Verdict::ApprovedWithWarning, "a card order passes the parent's limit of 0");
        assert!(card.reservations(PaymentType::CreditCard, &parties).is_empty(), "cards reserve nothing");
        assert_eq!(authorize(PaymentType::PayPal, &parties, None).verdict, Verdict::CreditCardOnly);
        assert_eq!(authorize(PaymentType::OnAccount, &parties, None).verdict, Verdict::Blocked, "over the limit");
    }

    #[test]
    fn an_override_on_the_payer_lifts_its_limit_and_a_veto_blocks_everything() {
        let mut parent = party(2, dec!(500.00), Some(dec!(100)));
        parent.limit_lifted = true;
        let parties = [party(1, Decimal::ZERO, None), parent];
        let decided = authorize(PaymentType::OnAccount, &parties, None);
        assert_eq!((decided.verdict, decided.over_limit), (Verdict::Approved, false));
        let vetoed = authorize(PaymentType::OnAccount, &parties, Some("bureau says no".into()));
        assert_eq!(vetoed.verdict, Verdict::Blocked);
        assert!(vetoed.reservations(PaymentType::OnAccount, &parties).is_empty());
    }

    #[test]
    fn the_verdict_is_the_most_severe_over_every_account() {
        let mut child = party(1, dec!(10.00), None);
        child.out_of_terms = true; // WARN
        let mut parent = party(2, dec!(90.00), Some(dec!(50)));
        parent.policy.out_of_credit = Action::HoldForApproval;
        let decided = authorize(PaymentType::OnAccount, &[child, parent], None);
        assert_eq!(decided.verdict, Verdict::HeldForApproval);
        assert_eq!(decided.reasons.len(), 2);
    }
}
