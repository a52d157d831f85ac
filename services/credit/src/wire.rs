//! Credit's own terms to and from its contract (`bss.credit.v1`): used by
//! `grpc/` for answers and by `app/`, the consumer and the workers for the
//! events they publish.

use bss_platform::error::Violations;
use bss_platform::input::optional_text;
use bss_platform::money::{
    Currency, decimal_from_wire, decimal_to_wire, money_from_wire, money_to_wire, parse_decimal,
};
use bss_platform::time::timestamp;
use bss_proto::credit as proto;
use bss_proto::credit::{CreditAction, HeldOrderState, PaymentTermsKind, ReservationState};
use chrono::NaiveDate;
use prost::Message;
use rust_decimal::Decimal;

use uuid::Uuid;

use crate::domain::account::{CreditAccount, MAX_THRESHOLDS, Settings, TTL_RANGE, Terms, TermsInput, TermsSnapshot};
use crate::domain::authorization::{AccountReason, MAX_PAYERS, explain};
use crate::domain::decision::{Action, Condition, Policy, Reason, Verdict};
use crate::domain::exposure::{Exposure, LimitStatus};
use crate::domain::terms::PaymentTerms;
use crate::repo::{HeldOrderRow, ReservationRow};

/// An amount of the account's currency on the wire, at its minor unit
/// ("1000" in EUR is "1000.00").
pub fn money(amount: Decimal, currency: Currency) -> bss_proto::types::Money {
    money_to_wire(currency.round(amount), currency)
}

/// Longest classification and KYC profile.
const MAX_TAG: usize = 40;

pub fn action_to_wire(action: Action) -> CreditAction {
    match action {
        Action::NoAction => CreditAction::NoAction,
        Action::Block => CreditAction::Block,
        Action::Warn => CreditAction::Warn,
        Action::WarnCreditCardOnly => CreditAction::WarnCreditCardOnly,
        Action::HoldForApproval => CreditAction::HoldForApproval,
        Action::Prepaid => CreditAction::Prepaid,
    }
}

/// An action on the wire: `None` when unspecified; only out of credit may
/// hold for approval.
fn action_from_wire(v: &mut Violations, field: &str, value: i32, condition: Condition) -> Option<Option<Action>> {
    let action = match CreditAction::try_from(value) {
        Ok(CreditAction::Unspecified) => return Some(None),
        Ok(CreditAction::NoAction) => Action::NoAction,
        Ok(CreditAction::Block) => Action::Block,
        Ok(CreditAction::Warn) => Action::Warn,
        Ok(CreditAction::WarnCreditCardOnly) => Action::WarnCreditCardOnly,
        Ok(CreditAction::HoldForApproval) => Action::HoldForApproval,
        Ok(CreditAction::Prepaid) => {
            v.add(field, "PREPAID is what an order paid in advance shows, never a policy");
            return None;
        }
        Err(_) => {
            v.add(field, format!("{value} is not a credit action"));
            return None;
        }
    };
    if action == Action::HoldForApproval && condition != Condition::OutOfCredit {
        v.add(field, "only out of credit may hold for approval");
        return None;
    }
    Some(Some(action))
}

fn policy_from_wire(v: &mut Violations, field: &str, policy: &proto::CreditPolicy) -> Option<[Option<Action>; 3]> {
    let on_hold = action_from_wire(v, &format!("{field}.on_hold_action"), policy.on_hold_action, Condition::OnHold);
    let out_of_terms =
        action_from_wire(v, &format!("{field}.out_of_terms_action"), policy.out_of_terms_action, Condition::OutOfTerms);
    let out_of_credit = action_from_wire(
        v,
        &format!("{field}.out_of_credit_action"),
        policy.out_of_credit_action,
        Condition::OutOfCredit,
    );
    Some([on_hold?, out_of_terms?, out_of_credit?])
}

