//! InvoiceService: drafts, posting with gapless numbers and due dates.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::idempotency::Opened;
use bss_platform::input::{parse_id, required_id, required_text};
use bss_platform::money::{Currency, amount_in, decimal_from_wire, money_to_wire};
use bss_platform::paging::Page;
use bss_platform::time::{format_date, now, parse_date, timestamp};
use bss_proto::billing::invoice_service_server::InvoiceService;
use bss_proto::billing::*;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{BillingApi, READERS, WRITERS};
use crate::app::account_currency;
use crate::domain::error::BillingError;
use crate::invoicing::{self, Scope};
use crate::repo::{self, InvoiceRow, LineRow};
use crate::runs;

/// Most lines on one invoice.
const MAX_LINES: usize = 500;

fn money(amount: Decimal, currency: Currency) -> bss_proto::types::Money {
    money_to_wire(currency.round(amount), currency)
}

fn status_code(status: InvoiceStatus) -> Option<&'static str> {
    match status {
        InvoiceStatus::Unspecified => None,
        InvoiceStatus::Draft => Some("DRAFT"),
        InvoiceStatus::Posted => Some("POSTED"),
        InvoiceStatus::Voided => Some("VOIDED"),
    }
}

pub fn invoice_to_proto(row: &InvoiceRow, lines: &[LineRow]) -> Result<Invoice, BillingError> {
    let currency = row.currency()?;
    Ok(Invoice {
        id: row.id.to_string(),
        account_id: row.account_id.to_string(),
        number: row.number.unwrap_or(0),
        status: match row.status.as_str() {
            "POSTED" => InvoiceStatus::Posted,
            "VOIDED" => InvoiceStatus::Voided,
            _ => InvoiceStatus::Draft,
        } as i32,
        invoice_date: format_date(row.invoice_date),
        delivery_date: row.delivery_date.map(format_date).unwrap_or_default(),
        due_date: row.due_date.map(format_date).unwrap_or_default(),
        lines: lines
            .iter()
            .map(|line| InvoiceLine {
                description: line.description.clone(),
                quantity: Some(bss_platform::money::decimal_to_wire(line.quantity)),
                unit_price: Some(money_to_wire(line.unit_price, currency)),
                total: Some(money(line.total, currency)),
                credited: Some(money(line.credited, currency)),
            })
            .collect(),
        total: Some(money(row.total, currency)),
        settled: Some(money(row.settled, currency)),
        order_references: row.order_references.clone(),
        create_time: Some(timestamp(row.created_at)),
        post_time: row.posted_at.map(timestamp),
        for_account_id: row.for_account_id.map(|id| id.to_string()).unwrap_or_default(),
        void_reason: row.void_reason.clone().unwrap_or_default(),
    })
}

/// Refuses a posted or voided invoice where only a draft will do.
fn not_posted(invoice: &InvoiceRow) -> Result<(), BillingError> {
    match invoice.status.as_str() {
        "POSTED" => Err(BillingError::precondition(
            "INVOICE_POSTED",
            format!("invoice {} is posted already (number {})", invoice.id, invoice.number.unwrap_or(0)),
        )),
        "VOIDED" => Err(BillingError::precondition("INVOICE_VOIDED", format!("invoice {} was voided", invoice.id))),
        _ => Ok(()),
    }
}

/// A date field where empty means today (UTC).
fn date_or_today(v: &mut Violations, field: &str, value: &str) -> Option<NaiveDate> {
    if value.is_empty() { Some(now().date_naive()) } else { v.keep(field, parse_date(value)) }
}

/// The lines of a new invoice, priced in `currency`.
fn lines_from_wire(v: &mut Violations, lines: &[InvoiceLine], currency: Currency) -> Vec<LineRow> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        v.add("invoice.lines", format!("give 1 to {MAX_LINES} lines"));
    }
    let mut rows = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let field = |name: &str| format!("invoice.lines[{index}].{name}");
        let description = v.keep(&field("description"), required_text(&line.description, 500));
        let quantity = decimal_from_wire(v, &field("quantity"), line.quantity.as_ref(), None);
        if quantity.is_some_and(|quantity| quantity <= Decimal::ZERO) {
            v.add(field("quantity"), "must be greater than zero");
        }
        let unit_price = amount_in(v, &field("unit_price"), line.unit_price.as_ref(), currency);
        if let (Some(description), Some(quantity), Some(unit_price)) = (description, quantity, unit_price) {
            let total = currency.round(quantity * unit_price);
            rows.push(LineRow { product_id: None, description, quantity, unit_price, total, credited: Decimal::ZERO });
        }
    }
    rows
}

