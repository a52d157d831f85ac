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

use bss_platform::error::Violations;
use bss_platform::money::Currency;
use bss_platform::payment::PaymentType;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::account::{CreditAccount, Settings};
use super::decision::{self, Action, Condition, Policy, Reason, Situation, Verdict};
use super::error::CreditError;
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Accepted as paid in advance ([`authorize_or_prepay`]): it reserves
    /// nothing, and the caller takes the money.
    pub prepaid: bool,
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
        if !self.accepted() || !payment_type.uses_credit() || self.prepaid {
            return Vec::new();
        }
        parties
            .iter()
            .filter(|party| party.share > Decimal::ZERO)
            .map(|party| (party.account_id, party.share))
            .collect()
    }
}

/// One share of an order as decided: what its payer had available, and
/// has after the order (less the share when it was reserved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareOutcome {
    pub account_id: Uuid,
    pub share: Decimal,
    /// `None`: the payer has no limit.
    pub available_before: Option<Decimal>,
    pub available_after: Option<Decimal>,
    /// The share is reserved on its payer.
    pub reserved: bool,
}

impl Authorization {
    /// Each share (in the order given) as decided, from its payer among
    /// `parties`; a share whose payer is not a party is left out.
    pub fn outcomes(
        &self,
        payment_type: PaymentType,
        parties: &[Party],
        shares: &[(Uuid, Decimal)],
    ) -> Vec<ShareOutcome> {
        let reservations = self.reservations(payment_type, parties);
        shares
            .iter()
            .filter_map(|&(account_id, share)| {
                let party = parties.iter().find(|party| party.account_id == account_id)?;
                let reserved = reservations.iter().any(|(payer, _)| *payer == account_id);
                let available_before = party.exposure.available();
                let available_after =
                    available_before.map(|available| if reserved { available - share } else { available });
                Some(ShareOutcome { account_id, share, available_before, available_after, reserved })
            })
            .collect()
    }
}

/// Who pays what of an order of `account_id` for `amount`: the payers
/// named, else the account alone.
pub fn shares(account_id: Uuid, amount: Decimal, payers: Vec<(Uuid, Decimal)>) -> Vec<(Uuid, Decimal)> {
    if payers.is_empty() { vec![(account_id, amount)] } else { payers }
}

/// The accounts an order concerns, each once: the ordering account first,
/// then each payer in the order named.
pub fn concerned(account_id: Uuid, shares: &[(Uuid, Decimal)]) -> Vec<Uuid> {
    let mut ids = vec![account_id];
    for (payer, _) in shares {
        if !ids.contains(payer) {
            ids.push(*payer);
        }
    }
    ids
}

/// INVALID_ARGUMENT unless an order's `amount` is in the account's
/// currency and has no more decimals than that currency's minor unit.
pub fn check_amount(account: &CreditAccount, amount: Decimal, currency: Currency) -> Result<(), CreditError> {
    account.check_currency("amount.currency_code", currency)?;
    if currency.round(amount) != amount {
        let why = format!("has more decimals than {} allows", currency.code);
        return Err(Violations::single("amount.amount", why).into());
    }
    Ok(())
}

/// Whether an order may take the one-statement fast path: its account pays
/// all of a non-zero amount on credit, no external check vetoed it, and
/// the account is clean for it as last read ([`is_clean`]). Anything else
/// (payers, a free order, a card, a veto, a condition) is decided in full.
pub fn takes_fast_path(
    account: &CreditAccount,
    thresholds: &[Decimal],
    payment_type: PaymentType,
    shares: &[(Uuid, Decimal)],
    vetoed: bool,
) -> bool {
    let [(payer, amount)] = shares else { return false };
    *payer == account.account_id
        && *amount > Decimal::ZERO
        && payment_type.uses_credit()
        && !vetoed
        && is_clean(account, thresholds, *amount)
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
    Authorization { verdict, reasons, veto, over_limit, prepaid: false }
}

