//! Assets (`domain::asset`): made as an order's goods ship (`shipped`, in
//! the transaction that ships them), taken back when the order is
//! cancelled whole (`cancelled`), listed per account with their history,
//! and moved: a serial number recorded, a transfer, a return to a
//! location's stock (a Stock In that ships waiting back orders first), an
//! import of the customer's own item.

use bss_platform::auth::Caller;
use bss_platform::idempotency::RequestKey;
use bss_platform::time::now;
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Billing;
use super::locations::{Shipped, restock};
use crate::domain::asset::{
    self, Asset, AssetEvent, AssetStatus, EventKind, bought, check_holder, check_return, check_serial, check_transfer,
};
use crate::domain::error::BillingError;
use crate::domain::order::Order;
use crate::repo::assets as repo_assets;
use crate::repo::locations;
use crate::wire;

/// Makes the assets of what of `order` just shipped ((line number,
/// quantity) each), once it is executed, in the shipping transaction.
pub(crate) async fn shipped(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    order: &Order,
    lines: &[(i32, Decimal)],
) -> Result<(), BillingError> {
    let made = bought(order, lines, now().date_naive(), Uuid::now_v7);
    let events: Vec<AssetEvent> = made
        .iter()
        .map(|asset| AssetEvent {
            asset_id: asset.id,
            kind: EventKind::Bought,
            from_account: None,
            to_account: Some(order.account_id),
            location_id: None,
            reason: String::new(),
            actor: order.placed_by.clone(),
            created_at: asset.created_at,
        })
        .collect();
    repo_assets::insert(tx, tenant_id, &made, &events).await
}

/// Takes back the assets of an order cancelled whole (ASSETS_MOVED when
/// one of them was transferred or returned), in the cancelling
/// transaction.
pub(crate) async fn cancelled(
    tx: &mut PgConnection,
    actor: &str,
    (tenant_id, order): (Uuid, &Order),
    reason: &str,
) -> Result<(), BillingError> {
    let held = repo_assets::lock_of_order(tx, tenant_id, order.id).await?;
    asset::check_cancellable(order.id, &held)?;
    let ids: Vec<Uuid> = held.iter().map(|asset| asset.id).collect();
    let ended = repo_assets::end(tx, tenant_id, &ids, (AssetStatus::Cancelled, None)).await?;
    let events =
        ended.iter().map(|asset| event(asset, EventKind::Cancelled, (Some(asset.account_id), None), actor, reason));
    repo_assets::record(tx, tenant_id, &events.collect::<Vec<_>>()).await
}

/// ASSETS_MOVED when an order's assets cannot be taken back; they stay
/// locked until the transaction ends, so none changes hands while the
/// order's money goes back.
pub(crate) async fn check_order_cancellable(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    order_id: Uuid,
) -> Result<(), BillingError> {
    let held = repo_assets::lock_of_order(tx, tenant_id, order_id).await?;
    asset::check_cancellable(order_id, &held)
}

fn event(
    asset: &Asset,
    kind: EventKind,
    (from, to): (Option<Uuid>, Option<Uuid>),
    actor: &str,
    reason: &str,
) -> AssetEvent {
    AssetEvent {
        asset_id: asset.id,
        kind,
        from_account: from,
        to_account: to,
        location_id: asset.location_id,
        reason: reason.to_owned(),
        actor: actor.to_owned(),
        created_at: now(),
    }
}

impl Billing {
    /// An asset as the caller may see it, with its history and the
    /// customer's account it is shown to: a customer's own user sees only
    /// one its account holds or held (else NOT_FOUND), and the history
    /// that names its account.
    pub async fn asset(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        id: Uuid,
    ) -> Result<(Asset, Vec<AssetEvent>, Option<Uuid>), BillingError> {
        let mut connection = self.db.acquire().await?;
        let found = repo_assets::get(&mut connection, tenant_id, id, false)
            .await?
            .ok_or_else(|| BillingError::not_found("asset", id))?;
        let history = repo_assets::history(&mut connection, tenant_id, id).await?;
        drop(connection);
        let mut holders: Vec<Uuid> =
            history.iter().flat_map(|event| [event.from_account, event.to_account]).flatten().collect();
        holders.push(found.account_id);
        // A sales rep sees an asset its account holds now.
        if caller.sales_rep_limit().is_some() {
            self.check_own(caller, &[found.account_id], ("asset", id)).await?;
        }
        match self.own_account(caller).await? {
            Some(own) if !holders.contains(&own) => Err(BillingError::not_found("asset", id)),
            Some(own) => {
                let seen = asset::history_seen_by(history, &found, own);
                Ok((found, seen, Some(own)))
            }
            None => Ok((found, history, None)),
        }
    }

    /// The assets an account holds (and held, with `include_past`), by id.
    pub async fn assets_of(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        include_past: bool,
        page: (Option<Uuid>, i64),
    ) -> Result<Vec<(Asset, bool)>, BillingError> {
        self.fetch_account(caller, account_id).await?;
        let mut connection = self.db.acquire().await?;
        repo_assets::of_account(&mut connection, tenant_id, account_id, include_past, page).await
    }

