//! Locations and stock: defined, listed (a customer's own user sees only
//! its account's), stock received (shipping the back orders that wait for
//! it), accounts assigned; and the stock an order takes or gives back.

use std::collections::HashMap;

use bss_platform::auth::Caller;
use bss_platform::idempotency::RequestKey;
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Billing;
use super::orders::ship_line;
use crate::domain::error::BillingError;
use crate::domain::location::{
    AddressPurpose, Location, OrderAddress, allocate, check_removal, choose_address, primary_after, take,
};
use crate::domain::order::{Line, Order, backordered};
use crate::repo::locations::{self, StockRow};
use crate::repo::orders;
use crate::wire;

/// A back order that shipped from stock received: order, line (from 1)
/// and quantity.
pub type Shipped = (Uuid, i32, Decimal);

impl Billing {
    /// Defines a location; ALREADY_EXISTS when its code is taken.
    pub async fn create_location<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        location: Location,
        respond: impl FnOnce(&Location) -> R,
    ) -> Result<R, BillingError> {
        self.write(key, async |tx| {
            if !locations::insert(tx, tenant_id, &location).await? {
                return Err(BillingError::AlreadyExists {
                    reason: "LOCATION_CODE_TAKEN",
                    description: format!("a location with the code {:?} exists", location.code),
                });
            }
            Ok(respond(&location))
        })
        .await
    }

    /// The tenant's locations by code after `after`; a customer's own
    /// user's only its account's.
    pub async fn locations(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        (after, limit): (Option<&str>, i64),
    ) -> Result<Vec<Location>, BillingError> {
        let own = self.own_account(caller).await?;
        locations::list(&self.db, tenant_id, own, after, limit).await
    }

    /// The location, as `caller` may see it: a customer's own user only
    /// its account's.
    async fn location_for(&self, caller: &Caller, tenant_id: Uuid, id: Uuid) -> Result<Location, BillingError> {
        let location =
            locations::get(&self.db, tenant_id, id).await?.ok_or_else(|| BillingError::not_found("location", id))?;
        if let Some(own) = self.own_account(caller).await? {
            let mut connection = self.db.acquire().await?;
            let assigned = locations::of_account(&mut connection, tenant_id, own).await?;
            if !assigned.iter().any(|(location, _)| location.id == id) {
                return Err(BillingError::not_found("location", id));
            }
        }
        Ok(location)
    }

    /// The stock at a location by product code after `after`.
    pub async fn stock_at(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        location_id: Uuid,
        (after, limit): (Option<&str>, i64),
    ) -> Result<Vec<StockRow>, BillingError> {
        self.location_for(caller, tenant_id, location_id).await?;
        locations::stock(&self.db, tenant_id, location_id, after, limit).await
    }

    /// Receives `quantity` of a product at a location: the back orders of
    /// the product waiting there ship, oldest order first, and the rest is
    /// on hand. The answer is made of the stock after and what shipped.
    pub async fn receive_stock<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (location_id, product, quantity): (Uuid, String, Decimal),
        respond: impl FnOnce(&StockRow, &[Shipped]) -> R,
    ) -> Result<R, BillingError> {
        if let Some(stored) = self.replay(&key).await? {
            return Ok(stored);
        }
        locations::get(&self.db, tenant_id, location_id)
            .await?
            .ok_or_else(|| BillingError::not_found("location", location_id))?;
        let found = self.product(&self.as_service(tenant_id)?, &product).await?;
        let (product_id, product_code) = (found.id, found.code);
        self.write(key, async |tx| {
            // An order taking this stock now commits before the waiting
            // orders are read, so its back order is among them.
            locations::lock_products(tx, tenant_id, location_id, std::slice::from_ref(&product_id)).await?;
            let shipped = restock(tx, tenant_id, location_id, (&product_id, &product_code), quantity, None).await?;
            let stock = locations::stock_of(tx, tenant_id, location_id, &product_id)
                .await?
                .ok_or_else(|| BillingError::not_found("stock", &product_id))?;
            Ok(respond(&stock, &shipped))
        })
        .await
    }

    /// The location an account's order ships from: `chosen` (NOT_FOUND
    /// unless the account is assigned to it), else its primary location,
    /// else none.
    pub(crate) async fn shipping_location(
        &self,
        tenant_id: Uuid,
        account_id: Uuid,
        chosen: Option<Uuid>,
    ) -> Result<Option<Location>, BillingError> {
        let mut connection = self.db.acquire().await?;
        let found = locations::shipping_location(&mut connection, tenant_id, account_id, chosen).await?;
        match (chosen, found) {
            (Some(chosen), None) => Err(BillingError::not_found("location", chosen)),
            (_, found) => Ok(found),
        }
    }

    /// The billing and delivery addresses of an account's order, chosen
    /// among the account's addresses (asked of accounts as billing).
    pub(crate) async fn order_addresses(
        &self,
        tenant_id: Uuid,
        account_id: Uuid,
        billing: Option<&str>,
        delivery: Option<&str>,
    ) -> Result<(Option<OrderAddress>, Option<OrderAddress>), BillingError> {
        let service = self.as_service(tenant_id)?;
        let addresses: Vec<_> =
            self.peers.accounts.addresses(&service, account_id).await?.iter().map(wire::account_address).collect();
        Ok((
            choose_address(&addresses, billing, AddressPurpose::Billing)?,
            choose_address(&addresses, delivery, AddressPurpose::Delivery)?,
        ))
    }

    /// An account's locations, primary first; NOT_FOUND when the caller may
    /// not see the account.
    pub async fn account_locations(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
    ) -> Result<Vec<(Location, bool)>, BillingError> {
        self.fetch_account(caller, account_id).await?;
        let mut connection = self.db.acquire().await?;
        locations::of_account(&mut connection, tenant_id, account_id).await
    }

    /// Assigns an account to a location (`primary` makes it the account's
    /// primary one); the answer is made of the account's locations after.
    pub async fn assign_account_location<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, location_id, primary): (Uuid, Uuid, bool),
        respond: impl FnOnce(&[(Location, bool)]) -> R,
    ) -> Result<R, BillingError> {
        self.fetch_account(caller, account_id).await?;
        locations::get(&self.db, tenant_id, location_id)
            .await?
            .ok_or_else(|| BillingError::not_found("location", location_id))?;
        self.write(key, async |tx| {
            locations::lock_account(tx, tenant_id, account_id).await?;
            let assigned: Vec<(Uuid, bool)> = locations::of_account(tx, tenant_id, account_id)
                .await?
                .iter()
                .map(|(location, primary)| (location.id, *primary))
                .collect();
            let primary = primary_after(primary, &assigned, location_id);
            locations::assign(tx, tenant_id, account_id, location_id, primary).await?;
            Ok(respond(&locations::of_account(tx, tenant_id, account_id).await?))
        })
        .await
    }

    /// Takes an account off a location; its primary one only when it is
    /// its last (PRIMARY_LOCATION_IN_USE otherwise).
    pub async fn remove_account_location<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, location_id): (Uuid, Uuid),
        respond: impl FnOnce(&[(Location, bool)]) -> R,
    ) -> Result<R, BillingError> {
        self.fetch_account(caller, account_id).await?;
        self.write(key, async |tx| {
            locations::lock_account(tx, tenant_id, account_id).await?;
            let removed = locations::remove(tx, tenant_id, account_id, location_id).await?;
            let left = locations::of_account(tx, tenant_id, account_id).await?;
            check_removal(location_id, removed, left.len())?;
            Ok(respond(&left))
        })
        .await
    }
}

