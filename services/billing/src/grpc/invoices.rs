//! InvoiceService: drafts, posting with gapless numbers and due dates.

use bss_platform::auth::authorize;
use bss_platform::error::Violations;
use bss_platform::idempotency::RequestKey;
use bss_platform::input::{parse_id, required_id, required_text};
use bss_platform::money::{Currency, amount_in, decimal_from_wire, money_to_wire};
use bss_platform::paging::Page;
use bss_platform::time::{format_date, now, parse_date, timestamp};
use bss_proto::billing::invoice_service_server::InvoiceService;
use bss_proto::billing::*;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

use super::{BillingApi, ENQUIRERS, READERS, WRITERS};
use crate::app::invoices::NewInvoice;
use crate::domain::error::BillingError;
use crate::domain::invoice::InvoiceStatus as Status_;
use crate::wire::{self, money_in};

/// Most lines on one invoice.
const MAX_LINES: usize = 500;

fn status(status: InvoiceStatus) -> Option<Status_> {
    match status {
        InvoiceStatus::Unspecified => None,
        InvoiceStatus::Draft => Some(Status_::Draft),
        InvoiceStatus::Posted => Some(Status_::Posted),
        InvoiceStatus::Voided => Some(Status_::Voided),
    }
}

pub fn invoice_to_proto((row, lines): &crate::app::invoices::Invoice) -> Result<Invoice, BillingError> {
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
                total: Some(money_in(line.total, currency)),
                credited: Some(money_in(line.credited, currency)),
                price_rule: line.priced_by.rule.clone(),
                price_source_id: line.priced_by.source_id.clone(),
                priced_on: line.priced_by.on.map(format_date).unwrap_or_default(),
                price_note: line.priced_by.note.clone(),
                tiers: line.priced_by.tiers.iter().map(|tier| wire::tier_to_wire(tier, currency.code)).collect(),
            })
            .collect(),
        total: Some(money_in(row.total, currency)),
        settled: Some(money_in(row.settled, currency)),
        order_references: row.order_references.clone(),
        create_time: Some(timestamp(row.created_at)),
        post_time: row.posted_at.map(timestamp),
        for_account_id: row.for_account_id.map(|id| id.to_string()).unwrap_or_default(),
        void_reason: row.void_reason.clone().unwrap_or_default(),
        billing_address: row.billing_address.as_ref().map(|address| wire::order_address(address)),
        collection: row.collection.as_ref().map(|collection| wire::collection(collection, currency)),
    })
}

/// A date field where empty means today (UTC).
fn date_or_today(v: &mut Violations, field: &str, value: &str) -> Option<NaiveDate> {
    if value.is_empty() { Some(now().date_naive()) } else { v.keep(field, parse_date(value)) }
}

