//! An account's saved payment methods (cards and wallets, by the payment
//! provider's token), and its payment preference (its default method).
//! Every change publishes the account's methods as they are after it
//! (PaymentMethodsChanged), which billing follows to collect invoices.

use bss_platform::auth::Caller;
use bss_platform::events::EventLog;
use bss_platform::idempotency::{self, RequestKey};
use bss_proto::credit::credit_event::Payload;
use bss_proto::credit::{PaymentMethod, PaymentMethodsChanged, PaymentPreference};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{ACTOR, Credit, publish};
use crate::domain::error::CreditError;
use crate::domain::preference::default_after;
use crate::repo::{self, MethodRow, PreferenceRow};
use crate::wire::{method_to_proto, preference_to_proto};

/// What a change asks of a saved method; `None`: unchanged.
#[derive(Clone, Debug, Default)]
pub struct MethodChange {
    pub label: Option<String>,
    pub is_default: Option<bool>,
    pub use_for_purchases: Option<bool>,
    pub use_for_subscriptions: Option<bool>,
}

impl MethodChange {
    fn apply(&self, method: &mut MethodRow) -> Result<(), CreditError> {
        method.is_default = default_after(method.is_default, self.is_default)?;
        if let Some(label) = &self.label {
            method.label = label.clone();
        }
        method.use_for_purchases = self.use_for_purchases.unwrap_or(method.use_for_purchases);
        method.use_for_subscriptions = self.use_for_subscriptions.unwrap_or(method.use_for_subscriptions);
        Ok(())
    }
}

/// A method as `caller` sees it: a customer's own user never sees the
/// provider's token.
fn shown_to(caller: &Caller, mut method: PaymentMethod) -> PaymentMethod {
    if caller.customer_user().is_some() {
        method.token_reference.clear();
    }
    method
}

/// Publishes the account's methods as they are now.
async fn publish_methods(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    account_id: Uuid,
) -> Result<Vec<PaymentMethod>, CreditError> {
    let methods: Vec<PaymentMethod> =
        repo::methods(tx, tenant_id, account_id).await?.iter().map(method_to_proto).collect();
    let changed = PaymentMethodsChanged { account_id: account_id.to_string(), methods: methods.clone() };
    publish(tx, tenant_id, actor, Payload::PaymentMethodsChanged(changed)).await?;
    Ok(methods)
}

/// Announces the methods of accounts billing has not heard of (those an
/// earlier payment preference became a method for), a batch per
/// transaction; how many accounts it announced.
pub async fn announce_methods(db: &sqlx::PgPool, events: &EventLog) -> Result<usize, CreditError> {
    const BATCH: i64 = 500;
    let mut announced = 0;
    loop {
        let mut tx = db.begin().await?;
        let accounts = repo::take_methods_to_announce(&mut tx, BATCH).await?;
        for (tenant_id, account_id) in &accounts {
            publish_methods(&mut tx, *tenant_id, ACTOR, *account_id).await?;
        }
        tx.commit().await?;
        announced += accounts.len();
        if accounts.is_empty() {
            break;
        }
        events.written();
    }
    Ok(announced)
}

impl Credit {
    /// NOT_FOUND unless `caller` may act for the account: a customer's own
    /// user only for its own; anyone else as accounts shows it.
    async fn check_account(&self, caller: &Caller, tenant_id: Uuid, account_id: Uuid) -> Result<(), CreditError> {
        match self.accounts.acting_account(caller).await? {
            Some(own) if own != account_id => Err(CreditError::not_found("account", account_id)),
            _ => self.account(caller, tenant_id, account_id).await.map(|_| ()),
        }
    }

    /// The account a customer's own user acts for; `None` for anyone else.
    pub async fn own_account(&self, caller: &Caller) -> Result<Option<Uuid>, CreditError> {
        Ok(self.accounts.acting_account(caller).await?)
    }