/// Takes what the location's stock holds of each product line of an order
/// (stock rows locked in product order): a line whose product has stock
/// recorded there ships what there is, up to its quantity, and the rest
/// waits; any other line ships whole.
pub(crate) async fn take_stock(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    location_id: Uuid,
    lines: &mut [Line],
) -> Result<(), BillingError> {
    let products = stocked_products(lines);
    locations::lock_products(tx, tenant_id, location_id, &products).await?;
    let mut on_hand: HashMap<String, Decimal> =
        locations::lock_stock(tx, tenant_id, location_id, &products).await?.into_iter().collect();
    let mut taken = Vec::new();
    for line in lines.iter_mut().filter(|line| !line.surcharge) {
        let Some(held) = on_hand.get_mut(&line.product_id) else {
            line.available = None;
            line.backordered = None;
            continue;
        };
        let ships = take(*held, line.quantity);
        *held -= ships;
        line.available = Some(ships);
        line.backordered = backordered(line.quantity, Some(ships));
        taken.push((line.product_id.clone(), -ships));
    }
    locations::change_stock(tx, tenant_id, location_id, &taken).await
}

/// Adds `added` to a product's stock at a location and ships the back
/// orders waiting for it there (all but `except`), oldest order first;
/// what shipped. The product's advisory lock ([`locations::lock_products`])
/// is held, and no waiting order was locked before it.
pub(crate) async fn restock(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    location_id: Uuid,
    (product_id, product_code): (&str, &str),
    added: Decimal,
    except: Option<Uuid>,
) -> Result<Vec<Shipped>, BillingError> {
    // Orders before stock, as every transaction that takes both.
    let mut waiting = locations::lock_waiting_orders(tx, tenant_id, location_id, product_id).await?;
    waiting.retain(|order| Some(order.id) != except);
    let on_hand = locations::lock_product_stock(tx, tenant_id, location_id, (product_id, product_code)).await?;
    let mut wants = Vec::new();
    for (index, order) in waiting.iter().enumerate() {
        for (number, line) in (1..).zip(&order.lines) {
            if line.product_id == product_id
                && line.available.is_some()
                && let Some(waits) = line.backordered
            {
                wants.push((index, number, waits));
            }
        }
    }
    let quantities: Vec<Decimal> = wants.iter().map(|(_, _, waits)| *waits).collect();
    let (allocations, left) = allocate(on_hand + added, &quantities);
    let mut shipped = Vec::with_capacity(allocations.len());
    for allocation in allocations {
        let (index, number, _) = wants[allocation.index];
        ship_line(tx, tenant_id, &mut waiting[index], number, allocation.quantity).await?;
        shipped.push((waiting[index].id, number, allocation.quantity));
    }
    waiting.retain(|order| shipped.iter().any(|(id, _, _)| *id == order.id));
    orders::save_all(tx, tenant_id, &waiting).await?;
    locations::change_stock(tx, tenant_id, location_id, &[(product_id.to_owned(), left - on_hand)]).await?;
    Ok(shipped)
}

