//! The application layer of pricing: its use cases (the catalog, price
//! levels, pricelists, account pricing and prices, contracts and rebates,
//! exchange rates, quotes), each taking pricing's own terms, applying the
//! rules of `domain/` and storing through `repo/` (a write in one
//! transaction that holds the tenant's book lock and moves its version).
//! `grpc/` only converts and calls these.

pub mod account_pricing;
pub mod catalog;
pub mod contracts;
pub mod pricelists;
pub mod quotes;
pub mod rates;

use std::collections::HashMap;
use std::sync::Arc;

use bss_platform::auth::{self, Caller, ServiceIdentity};
use bss_platform::error::Violations;
use bss_platform::idempotency::{self, RequestKey};
use bss_platform::peers;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::books::{Books, Loaded};
use crate::domain::book::AccountFacts;
use crate::domain::error::PricingError;
use crate::repo;

/// The answer of a write of a tenant's pricing: it tells the book version
/// the write produced.
pub trait BookWrite: Message + Default {
    fn set_book_version(&mut self, version: i64);
    fn book_version(&self) -> i64;
}

macro_rules! book_writes {
    ($($answer:ident),* $(,)?) => {
        $(impl BookWrite for bss_proto::pricing::$answer {
            fn set_book_version(&mut self, version: i64) {
                self.book_version = version;
            }

            fn book_version(&self) -> i64 {
                self.book_version
            }
        })*
    };
}

book_writes!(
    SetAccountPricingResponse,
    CreateAccountPriceResponse,
    DeleteAccountPriceResponse,
    CreateProductResponse,
    UpdateProductResponse,
    CreatePriceLevelResponse,
    SetLevelPriceResponse,
    CreateContractResponse,
    AddContractAccountResponse,
    UpdateContractResponse,
    RemoveContractAccountResponse,
    AddRebateTermResponse,
    SetExchangeRateResponse,
    CreatePricelistResponse,
    AddPricelistItemResponse,
    DeletePricelistItemResponse,
    SetMasterRatePlanResponse,
);

/// Everything the pricing RPCs work with; one instance serves every service
/// of the context.
pub struct Pricing {
    pub(crate) db: PgPool,
    pub(crate) books: Arc<Books>,
    /// The accounts service, for accounts the event stream has not brought
    /// yet.
    accounts: peers::Accounts,
    /// Pricing's own identity: what it asks accounts for a guest (who may
    /// read no account) it asks as itself.
    identity: Option<ServiceIdentity>,
}

impl Pricing {
    pub fn new(db: PgPool, books: Arc<Books>, accounts: Option<Channel>) -> Pricing {
        Pricing { db, books, accounts: peers::Accounts::new(accounts), identity: None }
    }

    /// Asks accounts for guests as `identity`.
    pub fn with_identity(self, identity: ServiceIdentity) -> Pricing {
        Pricing { identity: Some(identity), ..self }
    }

    /// Who asks accounts for `caller`: pricing itself for a guest, else the
    /// caller.
    fn asking_for(&self, caller: &Caller, tenant_id: Uuid) -> Result<Caller, PricingError> {
        if !caller.is_guest() {
            return Ok(caller.clone());
        }
        self.identity.as_ref().and_then(|identity| identity.caller(Some(tenant_id))).ok_or_else(|| {
            PricingError::Unavailable {
                what: "accounts",
                cause: "pricing has no service token to ask for guests".to_owned(),
            }
        })
    }

