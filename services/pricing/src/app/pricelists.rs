//! Pricelists: dated prices of products in one currency, assigned to
//! accounts by priority.

use bss_platform::idempotency::RequestKey;
use bss_platform::money::Currency;
use bss_platform::paging::Page;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{BookWrite, Pricing};
use crate::domain::book::Dated;
use crate::domain::catalog::{PricelistRecord, check_rate_plan};
use crate::domain::error::PricingError;
use crate::repo;

impl Pricing {
    /// Creates a pricelist with its items (their dates checked for
    /// overlaps by the caller's parse).
    pub async fn create_pricelist<R: BookWrite>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        record: PricelistRecord,
        respond: impl FnOnce(&PricelistRecord) -> R,
    ) -> Result<R, PricingError> {
        self.write(tenant_id, key, async |tx| {
            repo::pricelists::insert(tx, tenant_id, &record).await?;
            let mut stored = [repo::pricelists::get(tx, tenant_id, record.id, false).await?];
            mark_default(tx, tenant_id, &mut stored).await?;
            Ok(respond(&stored[0]))
        })
        .await
    }

    pub async fn pricelist(&self, tenant_id: Uuid, id: Uuid) -> Result<PricelistRecord, PricingError> {
        let mut connection = self.db.acquire().await?;
        let mut record = [repo::pricelists::get(&mut connection, tenant_id, id, false).await?];
        mark_default(&mut connection, tenant_id, &mut record).await?;
        let [record] = record;
        Ok(record)
    }

    /// Marks the tenant's master rate plan (`None` clears the mark):
    /// NOT_FOUND for no such pricelist, NOT_A_RATE_PLAN for a pricelist
    /// of goods. `respond` gets the marked rate plan.
    pub async fn set_master_rate_plan<R: BookWrite>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        id: Option<Uuid>,
        respond: impl FnOnce(Option<&PricelistRecord>) -> R,
    ) -> Result<R, PricingError> {
        self.write(tenant_id, key, async |tx| {
            let marked = match id {
                Some(id) => {
                    let record = repo::pricelists::get(tx, tenant_id, id, true).await?;
                    check_rate_plan(&record)?;
                    Some(record)
                }
                None => None,
            };
            repo::pricelists::set_master(tx, tenant_id, id).await?;
            let mut marked: Vec<PricelistRecord> = marked.into_iter().collect();
            for record in &mut marked {
                record.master = true;
                record.items.clear();
            }
            mark_default(tx, tenant_id, &mut marked).await?;
            Ok(respond(marked.first()))
        })
        .await
    }

    /// A page of the tenant's pricelists and the next page's token.
    pub async fn pricelists(
        &self,
        tenant_id: Uuid,
        page: &Page,
    ) -> Result<(Vec<PricelistRecord>, String), PricingError> {
        let mut connection = self.db.acquire().await?;
        let (mut records, next) = repo::pricelists::list(&mut connection, tenant_id, page).await?;
        mark_default(&mut connection, tenant_id, &mut records).await?;
        Ok((records, next))
    }

    /// Adds an item to a pricelist: `item` reads it in the pricelist's
    /// currency (product, dated price).
    pub async fn add_pricelist_item<R: BookWrite>(
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
    pub async fn delete_pricelist_item<R: BookWrite>(
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

/// Sets `default_rate_plan` on the records: whether each is the tenant's
/// default rate plan as of now.
async fn mark_default(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    records: &mut [PricelistRecord],
) -> Result<(), PricingError> {
    let (_, default) = repo::pricelists::rate_plans(connection, tenant_id).await?;
    for record in records {
        record.default_rate_plan = Some(record.id) == default;
    }
    Ok(())
}
