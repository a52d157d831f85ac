//! Who pays for an account's purchases, asked of accounts (groups, bill-to
//! parents, managed copies) and pricing (product types and families).

use std::collections::HashMap;

use bss_platform::auth::Caller;
use bss_platform::client;
use bss_proto::accounts::{Account, FundingScope};
use bss_proto::pricing::GetProductRequest;
use bss_proto::pricing::catalog_service_client::CatalogServiceClient;
use uuid::Uuid;

use bss_platform::peers::PEER_TIMEOUT;

use super::{Billing, upstream};
use crate::domain::bill_to::{BillTo, Funding, Payer, ProductFacts};
use crate::domain::error::BillingError;

fn account_id(value: &str) -> Result<Uuid, BillingError> {
    value.parse().map_err(|_| BillingError::Unavailable { what: "accounts", cause: format!("an account id {value:?}") })
}

impl Billing {
    /// The account's standing: its own, a funded group member's, or a
    /// managed copy's (billed to the tenant reseller).
    pub(crate) async fn payer(&self, caller: &Caller, account: &Account) -> Result<Payer, BillingError> {
        let id = account_id(&account.id)?;
        if let Some(managed) = &account.managed_by {
            return Ok(Payer {
                account_id: id,
                parent_id: Some(account_id(&managed.tenant_reseller_account_id)?),
                funding: Funding::Full,
                separate_invoices: account.separate_invoices,
            });
        }
        let group = self.peers.accounts.group(caller, &account.id).await?.unwrap_or_default();
        let membership = group.members.iter().find(|member| member.account_id == account.id);
        if let Some(funding) = membership.and_then(|member| member.funding.clone()) {
            let funding = match FundingScope::try_from(funding.scope) {
                Ok(FundingScope::Full) => Funding::Full,
                Ok(FundingScope::Partial) => Funding::Partial {
                    products: funding.product_ids,
                    types: funding.product_types,
                    families: funding.product_families,
                },
                _ => Funding::None,
            };
            return Ok(Payer {
                account_id: id,
                parent_id: Some(account_id(&group.parent_account_id)?),
                funding,
                separate_invoices: account.separate_invoices,
            });
        }
        // Outside a group, an account's bill-to parent pays for everything.
        let parent_id =
            if account.parent_account_id.is_empty() { None } else { Some(account_id(&account.parent_account_id)?) };
        Ok(Payer { account_id: id, parent_id, funding: Funding::Full, separate_invoices: account.separate_invoices })
    }

    /// The product (by id or code) as pricing shows it to `caller`.
    pub(crate) async fn product(
        &self,
        caller: &Caller,
        product: &str,
    ) -> Result<bss_proto::pricing::Product, BillingError> {
        let channel = self.peer("pricing", &self.peers.pricing)?;
        let request = client::request(GetProductRequest { product: product.to_owned() }, caller, PEER_TIMEOUT);
        Ok(CatalogServiceClient::new(channel)
            .get_product(request)
            .await
            .map_err(upstream("pricing"))?
            .into_inner()
            .product
            .unwrap_or_default())
    }

    /// Who pays for each product (id and code as pricing named them).
    pub(crate) async fn bill_to(
        &self,
        caller: &Caller,
        payer: &Payer,
        products: &[(String, String)],
    ) -> Result<Vec<BillTo>, BillingError> {
        let mut facts: HashMap<&str, ProductFacts> = HashMap::new();
        for (id, code) in products {
            if facts.contains_key(id.as_str()) {
                continue;
            }
            let mut product = ProductFacts { id: id.clone(), code: code.clone(), ..ProductFacts::default() };
            // A location's surcharge is no product: its payer is the one
            // who pays for everything.
            if payer.funding.needs_product_facts() && !id.is_empty() {
                let found = self.product(caller, id).await?;
                product.product_type = found.product_type;
                product.family = found.family;
            }
            facts.insert(id, product);
        }
        let own = BillTo { account_id: payer.account_id, separate: false };
        Ok(products.iter().map(|(id, _)| facts.get(id.as_str()).map_or(own, |facts| payer.bill_to(facts))).collect())
    }
}
