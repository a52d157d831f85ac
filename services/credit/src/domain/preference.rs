//! Saved payment methods hold a token reference from the payment
//! provider, never card data: a value that looks like a card number (12 to
//! 19 digits, spaces or dashes aside, passing the Luhn check) is refused.
//! Each owner of methods (see below) has exactly one default.
//!
//! Whose a method is: on a shared account (a generic account the tenant
//! names for guests or a registration profile, whose users are unrelated
//! shoppers) a method a customer's user saves is that user's own; every
//! other method is the account's. Each owner (the account, or one user)
//! has its own default. A user sees and uses the account's methods and
//! its own, never another user's; on a shared account it changes only its
//! own (the account's are the tenant's staff's to change). Methods saved
//! before owners existed (credit's migration 0012) are the account's.

use uuid::Uuid;

use super::error::CreditError;

/// Who a method saved by `user` (a customer's own user; `None`: staff or a
/// service) on an account that is `shared` or not belongs to: that user
/// on a shared account, else the account (`None`).
pub fn owner_of_saved(user: Option<Uuid>, shared: bool) -> Option<Uuid> {
    user.filter(|_| shared)
}

/// Whether `viewer` (a customer's own user; `None`: staff or a service)
/// sees a method owned by `owner`: staff see every method, a user the
/// account's and its own.
pub fn visible_to(owner: Option<Uuid>, viewer: Option<Uuid>) -> bool {
    owner.is_none() || viewer.is_none() || owner == viewer
}

/// Whether `changer` (as for [`visible_to`]) may change or remove a method
/// owned by `owner` that it sees, on an account that is `shared` or not:
/// METHOD_OF_SHARED_ACCOUNT for a user changing the account's method of a
/// shared account.
pub fn check_change(owner: Option<Uuid>, changer: Option<Uuid>, shared: bool) -> Result<(), CreditError> {
    match (owner, changer) {
        (None, Some(_)) if shared => Err(CreditError::precondition(
            "METHOD_OF_SHARED_ACCOUNT",
            "this account is shared by unrelated users: its own methods are changed by the tenant's staff",
        )),
        _ => Ok(()),
    }
}

/// Whether a method is the default after a change asking `asked` (`None`:
/// unchanged): a default stays one until another method is made the
/// default (DEFAULT_METHOD_REQUIRED).
pub fn default_after(current: bool, asked: Option<bool>) -> Result<bool, CreditError> {
    match (current, asked) {
        (true, Some(false)) => Err(CreditError::precondition(
            "DEFAULT_METHOD_REQUIRED",
            "an account with saved methods keeps a default one: make another method the default instead",
        )),
        (_, Some(asked)) => Ok(asked),
        (current, None) => Ok(current),
    }
}

/// Whether `text` looks like a primary account number.
pub fn looks_like_card_number(text: &str) -> bool {
    let digits: Vec<u32> = text
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()
        .unwrap_or_default();
    if !(12..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(index, digit)| if index % 2 == 1 { (digit * 2).div_euclid(10) + (digit * 2) % 10 } else { *digit })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_unset_only_by_making_another_the_default() {
        assert!(default_after(false, Some(true)).expect("made default"));
        assert!(default_after(true, None).expect("unchanged"));
        assert!(!default_after(false, None).expect("unchanged"));
        assert!(default_after(true, Some(true)).expect("again"));
        assert!(default_after(true, Some(false)).is_err());
    }

    #[test]
    fn a_shared_accounts_users_keep_their_methods_to_themselves() {
        let (me, you) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(owner_of_saved(Some(me), true), Some(me));
        assert_eq!(owner_of_saved(Some(me), false), None, "a business's users share its methods");
        assert_eq!(owner_of_saved(None, true), None, "staff save the account's");
        assert!(visible_to(None, Some(me)) && visible_to(Some(me), Some(me)) && visible_to(Some(me), None));
        assert!(!visible_to(Some(you), Some(me)));
        assert!(check_change(Some(me), Some(me), true).is_ok());
        assert!(check_change(None, Some(me), false).is_ok());
        assert!(check_change(None, None, true).is_ok());
        assert!(check_change(None, Some(me), true).is_err());
    }

    #[test]
    fn card_numbers_are_recognised_and_tokens_are_not() {
        assert!(looks_like_card_number("4242424242424242"));
        assert!(looks_like_card_number("4242 4242 4242 4242"));
        assert!(looks_like_card_number("5555-5555-5555-4444"));
        assert!(!looks_like_card_number("4242424242424241"), "fails Luhn");
        assert!(!looks_like_card_number("tok_1NaB2c3D4e5F"));
        assert!(!looks_like_card_number("pm_4242424242424242"));
        assert!(!looks_like_card_number("12345"));
    }
}
