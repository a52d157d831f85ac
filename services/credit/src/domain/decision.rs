//! The credit decision for one order: which of the three conditions apply,
//! what the account's policy does about each, and the verdict.
//!
//! - On hold and out of terms concern every order that could ship; out of
//!   credit only orders that use credit (on account, direct deposit), and
//!   not when an override rule lifts the limit for the order's event kind.
//! - Each applying condition's action adds a reason: BLOCK refuses, WARN
//!   accepts with a warning, WARN_CREDIT_CARD_ONLY accepts card orders with a
//!   warning and answers "card only" to the others, HOLD_FOR_APPROVAL (out of
//!   credit only) stores the order until a credit manager decides.
//! - The verdict is the most severe outcome: blocked, then card only, then
//!   held, then approved with a warning, then approved.
//! - A running quote is never dispatched and uses no credit: it is approved.

use bss_platform::payment::PaymentType;

/// What a policy does when its condition applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    NoAction,
    Block,
    Warn,
    WarnCreditCardOnly,
    /// Out of credit only.
    HoldForApproval,
    /// Out of credit only, and never a policy: the order is paid in advance
    /// from money its account keeps, so it uses no credit
    /// ([`crate::domain::authorization::authorize_or_prepay`]).
    Prepaid,
}

/// The three conditions an order is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    OnHold,
    OutOfTerms,
    OutOfCredit,
}

impl Condition {
    /// The stable code callers branch on.
    pub fn code(self) -> &'static str {
        match self {
            Condition::OnHold => "ACCOUNT_ON_HOLD",
            Condition::OutOfTerms => "ACCOUNT_OUT_OF_TERMS",
            Condition::OutOfCredit => "CREDIT_LIMIT_EXCEEDED",
        }
    }

    pub fn from_code(code: &str) -> Option<Condition> {
        [Condition::OnHold, Condition::OutOfTerms, Condition::OutOfCredit]
            .into_iter()
            .find(|condition| condition.code() == code)
    }
}

/// An account's action for each condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub on_hold: Action,
    pub out_of_terms: Action,
    pub out_of_credit: Action,
}

impl Policy {
    pub fn action(&self, condition: Condition) -> Action {
        match condition {
            Condition::OnHold => self.on_hold,
            Condition::OutOfTerms => self.out_of_terms,
            Condition::OutOfCredit => self.out_of_credit,
        }
    }
}

/// What is true of the account and the order when it is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Situation {
    pub payment_type: PaymentType,
    pub on_hold: bool,
    /// An invoice of the account is past due.
    pub out_of_terms: bool,
    /// The order would take exposure over the limit (false when unlimited).
    pub over_limit: bool,
    /// An override rule lifts the limit for this order.
    pub limit_overridden: bool,
}

/// The verdict, most severe last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    Approved,
    ApprovedWithWarning,
    HeldForApproval,
    CreditCardOnly,
    Blocked,
}

/// A condition that applied and the action taken on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reason {
    pub condition: Condition,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// Every condition that applied, in the order on hold, out of terms,
    /// out of credit, with the action taken (NO_ACTION included).
    pub reasons: Vec<Reason>,
}

impl Decision {
    /// Whether the order goes ahead now (and, when it uses credit, reserves).
    pub fn accepted(&self) -> bool {
        matches!(self.verdict, Verdict::Approved | Verdict::ApprovedWithWarning)
    }
}

/// Decides an order.
pub fn decide(policy: &Policy, situation: &Situation) -> Decision {
    if situation.payment_type == PaymentType::RunningQuote {
        return Decision { verdict: Verdict::Approved, reasons: Vec::new() };
    }
    let applies = [
        (Condition::OnHold, situation.on_hold),
        (Condition::OutOfTerms, situation.out_of_terms),
        (
            Condition::OutOfCredit,
            situation.payment_type.uses_credit() && situation.over_limit && !situation.limit_overridden,
        ),
    ];
    let mut verdict = Verdict::Approved;
    let mut reasons = Vec::new();
    for (condition, applied) in applies {
        if !applied {
            continue;
        }
        let action = policy.action(condition);
        let outcome = match action {
            Action::NoAction => Verdict::Approved,
            Action::Block => Verdict::Blocked,
            Action::Warn => Verdict::ApprovedWithWarning,
            Action::WarnCreditCardOnly if situation.payment_type == PaymentType::CreditCard => {
                Verdict::ApprovedWithWarning
            }
            Action::WarnCreditCardOnly => Verdict::CreditCardOnly,
            // Only out of credit may hold; stored policies are checked, and
            // a hold on another condition is treated as the stricter block.
            Action::HoldForApproval if condition == Condition::OutOfCredit => Verdict::HeldForApproval,
            Action::HoldForApproval => Verdict::Blocked,
            // Never a stored policy (refused on the way in); were one read,
            // it would be the stricter block.
            Action::Prepaid => Verdict::Blocked,
        };
        verdict = verdict.max(outcome);
        reasons.push(Reason { condition, action });
    }
    Decision { verdict, reasons }
}

#[cfg(test)]
mod tests;