    /// Sets the account's payment preference; the answer, made by
    /// `respond` of the preference stored, is what a retry gets.
    pub async fn set_payment_preference<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        preference: PreferenceRow,
        respond: impl FnOnce(PaymentPreference) -> R,
    ) -> Result<R, CreditError> {
        self.check_account(caller, tenant_id, preference.account_id).await?;
        self.write(key, async |tx| {
            let stored = repo::set_preference(tx, tenant_id, &preference).await?;
            publish_methods(tx, tenant_id, &caller.subject, preference.account_id).await?;
            Ok(respond(preference_to_proto(&stored)))
        })
        .await
    }

    /// The account's payment preference (NOT_FOUND when it has none).
    pub async fn payment_preference(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
    ) -> Result<PaymentPreference, CreditError> {
        self.check_account(caller, tenant_id, account_id).await?;
        let mut connection = self.db.acquire().await?;
        let preference = repo::preference(&mut connection, tenant_id, account_id)
            .await?
            .ok_or_else(|| CreditError::not_found("payment preference", account_id))?;
        Ok(preference_to_proto(&preference))
    }

    /// Saves a payment method of the account.
    pub async fn save_payment_method<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        method: MethodRow,
        respond: impl FnOnce(PaymentMethod) -> R,
    ) -> Result<R, CreditError> {
        self.check_account(caller, tenant_id, method.account_id).await?;
        self.write(key, async |tx| {
            let saved = repo::save_method(tx, tenant_id, &method).await?;
            publish_methods(tx, tenant_id, &caller.subject, method.account_id).await?;
            Ok(respond(shown_to(caller, method_to_proto(&saved))))
        })
        .await
    }

    /// The method's account, checked for the caller before anything is
    /// locked; NOT_FOUND for another tenant's or another customer's.
    async fn method_account(&self, caller: &Caller, tenant_id: Uuid, id: Uuid) -> Result<Uuid, CreditError> {
        let mut connection = self.db.acquire().await?;
        let account_id = repo::method_account(&mut connection, tenant_id, id)
            .await?
            .ok_or_else(|| CreditError::not_found("payment method", id))?;
        drop(connection);
        self.check_account(caller, tenant_id, account_id).await.map_err(|error| match error {
            CreditError::NotFound { .. } => CreditError::not_found("payment method", id),
            other => other,
        })?;
        Ok(account_id)
    }

    /// Changes a saved method as `change` says.
    pub async fn update_payment_method<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, change): (Uuid, MethodChange),
        respond: impl FnOnce(PaymentMethod) -> R,
    ) -> Result<R, CreditError> {
        if let Some(stored) = idempotency::replay(&self.db, &key).await? {
            return Ok(stored);
        }
        let account_id = self.method_account(caller, tenant_id, id).await?;
        self.write(key, async |tx| {
            let mut method = repo::lock_method(tx, tenant_id, id)
                .await?
                .filter(|method| method.account_id == account_id)
                .ok_or_else(|| CreditError::not_found("payment method", id))?;
            change.apply(&mut method)?;
            let stored = repo::update_method(tx, tenant_id, &method).await?;
            publish_methods(tx, tenant_id, &caller.subject, account_id).await?;
            Ok(respond(shown_to(caller, method_to_proto(&stored))))
        })
        .await
    }

    /// Removes a saved method; the answer is made of the methods left.
    pub async fn remove_payment_method<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        id: Uuid,
        respond: impl FnOnce(Vec<PaymentMethod>) -> R,
    ) -> Result<R, CreditError> {
        // A retry of a removal answers as the first did (the method is
        // gone by then).
        if let Some(stored) = idempotency::replay(&self.db, &key).await? {
            return Ok(stored);
        }
        let account_id = self.method_account(caller, tenant_id, id).await?;
        self.write(key, async |tx| {
            let method = repo::lock_method(tx, tenant_id, id)
                .await?
                .filter(|method| method.account_id == account_id)
                .ok_or_else(|| CreditError::not_found("payment method", id))?;
            repo::remove_method(tx, tenant_id, &method).await?;
            let left = publish_methods(tx, tenant_id, &caller.subject, account_id).await?;
            Ok(respond(left.into_iter().map(|method| shown_to(caller, method)).collect()))
        })
        .await
    }

    /// The account's saved methods, the default first.
    pub async fn payment_methods(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
    ) -> Result<Vec<PaymentMethod>, CreditError> {
        self.check_account(caller, tenant_id, account_id).await?;
        let mut connection = self.db.acquire().await?;
        let methods = repo::methods(&mut connection, tenant_id, account_id).await?;
        Ok(methods.iter().map(|method| shown_to(caller, method_to_proto(method))).collect())
    }
}