/// The lines of a new invoice (description, quantity, unit price), priced
/// in `currency`.
fn lines_from_wire(v: &mut Violations, lines: &[InvoiceLine], currency: Currency) -> Vec<(String, Decimal, Decimal)> {
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
            rows.push((description, quantity, unit_price));
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
            let currency = crate::app::account_currency(&account)?;
            let mut v = Violations::new();
            let invoice_date = date_or_today(&mut v, "invoice.invoice_date", &input.invoice_date);
            let delivery_date = if input.delivery_date.is_empty() {
                Some(None)
            } else {
                v.keep("invoice.delivery_date", parse_date(&input.delivery_date)).map(Some)
            };
            let lines = lines_from_wire(&mut v, &input.lines, currency);
            for (index, reference) in input.order_references.iter().enumerate() {
                let field = format!("invoice.order_references[{index}]");
                v.keep(&field, required_text(reference, 100));
                // Usage is invoiced by charge runs, which tell credit what
                // they bill of it; a hand-made invoice naming it would
                // capture all credit holds for it.
                if crate::domain::usage::usage_of(reference).is_some() {
                    v.add(field, "names a subscription's usage: usage is invoiced by billing runs only");
                }
            }
            let (Some(invoice_date), Some(delivery_date)) = (invoice_date, delivery_date) else {
                return Err(v.into());
            };
            v.into_result()?;
            let key = RequestKey::new(tenant_id, "CreateInvoice", &request.request_id, &request)?;
            let new =
                NewInvoice { account_id, invoice_date, delivery_date, lines, order_references: input.order_references };
            self.create_invoice(&caller, tenant_id, key, (&account, new), |invoice| {
                Ok(CreateInvoiceResponse { invoice: Some(invoice_to_proto(invoice)?) })
            })
            .await
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
            let key = RequestKey::new(tenant_id, "PostInvoice", &request.request_id, &request)?;
            self.post_invoice(&caller, tenant_id, key, id, |invoice| {
                Ok(PostInvoiceResponse { invoice: Some(invoice_to_proto(invoice)?) })
            })
            .await
        };
        Ok(Response::new(run.await?))
    }

    async fn get_invoice(&self, request: Request<GetInvoiceRequest>) -> Result<Response<GetInvoiceResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let run = async {
            let id = parse_id("id", &request.get_ref().id)?;
            let invoice = self.invoice_for(&caller, tenant_id, id).await?;
            Ok::<_, BillingError>(GetInvoiceResponse { invoice: Some(invoice_to_proto(&invoice)?) })
        };
        Ok(Response::new(run.await?))
    }

    async fn list_invoices(
        &self,
        request: Request<ListInvoicesRequest>,
    ) -> Result<Response<ListInvoicesResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, ENQUIRERS)?;
        let request = request.into_inner();
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", required_id(&request.account_id));
            let status = match InvoiceStatus::try_from(request.status) {
                Ok(wanted) => status(wanted),
                Err(_) => {
                    v.add("status", format!("{} is not an invoice status", request.status));
                    None
                }
            };
            let Some(account_id) = account_id else {
                return Err(v.into());
            };
            v.into_result()?;
            let filters = ListInvoicesRequest { page_size: 0, page_token: String::new(), ..request.clone() };
            let page = Page::parse(request.page_size, &request.page_token, &filters)?;
            let listed = self
                .invoices_of(&caller, tenant_id, (account_id, status), (page.after_uuid()?, page.fetch_limit()))
                .await?;
            let (listed, next_page_token) = page.finish(listed, |(row, _)| row.id.as_bytes().to_vec());
            let invoices = listed.iter().map(invoice_to_proto).collect::<Result<_, _>>()?;
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
            let key = RequestKey::new(tenant_id, "GenerateInvoices", &request.request_id, &request)?;
            self.generate_invoices(&caller, tenant_id, key, (account_id, date, request.post), |invoices| {
                let invoices = invoices.iter().map(invoice_to_proto).collect::<Result<_, _>>()?;
                Ok(GenerateInvoicesResponse { invoices })
            })
            .await
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
            let Some(date) = date_or_today(&mut v, "invoice_date", &request.invoice_date) else {
                return Err(v.into());
            };
            let key = RequestKey::new(tenant_id, "StartBillingRun", &request.request_id, &request)?;
            self.start_billing_run(&caller, tenant_id, key, (date, request.post), |started| StartBillingRunResponse {
                run: Some(crate::wire::run_to_wire(started)),
            })
            .await
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
            let found = self.billing_run(tenant_id, id).await?;
            Ok::<_, BillingError>(GetBillingRunResponse { run: Some(crate::wire::run_to_wire(&found)) })
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
            let key = RequestKey::new(tenant_id, "VoidInvoice", &request.request_id, &request)?;
            self.void_invoice(tenant_id, key, (id, reason), |invoice| {
                Ok(VoidInvoiceResponse { invoice: Some(invoice_to_proto(invoice)?) })
            })
            .await
        };
        Ok(Response::new(run.await?))
    }
}