#[tonic::async_trait]
impl InvoiceService for BillingApi {
    async fn create_invoice(
        &self,
        request: Request<CreateInvoiceRequest>,
    ) -> Result<Response<CreateInvoiceResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.invoice.clone().unwrap_or_default();
            let account_id = parse_id("invoice.account_id", &input.account_id)?;
            let account = self.fetch_account(&caller, account_id).await?;
            let currency = account_currency(&account)?;
            // A managed copy's invoices go to its tenant reseller.
            let payer = self.payer(&caller, &account).await?;
            let (bill_to, for_account_id) = match (&account.managed_by, payer.parent_id) {
                (Some(_), Some(reseller)) => (reseller, Some(account_id)),
                _ => (account_id, None),
            };
            let mut v = Violations::new();
            let invoice_date = date_or_today(&mut v, "invoice.invoice_date", &input.invoice_date);
            let delivery_date = if input.delivery_date.is_empty() {
                Some(None)
            } else {
                v.keep("invoice.delivery_date", parse_date(&input.delivery_date)).map(Some)
            };
            let lines = lines_from_wire(&mut v, &input.lines, currency);
            for (index, reference) in input.order_references.iter().enumerate() {
                v.keep(&format!("invoice.order_references[{index}]"), required_text(reference, 100));
            }
            let (Some(invoice_date), Some(delivery_date)) = (invoice_date, delivery_date) else {
                return Err(v.into());
            };
            v.into_result()?;
            let (mut tx, pending) = match self.begin(tenant_id, "CreateInvoice", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let row = InvoiceRow {
                id: Uuid::now_v7(),
                account_id: bill_to,
                for_account_id,
                currency: currency.code.to_owned(),
                number: None,
                status: "DRAFT".to_owned(),
                invoice_date,
                delivery_date,
                due_date: None,
                total: lines.iter().map(|line| line.total).sum(),
                settled: Decimal::ZERO,
                order_references: input.order_references.clone(),
                created_at: now(),
                posted_at: None,
                void_reason: None,
            };
            let invoice = invoice_to_proto(&row, &lines)?;
            repo::insert_invoices(&mut tx, tenant_id, &[(row, lines)]).await?;
            let response = CreateInvoiceResponse { invoice: Some(invoice) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn post_invoice(
        &self,
        request: Request<PostInvoiceRequest>,
    ) -> Result<Response<PostInvoiceResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let id = parse_id("id", &request.id)?;
            let mut connection = self.db.acquire().await?;
            let draft = repo::invoice(&mut connection, tenant_id, id, false)
                .await?
                .ok_or_else(|| BillingError::not_found("invoice", id))?;
            drop(connection);
            let due_dates =
                self.due_dates(&caller, &[(draft.account_id, draft.invoice_date, draft.delivery_date)]).await?;
            let (mut tx, pending) = match self.begin(tenant_id, "PostInvoice", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let locked = repo::invoice(&mut tx, tenant_id, id, true)
                .await?
                .ok_or_else(|| BillingError::not_found("invoice", id))?;
            not_posted(&locked)?;
            let drafts: Vec<(Uuid, NaiveDate)> = due_dates.into_iter().map(|due| (id, due)).collect();
            let posted = invoicing::post(&mut tx, tenant_id, &caller.subject, &drafts).await?;
            let posted = posted.into_iter().next().ok_or_else(|| BillingError::not_found("invoice", id))?;
            let lines = repo::lines(&mut tx, tenant_id, id).await?;
            let response = PostInvoiceResponse { invoice: Some(invoice_to_proto(&posted, &lines)?) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn get_invoice(&self, request: Request<GetInvoiceRequest>) -> Result<Response<GetInvoiceResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let run = async {
            let id = parse_id("id", &request.get_ref().id)?;
            let mut connection = self.db.acquire().await?;
            let row = repo::invoice(&mut connection, tenant_id, id, false)
                .await?
                .ok_or_else(|| BillingError::not_found("invoice", id))?;
            let lines = repo::lines(&mut connection, tenant_id, id).await?;
            Ok::<_, BillingError>(GetInvoiceResponse { invoice: Some(invoice_to_proto(&row, &lines)?) })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_invoices(
        &self,
        request: Request<ListInvoicesRequest>,
    ) -> Result<Response<ListInvoicesResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", required_id(&request.account_id));
            let status = match InvoiceStatus::try_from(request.status) {
                Ok(status) => status_code(status),
                Err(_) => {
                    v.add("status", format!("{} is not an invoice status", request.status));
                    None
                }
            };
            let Some(account_id) = account_id else {
                return Err(v.into());
            };
            // Another tenant's account is NOT_FOUND, not an empty list.
            self.fetch_account(&caller, account_id).await?;
            v.into_result()?;
            let filters = ListInvoicesRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let mut connection = self.db.acquire().await?;
            let rows =
                repo::invoices(&mut connection, tenant_id, account_id, status, page.after_uuid()?, page.fetch_limit())
                    .await?;
            let (rows, next_page_token) = page.finish(rows, |row| row.id.as_bytes().to_vec());
            let mut invoices = Vec::with_capacity(rows.len());
            for row in &rows {
                let lines = repo::lines(&mut connection, tenant_id, row.id).await?;
                invoices.push(invoice_to_proto(row, &lines)?);
            }
            Ok::<_, BillingError>(ListInvoicesResponse { invoices, next_page_token })
        };
        Ok(Response::new(run.await?))
    }

    async fn generate_invoices(
        &self,
        request: Request<GenerateInvoicesRequest>,
    ) -> Result<Response<GenerateInvoicesResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", required_id(&request.account_id));
            let date = date_or_today(&mut v, "invoice_date", &request.invoice_date);
            let (Some(account_id), Some(date)) = (account_id, date) else {
                return Err(v.into());
            };
            self.fetch_account(&caller, account_id).await?;
            let (mut tx, pending) =
                match self.begin(tenant_id, "GenerateInvoices", &request.request_id, &request).await? {
                    Opened::Replayed(response) => return Ok(response),
                    Opened::Fresh(tx, pending) => (tx, pending),
                };
            let drafts = invoicing::draft(&mut tx, tenant_id, &[account_id], Scope::BilledToOrBought, date).await?;
            let mut rows: Vec<InvoiceRow> = drafts.iter().map(|(row, _)| row.clone()).collect();
            if request.post && !rows.is_empty() {
                let invoices: Vec<_> = rows.iter().map(|row| (row.account_id, row.invoice_date, None)).collect();
                let due_dates = self.due_dates(&caller, &invoices).await?;
                let posting: Vec<_> = rows.iter().map(|row| row.id).zip(due_dates).collect();
                rows = invoicing::post(&mut tx, tenant_id, &caller.subject, &posting).await?;
            }
            let mut invoices = Vec::with_capacity(rows.len());
            for row in &rows {
                let lines = drafts.iter().find(|(draft, _)| draft.id == row.id).map(|(_, lines)| lines.as_slice());
                invoices.push(invoice_to_proto(row, lines.unwrap_or_default())?);
            }
            let response = GenerateInvoicesResponse { invoices };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn start_billing_run(
        &self,
        request: Request<StartBillingRunRequest>,
    ) -> Result<Response<StartBillingRunResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let date = date_or_today(&mut v, "invoice_date", &request.invoice_date);
            let Some(date) = date else {
                return Err(v.into());
            };
            let (mut tx, pending) =
                match self.begin(tenant_id, "StartBillingRun", &request.request_id, &request).await? {
                    Opened::Replayed(response) => return Ok(response),
                    Opened::Fresh(tx, pending) => (tx, pending),
                };
            let started = runs::start(&mut tx, tenant_id, date, request.post, &caller.subject).await?;
            let response = StartBillingRunResponse { run: Some(started.to_proto()) };
            self.commit(tx, pending, &response).await?;
            self.runs.notify_one();
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn get_billing_run(
        &self,
        request: Request<GetBillingRunRequest>,
    ) -> Result<Response<GetBillingRunResponse>, Status> {
        let (_, tenant_id) = authorize(&request, READERS)?;
        let run = async {
            let id = parse_id("id", &request.get_ref().id)?;
            let found = runs::get(&self.db, tenant_id, id).await?;
            let found = found.ok_or_else(|| BillingError::not_found("billing run", id))?;
            Ok::<_, BillingError>(GetBillingRunResponse { run: Some(found.to_proto()) })
        };
        Ok(Response::new(run.await?))
    }

    async fn void_invoice(
        &self,
        request: Request<VoidInvoiceRequest>,
    ) -> Result<Response<VoidInvoiceResponse>, Status> {
        let (_, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let id = v.keep("id", required_id(&request.id));
            let reason = v.keep("reason", required_text(&request.reason, 500));
            let (Some(id), Some(reason)) = (id, reason) else {
                return Err(v.into());
            };
            let (mut tx, pending) = match self.begin(tenant_id, "VoidInvoice", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let locked = repo::invoice(&mut tx, tenant_id, id, true)
                .await?
                .ok_or_else(|| BillingError::not_found("invoice", id))?;
            not_posted(&locked)?;
            sqlx::query(
                "UPDATE billing.invoices SET status = 'VOIDED', void_reason = $3 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(&reason)
            .execute(&mut *tx)
            .await?;
            // What it held is owed again, for the next invoice.
            sqlx::query("UPDATE billing.charges SET invoice_id = NULL WHERE tenant_id = $1 AND invoice_id = $2")
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let voided = InvoiceRow { status: "VOIDED".to_owned(), void_reason: Some(reason), ..locked };
            let lines = repo::lines(&mut tx, tenant_id, id).await?;
            let response = VoidInvoiceResponse { invoice: Some(invoice_to_proto(&voided, &lines)?) };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }
}
