//! Links of reseller tenants to their distributor, the copies the sync
//! made under them, and the dry run of a copy.

use bss_platform::events::HandlerError;
use bss_platform::idempotency::{self, RequestKey};
use bss_platform::paging::{Page, time_and_id};
use bss_platform::peers;
use bss_proto::accounts::{Account, AccountKind, Address};
use chrono::Utc;
use prost::Message;
use uuid::Uuid;

use super::ResellerSync;
use crate::domain::copy::{CopyRecord, Link};
use crate::domain::error::SyncError;
use crate::domain::link::{NewLink, ResellerTenant, TenantReseller, linked_already};
use crate::{repo, sync};

/// What copying a reseller customer would make, without making it.
#[derive(Clone, Debug)]
pub struct Preview {
    /// The copy as the distributor's books would get it.
    pub copy: Account,
    /// The customer's billing addresses, which the copy would take.
    pub billing_addresses: Vec<Address>,
    /// Whether the customer is copied already.
    pub copied: bool,
}

impl ResellerSync {
    /// Links a reseller tenant to the distributor, once per request id. The
    /// accounts service is asked first, with no transaction open (and with
    /// the sync's own identity): the reseller tenant must sit under the
    /// distributor's, and the tenant reseller must be a reseller account.
    /// `respond` is the answer, stored for a retry.
    pub async fn create_link<R: Message + Default>(
        &self,
        key: Option<RequestKey>,
        new: NewLink,
        respond: impl FnOnce(&Link) -> R,
    ) -> Result<R, SyncError> {
        if let Some(key) = &key {
            let mut connection = self.db.acquire().await?;
            if let Ok(response) = idempotency::resolve(&mut connection, key).await {
                return Ok(response);
            }
        }
        let link = self.link_parties(new).await?;
        idempotency::once::<_, SyncError>(&self.db, key, async |tx| {
            let stored = repo::insert_link(tx, &link).await?.ok_or_else(|| linked_already(link.reseller_tenant_id))?;
            Ok(respond(&stored))
        })
        .await
    }

    /// The link a new one makes, once the accounts service says its parties
    /// are what the rules of [`NewLink`] want: the reseller tenant (asked of
    /// the reseller's accounts service), then the tenant reseller (asked of
    /// the distributor's).
    async fn link_parties(&self, new: NewLink) -> Result<Link, SyncError> {
        let caller = self.service_caller(new.reseller_tenant_id)?;
        let accounts = peers::Accounts::new(Some(self.syncer.accounts.clone()));
        let tenant = accounts
            .tenant(&caller, new.reseller_tenant_id)
            .await?
            .map(|tenant| ResellerTenant { parent_tenant_id: tenant.parent_tenant_id.parse().ok() });
        new.check_tenant(tenant.as_ref())?;
        let caller = self.service_caller(new.distributor_tenant_id)?;
        let distributor_accounts = peers::Accounts::new(Some(self.syncer.distributor_accounts.clone()));
        let account = distributor_accounts.account(&caller, new.tenant_reseller_account_id).await?.map(|account| {
            TenantReseller {
                is_reseller: account.kind == AccountKind::Reseller as i32,
                name: account.name,
                separate_invoices: account.separate_invoices,
                currency_code: account.currency_code,
            }
        });
        new.link(account, Utc::now())
    }

    /// A page of the distributor's links, oldest first, and the next page's
    /// token.
    pub async fn links(&self, distributor: Uuid, page: &Page) -> Result<(Vec<Link>, String), SyncError> {
        let links = repo::links_of(&self.db, distributor, page.after_time_and_id()?, page.fetch_limit()).await?;
        Ok(page.finish(links, |link| time_and_id(link.created_at, link.reseller_tenant_id)))
    }

    /// A page of the copies made under a link, oldest first, and the next
    /// page's token.
    pub async fn copies(&self, link: &Link, page: &Page) -> Result<(Vec<CopyRecord>, String), SyncError> {
        let copies =
            repo::copies(&self.db, link.reseller_tenant_id, page.after_time_and_id()?, page.fetch_limit()).await?;
        Ok(page.finish(copies, |copy| time_and_id(copy.created_at, copy.reseller_account_id)))
    }

    /// What copying a reseller customer under a link would make (NOT_FOUND
    /// when the reseller has no such customer).
    pub async fn preview(&self, link: &Link, source_id: Uuid) -> Result<Preview, SyncError> {
        let source = self.syncer.source(link, source_id).await.map_err(|error| match error {
            HandlerError::Retry(cause) | HandlerError::DeadLetter(cause) => {
                SyncError::Unavailable { what: "accounts", cause }
            }
        })?;
        let (source, billing_addresses) =
            source.ok_or(SyncError::NotFound { kind: "account", id: source_id.to_string() })?;
        let copied = repo::copy_of(&self.db, link.reseller_tenant_id, source_id).await?.is_some();
        Ok(Preview { copy: sync::copy_of(link, &source), billing_addresses, copied })
    }
}