fn policy_to_wire(actions: [Option<Action>; 3]) -> proto::CreditPolicy {
    let wire = |action: Option<Action>| action.map_or(CreditAction::Unspecified, action_to_wire) as i32;
    proto::CreditPolicy {
        on_hold_action: wire(actions[0]),
        out_of_terms_action: wire(actions[1]),
        out_of_credit_action: wire(actions[2]),
    }
}

fn days(v: &mut Violations, field: &str, value: i32) -> Option<u32> {
    match u32::try_from(value) {
        Ok(days) => Some(days),
        Err(_) => {
            v.add(field, "must not be negative");
            None
        }
    }
}

fn ttl(v: &mut Violations, field: &str, value: i64, default: i64) -> i64 {
    let value = if value == 0 { default } else { value };
    if !TTL_RANGE.contains(&value) {
        v.add(field, format!("must be {} to {} seconds", TTL_RANGE.start(), TTL_RANGE.end()));
    }
    value
}

pub fn settings_from_wire(input: &proto::CreditSettings) -> Result<Settings, Violations> {
    let mut v = Violations::new();
    let defaults = Settings::default();
    let default_period = days(&mut v, "settings.default_credit_period_days", input.default_credit_period_days);
    let min_period = days(&mut v, "settings.min_credit_period_days", input.min_credit_period_days);
    let max_period = days(&mut v, "settings.max_credit_period_days", input.max_credit_period_days);
    if let (Some(default), Some(min), Some(max)) = (default_period, min_period, max_period) {
        if min > max {
            v.add("settings.max_credit_period_days", "must not be below min_credit_period_days");
        } else if !(min..=max).contains(&default) {
            v.add("settings.default_credit_period_days", "must be within the min and max credit periods");
        }
    }
    let default_limit = decimal_from_wire(
        &mut v,
        "settings.default_credit_limit",
        input.default_credit_limit.as_ref(),
        Some(Decimal::ZERO),
    );
    let policy = input.default_policy.unwrap_or_default();
    let actions = policy_from_wire(&mut v, "settings.default_policy", &policy);
    let policy = actions.and_then(|actions| match actions {
        [Some(on_hold), Some(out_of_terms), Some(out_of_credit)] => {
            Some(Policy { on_hold, out_of_terms, out_of_credit })
        }
        _ => {
            v.add("settings.default_policy", "every action of the tenant's default policy is required");
            None
        }
    });
    if input.notification_thresholds.len() > MAX_THRESHOLDS {
        v.add("settings.notification_thresholds", format!("at most {MAX_THRESHOLDS}"));
    }
    let mut thresholds = Vec::new();
    for (index, threshold) in input.notification_thresholds.iter().enumerate() {
        let field = format!("settings.notification_thresholds[{index}]");
        if let Some(percent) = decimal_from_wire(&mut v, &field, Some(threshold), None) {
            if percent <= Decimal::ZERO {
                v.add(field, "must be greater than zero");
            } else if thresholds.last().is_some_and(|last| *last >= percent) {
                v.add(field, "thresholds must be in ascending order");
            }
            thresholds.push(percent);
        }
    }
    let auto_suspend = match input.auto_suspend_over_percent.as_ref().filter(|value| !value.value.is_empty()) {
        None => None,
        Some(value) => {
            let percent = decimal_from_wire(&mut v, "settings.auto_suspend_over_percent", Some(value), None);
            if percent.is_some_and(|percent| percent < Decimal::ZERO) {
                v.add("settings.auto_suspend_over_percent", "must be zero or more");
            }
            percent
        }
    };
    let reservation_ttl = ttl(
        &mut v,
        "settings.reservation_ttl_seconds",
        input.reservation_ttl_seconds,
        defaults.reservation_ttl_seconds,
    );
    let held_order_ttl =
        ttl(&mut v, "settings.held_order_ttl_seconds", input.held_order_ttl_seconds, defaults.held_order_ttl_seconds);
    match (default_period, min_period, max_period, default_limit, policy) {
        (
            Some(default_period_days),
            Some(min_period_days),
            Some(max_period_days),
            Some(default_limit),
            Some(policy),
        ) if v.is_empty() => Ok(Settings {
            default_period_days,
            min_period_days,
            max_period_days,
            default_limit,
            policy,
            thresholds,
            auto_suspend_over_percent: auto_suspend,
            reservation_ttl_seconds: reservation_ttl,
            held_order_ttl_seconds: held_order_ttl,
            held_orders_credit_managers_only: input.held_orders_credit_managers_only,
            updated_at: None,
        }),
        _ => Err(v),
    }
}

