//! Orders held for approval: a credit manager approves or rejects each
//! one, once; approval reserves each payer's share on that payer, whatever
//! its limit.

use bss_platform::auth::Caller;
use bss_platform::idempotency::RequestKey;
use bss_platform::money::Currency;
use bss_proto::credit::credit_event::Payload;
use bss_proto::credit::{HeldOrder, HeldOrderChanged, Reservation};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use super::reservations::{lock_accounts, reserve};
use super::{Credit, publish};
use crate::domain::error::CreditError;
use crate::repo::{self, HeldOrderRow};
use crate::wire::held_to_proto;

/// What a credit manager decides about a held order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// Publishes a held order as it stands now (HeldOrderChanged) in the
/// caller's transaction, and returns it as published.
pub async fn publish_held(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    row: &HeldOrderRow,
    currency: Currency,
) -> Result<HeldOrder, CreditError> {
    let held_order = held_to_proto(row, currency);
    let changed = HeldOrderChanged { held_order: Some(held_order.clone()) };
    publish(tx, tenant_id, actor, Payload::HeldOrderChanged(changed)).await?;
    Ok(held_order)
}

impl Credit {
    /// Approves or rejects a held order: exactly one decision (or expiry,
    /// or withdrawal) wins (HELD_ORDER_DECIDED for the others). The
    /// answer, made by `respond` of the decided held order and the
    /// reservations an approval made, is what a retry gets.
    pub async fn decide_held_order<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, decision, note): (Uuid, Decision, String),
        respond: impl FnOnce(HeldOrder, Vec<Reservation>) -> R,
    ) -> Result<R, CreditError> {
        self.write(key, async |tx| {
            let settings = repo::settings(tx, tenant_id).await?;
            settings.check_held_order_decider(&caller.roles)?;
            let held =
                repo::held_order(tx, tenant_id, id).await?.ok_or_else(|| CreditError::not_found("held order", id))?;
            let payers = held.payers.iter().map(|(account_id, _, _)| *account_id);
            let accounts = lock_accounts(tx, tenant_id, payers.chain([held.account_id])).await?;
            let state = match decision {
                Decision::Approve => "APPROVED",
                Decision::Reject => "REJECTED",
            };
            let Some(mut decided) = repo::decide_held_order(tx, tenant_id, id, state, &caller.subject, &note).await?
            else {
                return Err(CreditError::precondition(
                    "HELD_ORDER_DECIDED",
                    format!("held order {id} was already approved, rejected, expired or withdrawn"),
                ));
            };
            let mut reservations = Vec::new();
            if decision == Decision::Approve {
                for (account_id, share, _) in &held.payers {
                    let account =
                        accounts.get(account_id).ok_or_else(|| CreditError::not_found("account", account_id))?;
                    let reference = &held.order_reference;
                    let keep = held.keep_until_invoiced;
                    reservations.push(
                        reserve(tx, tenant_id, &caller.subject, &settings, account, reference, *share, keep).await?,
                    );
                }
                let ids: Vec<Uuid> =
                    reservations.iter().filter_map(|reservation| reservation.id.parse().ok()).collect();
                repo::set_held_reservations(tx, tenant_id, id, &ids).await?;
                decided.reservation_id = ids.first().copied();
                for (payer, reservation) in decided.payers.iter_mut().zip(&ids) {
                    payer.2 = Some(*reservation);
                }
            }
            let currency = accounts.get(&held.account_id).map(|account| account.currency);
            let currency = currency.ok_or_else(|| CreditError::not_found("account", held.account_id))?;
            let held_order = publish_held(tx, tenant_id, &caller.subject, &decided, currency).await?;
            let response = respond(held_order, reservations);
            Ok(response)
        })
        .await
    }

    /// The tenant's held orders in `state` (`None`: any), in id order after
    /// `after`, at most `limit`, each with its id.
    pub async fn held_orders(
        &self,
        tenant_id: Uuid,
        state: Option<&str>,
        (after, limit): (Option<Uuid>, i64),
    ) -> Result<Vec<(Uuid, HeldOrder)>, CreditError> {
        let mut connection = self.db.acquire().await?;
        let rows = repo::held_orders(&mut connection, tenant_id, state, after, limit).await?;
        // Each account's currency, read once for the page.
        let ids: Vec<Uuid> = rows.iter().map(|row| row.account_id).collect();
        let accounts = repo::accounts(&mut connection, tenant_id, &ids).await?;
        rows.iter()
            .map(|row| {
                let account = accounts.iter().find(|account| account.account_id == row.account_id);
                let account = account.ok_or_else(|| CreditError::not_found("account", row.account_id))?;
                Ok((row.id, held_to_proto(row, account.currency)))
            })
            .collect()
    }
}
