//! Locations orders ship from, the stock on hand there, and the rules
//! that decide what of an order ships now, what waits, and which waiting
//! back orders stock received ships.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::BillingError;
use super::order::Line;

/// What kind of place a location is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocationKind {
    Physical,
    Logical,
}

impl LocationKind {
    pub fn code(self) -> &'static str {
        match self {
            LocationKind::Physical => "physical",
            LocationKind::Logical => "logical",
        }
    }

    pub fn from_code(code: &str) -> Option<LocationKind> {
        match code {
            "physical" => Some(LocationKind::Physical),
            "logical" => Some(LocationKind::Logical),
            _ => None,
        }
    }
}

/// A place orders ship from.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    /// Added to every order shipped from here: amount and currency.
    pub surcharge: Option<(Decimal, String)>,
    pub created_at: DateTime<Utc>,
}

/// The surcharge line a location adds to an order in `currency`; none
/// without a surcharge. An order in another currency than the
/// surcharge's is refused: billing converts no money.
pub fn surcharge_line(location: &Location, currency: &str) -> Result<Option<Line>, BillingError> {
    let Some((amount, surcharge_currency)) = &location.surcharge else {
        return Ok(None);
    };
    if surcharge_currency != currency {
        return Err(BillingError::precondition(
            "SURCHARGE_CURRENCY_MISMATCH",
            format!(
                "location {} adds a surcharge in {surcharge_currency}, the order is in {currency}: \
                 ship it from another location",
                location.code
            ),
        ));
    }
    Ok(Some(Line {
        product: location.code.clone(),
        product_code: format!("SURCHARGE {}", location.code),
        quantity: Decimal::ONE,
        unit_price: *amount,
        total: *amount,
        surcharge: true,
        ..Line::default()
    }))
}

/// What of `wanted` ships from `on_hand`: all of it when there is enough,
/// else what there is (never less than nothing).
pub fn take(on_hand: Decimal, wanted: Decimal) -> Decimal {
    wanted.min(on_hand).max(Decimal::ZERO)
}

/// A line of stock shipped to a waiting back order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// Position in the waiting list given.
    pub index: usize,
    pub quantity: Decimal,
}

/// Which waiting back orders `received` ships, oldest first (the order of
/// `waiting`), each as much of it as is left; and what is left on hand.
pub fn allocate(received: Decimal, waiting: &[Decimal]) -> (Vec<Allocation>, Decimal) {
    let mut left = received;
    let mut shipped = Vec::new();
    for (index, wants) in waiting.iter().enumerate() {
        let quantity = take(left, *wants);
        if quantity > Decimal::ZERO {
            shipped.push(Allocation { index, quantity });
            left -= quantity;
        }
    }
    (shipped, left)
}

/// An address an order carries, as it was when taken from the account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAddress {
    pub address_id: String,
    pub lines: Vec<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country_code: String,
}

/// What an address is for, as the account's addresses say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressPurpose {
    Billing,
    Delivery,
    Other,
}

/// One of the account's addresses, as choosing one looks at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountAddress {
    pub address: OrderAddress,
    pub purpose: AddressPurpose,
    pub primary: bool,
}

/// The address an order takes for `purpose`: the one the caller chose (it
/// must be one of the account's: else NOT_FOUND), else the account's
/// primary address when it serves the purpose, else its first address that
/// does, else its primary address; none when the account has none.
pub fn choose_address(
    addresses: &[AccountAddress],
    chosen: Option<&str>,
    purpose: AddressPurpose,
) -> Result<Option<OrderAddress>, BillingError> {
    if let Some(chosen) = chosen {
        return addresses
            .iter()
            .find(|address| address.address.address_id == chosen)
            .map(|address| Some(address.address.clone()))
            .ok_or_else(|| BillingError::not_found("address", chosen));
    }
    let primary = addresses.iter().find(|address| address.primary);
    let found = primary
        .filter(|address| address.purpose == purpose)
        .or_else(|| addresses.iter().find(|address| address.purpose == purpose))
        .or(primary);
    Ok(found.map(|address| address.address.clone()))
}

/// Whether assigning an account to `location` makes it the account's
/// primary location: when asked, or when the account (its locations as
/// `assigned`: location, primary) has no other primary one: its first
/// location is its primary one.
pub fn primary_after(asked: bool, assigned: &[(Uuid, bool)], location: Uuid) -> bool {
    asked || !assigned.iter().any(|(id, primary)| *primary && *id != location)
}

