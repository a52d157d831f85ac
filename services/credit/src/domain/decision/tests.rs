//! The decision function against its rules: examples for each action, then
//! the rules checked over every combination of policy and situation (5^3
//! policies x 5 payment types x 16 flag sets = 10,000 cases).

use bss_platform::payment::PaymentType;

use super::*;

const ACTIONS: [Action; 5] =
    [Action::NoAction, Action::Block, Action::Warn, Action::WarnCreditCardOnly, Action::HoldForApproval];

fn policy(on_hold: Action, out_of_terms: Action, out_of_credit: Action) -> Policy {
    Policy { on_hold, out_of_terms, out_of_credit }
}

fn situation(payment_type: PaymentType) -> Situation {
    Situation { payment_type, on_hold: false, out_of_terms: false, over_limit: false, limit_overridden: false }
}

fn every_case() -> impl Iterator<Item = (Policy, Situation)> {
    let policies = ACTIONS
        .into_iter()
        .flat_map(|a| ACTIONS.into_iter().flat_map(move |b| ACTIONS.into_iter().map(move |c| policy(a, b, c))));
    policies.flat_map(|policy| {
        PaymentType::ALL.into_iter().flat_map(move |payment_type| {
            (0u8..16).map(move |flags| {
                let situation = Situation {
                    payment_type,
                    on_hold: flags & 1 != 0,
                    out_of_terms: flags & 2 != 0,
                    over_limit: flags & 4 != 0,
                    limit_overridden: flags & 8 != 0,
                };
                (policy, situation)
            })
        })
    })
}

#[test]
fn a_clean_order_is_approved_without_reasons() {
    let strict = policy(Action::Block, Action::Block, Action::Block);
    for payment_type in PaymentType::ALL {
        let decision = decide(&strict, &situation(payment_type));
        assert_eq!(decision, Decision { verdict: Verdict::Approved, reasons: vec![] });
        assert!(decision.accepted());
    }
}

#[test]
fn out_of_credit_blocks_holds_or_warns_as_the_policy_says() {
    let over = Situation { over_limit: true, ..situation(PaymentType::OnAccount) };
    let verdict = |action| decide(&policy(Action::Block, Action::Block, action), &over).verdict;
    assert_eq!(verdict(Action::Block), Verdict::Blocked);
    assert_eq!(verdict(Action::HoldForApproval), Verdict::HeldForApproval);
    assert_eq!(verdict(Action::Warn), Verdict::ApprovedWithWarning);
    assert_eq!(verdict(Action::WarnCreditCardOnly), Verdict::CreditCardOnly);
    assert_eq!(verdict(Action::NoAction), Verdict::Approved);
    let decision = decide(&policy(Action::Block, Action::Block, Action::Warn), &over);
    assert_eq!(decision.reasons, vec![Reason { condition: Condition::OutOfCredit, action: Action::Warn }]);
}

#[test]
fn card_orders_use_no_credit_and_pass_a_card_only_policy() {
    let card = Situation { on_hold: true, over_limit: true, ..situation(PaymentType::CreditCard) };
    let decision = decide(&policy(Action::WarnCreditCardOnly, Action::Block, Action::Block), &card);
    assert_eq!(decision.verdict, Verdict::ApprovedWithWarning);
    assert_eq!(decision.reasons, vec![Reason { condition: Condition::OnHold, action: Action::WarnCreditCardOnly }]);
    let on_account = Situation { payment_type: PaymentType::OnAccount, ..card };
    let decision = decide(&policy(Action::WarnCreditCardOnly, Action::Block, Action::Warn), &on_account);
    assert_eq!(decision.verdict, Verdict::CreditCardOnly);
    assert_eq!(decision.reasons.len(), 2);
}

