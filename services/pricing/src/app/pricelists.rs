//! Pricelists: dated prices of products in one currency, assigned to
//! accounts by priority.

use bss_platform::idempotency::RequestKey;
use bss_platform::money::Currency;
use bss_platform::paging::Page;
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Pricing;
use crate::domain::book::Dated;
use crate::domain::catalog::PricelistRecord;
use crate::domain::error::PricingError;
use crate::repo;

impl Pricing {
    /// Creates a pricelist with its items (their dates checked for
    /// overlaps by the caller's parse).
    pub async fn create_pricelist<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        record: PricelistRecord,
        respond: impl FnOnce(&PricelistRecord) -> R,
    ) -> Result<R, PricingError> {
        self.write(tenant_id, key, async |tx| {
            repo::pricelists::insert(tx, tenant_id, &record).await?;
            Ok(respond(&repo::pricelists::get(tx, tenant_id, record.id, false).await?))
        })
        .await
    }

    pub async fn pricelist(&self, tenant_id: Uuid, id: Uuid) -> Result<PricelistRecord, PricingError> {
        let mut connection = self.db.acquire().await?;
        repo::pricelists::get(&mut connection, tenant_id, id, false).await
    }

    /// A page of the tenant's pricelists and the next page's token.
    pub async fn pricelists(
        &self,
        tenant_id: Uuid,
        page: &Page,
    ) -> Result<(Vec<PricelistRecord>, String), PricingError> {
        let mut connection = self.db.acquire().await?;
        repo::pricelists::list(&mut connection, tenant_id, page).await
    }

    /// Adds an item to a pricelist: `item` reads it in the pricelist's
    /// currency (product, dated price).
    pub async fn add_pricelist_item<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        pricelist_id: Uuid,
        item: impl FnOnce(Currency) -> Result<(Uuid, Dated), PricingError>,
        respond: impl FnOnce(Uuid, &Dated, Currency) -> R,
    ) -> Result<R, PricingError> {
        self.write(tenant_id, key, async |tx| {
            let pricelist = repo::pricelists::get(tx, tenant_id, pricelist_id, true).await?;
            let (product_id, item) = item(pricelist.currency)?;
            repo::pricelists::add_item(tx, tenant_id, pricelist_id, product_id, &item).await?;
            Ok(respond(product_id, &item, pricelist.currency))
        })
        .await
    }

    /// Deletes a pricelist item (NOT_FOUND when there is none).
    pub async fn delete_pricelist_item<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        id: Uuid,
        respond: R,
    ) -> Result<R, PricingError> {
        let delete = async |tx: &mut PgConnection| repo::pricelists::delete_item(tx, tenant_id, id).await;
        self.delete(tenant_id, key, ("pricelist item", id), delete, respond).await
    }
}