/// Decides an order its caller can pay in advance from money the account
/// keeps (a wallet): when the account pays alone and its share would take
/// it over its limit, the share is prepaid instead of using credit, with
/// the out-of-credit reason's action PREPAID and nothing reserved, if that
/// leaves the order accepted (a hold or a veto still refuses it). Anything
/// else is decided as [`authorize`].
pub fn authorize_or_prepay(
    payment_type: PaymentType,
    parties: &[Party],
    veto: Option<String>,
    prepay: bool,
) -> Authorization {
    let decided = authorize(payment_type, parties, veto.clone());
    let alone = parties.len() == 1;
    if !prepay || !alone || !decided.over_limit {
        return decided;
    }
    // Decided again as if the limit were lifted, the out-of-credit reason
    // then added with the action taken.
    let lifted: Vec<Party> = parties.iter().map(|party| Party { limit_lifted: true, ..party.clone() }).collect();
    let mut prepaid = authorize(payment_type, &lifted, veto);
    if !prepaid.accepted() {
        return decided;
    }
    let reason = Reason { condition: Condition::OutOfCredit, action: Action::Prepaid };
    prepaid.reasons.push(AccountReason { account_id: parties[0].account_id, reason });
    prepaid.prepaid = true;
    prepaid
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
    fn an_order_over_the_limit_is_prepaid_when_its_account_pays_alone_and_nothing_else_refuses_it() {
        let over = [party(1, dec!(80.00), Some(dec!(50)))];
        let prepaid = authorize_or_prepay(PaymentType::OnAccount, &over, None, true);
        assert_eq!(prepaid.verdict, Verdict::Approved);
        assert!(prepaid.prepaid && !prepaid.over_limit, "nothing to suggest: it is paid");
        assert_eq!(
            prepaid.reasons,
            vec![AccountReason {
                account_id: Uuid::from_u128(1),
                reason: Reason { condition: Condition::OutOfCredit, action: Action::Prepaid }
            }]
        );
        assert!(prepaid.reservations(PaymentType::OnAccount, &over).is_empty(), "a prepaid order uses no credit");
        // Not asked: the policy decides (block).
        let decided = authorize_or_prepay(PaymentType::OnAccount, &over, None, false);
        assert_eq!((decided.verdict, decided.prepaid), (Verdict::Blocked, false));
        // Within the limit: credit as usual, reserved.
        let within = [party(1, dec!(40.00), Some(dec!(50)))];
        let decided = authorize_or_prepay(PaymentType::OnAccount, &within, None, true);
        assert!(!decided.prepaid);
        assert_eq!(decided.reservations(PaymentType::OnAccount, &within), vec![(Uuid::from_u128(1), dec!(40.00))]);
        // A hold still blocks: the wallet pays nothing.
        let mut held = party(1, dec!(80.00), Some(dec!(50)));
        held.on_hold = true;
        let decided = authorize_or_prepay(PaymentType::OnAccount, &[held], None, true);
        assert_eq!((decided.verdict, decided.prepaid), (Verdict::Blocked, false));
        assert!(decided.reasons.iter().any(|reason| reason.reason.action == Action::Block));
        // A veto too.
        let decided = authorize_or_prepay(PaymentType::OnAccount, &over, Some("bureau".to_owned()), true);
        assert_eq!((decided.verdict, decided.prepaid), (Verdict::Blocked, false));
        // Another payer: never prepaid from the ordering account.
        let funded = [party(1, Decimal::ZERO, Some(dec!(1000))), party(2, dec!(80.00), Some(dec!(50)))];
        assert!(!authorize_or_prepay(PaymentType::OnAccount, &funded, None, true).prepaid);
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
    fn each_share_shows_its_payers_room_before_and_after_what_it_reserved() {
        let parties = [party(1, Decimal::ZERO, None), party(2, dec!(70.00), Some(dec!(100)))];
        let shares = [(Uuid::from_u128(2), dec!(70.00))];
        let decided = authorize(PaymentType::OnAccount, &parties, None);
        let outcome = decided.outcomes(PaymentType::OnAccount, &parties, &shares);
        assert_eq!(
            outcome,
            vec![ShareOutcome {
                account_id: Uuid::from_u128(2),
                share: dec!(70.00),
                available_before: Some(dec!(100)),
                available_after: Some(dec!(30.00)),
                reserved: true,
            }]
        );
        let card = decided.outcomes(PaymentType::CreditCard, &parties, &shares);
        assert_eq!((card[0].reserved, card[0].available_after), (false, Some(dec!(100))), "a card reserves nothing");
    }

    #[test]
    fn the_ordering_account_comes_first_and_each_payer_once() {
        let (me, parent) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(shares(me, dec!(5), Vec::new()), vec![(me, dec!(5))], "no payers: the account pays");
        let split = vec![(parent, dec!(3)), (me, dec!(2))];
        assert_eq!(concerned(me, &split), vec![me, parent]);
    }

    fn credit_account(limit: Decimal) -> CreditAccount {
        let settings = Settings::default();
        CreditAccount {
            account_id: Uuid::from_u128(1),
            currency: Currency::parse("EUR").expect("valid"),
            terms: crate::domain::account::Terms { limit, ..crate::domain::account::Terms::defaults(&settings) },
            balance: Decimal::ZERO,
            reserved: Decimal::ZERO,
            on_hold: false,
            hold_reason: String::new(),
            overdue_invoices: 0,
            updated_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            terms_version: 1,
        }
    }

    #[test]
    fn only_a_clean_order_the_account_pays_alone_on_credit_takes_the_fast_path() {
        let account = credit_account(dec!(100));
        let me = account.account_id;
        let fast = |payment_type, shares: &[(Uuid, Decimal)], vetoed| {
            takes_fast_path(&account, &[], payment_type, shares, vetoed)
        };
        assert!(fast(PaymentType::OnAccount, &[(me, dec!(50))], false));
        assert!(!fast(PaymentType::OnAccount, &[(me, dec!(150))], false), "over the limit");
        assert!(!fast(PaymentType::OnAccount, &[(me, Decimal::ZERO)], false), "a free order");
        assert!(!fast(PaymentType::CreditCard, &[(me, dec!(50))], false), "a card");
        assert!(!fast(PaymentType::OnAccount, &[(me, dec!(50))], true), "vetoed");
        assert!(!fast(PaymentType::OnAccount, &[(Uuid::from_u128(2), dec!(50))], false), "a payer");
        assert!(!fast(PaymentType::OnAccount, &[(me, dec!(20)), (Uuid::from_u128(2), dec!(30))], false));
    }

    #[test]
    fn an_amount_is_in_the_accounts_currency_at_its_minor_unit() {
        let account = credit_account(dec!(100));
        let eur = Currency::parse("EUR").expect("valid");
        assert!(check_amount(&account, dec!(10.50), eur).is_ok());
        assert!(matches!(check_amount(&account, dec!(10.505), eur), Err(CreditError::Invalid(_))));
        assert!(matches!(
            check_amount(&account, dec!(10), Currency::parse("USD").expect("valid")),
            Err(CreditError::Invalid(_))
        ));
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