/// Taking an account off a location: NOT_FOUND when it was not on it;
/// its primary location goes only when it is its last
/// (PRIMARY_LOCATION_IN_USE: another must be made primary first).
pub fn check_removal(location: Uuid, removed: Option<bool>, left: usize) -> Result<(), BillingError> {
    match removed {
        None => Err(BillingError::not_found("account location", location)),
        Some(true) if left > 0 => Err(BillingError::precondition(
            "PRIMARY_LOCATION_IN_USE",
            format!("location {location} is the account's primary location: make another primary first"),
        )),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn an_accounts_first_location_is_its_primary_one_and_a_new_primary_is_asked() {
        let (sydney, perth) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert!(primary_after(false, &[], sydney), "the first is primary");
        assert!(!primary_after(false, &[(sydney, true)], perth), "a second is not, unless asked");
        assert!(primary_after(true, &[(sydney, true)], perth));
        assert!(primary_after(false, &[(sydney, true)], sydney), "assigned again, it stays primary");
        assert!(primary_after(false, &[(perth, false)], sydney), "no primary yet: this one is");
    }

    #[test]
    fn the_primary_location_goes_only_when_it_is_the_last() {
        let sydney = Uuid::from_u128(1);
        let refused = check_removal(sydney, Some(true), 1).expect_err("others remain");
        assert!(matches!(refused, BillingError::Precondition { reason: "PRIMARY_LOCATION_IN_USE", .. }));
        assert!(check_removal(sydney, Some(true), 0).is_ok());
        assert!(check_removal(sydney, Some(false), 3).is_ok());
        assert!(matches!(check_removal(sydney, None, 0), Err(BillingError::NotFound { .. })));
    }

    fn location(surcharge: Option<(Decimal, &str)>) -> Location {
        Location {
            id: Uuid::nil(),
            code: "SYD".into(),
            name: "Sydney".into(),
            kind: LocationKind::Physical,
            surcharge: surcharge.map(|(amount, currency)| (amount, currency.to_owned())),
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_surcharge_is_a_line_of_its_own_in_the_orders_currency() {
        let line = surcharge_line(&location(Some((dec!(12.50), "AUD"))), "AUD").expect("same currency");
        let line = line.expect("a surcharge");
        assert!(line.surcharge);
        assert_eq!((line.quantity, line.unit_price, line.total), (dec!(1), dec!(12.50), dec!(12.50)));
        assert_eq!(surcharge_line(&location(None), "AUD").expect("no surcharge"), None);
        let refused = surcharge_line(&location(Some((dec!(5), "AUD"))), "NZD").expect_err("another currency");
        assert!(refused.to_string().contains("AUD"), "{refused}");
    }

    #[test]
    fn what_is_short_waits() {
        assert_eq!(take(dec!(10), dec!(4)), dec!(4));
        assert_eq!(take(dec!(3), dec!(4)), dec!(3));
        assert_eq!(take(dec!(0), dec!(4)), dec!(0));
        assert_eq!(take(dec!(2.5), dec!(4)), dec!(2.5));
    }

    #[test]
    fn stock_received_ships_the_oldest_back_orders_first() {
        let (shipped, left) = allocate(dec!(7), &[dec!(3), dec!(5), dec!(2)]);
        assert_eq!(
            shipped,
            vec![Allocation { index: 0, quantity: dec!(3) }, Allocation { index: 1, quantity: dec!(4) }]
        );
        assert_eq!(left, dec!(0));
        let (shipped, left) = allocate(dec!(20), &[dec!(3), dec!(5)]);
        assert_eq!(shipped.iter().map(|a| a.quantity).sum::<Decimal>(), dec!(8));
        assert_eq!(left, dec!(12));
    }

    /// Nothing is shipped twice or made up, checked over every small
    /// case: what ships and what is left add up to what was received, no
    /// back order gets more than it waits for, and stock is left only when
    /// every back order shipped whole.
    #[test]
    fn allocation_keeps_every_unit() {
        let lists: [&[u32]; 6] = [&[], &[1], &[4, 4], &[1, 7, 3], &[5, 1, 1, 9], &[2, 2, 2, 2, 2]];
        for received in 0u32..30 {
            for list in lists {
                let waiting: Vec<Decimal> = list.iter().copied().map(Decimal::from).collect();
                let (shipped, left) = allocate(Decimal::from(received), &waiting);
                let total: Decimal = shipped.iter().map(|a| a.quantity).sum();
                assert_eq!(total + left, Decimal::from(received));
                assert!(left >= Decimal::ZERO);
                assert!(shipped.iter().all(|a| a.quantity <= waiting[a.index]));
                assert!(shipped.windows(2).all(|pair| pair[0].index < pair[1].index));
                if left > Decimal::ZERO {
                    assert_eq!(total, waiting.iter().copied().sum::<Decimal>());
                }
            }
        }
    }

    fn address(id: &str, purpose: AddressPurpose, primary: bool) -> AccountAddress {
        AccountAddress { address: OrderAddress { address_id: id.into(), ..OrderAddress::default() }, purpose, primary }
    }

    #[test]
    fn an_order_takes_the_primary_address_when_it_serves_else_the_first_that_does() {
        let addresses = [
            address("a", AddressPurpose::Billing, true),
            address("b", AddressPurpose::Delivery, false),
            address("c", AddressPurpose::Delivery, false),
        ];
        let id = |found: Option<OrderAddress>| found.map(|address| address.address_id);
        assert_eq!(id(choose_address(&addresses, None, AddressPurpose::Billing).expect("ok")), Some("a".into()));
        assert_eq!(id(choose_address(&addresses, None, AddressPurpose::Delivery).expect("ok")), Some("b".into()));
        assert_eq!(id(choose_address(&addresses, Some("c"), AddressPurpose::Delivery).expect("ok")), Some("c".into()));
        assert!(choose_address(&addresses, Some("z"), AddressPurpose::Billing).is_err());
        let only_other = [address("o", AddressPurpose::Other, true)];
        assert_eq!(id(choose_address(&only_other, None, AddressPurpose::Delivery).expect("ok")), Some("o".into()));
        assert_eq!(choose_address(&[], None, AddressPurpose::Billing).expect("ok"), None);
    }
}
