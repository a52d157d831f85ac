//! LedgerService: accounting periods (set once, one open, closing fixes the
//! next opening balances) and rebate credit notes.

use std::collections::HashMap;

use bss_platform::auth::{Caller, authorize};
use bss_platform::client;
use bss_platform::error::Violations;
use bss_platform::idempotency::Opened;
use bss_platform::input::{parse_id, parse_optional_id, required_id};
use bss_platform::money::{Currency, money_to_wire, parse_decimal};
use bss_platform::paging::Page;
use bss_platform::time::{format_date, now, parse_date, timestamp};
use bss_proto::billing::ledger_service_server::LedgerService;
use bss_proto::billing::*;
use bss_proto::pricing::contract_service_client::ContractServiceClient;
use bss_proto::pricing::pricelist_service_client::PricelistServiceClient;
use bss_proto::pricing::{ComputeRebateRequest, GetPricelistRequest, ListContractsRequest, RebateScope};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{BillingApi, PEER_TIMEOUT, READERS, WRITERS};
use crate::app::upstream;
use crate::domain::error::BillingError;
use crate::invoicing::next_period_due;

#[derive(sqlx::FromRow)]
struct PeriodRow {
    id: Uuid,
    start_date: NaiveDate,
    end_date: NaiveDate,
    status: String,
    closed_at: Option<DateTime<Utc>>,
}

impl PeriodRow {
    fn to_proto(&self) -> AccountingPeriod {
        AccountingPeriod {
            id: self.id.to_string(),
            start_date: format_date(self.start_date),
            end_date: format_date(self.end_date),
            status: if self.status == "OPEN" { PeriodStatus::Open } else { PeriodStatus::Closed } as i32,
            close_time: self.closed_at.map(timestamp),
        }
    }
}

fn months(frequency: &str) -> u32 {
    if frequency == "YEARLY" { 12 } else { 1 }
}

/// Opens the period starting on `start`.
async fn open_period(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    start: NaiveDate,
    frequency: &str,
) -> Result<PeriodRow, BillingError> {
    let end = start
        .checked_add_months(Months::new(months(frequency)))
        .and_then(|next| next.pred_opt())
        .ok_or_else(|| BillingError::precondition("PERIOD_OUT_OF_RANGE", "the next period is past the last date"))?;
    Ok(sqlx::query_as(
        "INSERT INTO billing.periods (tenant_id, id, start_date, end_date) VALUES ($1, $2, $3, $4)
         RETURNING id, start_date, end_date, status, closed_at",
    )
    .bind(tenant_id)
    .bind(Uuid::now_v7())
    .bind(start)
    .bind(end)
    .fetch_one(tx)
    .await?)
}

#[derive(sqlx::FromRow)]
struct TransactionRow {
    id: Uuid,
    kind: String,
    post_time: Option<DateTime<Utc>>,
    number: Option<i64>,
    amount: Decimal,
    open_amount: Decimal,
    period_id: Option<Uuid>,
    currency: String,
}

impl TransactionRow {
    fn to_proto(&self) -> Result<Transaction, BillingError> {
        let currency = crate::repo::stored_currency(&self.currency)?;
        let kind = match self.kind.as_str() {
            "INVOICE" => TransactionKind::Invoice,
            "PAYMENT" => TransactionKind::Payment,
            "CREDIT_NOTE" => TransactionKind::CreditNote,
            "REFUND" => TransactionKind::Refund,
            _ => TransactionKind::WriteOff,
        };
        Ok(Transaction {
            id: self.id.to_string(),
            kind: kind as i32,
            post_time: self.post_time.map(timestamp),
            invoice_number: self.number.unwrap_or(0),
            amount: Some(money_to_wire(currency.round(self.amount), currency)),
            open_amount: Some(money_to_wire(currency.round(self.open_amount), currency)),
            period_id: self.period_id.map(|id| id.to_string()).unwrap_or_default(),
        })
    }
}