pub fn settings_to_proto(settings: &Settings) -> proto::CreditSettings {
    proto::CreditSettings {
        default_credit_period_days: settings.default_period_days as i32,
        min_credit_period_days: settings.min_period_days as i32,
        max_credit_period_days: settings.max_period_days as i32,
        default_credit_limit: Some(decimal_to_wire(settings.default_limit)),
        default_policy: Some(policy_to_wire([
            Some(settings.policy.on_hold),
            Some(settings.policy.out_of_terms),
            Some(settings.policy.out_of_credit),
        ])),
        notification_thresholds: settings.thresholds.iter().copied().map(decimal_to_wire).collect(),
        auto_suspend_over_percent: settings.auto_suspend_over_percent.map(decimal_to_wire),
        reservation_ttl_seconds: settings.reservation_ttl_seconds,
        held_order_ttl_seconds: settings.held_order_ttl_seconds,
        held_orders_credit_managers_only: settings.held_orders_credit_managers_only,
        update_time: settings.updated_at.map(timestamp),
        etag: settings.etag(),
    }
}

pub fn payment_terms_to_wire(terms: PaymentTerms) -> proto::PaymentTerms {
    let kind = match terms {
        PaymentTerms::NotSpecified => PaymentTermsKind::Unspecified,
        PaymentTerms::NetDays(_) => PaymentTermsKind::NetDays,
        PaymentTerms::DayOfMonth(_) => PaymentTermsKind::DayOfMonth,
        PaymentTerms::DaysAfterEndOfMonth(_) => PaymentTermsKind::DaysAfterEndOfMonth,
        PaymentTerms::DayOfNextMonth(_) => PaymentTermsKind::DayOfNextMonth,
        PaymentTerms::CashOnDelivery => PaymentTermsKind::CashOnDelivery,
    };
    let (_, days, day) = terms.to_parts();
    proto::PaymentTerms { kind: kind as i32, days: days as i32, day_of_month: day as i32 }
}

fn payment_terms_from_wire(v: &mut Violations, input: &proto::PaymentTerms) -> Option<PaymentTerms> {
    let field = "terms.payment_terms";
    let number = |v: &mut Violations, name: &str, value: i32| days(v, &format!("{field}.{name}"), value);
    let terms = match PaymentTermsKind::try_from(input.kind) {
        Ok(PaymentTermsKind::Unspecified) => PaymentTerms::NotSpecified,
        Ok(PaymentTermsKind::NetDays) => PaymentTerms::NetDays(number(v, "days", input.days)?),
        Ok(PaymentTermsKind::DayOfMonth) => PaymentTerms::DayOfMonth(number(v, "day_of_month", input.day_of_month)?),
        Ok(PaymentTermsKind::DaysAfterEndOfMonth) => PaymentTerms::DaysAfterEndOfMonth(number(v, "days", input.days)?),
        Ok(PaymentTermsKind::DayOfNextMonth) => {
            PaymentTerms::DayOfNextMonth(number(v, "day_of_month", input.day_of_month)?)
        }
        Ok(PaymentTermsKind::CashOnDelivery) => PaymentTerms::CashOnDelivery,
        Err(_) => {
            v.add(format!("{field}.kind"), format!("{} is not a payment terms kind", input.kind));
            return None;
        }
    };
    match terms.validate() {
        Ok(terms) => Some(terms),
        Err(error) => {
            let name = match terms {
                PaymentTerms::DayOfMonth(_) | PaymentTerms::DayOfNextMonth(_) => "day_of_month",
                _ => "days",
            };
            v.add(format!("{field}.{name}"), error.to_string());
            None
        }
    }
}

