//! The tries of one order's payment at checkout. A PlaceOrder that took the
//! payment and then failed to store the order may be retried with the same
//! request id, or never. Each try of one request is recorded (its number,
//! amount and state) before the provider is asked: a retry of the same
//! amount pays under the earlier try's reference (the provider answers it
//! once), and what a try took for an order that was never stored is given
//! back by billing's janitor once no call can store that order any more. A
//! customer never pays twice, nor keeps paying for an order it does not
//! have.

use bss_platform::error::PlatformError;
use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use crate::domain::error::BillingError;

/// Where a try stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryState {
    /// Being asked of the provider (its call may still be running).
    Paying,
    /// Asked, and the provider's answer was not had (an error): it may
    /// hold money.
    Unknown,
    /// The provider took nothing (declined, or asked for a retry).
    NotTaken,
    /// Captured: the order is being stored.
    Taken,
    /// Captured, and its order stored: never given back, never paid under
    /// again.
    Used,
    /// Captured, and storing the order failed: no order holds it.
    Orphaned,
    /// The janitor is giving back what it took.
    GivingBack,
    /// What it took was given back.
    GivenBack,
}

impl TryState {
    pub const ALL: [TryState; 8] = [
        TryState::Paying,
        TryState::Unknown,
        TryState::NotTaken,
        TryState::Taken,
        TryState::Used,
        TryState::Orphaned,
        TryState::GivingBack,
        TryState::GivenBack,
    ];

    pub fn code(self) -> &'static str {
        match self {
            TryState::Paying => "PAYING",
            TryState::Unknown => "UNKNOWN",
            TryState::NotTaken => "NOT_TAKEN",
            TryState::Taken => "TAKEN",
            TryState::Used => "USED",
            TryState::Orphaned => "ORPHANED",
            TryState::GivingBack => "GIVING_BACK",
            TryState::GivenBack => "GIVEN_BACK",
        }
    }

    pub fn from_code(code: &str) -> Option<TryState> {
        TryState::ALL.into_iter().find(|state| state.code() == code)
    }

    /// States a retry of the same amount pays under again at once (the
    /// provider answers the earlier try's calls as it did): their call
    /// ended. A try PAYING or TAKEN may still be in its call: it is paid
    /// under again only once no call can be running.
    pub const ENDED: [TryState; 3] = [TryState::NotTaken, TryState::Unknown, TryState::Orphaned];

    /// States a try may be in when its order is stored.
    pub const PAID: [TryState; 4] = [TryState::Paying, TryState::Unknown, TryState::Taken, TryState::Orphaned];
}

/// One try of a checkout payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentTry {
    /// 1 for the first try; its provider reference is the request's, a
    /// later one's the request's and its number.
    pub number: i32,
    pub amount: Decimal,
    pub state: TryState,
    /// When it last changed (a retry paying under it again renews it).
    pub updated_at: DateTime<Utc>,
}

/// How long a try may still be running somewhere: a call's longest life
/// (the server's limit is 30 s) with a wide margin. A try paying or taken
/// since longer has no call left that could store its order.
pub const RUNNING_AT_MOST: TimeDelta = TimeDelta::minutes(2);

/// The try a try of `total` pays under after `tries` (the request's
/// earlier ones), at `now`: (number, whether it is new). A new one is
/// recorded before the provider is asked; an earlier one of the same amount
/// is claimed again (which fails if the janitor took it first). ABORTED
/// (REQUEST_IN_PROGRESS) while a try of the same amount may still be in
/// its call, and once a try's order is stored (a retry then gets the
/// stored answer).
pub fn pay_as(tries: &[PaymentTry], total: Decimal, now: DateTime<Utc>) -> Result<(i32, bool), BillingError> {
    let in_progress = || BillingError::Platform(PlatformError::RequestInProgress);
    if tries.iter().any(|earlier| earlier.state == TryState::Used) {
        return Err(in_progress());
    }
    let same = tries.iter().filter(|earlier| earlier.amount == total).max_by_key(|earlier| earlier.number);
    let next = tries.iter().map(|earlier| earlier.number).max().unwrap_or(0) + 1;
    match same {
        Some(earlier) if TryState::ENDED.contains(&earlier.state) => Ok((earlier.number, false)),
        Some(earlier) if matches!(earlier.state, TryState::Paying | TryState::Taken) => {
            match now - earlier.updated_at > RUNNING_AT_MOST {
                true => Ok((earlier.number, false)),
                false => Err(in_progress()),
            }
        }
        _ => Ok((next, true)),
    }
}