/// A rebate worked out before it is issued.
struct Worked {
    account_id: Uuid,
    term_id: Uuid,
    currency: Currency,
    period_start: NaiveDate,
    period_end: NaiveDate,
    turnover: Decimal,
    rebate: Decimal,
}

impl BillingApi {
    /// Every (account, term) rebate of the period containing `date`, from
    /// pricing's contracts and each account's invoiced turnover.
    async fn work_out_rebates(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account: Option<Uuid>,
        date: NaiveDate,
    ) -> Result<Vec<Worked>, BillingError> {
        let channel = self.peer("pricing", &self.peers.pricing)?;
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
            let currency = Currency::parse(&contract.currency_code).map_err(|_| BillingError::Unavailable {
                what: "pricing",
                cause: format!("a contract in {:?}", contract.currency_code),
            })?;
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
                    let unavailable = |cause: String| BillingError::Unavailable { what: "pricing", cause };
                    let period_start = parse_date(&bounds.period_start).map_err(unavailable)?;
                    let period_end = parse_date(&bounds.period_end).map_err(unavailable)?;
                    let turnover: Decimal = sqlx::query_scalar(
                        "SELECT coalesce(sum(l.total), 0) FROM billing.invoices i
                         JOIN billing.invoice_lines l ON l.tenant_id = i.tenant_id AND l.invoice_id = i.id
                         WHERE i.tenant_id = $1 AND i.account_id = $2 AND i.status = 'POSTED' AND i.currency = $3
                           AND i.invoice_date BETWEEN $4 AND $5
                           AND ($6::text[] IS NULL OR l.product_id = ANY($6))",
                    )
                    .bind(tenant_id)
                    .bind(account_id)
                    .bind(currency.code)
                    .bind(period_start)
                    .bind(period_end)
                    .bind(products.as_ref())
                    .fetch_one(&self.db)
                    .await?;
                    let answer = pricing
                        .compute_rebate(client::request(compute(turnover), caller, PEER_TIMEOUT))
                        .await
                        .map_err(upstream("pricing"))?
                        .into_inner();
                    let rebate = answer.rebate.map(|money| money.amount).unwrap_or_default();
                    let rebate = parse_decimal(&rebate).map_err(unavailable)?;
                    let term_id = parse_id("term_id", &term.id)?;
                    worked.push(Worked { account_id, term_id, currency, period_start, period_end, turnover, rebate });
                }
            }
        }
        Ok(worked)
    }
}

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
            let frequency = match PeriodFrequency::try_from(input.frequency) {
                Ok(PeriodFrequency::Monthly) => Some("MONTHLY"),
                Ok(PeriodFrequency::Yearly) => Some("YEARLY"),
                _ => {
                    v.add("settings.frequency", "must be MONTHLY or YEARLY");
                    None
                }
            };
            let start = v.keep("settings.first_period_start", parse_date(&input.first_period_start));
            if start.is_some_and(|start| start.day() != 1) {
                v.add("settings.first_period_start", "must be the first day of a month");
            }
            let (Some(frequency), Some(start)) = (frequency, start) else {
                return Err(v.into());
            };
            v.into_result()?;
            let (mut tx, pending) =
                match self.begin(tenant_id, "SetPeriodSettings", &request.request_id, &request).await? {
                    Opened::Replayed(response) => return Ok(response),
                    Opened::Fresh(tx, pending) => (tx, pending),
                };
            let created: Option<DateTime<Utc>> = sqlx::query_scalar(
                "INSERT INTO billing.period_settings (tenant_id, frequency, first_start) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING RETURNING created_at",
            )
            .bind(tenant_id)
            .bind(frequency)
            .bind(start)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(created) = created else {
                return Err(BillingError::precondition(
                    "PERIOD_SETTINGS_FIXED",
                    "the tenant's period settings are set once and cannot change",
                ));
            };
            let period = open_period(&mut tx, tenant_id, start, frequency).await?;
            let response = SetPeriodSettingsResponse {
                settings: Some(PeriodSettings { create_time: Some(timestamp(created)), ..input }),
                period: Some(period.to_proto()),
            };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn get_period_settings(
        &self,
        request: Request<GetPeriodSettingsRequest>,
    ) -> Result<Response<GetPeriodSettingsResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let run = async {
            let row: Option<(String, NaiveDate, DateTime<Utc>)> = sqlx::query_as(
                "SELECT frequency, first_start, created_at FROM billing.period_settings WHERE tenant_id = $1",
            )
            .bind(tenant_id)
            .fetch_optional(&self.db)
            .await?;
            let (frequency, start, created) =
                row.ok_or_else(|| BillingError::not_found("period settings", tenant_id))?;
            let frequency = if frequency == "YEARLY" { PeriodFrequency::Yearly } else { PeriodFrequency::Monthly };
            Ok::<_, BillingError>(GetPeriodSettingsResponse {
                settings: Some(PeriodSettings {
                    frequency: frequency as i32,
                    first_period_start: format_date(start),
                    create_time: Some(timestamp(created)),
                }),
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
            // Periods never overlap: the start date orders them.
            let after =
                page.after_i64()?.and_then(|days| i32::try_from(days).ok()).map(NaiveDate::from_num_days_from_ce_opt);
            let after =
                after.map(|date| date.ok_or(bss_platform::error::PlatformError::InvalidPageToken)).transpose()?;
            let rows: Vec<PeriodRow> = sqlx::query_as(
                "SELECT id, start_date, end_date, status, closed_at FROM billing.periods
                 WHERE tenant_id = $1 AND ($2::date IS NULL OR start_date > $2) ORDER BY start_date LIMIT $3",
            )
            .bind(tenant_id)
            .bind(after)
            .bind(page.fetch_limit())
            .fetch_all(&self.db)
            .await?;
            let (rows, next_page_token) =
                page.finish(rows, |row| i64::from(row.start_date.num_days_from_ce()).to_be_bytes().to_vec());
            Ok::<_, BillingError>(ListPeriodsResponse {
                periods: rows.iter().map(PeriodRow::to_proto).collect(),
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
            let (mut tx, pending) = match self.begin(tenant_id, "ClosePeriod", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let period: Option<PeriodRow> = sqlx::query_as(
                "SELECT id, start_date, end_date, status, closed_at FROM billing.periods
                 WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
            )
            .bind(tenant_id)
            .bind(period_id)
            .fetch_optional(&mut *tx)
            .await?;
            let period = period.ok_or_else(|| BillingError::not_found("period", period_id))?;
            if period.status != "OPEN" {
                return Err(BillingError::precondition("PERIOD_NOT_OPEN", format!("period {period_id} is closed")));
            }
            if period.end_date >= now().date_naive() {
                return Err(BillingError::precondition(
                    "PERIOD_NOT_ENDED",
                    format!("period {period_id} ends on {}; close it after that day", format_date(period.end_date)),
                ));
            }
            // What was posted and is not in a closed period is this one's.
            for stamp in [
                "UPDATE billing.invoices SET period_id = $2
                 WHERE tenant_id = $1 AND period_id IS NULL AND status = 'POSTED'",
                "UPDATE billing.payments SET period_id = $2 WHERE tenant_id = $1 AND period_id IS NULL",
                "UPDATE billing.adjustments SET period_id = $2 WHERE tenant_id = $1 AND period_id IS NULL",
            ] {
                sqlx::query(stamp).bind(tenant_id).bind(period_id).execute(&mut *tx).await?;
            }
            let frequency: String =
                sqlx::query_scalar("SELECT frequency FROM billing.period_settings WHERE tenant_id = $1")
                    .bind(tenant_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let closed: PeriodRow = sqlx::query_as(
                "UPDATE billing.periods SET status = 'CLOSED', closed_at = now() WHERE tenant_id = $1 AND id = $2
                 RETURNING id, start_date, end_date, status, closed_at",
            )
            .bind(tenant_id)
            .bind(period_id)
            .fetch_one(&mut *tx)
            .await?;
            let next_start = period.end_date.succ_opt().ok_or_else(|| {
                BillingError::precondition("PERIOD_OUT_OF_RANGE", "the next period is past the last date")
            })?;
            let opened = open_period(&mut tx, tenant_id, next_start, &frequency).await?;
            let accounts = sqlx::query(
                "INSERT INTO billing.period_balances (tenant_id, period_id, account_id, opening)
                 SELECT $1, $3, account_id, sum(amount) FROM (
                     SELECT account_id, opening AS amount FROM billing.period_balances
                     WHERE tenant_id = $1 AND period_id = $2
                     UNION ALL
                     SELECT account_id, total FROM billing.invoices WHERE tenant_id = $1 AND period_id = $2
                     UNION ALL
                     SELECT account_id, -amount FROM billing.payments WHERE tenant_id = $1 AND period_id = $2
                     UNION ALL
                     SELECT account_id, CASE WHEN kind = 'REFUND' THEN amount ELSE -amount END
                     FROM billing.adjustments WHERE tenant_id = $1 AND period_id = $2
                 ) posted GROUP BY account_id",
            )
            .bind(tenant_id)
            .bind(period_id)
            .bind(opened.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let response = ClosePeriodResponse {
                closed: Some(closed.to_proto()),
                opened: Some(opened.to_proto()),
                accounts: accounts as i64,
            };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
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
            if let Some(account) = account {
                self.fetch_account(&caller, account).await?;
            }
            let worked = self.work_out_rebates(&caller, tenant_id, account, date).await?;
            let (mut tx, pending) = match self.begin(tenant_id, "RunRebates", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let mut rebates = Vec::new();
            for rebate in worked {
                let fresh = sqlx::query(
                    "INSERT INTO billing.rebates (tenant_id, account_id, term_id, period_start, period_end, turnover,
                         rebate)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                )
                .bind(tenant_id)
                .bind(rebate.account_id)
                .bind(rebate.term_id)
                .bind(rebate.period_start)
                .bind(rebate.period_end)
                .bind(rebate.turnover)
                .bind(rebate.rebate)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !fresh {
                    continue;
                }
                let mut credit_note_id = String::new();
                if rebate.rebate > Decimal::ZERO {
                    let reason = format!(
                        "Rebate of term {} for {} to {}",
                        rebate.term_id,
                        format_date(rebate.period_start),
                        format_date(rebate.period_end)
                    );
                    let note = self
                        .post_adjustment(
                            &mut tx,
                            &caller,
                            tenant_id,
                            rebate.account_id,
                            rebate.currency,
                            Some(rebate.rebate),
                            &reason,
                        )
                        .await?;
                    sqlx::query(
                        "UPDATE billing.rebates SET credit_note_id = $5
                         WHERE tenant_id = $1 AND account_id = $2 AND term_id = $3 AND period_start = $4",
                    )
                    .bind(tenant_id)
                    .bind(rebate.account_id)
                    .bind(rebate.term_id)
                    .bind(rebate.period_start)
                    .bind(note.id.parse::<Uuid>().ok())
                    .execute(&mut *tx)
                    .await?;
                    credit_note_id = note.id;
                }
                rebates.push(Rebate {
                    account_id: rebate.account_id.to_string(),
                    term_id: rebate.term_id.to_string(),
                    period_start: format_date(rebate.period_start),
                    period_end: format_date(rebate.period_end),
                    turnover: Some(money_to_wire(rebate.turnover, rebate.currency)),
                    rebate: Some(money_to_wire(rebate.rebate, rebate.currency)),
                    credit_note_id,
                });
            }
            let response = RunRebatesResponse { rebates };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn list_transactions(
        &self,
        request: Request<ListTransactionsRequest>,
    ) -> Result<Response<ListTransactionsResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", required_id(&request.account_id));
            let kind = match TransactionKind::try_from(request.kind) {
                Ok(TransactionKind::Unspecified) => Some(None),
                Ok(kind) => Some(kind.as_str_name().strip_prefix("TRANSACTION_KIND_")),
                Err(_) => {
                    v.add("kind", format!("{} is not a transaction kind", request.kind));
                    None
                }
            };
            let optional_date = |v: &mut Violations, field: &str, value: &str| {
                if value.is_empty() { Some(None) } else { v.keep(field, parse_date(value)).map(Some) }
            };
            let from = optional_date(&mut v, "from_date", &request.from_date);
            let to = optional_date(&mut v, "to_date", &request.to_date);
            let (Some(account_id), Some(kind), Some(from), Some(to)) = (account_id, kind, from, to) else {
                return Err(v.into());
            };
            // Another tenant's account is NOT_FOUND, not an empty list.
            self.fetch_account(&caller, account_id).await?;
            let filters = ListTransactionsRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let rows: Vec<TransactionRow> = sqlx::query_as(
                "SELECT * FROM (
                     SELECT id, 'INVOICE' AS kind, posted_at AS post_time, number, total AS amount,
                         total - settled AS open_amount, period_id, currency
                     FROM billing.invoices WHERE tenant_id = $1 AND account_id = $2 AND status = 'POSTED'
                     UNION ALL
                     SELECT id, 'PAYMENT', created_at, NULL, -amount, -unallocated, period_id, currency
                     FROM billing.payments WHERE tenant_id = $1 AND account_id = $2
                     UNION ALL
                     SELECT id, kind, created_at, NULL, CASE WHEN kind = 'REFUND' THEN amount ELSE -amount END,
                         -unallocated, period_id, currency
                     FROM billing.adjustments WHERE tenant_id = $1 AND account_id = $2
                 ) t
                 WHERE ($3::text IS NULL OR kind = $3) AND ($4::date IS NULL OR post_time::date >= $4)
                   AND ($5::date IS NULL OR post_time::date <= $5) AND ($6::uuid IS NULL OR id > $6)
                 ORDER BY id LIMIT $7",
            )
            .bind(tenant_id)
            .bind(account_id)
            .bind(kind)
            .bind(from)
            .bind(to)
            .bind(page.after_uuid()?)
            .bind(page.fetch_limit())
            .fetch_all(&self.db)
            .await?;
            let (rows, next_page_token) = page.finish(rows, |row| row.id.as_bytes().to_vec());
            let transactions = rows.iter().map(TransactionRow::to_proto).collect::<Result<_, _>>()?;
            Ok::<_, BillingError>(ListTransactionsResponse { transactions, next_page_token })
        };
        Ok(Response::new(run.await?))
    }

    async fn check_accounts_settled(
        &self,
        request: Request<CheckAccountsSettledRequest>,
    ) -> Result<Response<CheckAccountsSettledResponse>, Status> {
        const MOST: usize = 1_000;
        let (_, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let ids = bss_platform::input::id_list(&mut v, "account_ids", &request.account_ids, MOST);
            v.into_result()?;
            let deleting = SettlementPurpose::try_from(request.purpose) == Ok(SettlementPurpose::Deletion);
            // Terminating needs billing final; deleting also needs no money
            // ever posted for the account or billed to it.
            let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(concat!(
                "SELECT account_id, reason, sum(count)::bigint FROM (
                     SELECT coalesce(for_account_id, account_id) AS account_id, 'INVOICES_NOT_POSTED' AS reason,
                         count(*) AS count
                     FROM billing.invoices
                     WHERE tenant_id = $1 AND status = 'DRAFT' AND (account_id = ANY($2) OR for_account_id = ANY($2))
                     GROUP BY 1
                     UNION ALL
                     SELECT a.id, 'INVOICES_NOT_POSTED', count(*) FROM billing.invoices i, unnest($2::uuid[]) a(id)
                     WHERE $3 AND i.tenant_id = $1 AND i.status = 'DRAFT' AND i.account_id = a.id
                       AND i.for_account_id IS NOT NULL
                     GROUP BY 1
                     UNION ALL
                     SELECT a.id, 'SUBSCRIPTIONS_ACTIVE', count(*) FROM billing.subscriptions s, unnest($2::uuid[]) a(id)
                     WHERE s.tenant_id = $1 AND s.status = 'ACTIVE' AND s.start_date <> 'infinity'
                       AND (s.account_id = a.id OR ($3 AND s.bill_to_account_id = a.id))
                     GROUP BY 1
                     UNION ALL
                     SELECT account_id, 'ORDERS_NOT_FINAL', count(*) FROM billing.orders
                     WHERE tenant_id = $1 AND account_id = ANY($2) AND status = 'held_for_approval'
                     GROUP BY 1
                     UNION ALL
                     SELECT account_id, 'ORDERS_NOT_FINAL', count(*) FROM billing.subscriptions
                     WHERE tenant_id = $1 AND account_id = ANY($2) AND status = 'PENDING_APPROVAL'
                     GROUP BY 1
                     UNION ALL
                     SELECT a.id, 'CHARGES_NOT_INVOICED', count(*) FROM billing.subscriptions s, unnest($2::uuid[]) a(id)
                     WHERE s.tenant_id = $1 AND (s.account_id = a.id OR ($3 AND s.bill_to_account_id = a.id))
                       AND s.status <> 'ACTIVE' AND ",
                next_period_due!("current_date"),
                "
                     GROUP BY 1
                     UNION ALL
                     SELECT a.id, 'CHARGES_NOT_INVOICED', count(*) FROM billing.charges c, unnest($2::uuid[]) a(id)
                     WHERE c.tenant_id = $1 AND c.invoice_id IS NULL
                       AND (c.account_id = a.id OR ($3 AND c.bill_to_account_id = a.id))
                       AND (c.order_id IS NULL OR EXISTS (
                           SELECT 1 FROM billing.orders o WHERE o.tenant_id = c.tenant_id AND o.id = c.order_id
                             AND o.status = 'executed'))
                     GROUP BY 1
                     UNION ALL
                     SELECT a.id, 'POSTED_TRANSACTIONS', count(*) FROM billing.invoices i, unnest($2::uuid[]) a(id)
                     WHERE $3 AND i.tenant_id = $1 AND i.status = 'POSTED'
                       AND (i.account_id = a.id OR i.for_account_id = a.id)
                     GROUP BY 1
                     UNION ALL
                     SELECT account_id, 'POSTED_TRANSACTIONS', count(*) FROM billing.payments
                     WHERE $3 AND tenant_id = $1 AND account_id = ANY($2)
                     GROUP BY 1
                     UNION ALL
                     SELECT account_id, 'POSTED_TRANSACTIONS', count(*) FROM billing.adjustments
                     WHERE $3 AND tenant_id = $1 AND account_id = ANY($2)
                     GROUP BY 1
                 ) unsettled GROUP BY account_id, reason ORDER BY account_id, reason"
            ))
            .bind(tenant_id)
            .bind(&ids)
            .bind(deleting)
            .fetch_all(&self.db)
            .await?;
            let unsettled = rows
                .into_iter()
                .map(|(account_id, reason, count)| Unsettled { account_id: account_id.to_string(), reason, count })
                .collect();
            Ok::<_, BillingError>(CheckAccountsSettledResponse { unsettled })
        };
        Ok(Response::new(run.await?))
    }
}
