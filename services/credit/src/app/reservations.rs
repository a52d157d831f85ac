//! Reservations: making one for an accepted order, and taking credit back
//! from them (an invoice capturing (part of) one, a cancellation or a
//! credit manager releasing it, expiry). Each runs under the account's row
//! lock, takes at most what is open, and publishes the reservation as it is
//! afterwards.

use std::collections::{BTreeSet, HashMap};

use bss_platform::auth::Caller;
use bss_platform::idempotency::RequestKey;
use bss_platform::money::Currency;
use bss_proto::credit::credit_event::Payload;
use bss_proto::credit::{Reservation, ReservationChanged};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Credit, notify_thresholds, publish};
use crate::domain::account::{CreditAccount, Settings};
use crate::domain::error::CreditError;
use crate::repo::{self, ReservationRow};
use crate::wire::reservation_to_proto;

/// How long a reservation lives: the tenant's reservation time, or until
/// invoiced or cancelled (`None`) when its order's invoicer said so.
pub fn reservation_ttl(settings: &Settings, keep_until_invoiced: bool) -> Option<i64> {
    (!keep_until_invoiced).then_some(settings.reservation_ttl_seconds)
}

/// Reserves `amount` of the (locked) account for an order and records it.
#[allow(clippy::too_many_arguments)]
pub async fn reserve(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    settings: &Settings,
    account: &CreditAccount,
    order_reference: &str,
    amount: Decimal,
    keep_until_invoiced: bool,
) -> Result<Reservation, CreditError> {
    let ttl = reservation_ttl(settings, keep_until_invoiced);
    let row = repo::insert_reservation(tx, tenant_id, account.account_id, order_reference, amount, ttl).await?;
    repo::move_exposure(tx, tenant_id, account.account_id, amount, Decimal::ZERO).await?;
    let before = account.exposure().total();
    notify_thresholds(tx, tenant_id, settings, account, before, before + amount).await?;
    let reservation = reservation_to_proto(&row, account.currency);
    publish(
        tx,
        tenant_id,
        actor,
        Payload::ReservationChanged(ReservationChanged { reservation: Some(reservation.clone()) }),
    )
    .await?;
    Ok(reservation)
}

/// Locks the rows of `accounts` (each once, in id order, so concurrent
/// orders of overlapping accounts never deadlock) and returns them by id.
pub async fn lock_accounts(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    accounts: impl IntoIterator<Item = Uuid>,
) -> Result<HashMap<Uuid, CreditAccount>, CreditError> {
    let ids: BTreeSet<Uuid> = accounts.into_iter().collect();
    let mut locked = HashMap::with_capacity(ids.len());
    for id in ids {
        locked.insert(id, repo::lock_account(tx, tenant_id, id).await?);
    }
    Ok(locked)
}

/// Takes `amount` (`None`: all that is open) off an open reservation of the
/// (locked) account; the reservation closes as `closing` when nothing is
/// left. The amount taken leaves the account's reserved credit. `None` when
/// the reservation was not open.
pub async fn take(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    account: &CreditAccount,
    reservation_id: Uuid,
    amount: Option<Decimal>,
    closing: &str,
) -> Result<Option<(ReservationRow, Decimal)>, CreditError> {
    let Some((row, taken)) = repo::take_from_reservation(tx, tenant_id, reservation_id, amount, closing).await? else {
        return Ok(None);
    };
    repo::move_exposure(tx, tenant_id, account.account_id, -taken, Decimal::ZERO).await?;
    let changed = ReservationChanged { reservation: Some(reservation_to_proto(&row, account.currency)) };
    publish(tx, tenant_id, actor, Payload::ReservationChanged(changed)).await?;
    Ok(Some((row, taken)))
}

/// Takes up to `amount` (`None`: everything) of the account's open
/// reservations of an order, oldest first; returns what was taken.
pub async fn take_for_order(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    account: &CreditAccount,
    order_reference: &str,
    amount: Option<Decimal>,
    closing: &str,
) -> Result<Decimal, CreditError> {
    let mut taken = Decimal::ZERO;
    let open = repo::open_reservations_of_order(tx, tenant_id, Some(account.account_id), order_reference).await?;
    for (reservation_id, _) in open {
        let left = amount.map(|amount| amount - taken);
        if left.is_some_and(|left| left <= Decimal::ZERO) {
            break;
        }
        if let Some((_, part)) = take(tx, tenant_id, actor, account, reservation_id, left, closing).await? {
            taken += part;
        }
    }
    Ok(taken)
}

impl Credit {
    /// Releases `amount` (`None`: all that is open) of a reservation, as a
    /// credit manager or the order's invoicer asks: never more than is
    /// open (RELEASE_EXCEEDS_OPEN), never from a closed one
    /// (RESERVATION_CLOSED). The answer, made by `respond` of the
    /// reservation afterwards, is what a retry gets.
    pub async fn release_reservation<R: prost::Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, amount): (Uuid, Option<(Decimal, Currency)>),
        respond: impl FnOnce(Reservation) -> R,
    ) -> Result<R, CreditError> {
        self.write(key, async |tx| {
            let found =
                repo::reservation(tx, tenant_id, id).await?.ok_or_else(|| CreditError::not_found("reservation", id))?;
            let account = repo::lock_account(tx, tenant_id, found.account_id).await?;
            if let Some((amount, currency)) = amount {
                account.check_currency("amount.currency_code", currency)?;
                // Read again under the account's lock: what is open now.
                let now_open = repo::reservation(tx, tenant_id, id).await?;
                let open = now_open.as_ref().filter(|row| row.state == "OPEN").map(|row| row.open_amount);
                if let Some(open) = open
                    && amount > open
                {
                    return Err(CreditError::precondition(
                        "RELEASE_EXCEEDS_OPEN",
                        format!("reservation {id} holds {open}, less than {amount}"),
                    ));
                }
            }
            let taken =
                take(tx, tenant_id, &caller.subject, &account, id, amount.map(|(amount, _)| amount), "RELEASED")
                    .await?;
            let Some((released, _)) = taken else {
                return Err(CreditError::precondition(
                    "RESERVATION_CLOSED",
                    format!("reservation {id} is {} already", found.state.to_lowercase()),
                ));
            };
            let response = respond(reservation_to_proto(&released, account.currency));
            Ok(response)
        })
        .await
    }

    /// The account's reservations in id order after `after`, at most
    /// `limit`, and the account's currency.
    pub async fn reservations_of(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        (after, limit): (Option<Uuid>, i64),
    ) -> Result<(Vec<ReservationRow>, Currency), CreditError> {
        let (account, _) = self.account(caller, tenant_id, account_id).await?;
        let mut connection = self.db.acquire().await?;
        let rows = repo::reservations(&mut connection, tenant_id, account_id, after, limit).await?;
        Ok((rows, account.currency))
    }
}