/// Whether the janitor gives back what a try took: captured for an order
/// that was never stored, or paying, taken, of unknown outcome (or being
/// given back by a janitor that stopped) since longer than any call can
/// run and no retry came.
pub fn unused(earlier: &PaymentTry, now: DateTime<Utc>) -> bool {
    match earlier.state {
        TryState::Orphaned => true,
        TryState::Paying | TryState::Unknown | TryState::Taken | TryState::GivingBack => {
            now - earlier.updated_at > RUNNING_AT_MOST
        }
        TryState::NotTaken | TryState::Used | TryState::GivenBack => false,
    }
}

/// The provider reference of try `number` of the request whose reference
/// is `base`: the first keeps the request's.
pub fn try_reference(base: &str, number: i32) -> String {
    match number {
        1 => base.to_owned(),
        number => format!("{base}:try-{number}"),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("a time")
    }

    fn tried(number: i32, amount: Decimal, state: TryState, updated: i64) -> PaymentTry {
        PaymentTry { number, amount, state, updated_at: at(updated) }
    }

    #[test]
    fn a_first_try_is_new_and_keeps_the_requests_reference() {
        assert_eq!(pay_as(&[], dec!(10.00), at(0)).expect("first"), (1, true));
        assert_eq!(try_reference("t:order-r", 1), "t:order-r");
        assert_eq!(try_reference("t:order-r", 3), "t:order-r:try-3");
    }

    #[test]
    fn a_retry_of_the_same_amount_pays_under_the_earlier_try_once_its_call_ended() {
        for state in TryState::ENDED {
            let tries = [tried(1, dec!(10.00), state, 0)];
            assert_eq!(pay_as(&tries, dec!(10.0), at(5)).expect("again"), (1, false), "{state:?}");
        }
        for state in [TryState::Paying, TryState::Taken] {
            let tries = [tried(1, dec!(10.00), state, 0)];
            let refused = pay_as(&tries, dec!(10.00), at(30)).expect_err("its call may still run");
            assert!(matches!(refused, BillingError::Platform(PlatformError::RequestInProgress)), "{state:?}");
            assert_eq!(pay_as(&tries, dec!(10.00), at(121)).expect("ended"), (1, false), "{state:?}");
        }
        for state in [TryState::GivingBack, TryState::GivenBack] {
            let tries = [tried(1, dec!(10.00), state, 0)];
            assert_eq!(pay_as(&tries, dec!(10.00), at(5)).expect("anew"), (2, true), "{state:?}");
        }
        // Priced again: a try of its own (the earlier one goes back).
        let tries = [tried(1, dec!(10.00), TryState::Orphaned, 0), tried(2, dec!(12.00), TryState::GivenBack, 0)];
        assert_eq!(pay_as(&tries, dec!(11.00), at(5)).expect("anew"), (3, true));
    }

    #[test]
    fn nothing_is_paid_once_the_requests_order_is_stored() {
        for amount in [dec!(10.00), dec!(12.00)] {
            let used = [tried(1, dec!(10.00), TryState::Used, 0)];
            let refused = pay_as(&used, amount, at(500)).expect_err("its order is stored");
            assert!(matches!(refused, BillingError::Platform(PlatformError::RequestInProgress)));
        }
    }

    #[test]
    fn the_janitor_gives_back_what_no_order_holds_once_no_call_can_store_one() {
        let now = at(1_000);
        let young = now.timestamp() - at(0).timestamp() - 60;
        assert!(unused(&tried(1, dec!(10.00), TryState::Orphaned, 999), now), "at once");
        for state in [TryState::Paying, TryState::Unknown, TryState::Taken, TryState::GivingBack] {
            assert!(!unused(&tried(1, dec!(10.00), state, young), now), "{state:?} may still run");
            assert!(unused(&tried(1, dec!(10.00), state, 0), now), "{state:?} cannot run any more");
        }
        for state in [TryState::NotTaken, TryState::Used, TryState::GivenBack] {
            assert!(!unused(&tried(1, dec!(10.00), state, 0), now), "{state:?} holds nothing to give back");
        }
    }

    #[test]
    fn a_state_is_stored_by_its_code() {
        for state in TryState::ALL {
            assert_eq!(TryState::from_code(state.code()), Some(state));
        }
        assert_eq!(TryState::from_code("LOST"), None);
    }
}
