//! Contracts: prices for their accounts, forced or not, from a start to an
//! expiry date, an extra discount, and rebate terms.

use std::collections::HashMap;

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{optional_text, parse_id, parse_optional_id, required_id, required_text};
use bss_platform::money::{Currency, amount_in, decimal_from_wire, decimal_to_wire, money_to_wire, percent_from_wire};
use bss_platform::paging::{Page, time_and_id};
use bss_platform::time::{format_date, timestamp};
use bss_proto::pricing::contract_service_server::ContractService;
use bss_proto::pricing::*;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::{date_from_wire, tiered_from_wire, tiered_to_wire};
use super::{CONTRACT_MAKERS, CONTRACT_READERS, HISTORY_READERS, PricingApi, REBATE_CALCULATORS, WRITERS};
use crate::app::contracts::RebateWorked;
use crate::domain::book;
use crate::domain::contract::CHANGEABLE;
use crate::domain::error::PricingError;
use crate::domain::price::Tiered;
use crate::domain::rebate::{Mode, Period, RebateTerm, Scope, Tier, check_tiers};
use crate::repo::contracts::ContractRecord;

fn term_to_proto(term: &RebateTerm, currency: Currency) -> bss_proto::pricing::RebateTerm {
    bss_proto::pricing::RebateTerm {
        id: term.id.to_string(),
        contract_id: term.contract_id.to_string(),
        scope: match term.scope {
            Scope::AllInvoicedItems => RebateScope::AllInvoicedItems,
            Scope::PricelistProducts(_) => RebateScope::PricelistProducts,
        }
        .into(),
        pricelist_id: term.scope.pricelist_id().map(|id| id.to_string()).unwrap_or_default(),
        period: match term.period {
            Period::Month => RebatePeriod::Month,
            Period::Quarter => RebatePeriod::Quarter,
            Period::HalfYear => RebatePeriod::HalfYear,
            Period::Year => RebatePeriod::Year,
        }
        .into(),
        mode: match term.mode {
            Mode::Scale => TierMode::Scale,
            Mode::Continuous => TierMode::Continuous,
        }
        .into(),
        tiers: term
            .tiers
            .iter()
            .map(|tier| RebateTier {
                from_amount: Some(money_to_wire(tier.from, currency)),
                rate_percent: Some(decimal_to_wire(tier.rate_percent)),
            })
            .collect(),
    }
}

fn contract_to_proto(record: &ContractRecord) -> Contract {
    let contract = &record.contract;
    let mut items: Vec<(&Uuid, &Tiered)> = contract.items.iter().collect();
    items.sort_by_key(|(product_id, _)| **product_id);
    Contract {
        id: contract.id.to_string(),
        name: contract.name.clone(),
        currency_code: contract.currency.code.to_owned(),
        start_date: format_date(contract.start),
        expiry_date: format_date(contract.expiry),
        forced: contract.forced,
        extra_discount_percent: Some(decimal_to_wire(contract.extra_discount_percent)),
        items: items
            .into_iter()
            .map(|(product_id, price)| {
                let (price, breaks) = tiered_to_wire(price, contract.currency);
                ContractItem { product_id: product_id.to_string(), price: Some(price), breaks }
            })
            .collect(),
        account_ids: record.account_ids.iter().map(Uuid::to_string).collect(),
        rebate_terms: record.terms.iter().map(|term| term_to_proto(term, contract.currency)).collect(),
    }
}

/// The contract and the account a change of its accounts names.
fn membership(v: &mut Violations, contract_id: &str, account_id: &str) -> Option<(Uuid, Uuid)> {
    let contract_id = v.keep("contract_id", required_id(contract_id));
    let account_id = v.keep("account_id", required_id(account_id));
    contract_id.zip(account_id)
}

