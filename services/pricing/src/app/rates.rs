//! The tenant's exchange rates, each in force from its effective date.

use bss_platform::idempotency::RequestKey;
use uuid::Uuid;

use super::{BookWrite, Pricing};
use crate::domain::error::PricingError;
use crate::repo;
use crate::repo::rates::Rate;

impl Pricing {
    /// Sets a rate from its effective date (replacing one of the same
    /// pair and date); `respond` makes the answer a retry gets.
    pub async fn set_exchange_rate<R: BookWrite>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        rate: Rate,
        respond: impl FnOnce(&Rate) -> R,
    ) -> Result<R, PricingError> {
        self.write(tenant_id, key, async |tx| {
            repo::rates::set(tx, tenant_id, &rate).await?;
            Ok(respond(&rate))
        })
        .await
    }

    /// The tenant's rates in key order after `after`, at most `limit`.
    pub async fn exchange_rates(
        &self,
        tenant_id: Uuid,
        (after, limit): (Option<&str>, i64),
    ) -> Result<Vec<Rate>, PricingError> {
        let mut connection = self.db.acquire().await?;
        repo::rates::page(&mut connection, tenant_id, after, limit).await
    }
}
