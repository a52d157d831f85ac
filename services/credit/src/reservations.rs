//! Taking credit back from reservations: an invoice capturing (part of)
//! one, a cancellation or a credit manager releasing it, expiry. Each runs
//! under the account's row lock, takes at most what is open, and publishes
//! the reservation as it is afterwards.

use bss_proto::credit::ReservationChanged;
use bss_proto::credit::credit_event::Payload;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::app::publish;
use crate::domain::account::CreditAccount;
use crate::domain::error::CreditError;
use crate::repo::{self, ReservationRow};
use crate::wire::reservation_to_proto;

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
