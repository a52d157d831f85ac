//! Assets: the physical goods an account holds. A good becomes an asset of
//! the account that ordered it as it ships (an executed order's shipped
//! quantity, then its back orders as they ship): a traceable good one per
//! unit, any other one per line shipped. It changes hands by transfer (the
//! buyer stays liable, the warranty moves with it), goes back to stock by
//! return, or is imported when the customer owns it; an order cancelled
//! whole takes back its assets while none has moved.

use chrono::{DateTime, Months, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::BillingError;
use super::order::{Order, OrderState, Standing, check_not_terminated};

/// A product's physical good settings, as pricing shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goods {
    pub traceable: bool,
    pub warranty_months: u32,
}

/// Where an asset stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssetStatus {
    Active,
    Returned,
    Cancelled,
}

impl AssetStatus {
    pub fn code(self) -> &'static str {
        match self {
            AssetStatus::Active => "ACTIVE",
            AssetStatus::Returned => "RETURNED",
            AssetStatus::Cancelled => "CANCELLED",
        }
    }

    pub fn from_code(code: &str) -> Option<AssetStatus> {
        [AssetStatus::Active, AssetStatus::Returned, AssetStatus::Cancelled]
            .into_iter()
            .find(|status| status.code() == code)
    }
}

/// A physical good an account holds or held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    pub id: Uuid,
    /// Who holds it now (or held it last).
    pub account_id: Uuid,
    /// Who bought it and stays liable; `None` for an imported item.
    pub bought_by: Option<Uuid>,
    pub order_line: Option<(Uuid, i32)>,
    pub product_id: String,
    pub product_code: String,
    pub quantity: Decimal,
    pub traceable: bool,
    pub serial_number: Option<String>,
    pub warranty_end: Option<NaiveDate>,
    pub customer_owned: bool,
    pub status: AssetStatus,
    pub location_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What happened to an asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Bought,
    Imported,
    Transferred,
    Returned,
    SerialRecorded,
    Cancelled,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Bought,
        EventKind::Imported,
        EventKind::Transferred,
        EventKind::Returned,
        EventKind::SerialRecorded,
        EventKind::Cancelled,
    ];

    pub fn code(self) -> &'static str {
        match self {
            EventKind::Bought => "BOUGHT",
            EventKind::Imported => "IMPORTED",
            EventKind::Transferred => "TRANSFERRED",
            EventKind::Returned => "RETURNED",
            EventKind::SerialRecorded => "SERIAL_RECORDED",
            EventKind::Cancelled => "CANCELLED",
        }
    }

    pub fn from_code(code: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

/// One entry of an asset's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetEvent {
    pub asset_id: Uuid,
    pub kind: EventKind,
    pub from_account: Option<Uuid>,
    pub to_account: Option<Uuid>,
    pub location_id: Option<Uuid>,
    pub reason: String,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// Most units of a traceable good one order line may ship: each is an
/// asset of its own.
pub const MAX_TRACEABLE_UNITS: i64 = 10_000;

/// Whether a line of `quantity` of a good may be ordered: a traceable
/// good's at most [`MAX_TRACEABLE_UNITS`] units (a problem for people
/// otherwise).
pub fn check_units(quantity: Decimal, goods: Option<Goods>) -> Result<(), String> {
    match goods {
        Some(goods) if goods.traceable && quantity > Decimal::from(MAX_TRACEABLE_UNITS) => {
            Err(format!("a traceable good is tracked unit by unit: at most {MAX_TRACEABLE_UNITS} units a line"))
        }
        _ => Ok(()),
    }
}

/// The quantities of the assets `shipped` of a good makes: a traceable
/// good's whole units one by one (a fractional rest as one more), any
/// other good's shipment as one.
pub fn units(shipped: Decimal, traceable: bool) -> Vec<Decimal> {
    if shipped <= Decimal::ZERO {
        return Vec::new();
    }
    if !traceable {
        return vec![shipped];
    }
    let whole = shipped.trunc();
    // Ordered lines are checked (`check_units`); a count past what fits is
    // one asset of the whole shipment rather than none.
    let Some(count) = i64::try_from(whole).ok().and_then(|count| usize::try_from(count).ok()) else {
        return vec![shipped];
    };
    let mut quantities = vec![Decimal::ONE; count];
    let rest = shipped - whole;
    if rest > Decimal::ZERO {
        quantities.push(rest);
    }
    quantities
}

/// The last day of a warranty of `months` from `shipped_on`: the day
/// before the same day `months` later (a month end clamps); none without
/// a warranty.
pub fn warranty_end(shipped_on: NaiveDate, months: u32) -> Option<NaiveDate> {
    if months == 0 {
        return None;
    }
    shipped_on.checked_add_months(Months::new(months)).and_then(|end| end.pred_opt())
}

/// The assets what of `order` shipped on `on` makes: for each (line
/// number, quantity) of a physical good, [`units`] of it, held and bought
/// by the ordering account, under warranty from `on`. Nothing before the
/// order is executed (a held order's goods become assets when approved).
pub fn bought(order: &Order, shipped: &[(i32, Decimal)], on: NaiveDate, mut id: impl FnMut() -> Uuid) -> Vec<Asset> {
    if order.state != OrderState::Executed {
        return Vec::new();
    }
    let at = DateTime::<Utc>::from_naive_utc_and_offset(on.and_hms_opt(0, 0, 0).unwrap_or_default(), Utc);
    let mut made = Vec::new();
    for &(number, quantity) in shipped {
        let Some(line) = usize::try_from(number - 1).ok().and_then(|index| order.lines.get(index)) else {
            continue;
        };
        let Some(goods) = line.goods else { continue };
        for quantity in units(quantity, goods.traceable) {
            made.push(Asset {
                id: id(),
                account_id: order.account_id,
                bought_by: Some(order.account_id),
                order_line: Some((order.id, number)),
                product_id: line.product_id.clone(),
                product_code: line.product_code.clone(),
                quantity,
                traceable: goods.traceable,
                serial_number: None,
                warranty_end: warranty_end(on, goods.warranty_months),
                customer_owned: false,
                status: AssetStatus::Active,
                location_id: None,
                created_at: at,
                updated_at: at,
            });
        }
    }
    made
}

/// What a return puts back into stock: each product's (id, code, total
/// quantity), by product id.
pub fn returned_products(assets: &[Asset]) -> Vec<(String, String, Decimal)> {
    let mut products: Vec<(String, String, Decimal)> = Vec::new();
    for asset in assets {
        match products.iter_mut().find(|(id, _, _)| *id == asset.product_id) {
            Some((_, _, quantity)) => *quantity += asset.quantity,
            None => products.push((asset.product_id.clone(), asset.product_code.clone(), asset.quantity)),
        }
    }
    products.sort_by(|left, right| left.0.cmp(&right.0));
    products
}

/// FAILED_PRECONDITION ACCOUNT_TERMINATED: a terminated account holds no
/// new asset.
pub fn check_holder(account_id: Uuid, standing: Standing) -> Result<(), BillingError> {
    check_not_terminated(account_id, standing, "hold a new asset")
}

fn not_active(asset: &Asset) -> BillingError {
    BillingError::precondition(
        "ASSET_NOT_ACTIVE",
        format!("asset {} is {}: only an asset its account holds can move", asset.id, asset.status.code()),
    )
}

/// Whether `asset` may go to account `to` (standing `standing`).
pub fn check_transfer(asset: &Asset, to: Uuid, standing: Standing) -> Result<(), BillingError> {
    if asset.status != AssetStatus::Active {
        return Err(not_active(asset));
    }
    if asset.account_id == to {
        return Err(BillingError::precondition("SAME_OWNER", format!("account {to} holds asset {} already", asset.id)));
    }
    check_holder(to, standing)
}

/// Whether `asset` may go back to a location's stock: held, and sold by
/// the tenant (a customer's own item stays with it).
pub fn check_return(asset: &Asset) -> Result<(), BillingError> {
    if asset.status != AssetStatus::Active {
        return Err(not_active(asset));
    }
    if asset.customer_owned {
        return Err(BillingError::precondition(
            "CUSTOMER_OWNED",
            format!("asset {} is the customer's own: it stays with the account", asset.id),
        ));
    }
    Ok(())
}

/// Whether a serial number may be recorded for `asset`: held, traceable,
/// once.
pub fn check_serial(asset: &Asset) -> Result<(), BillingError> {
    if asset.status != AssetStatus::Active {
        return Err(not_active(asset));
    }
    if !asset.traceable {
        return Err(BillingError::precondition(
            "NOT_TRACEABLE",
            format!("asset {} is not tracked unit by unit: it has no serial number", asset.id),
        ));
    }
    if asset.serial_number.is_some() {
        return Err(BillingError::precondition(
            "SERIAL_RECORDED",
            format!("asset {} has its serial number already", asset.id),
        ));
    }
    Ok(())
}

/// Whether an order's assets may be taken back by cancelling the order:
/// each still held by the account that bought it.
pub fn check_cancellable(order_id: Uuid, assets: &[Asset]) -> Result<(), BillingError> {
    match assets.iter().find(|asset| asset.status != AssetStatus::Active || asset.bought_by != Some(asset.account_id)) {
        Some(moved) => Err(BillingError::precondition(
            "ASSETS_MOVED",
            format!(
                "asset {} of order {order_id} was transferred or returned: the order cannot be cancelled",
                moved.id
            ),
        )),
        None => Ok(()),
    }
}

/// What a customer's own user (of account `viewer`) sees of an asset's
/// history: the entries that name its account, and the serial number
/// recorded while its account holds the asset. (The wire leaves out the
/// ids of other accounts.)
pub fn history_seen_by(history: Vec<AssetEvent>, asset: &Asset, viewer: Uuid) -> Vec<AssetEvent> {
    history
        .into_iter()
        .filter(|event| match event.kind {
            EventKind::SerialRecorded => asset.account_id == viewer,
            _ => event.from_account == Some(viewer) || event.to_account == Some(viewer),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn asset() -> Asset {
        Asset {
            id: Uuid::from_u128(1),
            account_id: Uuid::from_u128(10),
            bought_by: Some(Uuid::from_u128(10)),
            order_line: Some((Uuid::from_u128(100), 1)),
            product_id: "p".to_owned(),
            product_code: "PHONE".to_owned(),
            quantity: Decimal::ONE,
            traceable: true,
            serial_number: None,
            warranty_end: None,
            customer_owned: false,
            status: AssetStatus::Active,
            location_id: None,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    fn reason(result: Result<(), BillingError>) -> &'static str {
        match result {
            Err(BillingError::Precondition { reason, .. }) => reason,
            other => panic!("refused with a reason, not {other:?}"),
        }
    }

    #[test]
    fn a_traceable_good_is_an_asset_per_unit_and_any_other_one_per_shipment() {
        assert_eq!(units(dec!(3), true), vec![dec!(1), dec!(1), dec!(1)]);
        assert_eq!(units(dec!(2.5), true), vec![dec!(1), dec!(1), dec!(0.5)]);
        assert_eq!(units(dec!(0.25), true), vec![dec!(0.25)]);
        assert_eq!(units(dec!(3.000), true).len(), 3, "the scale does not count");
        assert_eq!(units(dec!(12.5), false), vec![dec!(12.5)]);
        assert!(units(dec!(0), true).is_empty() && units(dec!(0), false).is_empty());
        let sum: Decimal = units(dec!(7.75), true).iter().sum();
        assert_eq!(sum, dec!(7.75), "nothing lost or added");
        let goods = Some(Goods { traceable: true, warranty_months: 0 });
        assert!(check_units(dec!(10000), goods).is_ok());
        assert!(check_units(dec!(10000.5), goods).is_err());
        assert!(check_units(dec!(1000000), Some(Goods { traceable: false, warranty_months: 0 })).is_ok());
        assert!(check_units(dec!(1000000), None).is_ok());
    }

    #[test]
    fn an_executed_orders_goods_become_assets_as_they_ship_and_services_never() {
        use crate::domain::order::Line;
        let phone = Line {
            product_id: "p".to_owned(),
            product_code: "PHONE".to_owned(),
            quantity: dec!(3),
            goods: Some(Goods { traceable: true, warranty_months: 12 }),
            ..Line::default()
        };
        let cable = Line {
            product_code: "CABLE".to_owned(),
            quantity: dec!(2.5),
            goods: Some(Goods { traceable: false, warranty_months: 0 }),
            ..Line::default()
        };
        let support = Line { product_code: "SUPPORT".to_owned(), quantity: dec!(1), ..Line::default() };
        let order = Order::example(vec![phone, cable, support]);
        let on = "2027-01-31".parse::<NaiveDate>().expect("date");
        let mut next = 0_u128;
        let made = bought(&order, &[(1, dec!(2)), (2, dec!(2.5)), (3, dec!(1))], on, || {
            next += 1;
            Uuid::from_u128(next)
        });
        let shape: Vec<(&str, Decimal, Option<NaiveDate>)> =
            made.iter().map(|asset| (asset.product_code.as_str(), asset.quantity, asset.warranty_end)).collect();
        let warranty = Some("2028-01-30".parse::<NaiveDate>().expect("date"));
        assert_eq!(shape, vec![("PHONE", dec!(1), warranty), ("PHONE", dec!(1), warranty), ("CABLE", dec!(2.5), None)]);
        assert!(made.iter().all(|asset| asset.bought_by == Some(order.account_id) && !asset.customer_owned));
        assert_eq!(made[2].order_line, Some((order.id, 2)));
        let held = Order { state: OrderState::HeldForApproval, ..order.clone() };
        assert!(bought(&held, &[(1, dec!(1))], on, Uuid::now_v7).is_empty(), "not before it is executed");
        assert!(bought(&order, &[(9, dec!(1))], on, Uuid::now_v7).is_empty(), "no such line");
        let returned = returned_products(&made);
        assert_eq!(
            returned,
            vec![("".to_owned(), "CABLE".to_owned(), dec!(2.5)), ("p".to_owned(), "PHONE".to_owned(), dec!(2))]
        );
    }

    #[test]
    fn a_warranty_ends_the_day_before_its_months_are_up_and_month_ends_clamp() {
        let day = |text: &str| text.parse::<NaiveDate>().expect("date");
        assert_eq!(warranty_end(day("2026-03-15"), 12), Some(day("2027-03-14")));
        assert_eq!(warranty_end(day("2027-01-31"), 1), Some(day("2027-02-27")), "28 February is a month on");
        assert_eq!(warranty_end(day("2028-01-31"), 1), Some(day("2028-02-28")), "29 February in a leap year");
        assert_eq!(warranty_end(day("2026-03-15"), 0), None);
    }

    #[test]
    fn an_asset_moves_only_while_held_and_a_customers_own_item_is_never_returned() {
        let held = asset();
        let other = Uuid::from_u128(11);
        assert!(check_transfer(&held, other, Standing::Active).is_ok());
        assert!(check_transfer(&held, other, Standing::Suspended).is_ok());
        assert_eq!(reason(check_transfer(&held, held.account_id, Standing::Active)), "SAME_OWNER");
        assert_eq!(reason(check_transfer(&held, other, Standing::Terminated)), "ACCOUNT_TERMINATED");
        let returned = Asset { status: AssetStatus::Returned, ..asset() };
        assert_eq!(reason(check_transfer(&returned, other, Standing::Active)), "ASSET_NOT_ACTIVE");
        assert_eq!(reason(check_return(&returned)), "ASSET_NOT_ACTIVE");
        assert!(check_return(&held).is_ok());
        let own = Asset { customer_owned: true, bought_by: None, order_line: None, ..asset() };
        assert_eq!(reason(check_return(&own)), "CUSTOMER_OWNED");
        assert!(check_transfer(&own, other, Standing::Active).is_ok(), "a customer's own item may change hands");
    }

    #[test]
    fn a_customer_sees_only_the_history_that_names_its_account() {
        let (buyer, friend, other) = (Uuid::from_u128(10), Uuid::from_u128(11), Uuid::from_u128(12));
        let entry = |kind, from, to| AssetEvent {
            asset_id: Uuid::from_u128(1),
            kind,
            from_account: from,
            to_account: to,
            location_id: None,
            reason: String::new(),
            actor: String::new(),
            created_at: DateTime::UNIX_EPOCH,
        };
        let history = vec![
            entry(EventKind::Bought, None, Some(buyer)),
            entry(EventKind::SerialRecorded, None, None),
            entry(EventKind::Transferred, Some(buyer), Some(friend)),
            entry(EventKind::Transferred, Some(friend), Some(other)),
        ];
        let held_by_other = Asset { account_id: other, ..asset() };
        let kinds = |seen: Vec<AssetEvent>| seen.iter().map(|event| event.kind).collect::<Vec<_>>();
        assert_eq!(
            kinds(history_seen_by(history.clone(), &held_by_other, buyer)),
            vec![EventKind::Bought, EventKind::Transferred]
        );
        assert_eq!(
            kinds(history_seen_by(history.clone(), &held_by_other, friend)),
            vec![EventKind::Transferred, EventKind::Transferred]
        );
        assert_eq!(
            kinds(history_seen_by(history, &held_by_other, other)),
            vec![EventKind::SerialRecorded, EventKind::Transferred]
        );
    }

    #[test]
    fn a_serial_number_is_recorded_once_and_only_for_a_traceable_good() {
        assert!(check_serial(&asset()).is_ok());
        let recorded = Asset { serial_number: Some("SN1".to_owned()), ..asset() };
        assert_eq!(reason(check_serial(&recorded)), "SERIAL_RECORDED");
        let bulk = Asset { traceable: false, ..asset() };
        assert_eq!(reason(check_serial(&bulk)), "NOT_TRACEABLE");
        let returned = Asset { status: AssetStatus::Returned, ..asset() };
        assert_eq!(
            reason(check_serial(&returned)),
            "ASSET_NOT_ACTIVE",
            "a returned unit's serial is recorded again when sold"
        );
    }

    #[test]
    fn an_order_takes_back_its_assets_only_while_its_buyer_holds_them_all() {
        let order = Uuid::from_u128(100);
        assert!(check_cancellable(order, &[asset(), asset()]).is_ok());
        assert!(check_cancellable(order, &[]).is_ok());
        let moved = Asset { account_id: Uuid::from_u128(11), ..asset() };
        assert_eq!(reason(check_cancellable(order, &[asset(), moved])), "ASSETS_MOVED");
        let returned = Asset { status: AssetStatus::Returned, ..asset() };
        assert_eq!(reason(check_cancellable(order, &[returned])), "ASSETS_MOVED");
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_code(kind.code()), Some(kind));
        }
    }
}