#[test]
fn an_override_lifts_the_limit_but_not_the_hold() {
    let overridden =
        Situation { on_hold: true, over_limit: true, limit_overridden: true, ..situation(PaymentType::DirectDeposit) };
    let decision = decide(&policy(Action::Warn, Action::Block, Action::Block), &overridden);
    assert_eq!(decision.verdict, Verdict::ApprovedWithWarning);
    assert_eq!(decision.reasons, vec![Reason { condition: Condition::OnHold, action: Action::Warn }]);
}

#[test]
fn the_most_severe_outcome_wins_and_every_reason_is_listed() {
    let everything =
        Situation { on_hold: true, out_of_terms: true, over_limit: true, ..situation(PaymentType::OnAccount) };
    let decision = decide(&policy(Action::Warn, Action::Block, Action::HoldForApproval), &everything);
    assert_eq!(decision.verdict, Verdict::Blocked);
    let conditions: Vec<_> = decision.reasons.iter().map(|reason| reason.condition).collect();
    assert_eq!(conditions, vec![Condition::OnHold, Condition::OutOfTerms, Condition::OutOfCredit]);
}

#[test]
fn a_running_quote_is_always_approved() {
    let everything =
        Situation { on_hold: true, out_of_terms: true, over_limit: true, ..situation(PaymentType::RunningQuote) };
    let decision = decide(&policy(Action::Block, Action::Block, Action::Block), &everything);
    assert_eq!(decision, Decision { verdict: Verdict::Approved, reasons: vec![] });
}

/// The rules, stated on their own terms, checked over every case.
#[test]
fn every_combination_follows_the_rules() {
    let mut cases = 0;
    for (policy, situation) in every_case() {
        cases += 1;
        let decision = decide(&policy, &situation);
        if situation.payment_type == PaymentType::RunningQuote {
            assert_eq!(decision.verdict, Verdict::Approved);
            assert!(decision.reasons.is_empty());
            continue;
        }
        // The reasons are exactly the applying conditions, in order.
        let credit_applies =
            situation.payment_type.uses_credit() && situation.over_limit && !situation.limit_overridden;
        let expected: Vec<Condition> = [
            situation.on_hold.then_some(Condition::OnHold),
            situation.out_of_terms.then_some(Condition::OutOfTerms),
            credit_applies.then_some(Condition::OutOfCredit),
        ]
        .into_iter()
        .flatten()
        .collect();
        let listed: Vec<Condition> = decision.reasons.iter().map(|reason| reason.condition).collect();
        assert_eq!(listed, expected, "{policy:?} {situation:?}");
        for reason in &decision.reasons {
            assert_eq!(reason.action, policy.action(reason.condition));
        }

        let any = |wanted: &dyn Fn(&Reason) -> bool| decision.reasons.iter().any(wanted);
        let card = situation.payment_type == PaymentType::CreditCard;
        let blocks = any(&|r| {
            r.action == Action::Block || (r.action == Action::HoldForApproval && r.condition != Condition::OutOfCredit)
        });
        let card_only = any(&|r| r.action == Action::WarnCreditCardOnly && !card);
        let holds = any(&|r| r.action == Action::HoldForApproval && r.condition == Condition::OutOfCredit);
        let warns = any(&|r| r.action == Action::Warn || (r.action == Action::WarnCreditCardOnly && card));
        let expected_verdict = if blocks {
            Verdict::Blocked
        } else if card_only {
            Verdict::CreditCardOnly
        } else if holds {
            Verdict::HeldForApproval
        } else if warns {
            Verdict::ApprovedWithWarning
        } else {
            Verdict::Approved
        };
        assert_eq!(decision.verdict, expected_verdict, "{policy:?} {situation:?}");

        // Clearing a condition never makes the verdict more severe.
        for cleared in [
            Situation { on_hold: false, ..situation },
            Situation { out_of_terms: false, ..situation },
            Situation { over_limit: false, ..situation },
            Situation { limit_overridden: true, ..situation },
        ] {
            assert!(decide(&policy, &cleared).verdict <= decision.verdict, "{policy:?} {situation:?} -> {cleared:?}");
        }
    }
    assert_eq!(cases, 10_000);
}
