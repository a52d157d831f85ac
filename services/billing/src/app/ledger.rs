//! The ledger's use cases: period settings set once, periods listed and
//! closed (opening the next with each account's closing balance), rebates
//! issued once per account, term and period, the account's transactions,
//! and what billing holds open for accounts being terminated or deleted.

use std::collections::HashMap;

use bss_platform::auth::Caller;
use bss_platform::client;
use bss_platform::error::PlatformError;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{HistoryQuery, parse_id};
use bss_platform::money::{Currency, money_to_wire, parse_decimal};
use bss_platform::time::{format_date, now, parse_date};
use bss_proto::pricing::contract_service_client::ContractServiceClient;
use bss_proto::pricing::pricelist_service_client::PricelistServiceClient;
use bss_proto::pricing::{ComputeRebateRequest, GetPricelistRequest, ListContractsRequest, RebateScope};
use chrono::{DateTime, NaiveDate, Utc};
use prost::Message;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{Billing, PEER_TIMEOUT, upstream};
use crate::domain::error::BillingError;
use crate::domain::period::{Period, PeriodSettings};
use crate::domain::rebate::Rebate;
use crate::domain::receivables::{Aging, aging_by_currency, daily_balances};
use crate::repo::ledger::{self, RebateRecord, Transaction, TransactionFilter, Turnover};
use crate::repo::stored_currency;