pub fn terms_from_wire(v: &mut Violations, input: &proto::CreditTerms) -> Option<TermsInput> {
    // The limit as money, else as a bare number; both (terms read and sent
    // back) only when they agree.
    let bare = input.credit_limit.as_ref().filter(|limit| !limit.value.is_empty());
    let bare = bare.map(|limit| decimal_from_wire(v, "terms.credit_limit", Some(limit), None));
    let money = input.limit.as_ref().map(|money| match money_from_wire(v, "terms.limit", Some(money)) {
        Some((amount, currency)) if currency.round(amount) != amount => {
            v.add("terms.limit.amount", format!("has more decimals than {} allows", currency.code));
            None
        }
        given => given,
    });
    let (limit, limit_currency) = match (bare, money) {
        (None, None) => (Some(None), None),
        (Some(bare), None) => (bare.map(Some), None),
        (Some(Some(bare)), Some(Some((amount, _)))) if bare != amount => {
            v.add("terms.limit", "differs from credit_limit: give one of them, or both the same");
            (None, None)
        }
        (_, Some(money)) => (money.map(|(amount, _)| Some(amount)), money.map(|(_, currency)| currency)),
    };
    let rating = v.keep("terms.credit_rating", optional_text(&input.credit_rating, MAX_TAG));
    let payment_terms = payment_terms_from_wire(v, &input.payment_terms.unwrap_or_default());
    let period = days(v, "terms.credit_period_days", input.credit_period_days);
    let classification = v.keep("terms.classification", optional_text(&input.classification, MAX_TAG));
    let kyc_profile = v.keep("terms.kyc_profile", optional_text(&input.kyc_profile, MAX_TAG));
    let actions = policy_from_wire(v, "terms.policy", &input.policy.unwrap_or_default());
    Some(TermsInput {
        limit: limit?,
        limit_currency,
        unlimited: input.unlimited,
        rating: rating?,
        payment_terms: payment_terms?,
        period_days: period.filter(|days| *days > 0),
        classification: classification?,
        kyc_profile: kyc_profile?,
        actions: actions?,
    })
}

pub fn terms_to_proto(account: &CreditAccount, settings: &Settings) -> proto::CreditTerms {
    snapshot_to_proto(account.account_id, account.currency, &TermsSnapshot::of(account, settings))
}

/// An account's terms as they stood at one moment, on the wire.
pub fn snapshot_to_proto(account_id: Uuid, currency: Currency, snapshot: &TermsSnapshot) -> proto::CreditTerms {
    let terms = &snapshot.terms;
    proto::CreditTerms {
        account_id: account_id.to_string(),
        currency_code: currency.code.to_owned(),
        credit_limit: Some(decimal_to_wire(terms.limit)),
        limit: Some(money(terms.limit, currency)),
        unlimited: terms.unlimited,
        credit_rating: terms.rating.clone(),
        payment_terms: Some(payment_terms_to_wire(terms.payment_terms)),
        credit_period_days: snapshot.period_days as i32,
        classification: terms.classification.clone(),
        kyc_profile: terms.kyc_profile.clone(),
        policy: Some(policy_to_wire(terms.actions)),
        update_time: Some(timestamp(snapshot.updated_at)),
        etag: snapshot.etag(),
    }
}

