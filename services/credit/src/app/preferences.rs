//! An account's payment preference: the card (by the payment provider's
//! token) suggested when an order cannot go on credit.

use bss_platform::auth::Caller;
use bss_platform::idempotency::RequestKey;
use bss_proto::credit::PaymentPreference;
use prost::Message;
use uuid::Uuid;

use super::Credit;
use crate::domain::error::CreditError;
use crate::repo::{self, PreferenceRow};
use crate::wire::preference_to_proto;

impl Credit {
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
        self.account(caller, tenant_id, preference.account_id).await?;
        self.write(key, async |tx| {
            let stored = repo::set_preference(tx, tenant_id, &preference).await?;
            let response = respond(preference_to_proto(&stored));
            Ok(response)
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
        self.account(caller, tenant_id, account_id).await?;
        let mut connection = self.db.acquire().await?;
        let preference = repo::preference(&mut connection, tenant_id, account_id)
            .await?
            .ok_or_else(|| CreditError::not_found("payment preference", account_id))?;
        Ok(preference_to_proto(&preference))
    }
}
