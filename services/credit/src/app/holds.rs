//! Holds a credit manager puts on an account and releases.

use bss_platform::auth::Caller;
use bss_platform::idempotency::RequestKey;
use bss_proto::credit::credit_event::Payload;
use bss_proto::credit::{CreditStatus, HoldChanged};
use prost::Message;
use uuid::Uuid;

use super::{Credit, publish};
use crate::domain::error::CreditError;
use crate::repo;
use crate::wire::status_to_proto;

impl Credit {
    /// Puts the account on hold for `reason`, or releases its hold
    /// (`None`); the answer, made by `respond` of the account's status
    /// afterwards, is what a retry gets.
    pub async fn change_hold<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, reason): (Uuid, Option<String>),
        respond: impl FnOnce(CreditStatus) -> R,
    ) -> Result<R, CreditError> {
        // Met (and so lockable) before the transaction.
        self.account(caller, tenant_id, account_id).await?;
        self.write(key, async |tx| {
            repo::lock_account(tx, tenant_id, account_id).await?;
            repo::set_hold(tx, tenant_id, account_id, reason.as_deref()).await?;
            let changed = HoldChanged {
                account_id: account_id.to_string(),
                on_hold: reason.is_some(),
                reason: reason.unwrap_or_default(),
            };
            publish(tx, tenant_id, &caller.subject, Payload::HoldChanged(changed)).await?;
            let account = repo::account(tx, tenant_id, account_id)
                .await?
                .ok_or_else(|| CreditError::not_found("account", account_id))?;
            let response = respond(status_to_proto(&account));
            Ok(response)
        })
        .await
    }
}