/// Terms an older release stored as an encoded `CreditTerms`, in credit's
/// own terms.
pub fn stored_terms(body: &[u8]) -> Result<TermsSnapshot, String> {
    let mut stored = proto::CreditTerms::decode(body).map_err(|error| error.to_string())?;
    // The bare limit is the one kept as it was written; the Money beside it
    // is rounded to the currency, so the two may differ.
    let bare = stored.credit_limit.as_ref().map(|limit| parse_decimal(&limit.value));
    if bare.is_some() {
        stored.limit = None;
    }
    let mut v = Violations::new();
    let input = terms_from_wire(&mut v, &stored);
    let period_days = days(&mut v, "credit_period_days", stored.credit_period_days);
    let (Some(input), Some(period_days)) = (input, period_days) else {
        return Err(format!("stored terms do not read: {v:?}"));
    };
    let version = match stored.etag.strip_prefix('v') {
        Some(number) => Some(number.parse().map_err(|_| format!("etag {:?}", stored.etag))?),
        None => None,
    };
    let limit = match bare {
        Some(parsed) => parsed.map_err(|error| format!("credit limit: {error}"))?,
        None => input.limit.unwrap_or_default(),
    };
    let updated_at = stored
        .update_time
        .and_then(|at| chrono::DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).unwrap_or(0)));
    Ok(TermsSnapshot {
        terms: Terms {
            limit,
            unlimited: input.unlimited,
            rating: input.rating,
            payment_terms: input.payment_terms,
            period_days: input.period_days,
            classification: input.classification,
            kyc_profile: input.kyc_profile,
            actions: input.actions,
        },
        period_days,
        updated_at: updated_at.ok_or("stored terms without their time")?,
        version,
    })
}

/// A held order's reason an older release stored as an encoded
/// `DecisionReason`, in credit's own terms.
pub fn stored_reason(body: &[u8]) -> Result<AccountReason, String> {
    let stored = proto::DecisionReason::decode(body).map_err(|error| error.to_string())?;
    let condition = Condition::from_code(&stored.code).ok_or_else(|| format!("condition {:?}", stored.code))?;
    let mut v = Violations::new();
    let action = action_from_wire(&mut v, "action", stored.action, condition).flatten();
    let action = action.ok_or_else(|| format!("action {}", stored.action))?;
    let account_id = stored.account_id.parse().map_err(|_| format!("account {:?}", stored.account_id))?;
    Ok(AccountReason { account_id, reason: Reason { condition, action } })
}

pub fn status_to_proto(account: &CreditAccount) -> proto::CreditStatus {
    let currency = account.currency;
    let exposure = account.exposure();
    let exceeded = exposure.status() == LimitStatus::Exceeded;
    proto::CreditStatus {
        account_id: account.account_id.to_string(),
        credit_limit: exposure.limit.map(|limit| money(limit, currency)),
        unlimited: account.terms.unlimited,
        balance: Some(money(account.balance, currency)),
        reserved: Some(money(account.reserved, currency)),
        exposure: Some(money(exposure.total(), currency)),
        available_credit: exposure.available().map(|available| money(available, currency)),
        on_hold: account.on_hold,
        hold_reason: account.hold_reason.clone(),
        out_of_terms: account.out_of_terms(),
        out_of_credit: exceeded,
        credit_limit_status: if exceeded {
            proto::CreditLimitStatus::Exceeded
        } else {
            proto::CreditLimitStatus::NotExceeded
        } as i32,
    }
}

/// The account's position at the end of `day`.
pub fn exposure_point(day: NaiveDate, exposure: &Exposure, currency: Currency) -> proto::ExposurePoint {
    proto::ExposurePoint {
        date: bss_platform::time::format_date(day),
        balance: Some(money(exposure.balance, currency)),
        reserved: Some(money(exposure.reserved, currency)),
        exposure: Some(money(exposure.total(), currency)),
        credit_limit: exposure.limit.map(|limit| money(limit, currency)),
        available_credit: exposure.available().map(|available| money(available, currency)),
    }
}

/// A condition that applied to `account_id` (the ordering account when
/// `ordering`, else one of its payers).
pub fn reason_to_proto(reason: &Reason, account_id: Uuid, ordering: bool) -> proto::DecisionReason {
    proto::DecisionReason {
        code: reason.condition.code().to_owned(),
        action: action_to_wire(reason.action) as i32,
        message: explain(reason.condition, ordering).to_owned(),
        account_id: account_id.to_string(),
    }
}

