//! Contracts: dated prices for the accounts they list, and the rebate
//! terms that pay back part of an account's turnover.

use bss_platform::auth::{Caller, Role};
use bss_platform::idempotency::{self, RequestKey};
use bss_platform::money::Currency;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{BookWrite, Pricing};
use crate::domain::book::Contract;
use crate::domain::contract::{self, changes, check_maker, check_rep_accounts};
use crate::domain::error::PricingError;
use crate::domain::rebate::{self, Band, RebateTerm};
use crate::repo;
use crate::repo::contracts::{ContractChangeRow, ContractRecord};

/// A rebate worked out for an account and term.
pub struct RebateWorked {
    pub currency: Currency,
    pub rebate: Decimal,
    pub bands: Vec<Band>,
    /// The term's period around the day asked.
    pub period: (NaiveDate, NaiveDate),
}

impl Pricing {
    /// Creates a contract; each account it lists must be one the caller
    /// may see (a sales rep's own, with the facility role).
    pub async fn create_contract<R: BookWrite>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        record: ContractRecord,
        respond: impl FnOnce(&ContractRecord) -> R,
    ) -> Result<R, PricingError> {
        // A retry gets the first answer, whatever the checks below would
        // say now.
        if let Some(stored) = idempotency::replay(&self.db, &key).await? {
            return Ok(stored);
        }
        let rep = caller.sales_rep_limit().is_some();
        check_maker(rep, caller.has_role(Role::Facility))?;
        check_rep_accounts(rep, &record.account_ids)?;
        for account_id in &record.account_ids {
            self.account(caller, tenant_id, *account_id).await?;
        }
        self.check_residential(caller, tenant_id, &record.account_ids).await?;
        self.write(tenant_id, key, async |tx| {
            repo::contracts::insert(tx, tenant_id, &record).await?;
            Ok(respond(&changed(tx, tenant_id, (caller, ""), None, record.contract.id).await?))
        })
        .await
    }

    /// Changes a contract as `change` makes it of the current one (its
    /// start and currency stay), keeping the change in its history.
    pub async fn update_contract<R: BookWrite>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (contract_id, reason): (Uuid, &str),
        change: impl FnOnce(&ContractRecord) -> Result<Contract, PricingError>,
        respond: impl FnOnce(&ContractRecord) -> R,
    ) -> Result<R, PricingError> {
        let checked = match self.may_change(caller, tenant_id, &key, contract_id).await? {
            Ok(checked) => checked,
            Err(stored) => return Ok(stored),
        };
        self.write(tenant_id, key, async |tx| {
            let before = self.contract_to_change(tx, tenant_id, contract_id, checked.as_deref()).await?;
            let contract = Contract {
                id: contract_id,
                start: before.contract.start,
                currency: before.contract.currency,
                ..change(&before)?
            };
            repo::contracts::update(tx, tenant_id, &contract).await?;
            Ok(respond(&changed(tx, tenant_id, (caller, reason), Some(&before), contract_id).await?))
        })
        .await
    }

    /// Takes an account off a contract; NOT_FOUND when it is not on it.
    pub async fn remove_contract_account<R: BookWrite>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (contract_id, account_id, reason): (Uuid, Uuid, &str),
        respond: impl FnOnce(&ContractRecord) -> R,
    ) -> Result<R, PricingError> {
        let checked = match self.may_change(caller, tenant_id, &key, contract_id).await? {
            Ok(checked) => checked,
            Err(stored) => return Ok(stored),
        };
        self.write(tenant_id, key, async |tx| {
            let before = self.contract_to_change(tx, tenant_id, contract_id, checked.as_deref()).await?;
            if !repo::contracts::remove_account(tx, tenant_id, contract_id, account_id).await? {
                return Err(PricingError::not_found("contract account", account_id));
            }
            Ok(respond(&changed(tx, tenant_id, (caller, reason), Some(&before), contract_id).await?))
        })
        .await
    }

    /// Accounts going on a contract, against their tenant's residential
    /// profile (RESIDENTIAL_FEATURE), as accounts shows them.
    async fn check_residential(&self, caller: &Caller, tenant_id: Uuid, accounts: &[Uuid]) -> Result<(), PricingError> {
        if self.accounts.channel().is_none() {
            let cause = "no accounts service to ask whether the accounts are residential".to_owned();
            return Err(PricingError::Unavailable { what: "accounts", cause });
        }
        let mut residential = Vec::new();
        for account_id in accounts {
            if let Some(account) = self.accounts.account(caller, *account_id).await?
                && account.profile == bss_proto::accounts::AccountProfile::Residential as i32
            {
                residential.push(*account_id);
            }
        }
        if residential.is_empty() {
            return Ok(());
        }
        let tenant = self.accounts.tenant(caller, tenant_id).await?.unwrap_or_default();
        let allowed = tenant.residential_features.is_some_and(|features| features.contracts);
        contract::check_residential(&residential, allowed)
    }

    /// Whether the caller may change the contract, asked before the write
    /// (no remote call is made while the book is locked): a sales rep
    /// changes only a contract all of whose accounts are its own (another
    /// is NOT_FOUND: it cannot see it). Answers the accounts it checked, for
    /// a rep; `None` for anyone else. A retry gets its first answer first.
    async fn may_change<R: BookWrite>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: &Option<RequestKey>,
        contract_id: Uuid,
    ) -> Result<Result<Option<Vec<Uuid>>, R>, PricingError> {
        if let Some(stored) = idempotency::replay(&self.db, key).await? {
            return Ok(Err(stored));
        }
        if caller.sales_rep_limit().is_none() {
            return Ok(Ok(None));
        }
        check_maker(true, caller.has_role(Role::Facility))?;
        let mut connection = self.db.acquire().await?;
        let contract = repo::contracts::get(&mut connection, tenant_id, contract_id).await?;
        drop(connection);
        // A contract of no account is no rep's own.
        if contract.account_ids.is_empty() {
            return Err(PricingError::not_found("contract", contract_id));
        }
        for account_id in &contract.account_ids {
            match self.account(caller, tenant_id, *account_id).await {
                Err(PricingError::NotFound { .. }) => return Err(PricingError::not_found("contract", contract_id)),
                other => other?,
            };
        }
        Ok(Ok(Some(contract.account_ids)))
    }

    /// The contract as it is before the change, in the write: for a rep, its
    /// accounts must still be those [`Pricing::may_change`] checked
    /// (CONTRACT_CHANGED otherwise: the caller tries again).
    async fn contract_to_change(
        &self,
        tx: &mut PgConnection,
        tenant_id: Uuid,
        contract_id: Uuid,
        checked: Option<&[Uuid]>,
    ) -> Result<ContractRecord, PricingError> {
        let before = repo::contracts::get(tx, tenant_id, contract_id).await?;
        if let Some(checked) = checked
            && checked != before.account_ids.as_slice()
        {
            return Err(PricingError::precondition(
                "CONTRACT_CHANGED",
                format!("contract {contract_id}'s accounts changed while the change was checked: try again"),
            ));
        }
        Ok(before)
    }

    /// A contract's history, oldest first, after `after`; NOT_FOUND when
    /// the caller may not see the contract.
    pub async fn contract_history(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        contract_id: Uuid,
        (after, limit): (Option<Uuid>, i64),
    ) -> Result<Vec<ContractChangeRow>, PricingError> {
        self.contract(caller, tenant_id, contract_id).await?;
        let mut connection = self.db.acquire().await?;
        repo::contracts::history(&mut connection, tenant_id, contract_id, after, limit).await
    }

    /// A contract; a customer's own user sees only a contract its account
    /// is in, and of its accounts only its own.
    pub async fn contract(&self, caller: &Caller, tenant_id: Uuid, id: Uuid) -> Result<ContractRecord, PricingError> {
        let own = self.own_account(caller).await?;
        let mut connection = self.db.acquire().await?;
        let mut record = repo::contracts::get(&mut connection, tenant_id, id).await?;
        if let Some(own) = own {
            if !record.account_ids.contains(&own) {
                return Err(PricingError::not_found("contract", id));
            }
            record.account_ids.retain(|account| *account == own);
        }
        Ok(record)
    }

    /// The tenant's contracts (of one account when named: another tenant's
    /// account is NOT_FOUND, not an empty list) by start and id after
    /// `after`, at most `limit`.
    pub async fn contracts(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Option<Uuid>,
        (after, limit): (Option<(NaiveDate, Uuid)>, i64),
    ) -> Result<Vec<ContractRecord>, PricingError> {
        // A customer's own user sees its account's contracts ("My Items"),
        // and of their accounts only its own.
        let own = self.own_account(caller).await?;
        let account_id = bss_platform::auth::bound_account(own, account_id)
            .map_err(|other| PricingError::not_found("account", other))?;
        if let Some(account_id) = account_id {
            self.account(caller, tenant_id, account_id).await?;
        }
        let mut connection = self.db.acquire().await?;
        let mut records = repo::contracts::page(&mut connection, tenant_id, account_id, after, limit).await?;
        if let Some(own) = own {
            for record in &mut records {
                record.account_ids.retain(|account| *account == own);
            }
        }
        Ok(records)
    }

    /// Adds an account to a contract.
    pub async fn add_contract_account<R: BookWrite>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (contract_id, account_id): (Uuid, Uuid),
        respond: impl FnOnce(&ContractRecord) -> R,
    ) -> Result<R, PricingError> {
        let checked = match self.may_change(caller, tenant_id, &key, contract_id).await? {
            Ok(checked) => checked,
            Err(stored) => return Ok(stored),
        };
        self.account(caller, tenant_id, account_id).await?;
        self.check_residential(caller, tenant_id, &[account_id]).await?;
        self.write(tenant_id, key, async |tx| {
            let before = self.contract_to_change(tx, tenant_id, contract_id, checked.as_deref()).await?;
            repo::contracts::add_account(tx, tenant_id, contract_id, account_id).await?;
            Ok(respond(&changed(tx, tenant_id, (caller, ""), Some(&before), contract_id).await?))
        })
        .await
    }

    /// Adds a rebate term to a contract: `term` reads it in the contract's
    /// currency; a pricelist it names must exist.
    pub async fn add_rebate_term<R: BookWrite>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        contract_id: Uuid,
        term: impl FnOnce(Currency) -> Result<RebateTerm, PricingError>,
        respond: impl FnOnce(&RebateTerm, Currency) -> R,
    ) -> Result<R, PricingError> {
        self.write(tenant_id, key, async |tx| {
            let contract = repo::contracts::get(tx, tenant_id, contract_id).await?.contract;
            let term = term(contract.currency)?;
            if let Some(pricelist_id) = term.scope.pricelist_id() {
                repo::pricelists::get(tx, tenant_id, pricelist_id, false).await?;
            }
            repo::contracts::insert_term(tx, tenant_id, &term).await?;
            Ok(respond(&term, contract.currency))
        })
        .await
    }

    /// What a rebate term gives the account on a turnover (`turnover` reads
    /// it in the contract's currency) for the term's period around `day`.
    pub async fn compute_rebate(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        (account_id, term_id, day): (Uuid, Uuid, NaiveDate),
        turnover: impl FnOnce(Currency) -> Result<Decimal, PricingError>,
    ) -> Result<RebateWorked, PricingError> {
        let priced_as = self.priced_as(caller, tenant_id, account_id).await?;
        let mut connection = self.db.acquire().await?;
        let term = repo::contracts::term_by_id(&mut connection, tenant_id, term_id).await?;
        let record = repo::contracts::get(&mut connection, tenant_id, term.contract_id).await?;
        let contract = &record.contract;
        let turnover = turnover(contract.currency)?;
        let period = term.period.around(day);
        rebate::check_applies(contract, &record.account_ids, (account_id, priced_as), period)?;
        let (rebate, bands) = rebate::compute(turnover, &term.tiers, term.mode, contract.currency);
        Ok(RebateWorked { currency: contract.currency, rebate, bands, period })
    }
}

/// The contract as a change left it, the change kept in its history with
/// who made it and why (`before`: none for a new contract).
async fn changed(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    (caller, reason): (&Caller, &str),
    before: Option<&ContractRecord>,
    contract_id: Uuid,
) -> Result<ContractRecord, PricingError> {
    let after = repo::contracts::get(tx, tenant_id, contract_id).await?;
    let before = before.map(|record| (&record.contract, record.account_ids.as_slice()));
    let changes = changes(before, (&after.contract, &after.account_ids));
    repo::contracts::record_change(tx, tenant_id, contract_id, (&caller.subject, reason), &changes).await?;
    Ok(after)
}