/// Takes the advisory locks of the products an order takes from or gives
/// back to its location's stock: before the order's row is locked, when
/// the order may be a waiting one (a receipt locks the products, then
/// the waiting orders).
pub(crate) async fn lock_order_products(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    order: &Order,
) -> Result<(), BillingError> {
    let Some(location_id) = order.location_id else {
        return Ok(());
    };
    locations::lock_products(tx, tenant_id, location_id, &stocked_products(&order.lines)).await
}

/// The products of an order's lines other than surcharges, sorted, once
/// each (the order their locks are taken in).
fn stocked_products(lines: &[Line]) -> Vec<String> {
    let mut products: Vec<String> =
        lines.iter().filter(|line| !line.surcharge).map(|line| line.product_id.clone()).collect();
    products.sort();
    products.dedup();
    products
}

/// Gives back to its location what an order took of its stock (a
/// cancelled or rejected order), which ships the back orders of other
/// orders waiting there as a receipt does.
pub(crate) async fn give_back_stock(tx: &mut PgConnection, tenant_id: Uuid, order: &Order) -> Result<(), BillingError> {
    let Some(location_id) = order.location_id else {
        return Ok(());
    };
    lock_order_products(tx, tenant_id, order).await?;
    let mut returned: Vec<(&str, &str, Decimal)> = order
        .lines
        .iter()
        .filter(|line| !line.surcharge)
        .map(|line| (line.product_id.as_str(), line.product_code.as_str(), line.taken_from_stock()))
        .filter(|(_, _, quantity)| *quantity > Decimal::ZERO)
        .collect();
    returned.sort();
    for (product_id, product_code, quantity) in returned {
        restock(tx, tenant_id, location_id, (product_id, product_code), quantity, Some(order.id)).await?;
    }
    Ok(())
}