pub fn reservation_to_proto(row: &ReservationRow, currency: Currency) -> proto::Reservation {
    let state = match row.state.as_str() {
        "OPEN" => ReservationState::Open,
        "CAPTURED" => ReservationState::Captured,
        "RELEASED" => ReservationState::Released,
        "EXPIRED" => ReservationState::Expired,
        _ => ReservationState::Unspecified,
    };
    proto::Reservation {
        id: row.id.to_string(),
        account_id: row.account_id.to_string(),
        order_reference: row.order_reference.clone(),
        amount: Some(money(row.amount, currency)),
        state: state as i32,
        create_time: Some(timestamp(row.created_at)),
        expire_time: row.expires_at.map(timestamp),
        close_time: row.closed_at.map(timestamp),
        open_amount: Some(money(row.open_amount, currency)),
    }
}

pub fn held_state_code(state: HeldOrderState) -> Option<&'static str> {
    match state {
        HeldOrderState::Unspecified => None,
        HeldOrderState::Pending => Some("PENDING"),
        HeldOrderState::Approved => Some("APPROVED"),
        HeldOrderState::Rejected => Some("REJECTED"),
        HeldOrderState::Expired => Some("EXPIRED"),
        HeldOrderState::Cancelled => Some("CANCELLED"),
    }
}

pub fn held_to_proto(row: &HeldOrderRow, currency: Currency) -> proto::HeldOrder {
    let state = [
        HeldOrderState::Pending,
        HeldOrderState::Approved,
        HeldOrderState::Rejected,
        HeldOrderState::Expired,
        HeldOrderState::Cancelled,
    ]
    .into_iter()
    .find(|state| held_state_code(*state) == Some(row.state.as_str()))
    .unwrap_or(HeldOrderState::Unspecified);
    proto::HeldOrder {
        id: row.id.to_string(),
        account_id: row.account_id.to_string(),
        order_reference: row.order_reference.clone(),
        amount: Some(money(row.amount, currency)),
        payment_type: row.payment_type.to_wire() as i32,
        state: state as i32,
        reasons: row
            .reasons
            .iter()
            .map(|reason| reason_to_proto(&reason.reason, reason.account_id, reason.account_id == row.account_id))
            .collect(),
        create_time: Some(timestamp(row.created_at)),
        expire_time: Some(timestamp(row.expires_at)),
        decide_time: row.decided_at.map(timestamp),
        decided_by: row.decided_by.clone(),
        note: row.note.clone(),
        reservation_id: row.reservation_id.map(|id| id.to_string()).unwrap_or_default(),
        payers: row
            .payers
            .iter()
            .map(|(account_id, amount, _)| proto::PayerShare {
                account_id: account_id.to_string(),
                amount: Some(money(*amount, currency)),
            })
            .collect(),
        reservation_ids: row
            .payers
            .iter()
            .filter_map(|(_, _, reservation)| reservation.map(|id| id.to_string()))
            .collect(),
    }
}

pub fn method_to_proto(row: &crate::repo::MethodRow) -> proto::PaymentMethod {
    proto::PaymentMethod {
        id: row.id.to_string(),
        account_id: row.account_id.to_string(),
        kind: match row.kind.as_str() {
            "wallet" => proto::PaymentMethodKind::Wallet,
            _ => proto::PaymentMethodKind::Card,
        } as i32,
        token_reference: row.token_reference.clone(),
        label: row.label.clone(),
        is_default: row.is_default,
        use_for_purchases: row.use_for_purchases,
        use_for_subscriptions: row.use_for_subscriptions,
        create_time: Some(timestamp(row.created_at)),
        update_time: Some(timestamp(row.updated_at)),
        owner_user_id: row.owner_user_id.map(|user| user.to_string()).unwrap_or_default(),
    }
}