/// A new contract from the wire.
fn new_contract(input: &Contract) -> Result<ContractRecord, Violations> {
    let mut v = Violations::new();
    let name = v.keep("contract.name", required_text(&input.name, 200));
    let currency = v.keep("contract.currency_code", Currency::parse(&input.currency_code));
    let start = date_from_wire(&mut v, "contract.start_date", &input.start_date, true).flatten();
    let expiry = date_from_wire(&mut v, "contract.expiry_date", &input.expiry_date, true).flatten();
    if let (Some(start), Some(expiry)) = (start, expiry)
        && expiry < start
    {
        v.add("contract.expiry_date", "must be on or after start_date");
    }
    let extra_discount_percent =
        percent_from_wire(&mut v, "contract.extra_discount_percent", input.extra_discount_percent.as_ref());
    let mut items = HashMap::new();
    for (index, item) in input.items.iter().enumerate() {
        let prefix = format!("contract.items[{index}]");
        let product_id = v.keep(&format!("{prefix}.product_id"), required_id(&item.product_id));
        let price = currency.and_then(|currency| {
            tiered_from_wire(
                &mut v,
                &format!("{prefix}.price"),
                item.price.as_ref(),
                &format!("{prefix}.breaks"),
                &item.breaks,
                Some(currency),
            )
        });
        if let (Some(product_id), Some((price, _))) = (product_id, price)
            && items.insert(product_id, price).is_some()
        {
            v.add(format!("{prefix}.product_id"), "is listed twice");
        }
    }
    let mut account_ids = Vec::new();
    for (index, id) in input.account_ids.iter().enumerate() {
        if let Some(id) = v.keep(&format!("contract.account_ids[{index}]"), required_id(id))
            && !account_ids.contains(&id)
        {
            account_ids.push(id);
        }
    }
    let (Some(name), Some(currency), Some(start), Some(expiry), Some(extra_discount_percent)) =
        (name, currency, start, expiry, extra_discount_percent)
    else {
        return Err(v);
    };
    v.into_result()?;
    Ok(ContractRecord {
        contract: book::Contract {
            id: Uuid::now_v7(),
            name,
            currency,
            start,
            expiry,
            forced: input.forced,
            extra_discount_percent,
            items,
        },
        account_ids,
        terms: Vec::new(),
    })
}

/// A new rebate term of `contract_id` from the wire.
fn new_term(
    input: &bss_proto::pricing::RebateTerm,
    contract_id: Uuid,
    currency: Currency,
) -> Result<RebateTerm, Violations> {
    let mut v = Violations::new();
    let pricelist_id = v.keep("term.pricelist_id", parse_optional_id(&input.pricelist_id));
    let scope = match (RebateScope::try_from(input.scope), pricelist_id) {
        (Ok(RebateScope::AllInvoicedItems), Some(None)) => Some(Scope::AllInvoicedItems),
        (Ok(RebateScope::AllInvoicedItems), Some(Some(_))) => {
            v.add("term.pricelist_id", "must be empty for ALL_INVOICED_ITEMS");
            None
        }
        (Ok(RebateScope::PricelistProducts), Some(Some(id))) => Some(Scope::PricelistProducts(id)),
        (Ok(RebateScope::PricelistProducts), Some(None)) => {
            v.add("term.pricelist_id", "is required for PRICELIST_PRODUCTS");
            None
        }
        (_, None) => None,
        _ => {
            v.add("term.scope", "is required: ALL_INVOICED_ITEMS or PRICELIST_PRODUCTS");
            None
        }
    };
    let period = match RebatePeriod::try_from(input.period) {
        Ok(RebatePeriod::Month) => Some(Period::Month),
        Ok(RebatePeriod::Quarter) => Some(Period::Quarter),
        Ok(RebatePeriod::HalfYear) => Some(Period::HalfYear),
        Ok(RebatePeriod::Year) => Some(Period::Year),
        _ => {
            v.add("term.period", "is required: MONTH, QUARTER, HALF_YEAR or YEAR");
            None
        }
    };
    let mode = match TierMode::try_from(input.mode) {
        Ok(TierMode::Scale) => Some(Mode::Scale),
        Ok(TierMode::Continuous) => Some(Mode::Continuous),
        _ => {
            v.add("term.mode", "is required: SCALE or CONTINUOUS");
            None
        }
    };
    let tiers: Vec<Option<Tier>> = input
        .tiers
        .iter()
        .enumerate()
        .map(|(index, tier)| {
            let from =
                amount_in(&mut v, &format!("term.tiers[{index}].from_amount"), tier.from_amount.as_ref(), currency);
            let rate = decimal_from_wire(
                &mut v,
                &format!("term.tiers[{index}].rate_percent"),
                tier.rate_percent.as_ref(),
                None,
            );
            Some(Tier { from: from?, rate_percent: rate? })
        })
        .collect();
    let (Some(scope), Some(period), Some(mode), Some(tiers)) =
        (scope, period, mode, tiers.into_iter().collect::<Option<Vec<_>>>())
    else {
        return Err(v);
    };
    if let Err(problem) = check_tiers(&tiers) {
        v.add("term.tiers", problem);
    }
    v.into_result()?;
    Ok(RebateTerm { id: Uuid::now_v7(), contract_id, scope, period, mode, tiers })
}