    /// Records a traceable asset's serial number, once.
    pub async fn record_serial<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, serial): (Uuid, String),
        respond: impl FnOnce(&Asset) -> R,
    ) -> Result<R, BillingError> {
        self.write(key, async |tx| {
            let held =
                repo_assets::get(tx, tenant_id, id, true).await?.ok_or_else(|| BillingError::not_found("asset", id))?;
            check_serial(&held)?;
            let recorded = repo_assets::set_serial(tx, tenant_id, id, &serial).await?;
            let entry = event(&recorded, EventKind::SerialRecorded, (None, None), &caller.subject, &serial);
            repo_assets::record(tx, tenant_id, &[entry]).await?;
            Ok(respond(&recorded))
        })
        .await
    }

    /// Transfers an asset to account `to`: its buyer stays liable, its
    /// warranty moves with it.
    pub async fn transfer_asset<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, to, reason): (Uuid, Uuid, String),
        respond: impl FnOnce(&Asset) -> R,
    ) -> Result<R, BillingError> {
        if let Some(stored) = self.replay(&key).await? {
            return Ok(stored);
        }
        let standing = wire::standing(&self.fetch_account(caller, to).await?);
        self.write(key, async |tx| {
            let held =
                repo_assets::get(tx, tenant_id, id, true).await?.ok_or_else(|| BillingError::not_found("asset", id))?;
            check_transfer(&held, to, standing)?;
            let moved = repo_assets::transfer(tx, tenant_id, id, to)
                .await?
                .ok_or_else(|| BillingError::not_found("asset", id))?;
            let entry =
                event(&moved, EventKind::Transferred, (Some(held.account_id), Some(to)), &caller.subject, &reason);
            repo_assets::record(tx, tenant_id, &[entry]).await?;
            Ok(respond(&moved))
        })
        .await
    }

    /// Returns assets to a location's stock (all or none): a Stock In of
    /// each product, shipping its waiting back orders there first.
    pub async fn return_assets<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (ids, location_id, reason): (Vec<Uuid>, Uuid, String),
        respond: impl FnOnce(&[Asset], &[Shipped]) -> R,
    ) -> Result<R, BillingError> {
        if let Some(stored) = self.replay(&key).await? {
            return Ok(stored);
        }
        locations::get(&self.db, tenant_id, location_id)
            .await?
            .ok_or_else(|| BillingError::not_found("location", location_id))?;
        // Read first (the products to lock), checked again as they move.
        let asked = {
            let mut connection = self.db.acquire().await?;
            repo_assets::by_ids(&mut connection, tenant_id, &ids, false).await?
        };
        for id in &ids {
            let found =
                asked.iter().find(|asset| asset.id == *id).ok_or_else(|| BillingError::not_found("asset", id))?;
            check_return(found)?;
        }
        let products = asset::returned_products(&asked);
        self.write(key, async |tx| {
            // As a receipt: the products' locks, then the waiting orders and
            // the stock, then the assets.
            let product_ids: Vec<String> = products.iter().map(|(id, _, _)| id.clone()).collect();
            locations::lock_products(tx, tenant_id, location_id, &product_ids).await?;
            let mut shipped = Vec::new();
            for (product_id, product_code, quantity) in &products {
                shipped.extend(restock(tx, tenant_id, location_id, (product_id, product_code), *quantity, None).await?);
            }
            // In id order, as every transaction moving several takes them;
            // one moved since it was read is refused with its reason.
            for held in repo_assets::by_ids(tx, tenant_id, &ids, true).await? {
                check_return(&held)?;
            }
            let ended = repo_assets::end(tx, tenant_id, &ids, (AssetStatus::Returned, Some(location_id))).await?;
            let events: Vec<AssetEvent> = ended
                .iter()
                .map(|asset| {
                    event(asset, EventKind::Returned, (Some(asset.account_id), None), &caller.subject, &reason)
                })
                .collect();
            repo_assets::record(tx, tenant_id, &events).await?;
            let in_order: Vec<Asset> =
                ids.iter().filter_map(|id| ended.iter().find(|asset| asset.id == *id).cloned()).collect();
            Ok(respond(&in_order, &shipped))
        })
        .await
    }

    /// Imports an item the customer owns as an asset of its account.
    pub async fn import_asset<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, product, serial): (Uuid, String, String),
        respond: impl FnOnce(&Asset) -> R,
    ) -> Result<R, BillingError> {
        if let Some(stored) = self.replay(&key).await? {
            return Ok(stored);
        }
        let account = self.fetch_account(caller, account_id).await?;
        check_holder(account_id, wire::standing(&account))?;
        let found = self.product(&self.as_service(tenant_id)?, &product).await?;
        let Some(good) = found.physical_good else {
            return Err(BillingError::precondition(
                "NOT_A_PHYSICAL_GOOD",
                format!("product {} is a service: only a physical good is an asset", found.code),
            ));
        };
        let at = now();
        let imported = Asset {
            id: Uuid::now_v7(),
            account_id,
            bought_by: None,
            order_line: None,
            product_id: found.id,
            product_code: found.code,
            quantity: Decimal::ONE,
            traceable: good.traceable,
            serial_number: Some(serial),
            warranty_end: None,
            customer_owned: true,
            status: AssetStatus::Active,
            location_id: None,
            created_at: at,
            updated_at: at,
        };
        self.write(key, async |tx| {
            let entry = event(&imported, EventKind::Imported, (None, Some(account_id)), &caller.subject, "");
            repo_assets::insert(tx, tenant_id, std::slice::from_ref(&imported), &[entry]).await?;
            Ok(respond(&imported))
        })
        .await
    }
}