pub fn preference_to_proto(row: &crate::repo::PreferenceRow) -> proto::PaymentPreference {
    proto::PaymentPreference {
        account_id: row.account_id.to_string(),
        card_token_reference: row.card_token_reference.clone(),
        card_label: row.card_label.clone(),
        use_for_subscriptions: row.use_for_subscriptions,
        use_for_purchases: row.use_for_purchases,
        update_time: Some(timestamp(row.updated_at)),
    }
}

/// The payers of an order on the wire: each a valid account id, named once,
/// with a share greater than zero in the order's currency; the shares add
/// up to the order's amount. Empty when none were named; `None` after a
/// violation.
pub fn payers_from_wire(
    v: &mut Violations,
    payers: &[proto::PayerShare],
    order: Option<(Decimal, Currency)>,
) -> Option<Vec<(Uuid, Decimal)>> {
    if payers.len() > MAX_PAYERS {
        v.add("payers", format!("at most {MAX_PAYERS} payers"));
        return None;
    }
    let mut parsed = Vec::with_capacity(payers.len());
    let mut bad = false;
    for (index, payer) in payers.iter().enumerate() {
        let field = |name: &str| format!("payers[{index}].{name}");
        let id = v.keep(&field("account_id"), bss_platform::input::required_id(&payer.account_id));
        let share = bss_platform::money::money_from_wire(v, &field("amount"), payer.amount.as_ref());
        match (id, share) {
            (Some(id), Some((share, currency))) => {
                if parsed.iter().any(|(seen, _)| *seen == id) {
                    v.add(field("account_id"), "names a payer twice");
                    bad = true;
                } else if share <= Decimal::ZERO || currency.round(share) != share {
                    v.add(field("amount.amount"), "must be greater than zero, at the currency's minor unit");
                    bad = true;
                } else if order.is_some_and(|(_, order_currency)| order_currency != currency) {
                    v.add(field("amount.currency_code"), "must be the order's currency");
                    bad = true;
                }
                parsed.push((id, share));
            }
            _ => bad = true,
        }
    }
    if bad {
        return None;
    }
    if let Some((amount, _)) = order
        && !parsed.is_empty()
        && parsed.iter().map(|(_, share)| *share).sum::<Decimal>() != amount
    {
        v.add("payers", "the shares must add up to the order's amount");
        return None;
    }
    Some(parsed)
}

pub fn verdict_to_wire(verdict: Verdict) -> proto::Decision {
    match verdict {
        Verdict::Approved => proto::Decision::Approved,
        Verdict::ApprovedWithWarning => proto::Decision::ApprovedWithWarning,
        Verdict::CreditCardOnly => proto::Decision::CreditCardOnly,
        Verdict::HeldForApproval => proto::Decision::HeldForApproval,
        Verdict::Blocked => proto::Decision::Blocked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_kept_as_wire_messages_read_back_with_the_limit_as_written() {
        let stored = proto::CreditTerms {
            currency_code: "JPY".to_owned(),
            credit_limit: Some(decimal_to_wire("1000.5".parse().expect("decimal"))),
            limit: Some(bss_proto::types::Money { currency_code: "JPY".to_owned(), amount: "1001".to_owned() }),
            credit_period_days: 30,
            update_time: Some(timestamp(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH)),
            ..proto::CreditTerms::default()
        };
        let read = stored_terms(&stored.encode_to_vec()).expect("the bare limit wins");
        assert_eq!(read.terms.limit.to_string(), "1000.5");
        assert_eq!((read.period_days, read.version, read.etag()), (30, None, String::new()), "kept before etags");
        let reason =
            reason_to_proto(&Reason { condition: Condition::OnHold, action: Action::Block }, Uuid::nil(), true);
        let read = stored_reason(&reason.encode_to_vec()).expect("a reason");
        assert_eq!(read.reason, Reason { condition: Condition::OnHold, action: Action::Block });
    }
}