    /// Runs a write of the tenant's pricing once per request id (see
    /// [`idempotency::once`]), holding the tenant's book lock: writes of
    /// one tenant's book never interleave, and its version moves once per
    /// write. The answer carries the book version the write produced (a retry
    /// answers the same); this replica's next quote is priced by it or a
    /// later one (others hear of it by notification).
    pub(crate) async fn write<R: BookWrite>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<R, PricingError>,
    ) -> Result<R, PricingError> {
        let answer = idempotency::once(&self.db, key, async |tx| {
            let version = repo::lock_book(tx, tenant_id).await?;
            let mut answer = work(tx).await?;
            answer.set_book_version(version);
            Ok::<_, PricingError>(answer)
        })
        .await?;
        self.books.written(tenant_id, answer.book_version());
        Ok(answer)
    }

    /// Deletes one `what` by `delete` (false: there was none, NOT_FOUND)
    /// in a write; `respond` is the answer a retry gets.
    pub(crate) async fn delete<R: BookWrite>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (what, id): (&'static str, Uuid),
        delete: impl AsyncFnOnce(&mut PgConnection) -> Result<bool, PricingError>,
        respond: R,
    ) -> Result<R, PricingError> {
        self.write(tenant_id, key, async |tx| match delete(tx).await? {
            true => Ok(respond),
            false => Err(PricingError::not_found(what, id)),
        })
        .await
    }

    /// The account whose pricing applies to `account_id` (see
    /// `PriceBook::priced_as`), as the caller may see the account.
    pub(crate) async fn priced_as(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
    ) -> Result<Uuid, PricingError> {
        let (loaded, facts) = self.account(caller, tenant_id, account_id).await?;
        Ok(loaded.book.priced_as(&facts))
    }

    /// The account as pricing knows it, if the caller may see it: from the
    /// read model, or from the accounts service when the event stream has
    /// not brought it yet. Also the tenant's current book.
    pub(crate) async fn account(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
    ) -> Result<(Arc<Loaded>, AccountFacts), PricingError> {
        self.account_at(caller, tenant_id, account_id, 0).await
    }

    /// [`Self::account`], with the tenant's book at `min_version` or later.
    pub(crate) async fn account_at(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        min_version: i64,
    ) -> Result<(Arc<Loaded>, AccountFacts), PricingError> {
        // A customer's own user prices its own account only.
        auth::bound_account(self.own_account(caller).await?, Some(account_id))
            .map_err(|other| PricingError::not_found("account", other))?;
        let changes = self.books.changes(tenant_id);
        let (loaded, mut known) = self.books.with_accounts(tenant_id, &[account_id], min_version).await?;
        let facts = match known.remove(&account_id) {
            Some(facts) => facts,
            None => {
                let facts = self.fetch_account(&self.asking_for(caller, tenant_id)?, account_id).await?;
                self.books.remember(tenant_id, changes, &HashMap::from([(account_id, facts.clone())]));
                facts
            }
        };
        if let Some(limit) = caller.sales_rep_limit()
            && facts.sales_rep_id != limit
        {
            return Err(PricingError::not_found("account", account_id));
        }
        Ok((loaded, facts))
    }

    /// The account a quote is for: a guest's is always the generic account
    /// of its region, else the tenant's guest account (GUEST_ACCOUNT_MISSING
    /// when the tenant named none; another account is NOT_FOUND); anyone
    /// else names it.
    pub(crate) async fn quoting_account(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        (requested, region): (Option<Uuid>, &str),
    ) -> Result<Uuid, PricingError> {
        if !caller.is_guest() {
            return requested.ok_or_else(|| Violations::single("account_id", "is required").into());
        }
        let asking = self.asking_for(caller, tenant_id)?;
        let guest = self.accounts.guest_account(&asking, tenant_id, region).await?.ok_or_else(|| {
            PricingError::precondition("GUEST_ACCOUNT_MISSING", "the tenant has named no account for guests")
        })?;
        match auth::bound_account(Some(guest), requested) {
            Ok(account) => Ok(account.unwrap_or(guest)),
            Err(other) => Err(PricingError::not_found("account", other)),
        }
    }

    /// The account a customer's own user acts for (accounts refuses an
    /// inactive one); `None` for any other caller.
    pub(crate) async fn own_account(&self, caller: &Caller) -> Result<Option<Uuid>, PricingError> {
        Ok(self.accounts.acting_account(caller).await?)
    }

    /// An account the event stream has not brought yet, from accounts
    /// (asked as the caller, or as pricing for a guest); `None` when there
    /// is none.
    pub(crate) async fn fetched_account(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
    ) -> Result<Option<AccountFacts>, PricingError> {
        match self.fetch_account(&self.asking_for(caller, tenant_id)?, account_id).await {
            Ok(facts) => Ok(Some(facts)),
            Err(PricingError::NotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    async fn fetch_account(&self, caller: &Caller, account_id: Uuid) -> Result<AccountFacts, PricingError> {
        let account = self
            .accounts
            .account(caller, account_id)
            .await?
            .ok_or_else(|| PricingError::not_found("account", account_id))?;
        let currency = peers::currency_of(&account)?;
        Ok(AccountFacts { id: account_id, currency, sales_rep_id: account.sales_rep_id, parent: None })
    }
}
