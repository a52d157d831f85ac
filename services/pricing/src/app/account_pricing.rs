//! Each account's level, discount and pricelists, and its own prices.

use bss_platform::auth::Caller;
use bss_platform::etag;
use bss_platform::idempotency::RequestKey;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{BookWrite, Pricing};
use crate::domain::book::{self, AccountFacts, AccountPrice, AccountPricing};
use crate::domain::error::PricingError;
use crate::repo;

/// An account's pricing as a read shows it.
pub struct PricingView {
    pub account_id: Uuid,
    pub pricing: AccountPricing,
    /// It has pricing of its own (a level, discount, pricelist, account
    /// price or contract).
    pub own: bool,
    /// Whose pricing its quotes use: its group parent's when it has none of
    /// its own, else its own.
    pub priced_as: Uuid,
    /// When it was last set (`None`: never): its etag.
    pub changed_at: Option<DateTime<Utc>>,
    /// The rate plan that prices its services (of the account it is priced
    /// as), and whether it is the tenant's default.
    pub rate_plan: Option<(Uuid, bool)>,
}

impl PricingView {
    pub fn etag(&self) -> String {
        etag::of_time(self.changed_at)
    }
}

/// A change of an account's level, discount and pricelists.
pub struct PricingChange {
    pub account_id: Uuid,
    pub pricing: AccountPricing,
    /// The etag it was made against (empty: unconditional).
    pub etag: String,
}

impl Pricing {
    /// The account's pricing as read in `connection`.
    async fn view(
        &self,
        connection: &mut PgConnection,
        tenant_id: Uuid,
        facts: &AccountFacts,
    ) -> Result<PricingView, PricingError> {
        let pricing = repo::account_pricing::get(connection, tenant_id, facts.id).await?;
        let changed_at = repo::account_pricing::changed_at(connection, tenant_id, facts.id).await?;
        let (prices, contracts) = repo::account_pricing::own_counts(connection, tenant_id, facts.id).await?;
        let own = book::has_own_pricing(Some(&pricing), prices, contracts);
        let priced_as = facts.parent.filter(|_| !own).unwrap_or(facts.id);
        let priced_by = match priced_as == facts.id {
            true => pricing.clone(),
            false => repo::account_pricing::get(connection, tenant_id, priced_as).await?,
        };
        let (rate_plans, default) = repo::pricelists::rate_plans(connection, tenant_id).await?;
        let rate_plan = book::rate_plan_of(&priced_by.pricelist_ids, |id| rate_plans.contains(&id), default);
        Ok(PricingView { account_id: facts.id, pricing, own, priced_as, changed_at, rate_plan })
    }

    /// The account's pricing, if the caller may see the account.
    pub async fn account_pricing(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
    ) -> Result<PricingView, PricingError> {
        let (_, facts) = self.account(caller, tenant_id, account_id).await?;
        let mut connection = self.db.acquire().await?;
        self.view(&mut connection, tenant_id, &facts).await
    }

    /// Sets the account's level, discount and pricelists, unless they were
    /// set since the etag the change was made against (ETAG_MISMATCH).
    pub async fn set_account_pricing<R: BookWrite>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        change: PricingChange,
        respond: impl FnOnce(&PricingView) -> R,
    ) -> Result<R, PricingError> {
        let (_, facts) = self.account(caller, tenant_id, change.account_id).await?;
        let account_id = change.account_id;
        self.write(tenant_id, key, async |tx| {
            let current = etag::of_time(repo::account_pricing::changed_at(tx, tenant_id, account_id).await?);
            etag::check(&format!("the pricing of account {account_id}"), &change.etag, &current)?;
            repo::account_pricing::set(tx, tenant_id, account_id, &change.pricing).await?;
            Ok(respond(&self.view(tx, tenant_id, &facts).await?))
        })
        .await
    }

    /// Gives the account a price of its own for a product.
    pub async fn create_account_price<R: BookWrite>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        new: AccountPrice,
        respond: impl FnOnce(&AccountPrice) -> R,
    ) -> Result<R, PricingError> {
        self.account(caller, tenant_id, new.account_id).await?;
        self.write(tenant_id, key, async |tx| {
            repo::account_pricing::insert_price(tx, tenant_id, &new).await?;
            Ok(respond(&new))
        })
        .await
    }

    /// The account's own prices in id order after `after`, at most `limit`.
    pub async fn account_prices(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        (after, limit): (Option<Uuid>, i64),
    ) -> Result<Vec<AccountPrice>, PricingError> {
        let (_, facts) = self.account(caller, tenant_id, account_id).await?;
        let mut connection = self.db.acquire().await?;
        repo::account_pricing::prices_page(&mut connection, tenant_id, facts.id, after, limit).await
    }

    /// Deletes an account price (NOT_FOUND when there is none).
    pub async fn delete_account_price<R: BookWrite>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        id: Uuid,
        respond: R,
    ) -> Result<R, PricingError> {
        let delete = async |tx: &mut PgConnection| repo::account_pricing::delete_price(tx, tenant_id, id).await;
        self.delete(tenant_id, key, ("account price", id), delete, respond).await
    }
}
