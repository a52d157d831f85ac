//! LedgerService: converts the wire to the ledger's commands and back; the
//! use cases are in `app::ledger`.

use bss_platform::auth::authorize;
use bss_platform::error::{PlatformError, Violations};
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{HistoryQuery, optional_date, parse_id, parse_optional_id, required_id};
use bss_platform::paging::Page;
use bss_platform::time::{format_date, parse_date, timestamp};
use bss_proto::billing::ledger_service_server::LedgerService;
use bss_proto::billing::*;
use chrono::{Datelike, NaiveDate};
use tonic::{Request, Response, Status};

use super::{BillingApi, ENQUIRERS, READERS, WRITERS};
use crate::domain::error::BillingError;
use crate::domain::period::{PeriodSettings as Settings, check_first_start};
use crate::repo::ledger::TransactionFilter;
use crate::wire;

/// Most accounts of one CheckAccountsSettled.
const MOST: usize = 1_000;

#[tonic::async_trait]
impl LedgerService for BillingApi {
    async fn set_period_settings(
        &self,
        request: Request<SetPeriodSettingsRequest>,
    ) -> Result<Response<SetPeriodSettingsResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.settings.clone().unwrap_or_default();
            let mut v = Violations::new();
            let frequency = wire::frequency(input.frequency);
            if frequency.is_none() {
                v.add("settings.frequency", "must be MONTHLY or YEARLY");
            }
            let start = v.keep("settings.first_period_start", parse_date(&input.first_period_start));
            if let Some(Err(why)) = start.map(check_first_start) {
                v.add("settings.first_period_start", why);
            }
            let (Some(frequency), Some(start)) = (frequency, start) else {
                return Err(v.into());
            };
            v.into_result()?;
            let settings = Settings { frequency, first_start: start };
            let key = RequestKey::new(tenant_id, "SetPeriodSettings", &request.request_id, &request)?;
            self.set_period_settings(tenant_id, key, settings, |created, period| SetPeriodSettingsResponse {
                settings: Some(PeriodSettings { create_time: Some(timestamp(created)), ..input }),
                period: Some(wire::period(period)),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_period_settings(
        &self,
        request: Request<GetPeriodSettingsRequest>,
    ) -> Result<Response<GetPeriodSettingsResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let run = async {
            let (settings, created) = self.period_settings(tenant_id).await?;
            Ok::<_, BillingError>(GetPeriodSettingsResponse {
                settings: Some(wire::period_settings(&settings, created)),
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_periods(
        &self,
        request: Request<ListPeriodsRequest>,
    ) -> Result<Response<ListPeriodsResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let page = Page::parse(request.page_size, &request.page_token, &ListPeriodsRequest::default())?;
            // The token is the last start date given, in days of the era.
            let after = page.after_i64()?.map(|days| {
                i32::try_from(days)
                    .ok()
                    .and_then(NaiveDate::from_num_days_from_ce_opt)
                    .ok_or(PlatformError::InvalidPageToken)
            });
            let periods = self.periods(tenant_id, (after.transpose()?, page.fetch_limit())).await?;
            let (periods, next_page_token) =
                page.finish(periods, |period| i64::from(period.start.num_days_from_ce()).to_be_bytes().to_vec());
            Ok::<_, BillingError>(ListPeriodsResponse {
                periods: periods.iter().map(wire::period).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn close_period(
        &self,
        request: Request<ClosePeriodRequest>,
    ) -> Result<Response<ClosePeriodResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let period_id = parse_id("period_id", &request.period_id)?;
            let key = RequestKey::new(tenant_id, "ClosePeriod", &request.request_id, &request)?;
            self.close_period(tenant_id, key, period_id, |closed, opened, accounts| ClosePeriodResponse {
                closed: Some(wire::period(closed)),
                opened: Some(wire::period(opened)),
                accounts: accounts as i64,
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn run_rebates(&self, request: Request<RunRebatesRequest>) -> Result<Response<RunRebatesResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let date = v.keep("period_date", parse_date(&request.period_date));
            let account = v.keep("account_id", parse_optional_id(&request.account_id));
            let (Some(date), Some(account)) = (date, account) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "RunRebates", &request.request_id, &request)?;
            self.run_rebates(&caller, tenant_id, key, (account, date), |rebates| RunRebatesResponse {
                rebates: rebates.iter().map(wire::rebate).collect(),
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn list_transactions(
        &self,
        request: Request<ListTransactionsRequest>,
    ) -> Result<Response<ListTransactionsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", required_id(&request.account_id));
            let posting = v.keep("kind", wire::posting(request.kind));
            let from = optional_date(&mut v, "from_date", &request.from_date);
            let to = optional_date(&mut v, "to_date", &request.to_date);
            let (Some(account_id), Some(posting), Some(from), Some(to)) = (account_id, posting, from, to) else {
                return Err(v.into());
            };
            let filters = ListTransactionsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let filter = TransactionFilter { posting, from, to };
            let listed = self
                .transactions(&caller, tenant_id, account_id, filter, (page.after_uuid()?, page.fetch_limit()))
                .await?;
            let (listed, next_page_token) = page.finish(listed, |transaction| transaction.id.as_bytes().to_vec());
            Ok::<_, BillingError>(ListTransactionsResponse {
                transactions: listed.iter().map(wire::transaction).collect(),
                next_page_token,
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn get_balance_history(
        &self,
        request: Request<GetBalanceHistoryRequest>,
    ) -> Result<Response<GetBalanceHistoryResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let request = request.into_inner();
        let run = async {
            let query =
                HistoryQuery::parse(&request.account_id, &request.from_date, &request.to_date, &request.time_zone)?;
            let (currency, points) = self.balance_history(&caller, tenant_id, &query).await?;
            Ok::<_, BillingError>(GetBalanceHistoryResponse {
                points: points
                    .into_iter()
                    .map(|(day, balance)| BalancePoint {
                        date: format_date(day),
                        balance: Some(wire::money_in(balance, currency)),
                    })
                    .collect(),
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn check_accounts_settled(
        &self,
        request: Request<CheckAccountsSettledRequest>,
    ) -> Result<Response<CheckAccountsSettledResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let ids = bss_platform::input::id_list(&mut v, "account_ids", &request.account_ids, MOST);
            v.into_result()?;
            let deleting = SettlementPurpose::try_from(request.purpose) == Ok(SettlementPurpose::Deletion);
            let unsettled = self
                .accounts_settled(tenant_id, &ids, deleting)
                .await?
                .into_iter()
                .map(|(account_id, reason, count)| Unsettled { account_id: account_id.to_string(), reason, count })
                .collect();
            Ok::<_, BillingError>(CheckAccountsSettledResponse { unsettled })
        };
        Ok(Response::new(run.await?))
    }
}