#[tonic::async_trait]
impl ContractService for PricingApi {
    async fn create_contract(
        &self,
        request: Request<CreateContractRequest>,
    ) -> Result<Response<CreateContractResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, CONTRACT_MAKERS)?;
        let request = request.into_inner();
        let run = async {
            let record = new_contract(&request.contract.clone().unwrap_or_default())?;
            let key = RequestKey::new(tenant_id, "CreateContract", &request.request_id, &request)?;
            self.create_contract(&caller, tenant_id, key, record, |stored| CreateContractResponse {
                contract: Some(contract_to_proto(stored)),
                ..Default::default()
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_contract(
        &self,
        request: Request<GetContractRequest>,
    ) -> Result<Response<GetContractResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, CONTRACT_READERS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let record = self.contract(&caller, tenant_id, id).await?;
            Ok::<_, PricingError>(GetContractResponse { contract: Some(contract_to_proto(&record)) })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_contracts(
        &self,
        request: Request<ListContractsRequest>,
    ) -> Result<Response<ListContractsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, CONTRACT_READERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id =
                parse_optional_id(&request.account_id).map_err(|problem| Violations::single("account_id", problem))?;
            let filters = ListContractsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let after = page.after_time_and_id()?.map(|(start, id)| (start.date_naive(), id));
            let records = self.contracts(&caller, tenant_id, account_id, (after, page.fetch_limit())).await?;
            let (records, next_page_token) = page.finish(records, |record| {
                let start = record.contract.start.and_time(chrono::NaiveTime::MIN).and_utc();
                time_and_id(start, record.contract.id)
            });
            Ok::<_, PricingError>(ListContractsResponse {
                contracts: records.iter().map(contract_to_proto).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn add_contract_account(
        &self,
        request: Request<AddContractAccountRequest>,
    ) -> Result<Response<AddContractAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, CONTRACT_MAKERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let Some((contract_id, account_id)) = membership(&mut v, &request.contract_id, &request.account_id) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "AddContractAccount", &request.request_id, &request)?;
            self.add_contract_account(&caller, tenant_id, key, (contract_id, account_id), |stored| {
                AddContractAccountResponse { contract: Some(contract_to_proto(stored)), ..Default::default() }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn update_contract(
        &self,
        request: Request<UpdateContractRequest>,
    ) -> Result<Response<UpdateContractResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, CONTRACT_MAKERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.contract.clone().unwrap_or_default();
            let mut v = Violations::new();
            let contract_id = v.keep("contract.id", required_id(&input.id));
            let reason = v.keep("reason", optional_text(&request.reason, 500));
            let paths: Vec<String> = request.update_mask.as_ref().map(|mask| mask.paths.clone()).unwrap_or_default();
            if paths.is_empty() {
                v.add("update_mask", format!("names at least one of {}", CHANGEABLE.join(", ")));
            }
            for path in paths.iter().filter(|path| !CHANGEABLE.contains(&path.as_str())) {
                v.add("update_mask", format!("{path:?} cannot be changed (only {})", CHANGEABLE.join(", ")));
            }
            let (Some(contract_id), Some(reason)) = (contract_id, reason) else {
                return Err(v.into());
            };
            v.into_result()?;
            let key = RequestKey::new(tenant_id, "UpdateContract", &request.request_id, &request)?;
            // The contract as it is, with the named fields taken from the
            // request, is checked as a new contract is.
            let change = |before: &ContractRecord| {
                let mut merged = contract_to_proto(before);
                for path in &paths {
                    match path.as_str() {
                        "name" => merged.name = input.name.clone(),
                        "expiry_date" => merged.expiry_date = input.expiry_date.clone(),
                        "forced" => merged.forced = input.forced,
                        "extra_discount_percent" => {
                            merged.extra_discount_percent = input.extra_discount_percent.clone()
                        }
                        "items" => merged.items = input.items.clone(),
                        _ => {}
                    }
                }
                Ok(new_contract(&merged)?.contract)
            };
            self.update_contract(&caller, tenant_id, key, (contract_id, &reason), change, |stored| {
                UpdateContractResponse { contract: Some(contract_to_proto(stored)), ..Default::default() }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn remove_contract_account(
        &self,
        request: Request<RemoveContractAccountRequest>,
    ) -> Result<Response<RemoveContractAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, CONTRACT_MAKERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let ids = membership(&mut v, &request.contract_id, &request.account_id);
            let reason = v.keep("reason", optional_text(&request.reason, 500));
            let (Some((contract_id, account_id)), Some(reason)) = (ids, reason) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "RemoveContractAccount", &request.request_id, &request)?;
            self.remove_contract_account(&caller, tenant_id, key, (contract_id, account_id, &reason), |stored| {
                RemoveContractAccountResponse { contract: Some(contract_to_proto(stored)), ..Default::default() }
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_contract_history(
        &self,
        request: Request<ListContractHistoryRequest>,
    ) -> Result<Response<ListContractHistoryResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, HISTORY_READERS)?;
        let request = request.into_inner();
        let run = async {
            let contract_id = parse_id("contract_id", &request.contract_id)?;
            let filters = ListContractHistoryRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let rows = self
                .contract_history(&caller, tenant_id, contract_id, (page.after_uuid()?, page.fetch_limit()))
                .await?;
            let (rows, next_page_token) = page.finish(rows, |row| row.id.as_bytes().to_vec());
            Ok::<_, PricingError>(ListContractHistoryResponse {
                changes: rows
                    .into_iter()
                    .map(|row| ContractChange {
                        id: row.id.to_string(),
                        change_time: Some(timestamp(row.changed_at)),
                        actor: row.actor,
                        reason: row.reason,
                        changes: row
                            .changes
                            .0
                            .into_iter()
                            .map(|change| ContractFieldChange {
                                field: change.field,
                                before: change.before,
                                after: change.after,
                            })
                            .collect(),
                    })
                    .collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn add_rebate_term(
        &self,
        request: Request<AddRebateTermRequest>,
    ) -> Result<Response<AddRebateTermResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let contract_id = parse_id("contract_id", &request.contract_id)?;
            let key = RequestKey::new(tenant_id, "AddRebateTerm", &request.request_id, &request)?;
            let input = request.term.clone().unwrap_or_default();
            let term = |currency| Ok(new_term(&input, contract_id, currency)?);
            self.add_rebate_term(tenant_id, key, contract_id, term, |term, currency| AddRebateTermResponse {
                term: Some(term_to_proto(term, currency)),
                ..Default::default()
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn compute_rebate(
        &self,
        request: Request<ComputeRebateRequest>,
    ) -> Result<Response<ComputeRebateResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, REBATE_CALCULATORS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", required_id(&request.account_id));
            let term_id = v.keep("term_id", required_id(&request.term_id));
            let day = date_from_wire(&mut v, "period_date", &request.period_date, true).flatten();
            let (Some(account_id), Some(term_id), Some(day)) = (account_id, term_id, day) else {
                return Err(v.into());
            };
            let invoiced = request.invoiced_amount.clone();
            let turnover = |currency| {
                let mut v = Violations::new();
                amount_in(&mut v, "invoiced_amount", invoiced.as_ref(), currency).ok_or_else(|| v.into())
            };
            let worked = self.compute_rebate(&caller, tenant_id, (account_id, term_id, day), turnover).await?;
            let RebateWorked { currency, rebate, bands, period: (start, end) } = worked;
            Ok::<_, PricingError>(ComputeRebateResponse {
                rebate: Some(money_to_wire(rebate, currency)),
                bands: bands
                    .iter()
                    .map(|band| RebateBand {
                        from_amount: Some(money_to_wire(band.from, currency)),
                        to_amount: band.to.map(|to| money_to_wire(to, currency)),
                        rate_percent: Some(decimal_to_wire(band.rate_percent)),
                        base: Some(money_to_wire(band.base, currency)),
                        amount: Some(money_to_wire(band.amount, currency)),
                    })
                    .collect(),
                period_start: format_date(start),
                period_end: format_date(end),
            })
        };
        Ok(Response::new(run.await?))
    }
}
