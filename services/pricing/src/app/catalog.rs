//! The tenant's catalog: products, price levels and the levels' prices.

use bss_platform::auth::Caller;
use bss_platform::error::Violations;
use bss_platform::etag;
use bss_platform::idempotency::RequestKey;
use uuid::Uuid;

use super::{BookWrite, Pricing};
use crate::domain::catalog::{Availability, PriceLevel, Product, Shown, shown_to};
use crate::domain::error::PricingError;
use crate::domain::price::Tiered;
use crate::repo;

impl Pricing {
    /// Adds a product to the catalog.
    pub async fn create_product<R: BookWrite>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        product: Product,
        respond: impl FnOnce(&Product) -> R,
    ) -> Result<R, PricingError> {
        self.write(tenant_id, key, async |tx| {
            Ok(respond(&repo::catalog::insert_product(tx, tenant_id, &product).await?))
        })
        .await
    }

    /// What the caller browses (see [`Shown`]): a customer's own user (only
    /// while its account is active) browses as its account is priced, so a
    /// group member without pricing of its own sees its parent's deals.
    async fn shown(&self, caller: &Caller, tenant_id: Uuid) -> Result<Shown, PricingError> {
        let Some(account_id) = self.own_account(caller).await? else {
            return Ok(shown_to(caller, None));
        };
        Ok(shown_to(caller, Some(self.priced_as(caller, tenant_id, account_id).await?)))
    }

    /// A product by id or code, as the caller may see it (see
    /// [`Shown`]); NOT_FOUND otherwise.
    pub async fn product(&self, caller: &Caller, tenant_id: Uuid, product: &str) -> Result<Product, PricingError> {
        let shown = self.shown(caller, tenant_id).await?;
        let mut connection = self.db.acquire().await?;
        let found = repo::catalog::product(&mut connection, tenant_id, product, false).await?;
        let visible = match shown {
            _ if found.availability == Availability::Public => true,
            Shown::All => true,
            Shown::Public => false,
            Shown::PublicAndContractsOf(account_id) => {
                repo::catalog::listed_for(&mut connection, tenant_id, found.id, account_id).await?
            }
        };
        match visible {
            true => Ok(found),
            false => Err(PricingError::not_found("product", product)),
        }
    }

    /// A page of the tenant's products (of `family` when set) as the caller
    /// may see them (see [`Shown`]), and the next page's token.
    pub async fn products(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        family: &str,
        page: &bss_platform::paging::Page,
    ) -> Result<(Vec<Product>, String), PricingError> {
        let shown = self.shown(caller, tenant_id).await?;
        let mut connection = self.db.acquire().await?;
        repo::catalog::list_products(&mut connection, tenant_id, (family, shown), page).await
    }

    /// Changes a product by `change`, unless it changed since the etag the
    /// change was made against (ETAG_MISMATCH).
    pub async fn update_product<R: BookWrite>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, expected): (Uuid, &str),
        change: impl FnOnce(&mut Product) -> Result<(), Violations>,
        respond: impl FnOnce(&Product) -> R,
    ) -> Result<R, PricingError> {
        self.write(tenant_id, key, async |tx| {
            let mut product = repo::catalog::product(tx, tenant_id, &id.to_string(), true).await?;
            etag::check(&format!("product {id}"), expected, &product.etag())?;
            change(&mut product)?;
            Ok(respond(&repo::catalog::update_product(tx, tenant_id, &product).await?))
        })
        .await
    }

    /// Adds a price level.
    pub async fn create_price_level<R: BookWrite>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        level: PriceLevel,
        respond: impl FnOnce(&PriceLevel) -> R,
    ) -> Result<R, PricingError> {
        self.write(tenant_id, key, async |tx| {
            repo::catalog::insert_level(tx, tenant_id, &level).await?;
            Ok(respond(&level))
        })
        .await
    }

    /// The tenant's price levels by code after `after`, at most `limit`.
    pub async fn price_levels(
        &self,
        tenant_id: Uuid,
        (after, limit): (Option<String>, i64),
    ) -> Result<Vec<PriceLevel>, PricingError> {
        let mut connection = self.db.acquire().await?;
        repo::catalog::levels(&mut connection, tenant_id, after, limit).await
    }

    /// Sets a product's price on a level, in the level's currency.
    pub async fn set_level_price<R: BookWrite>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (level_id, product_id, price, currency): (Uuid, Uuid, Tiered, bss_platform::money::Currency),
        respond: impl FnOnce(&Tiered) -> R,
    ) -> Result<R, PricingError> {
        self.write(tenant_id, key, async |tx| {
            let level = repo::catalog::level_by_id(tx, tenant_id, level_id).await?;
            if level.currency != currency {
                let why = format!("must be {}, the currency of level {}", level.currency.code, level.code);
                return Err(Violations::single("level_price.price.currency_code", why).into());
            }
            repo::catalog::set_level_price(tx, tenant_id, level_id, product_id, &price).await?;
            Ok(respond(&price))
        })
        .await
    }
}