impl Billing {
    /// Sets the tenant's period settings, once (PERIOD_SETTINGS_FIXED
    /// after), and opens the first period. The answer, made by `respond`
    /// of when they were set and the period opened, is what a retry gets.
    pub async fn set_period_settings<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        settings: PeriodSettings,
        respond: impl FnOnce(DateTime<Utc>, &Period) -> R,
    ) -> Result<R, BillingError> {
        let first = settings.first_period()?;
        self.write(key, async |tx| {
            let Some(created) = ledger::insert_settings(tx, tenant_id, &settings).await? else {
                return Err(BillingError::precondition(
                    "PERIOD_SETTINGS_FIXED",
                    "the tenant's period settings are set once and cannot change",
                ));
            };
            let period = ledger::open_period(tx, tenant_id, first).await?;
            let response = respond(created, &period);
            Ok(response)
        })
        .await
    }

    /// The tenant's period settings and when they were set.
    pub async fn period_settings(&self, tenant_id: Uuid) -> Result<(PeriodSettings, DateTime<Utc>), BillingError> {
        let mut connection = self.db.acquire().await?;
        ledger::settings(&mut connection, tenant_id)
            .await?
            .ok_or_else(|| BillingError::not_found("period settings", tenant_id))
    }

    /// The tenant's periods, oldest first, after the one starting `after`.
    pub async fn periods(
        &self,
        tenant_id: Uuid,
        (after, limit): (Option<NaiveDate>, i64),
    ) -> Result<Vec<Period>, BillingError> {
        let mut connection = self.db.acquire().await?;
        ledger::periods(&mut connection, tenant_id, after, limit).await
    }

    /// Closes an open period whose last day is over and opens the next;
    /// every account with an opening or a posting in the closed period
    /// opens the next with its closing balance. `respond` gets the closed
    /// period, the one opened and how many accounts carried a balance.
    pub async fn close_period<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        period_id: Uuid,
        respond: impl FnOnce(&Period, &Period, u64) -> R,
    ) -> Result<R, BillingError> {
        self.write(key, async |tx| {
            let period = ledger::lock_period(tx, tenant_id, period_id)
                .await?
                .ok_or_else(|| BillingError::not_found("period", period_id))?;
            let (settings, _) = ledger::settings(tx, tenant_id)
                .await?
                .ok_or_else(|| BillingError::not_found("period settings", tenant_id))?;
            let next = period.close(now().date_naive(), settings.frequency)?;
            let closed = ledger::close_period(tx, tenant_id, period_id).await?;
            let opened = ledger::open_period(tx, tenant_id, next).await?;
            let accounts = ledger::carry_balances(tx, tenant_id, closed.id, opened.id).await?;
            let response = respond(&closed, &opened, accounts);
            Ok(response)
        })
        .await
    }

    /// Issues the rebates of the period containing `date` (of one account,
    /// or of every account in a contract): each (account, term, period)
    /// once, a positive one paid by a credit note. `respond` gets the
    /// rebates this call issued.
    pub async fn run_rebates<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account, date): (Option<Uuid>, NaiveDate),
        respond: impl FnOnce(&[Rebate]) -> R,
    ) -> Result<R, BillingError> {
        if let Some(stored) = self.replay(&key).await? {
            return Ok(stored);
        }
        if let Some(account) = account {
            self.fetch_account(caller, account).await?;
        }
        let worked = self.work_out_rebates(caller, tenant_id, account, date).await?;
        self.write(key, async |tx| {
            let mut issued = Vec::new();
            for mut rebate in worked {
                let record = RebateRecord {
                    account_id: rebate.account_id,
                    term_id: rebate.term_id,
                    period: (rebate.period_start, rebate.period_end),
                    turnover: rebate.turnover,
                    rebate: rebate.rebate,
                };
                if !ledger::insert_rebate(tx, tenant_id, &record).await? {
                    continue;
                }
                if rebate.pays() {
                    let reason = rebate.credit_note_reason();
                    let payer = (rebate.account_id, rebate.currency);
                    let note = super::payments::adjust(
                        tx,
                        &caller.subject,
                        tenant_id,
                        payer,
                        Some(rebate.rebate),
                        None,
                        &reason,
                    )
                    .await?;
                    ledger::set_rebate_note(tx, tenant_id, &record, note.id).await?;
                    rebate.credit_note_id = Some(note.id);
                }
                issued.push(rebate);
            }
            let response = respond(&issued);
            Ok(response)
        })
        .await
    }

    /// Every (account, term) rebate of the period containing `date`, from
    /// pricing's contracts and each account's turnover.
    async fn work_out_rebates(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account: Option<Uuid>,
        date: NaiveDate,
    ) -> Result<Vec<Rebate>, BillingError> {
        let channel = self.peer("pricing", &self.peers.pricing)?;
        let unavailable = |cause: String| BillingError::Unavailable { what: "pricing", cause };
        // Every page of the contracts.
        let mut contracts = Vec::new();
        let mut page_token = String::new();
        loop {
            let list = ListContractsRequest {
                account_id: account.map(|id| id.to_string()).unwrap_or_default(),
                page_size: 500,
                page_token,
            };
            let page = ContractServiceClient::new(channel.clone())
                .list_contracts(client::request(list, caller, PEER_TIMEOUT))
                .await
                .map_err(upstream("pricing"))?
                .into_inner();
            contracts.extend(page.contracts);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        let mut pricelists: HashMap<String, Vec<String>> = HashMap::new();
        let mut worked = Vec::new();
        for contract in &contracts {
            let currency = Currency::parse(&contract.currency_code)
                .map_err(|_| unavailable(format!("a contract in {:?}", contract.currency_code)))?;
            for term in &contract.rebate_terms {
                let products = if term.scope == RebateScope::PricelistProducts as i32 {
                    if !pricelists.contains_key(&term.pricelist_id) {
                        let get = GetPricelistRequest { id: term.pricelist_id.clone() };
                        let pricelist = PricelistServiceClient::new(channel.clone())
                            .get_pricelist(client::request(get, caller, PEER_TIMEOUT))
                            .await
                            .map_err(upstream("pricing"))?
                            .into_inner()
                            .pricelist
                            .unwrap_or_default();
                        let items = pricelist.items.into_iter().map(|item| item.product_id).collect();
                        pricelists.insert(term.pricelist_id.clone(), items);
                    }
                    pricelists.get(&term.pricelist_id).cloned()
                } else {
                    None
                };
                let term_id = parse_id("term_id", &term.id)?;
                for account_id in &contract.account_ids {
                    let account_id: Uuid = parse_id("account_id", account_id)?;
                    if account.is_some_and(|only| only != account_id) {
                        continue;
                    }
                    let compute = |invoiced: Decimal| ComputeRebateRequest {
                        account_id: account_id.to_string(),
                        term_id: term.id.clone(),
                        period_date: format_date(date),
                        invoiced_amount: Some(money_to_wire(invoiced, currency)),
                    };
                    let mut pricing = ContractServiceClient::new(channel.clone());
                    // The period's bounds first, then the rebate on its turnover.
                    let bounds = pricing
                        .compute_rebate(client::request(compute(Decimal::ZERO), caller, PEER_TIMEOUT))
                        .await
                        .map_err(upstream("pricing"))?
                        .into_inner();
                    let period_start = parse_date(&bounds.period_start).map_err(unavailable)?;
                    let period_end = parse_date(&bounds.period_end).map_err(unavailable)?;
                    let of = Turnover {
                        account_id,
                        currency: currency.code,
                        period: (period_start, period_end),
                        products: products.as_deref(),
                    };
                    let turnover = {
                        let mut connection = self.db.acquire().await?;
                        ledger::turnover(&mut connection, tenant_id, &of).await?
                    };
                    let answer = pricing
                        .compute_rebate(client::request(compute(turnover), caller, PEER_TIMEOUT))
                        .await
                        .map_err(upstream("pricing"))?
                        .into_inner();
                    let rebate = answer.rebate.map(|money| money.amount).unwrap_or_default();
                    let rebate = parse_decimal(&rebate).map_err(unavailable)?;
                    worked.push(Rebate {
                        account_id,
                        term_id,
                        currency,
                        period_start,
                        period_end,
                        turnover,
                        rebate,
                        credit_note_id: None,
                    });
                }
            }
        }
        Ok(worked)
    }

    /// The account's transactions in id order after `after` (another
    /// tenant's account is NOT_FOUND, not an empty list).
    pub async fn transactions(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        filter: TransactionFilter,
        page: (Option<Uuid>, i64),
    ) -> Result<Vec<Transaction>, BillingError> {
        self.fetch_account(caller, account_id).await?;
        let mut connection = self.db.acquire().await?;
        ledger::transactions(&mut connection, tenant_id, account_id, filter, page).await
    }

    /// The account's balance at the end of each day of the query's range
    /// (another tenant's account is NOT_FOUND), in its currency.
    pub async fn balance_history(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        query: &HistoryQuery,
    ) -> Result<(Currency, Vec<(NaiveDate, Decimal)>), BillingError> {
        let currency = self.account_currency(caller, query.account_id).await?;
        let mut connection = self.db.acquire().await?;
        let zone = &query.time_zone;
        bss_platform::db::today_in::<BillingError>(&mut connection, "time_zone", zone).await?;
        let postings = ledger::postings_by_day(&mut connection, tenant_id, query.account_id, query.to, zone).await?;
        Ok((currency, daily_balances(&postings, query.from, query.to)))
    }

    /// The aging of what posted invoices still owe today (in `time_zone`),
    /// of one account or of the whole tenant, per currency; and that
    /// today. A sales rep names one of its accounts; a customer's user
    /// ages its own account.
    pub async fn receivables_aging(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Option<Uuid>,
        time_zone: &str,
    ) -> Result<(NaiveDate, Vec<(Currency, Aging)>), BillingError> {
        // A customer's own user ages its own account, named or not.
        let own = self.own_account(caller).await?;
        let account_id = bss_platform::auth::bound_account(own, account_id)
            .map_err(|other| BillingError::not_found("account", other))?;
        match account_id {
            Some(account_id) => {
                self.fetch_account(caller, account_id).await?;
            }
            None if caller.sales_rep_limit().is_some() => {
                return Err(BillingError::Platform(PlatformError::Denied {
                    reason: "ACCOUNT_REQUIRED",
                    description: "name one of your accounts: the tenant's aging is for its staff".to_owned(),
                }));
            }
            None => {}
        }
        let mut connection = self.db.acquire().await?;
        let today = bss_platform::db::today_in::<BillingError>(&mut connection, "time_zone", time_zone).await?;
        let open = ledger::open_by_due_date(&mut connection, tenant_id, account_id).await?;
        let open = open
            .into_iter()
            .map(|(code, due, owed, invoices)| Ok((stored_currency(&code)?, due, owed, invoices)))
            .collect::<Result<Vec<_>, BillingError>>()?;
        let agings = aging_by_currency(open, today);
        Ok((today, agings))
    }

    /// What billing holds open for the accounts: (account, reason, count).
    pub async fn accounts_settled(
        &self,
        tenant_id: Uuid,
        account_ids: &[Uuid],
        deleting: bool,
    ) -> Result<Vec<(Uuid, String, i64)>, BillingError> {
        let mut connection = self.db.acquire().await?;
        ledger::unsettled(&mut connection, tenant_id, account_ids, deleting).await
    }
}
