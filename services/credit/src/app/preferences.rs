//! An account's saved payment methods (cards and wallets, by the payment
//! provider's token), and its payment preference (the default of its own
//! methods). Every change of the account's own methods publishes them as
//! they are after it (PaymentMethodsChanged), which billing follows to
//! collect invoices; a shopper's own methods on a shared account (see
//! `domain::preference`) are never published: billing asks for them when
//! that shopper orders.

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
use crate::domain::preference::{check_change, default_after, owner_of_saved, visible_to};
use crate::repo::{self, MethodRow, Owners, PreferenceRow};
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
fn shown_to(caller: &Caller, method: &MethodRow) -> PaymentMethod {
    let mut method = method_to_proto(method);
    if caller.customer_user().is_some() {
        method.token_reference.clear();
    }
    method
}

/// Whose methods `caller` reads of an account: a customer's own user the
/// account's and its own; anyone else `asked` (every method unless it
/// narrows them).
fn owners_for(caller: &Caller, asked: Owners) -> Owners {
    match caller.customer_user() {
        Some(user) => Owners::AccountAnd(Some(user)),
        None => asked,
    }
}

/// The account's methods `caller` sees (another user's own are not its
/// business), as it sees them.
async fn seen_by(
    connection: &mut PgConnection,
    caller: &Caller,
    (tenant_id, account_id): (Uuid, Uuid),
    asked: Owners,
) -> Result<Vec<PaymentMethod>, CreditError> {
    let methods = repo::methods(connection, tenant_id, account_id, owners_for(caller, asked)).await?;
    let viewer = caller.customer_user();
    Ok(methods.iter().filter(|method| visible_to(method.owner_user_id, viewer)).map(|m| shown_to(caller, m)).collect())
}

/// Publishes the account's own methods as they are now, when `owner`
/// (whose method changed) is the account; a user's own are never
/// published.
async fn publish_methods(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    (account_id, owner): (Uuid, Option<Uuid>),
) -> Result<(), CreditError> {
    if owner.is_some() {
        return Ok(());
    }
    let methods = repo::methods(tx, tenant_id, account_id, Owners::AccountAnd(None)).await?;
    let changed = PaymentMethodsChanged {
        account_id: account_id.to_string(),
        methods: methods.iter().map(method_to_proto).collect(),
    };
    publish(tx, tenant_id, actor, Payload::PaymentMethodsChanged(changed)).await
}

/// The key of a request, a customer's own user's apart
/// ([`RequestKey::of_caller`]).
pub fn user_key(
    caller: &Caller,
    tenant_id: Uuid,
    (method, request_id): (&str, &str),
    request: &impl Message,
) -> Result<Option<RequestKey>, CreditError> {
    Ok(RequestKey::of_caller(caller, tenant_id, method, request_id, request)?)
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
            publish_methods(&mut tx, *tenant_id, ACTOR, (*account_id, None)).await?;
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

    /// Whether the account is shared by unrelated users (see
    /// `domain::preference`), asked of accounts as credit itself.
    async fn is_shared(&self, tenant_id: Uuid, account_id: Uuid) -> Result<bool, CreditError> {
        let service = self.identity.caller(Some(tenant_id)).ok_or_else(|| CreditError::Unavailable {
            what: "accounts",
            cause: "credit has no service token (BSS_AUTH__SERVICE_TOKEN or BSS_AUTH__HS256_SECRET)".to_owned(),
        })?;
        Ok(self.accounts.is_shared(&service, tenant_id, account_id).await?)
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
            publish_methods(tx, tenant_id, &caller.subject, (preference.account_id, None)).await?;
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

    /// Saves a payment method of the account: on a shared account, one a
    /// customer's user saves is its own.
    pub async fn save_payment_method<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        mut method: MethodRow,
        respond: impl FnOnce(PaymentMethod) -> R,
    ) -> Result<R, CreditError> {
        self.check_account(caller, tenant_id, method.account_id).await?;
        if let Some(user) = caller.customer_user() {
            let shared = self.is_shared(tenant_id, method.account_id).await?;
            method.owner_user_id = owner_of_saved(Some(user), shared);
        }
        self.write(key, async |tx| {
            let saved = repo::save_method(tx, tenant_id, &method).await?;
            publish_methods(tx, tenant_id, &caller.subject, (method.account_id, method.owner_user_id)).await?;
            Ok(respond(shown_to(caller, &saved)))
        })
        .await
    }

    /// The account of a method the caller may change, checked before
    /// anything is locked: NOT_FOUND for another tenant's, another
    /// customer's or another user's; METHOD_OF_SHARED_ACCOUNT for a user
    /// changing a shared account's own method.
    async fn method_account(&self, caller: &Caller, tenant_id: Uuid, id: Uuid) -> Result<Uuid, CreditError> {
        let mut connection = self.db.acquire().await?;
        let user = caller.customer_user();
        let (account_id, owner) = repo::method_account(&mut connection, tenant_id, id)
            .await?
            .filter(|(_, owner)| visible_to(*owner, user))
            .ok_or_else(|| CreditError::not_found("payment method", id))?;
        drop(connection);
        self.check_account(caller, tenant_id, account_id).await.map_err(|error| match error {
            CreditError::NotFound { .. } => CreditError::not_found("payment method", id),
            other => other,
        })?;
        if user.is_some() && owner.is_none() {
            check_change(owner, user, self.is_shared(tenant_id, account_id).await?)?;
        }
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
            publish_methods(tx, tenant_id, &caller.subject, (account_id, method.owner_user_id)).await?;
            Ok(respond(shown_to(caller, &stored)))
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
            publish_methods(tx, tenant_id, &caller.subject, (account_id, method.owner_user_id)).await?;
            Ok(respond(seen_by(tx, caller, (tenant_id, account_id), Owners::All).await?))
        })
        .await
    }

    /// The account's saved methods the caller sees: the account's, the
    /// default first, then each user's (a customer's user: its own; staff
    /// and services those `asked`).
    pub async fn payment_methods(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        asked: Owners,
    ) -> Result<Vec<PaymentMethod>, CreditError> {
        self.check_account(caller, tenant_id, account_id).await?;
        let mut connection = self.db.acquire().await?;
        seen_by(&mut connection, caller, (tenant_id, account_id), asked).await
    }
}
