//! PaymentService: payments, credit notes and write-offs settling invoices,
//! and the account's balance.

use bss_platform::auth::{Caller, authorize};
use bss_platform::error::Violations;
use bss_platform::idempotency::Opened;
use bss_platform::input::{parse_id, parse_optional_id, required_id, required_text};
use bss_platform::money::{Currency, amount_in, money_to_wire};
use bss_platform::time::{now, timestamp};
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::payment_service_server::PaymentService;
use bss_proto::billing::*;
use bss_proto::types::Money;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{BillingApi, READERS, WRITERS};
use crate::app::publish;
use crate::domain::error::BillingError;
use crate::domain::settle::{OpenInvoice, allocate};
use crate::repo::{self, Settling};

/// Longest reason of a credit note or write-off.
const MAX_REASON: usize = 500;

fn money(amount: Decimal, currency: Currency) -> Money {
    money_to_wire(currency.round(amount), currency)
}

/// A positive amount of `currency` at its minor unit.
fn positive_amount(v: &mut Violations, field: &str, amount: Option<&Money>, currency: Currency) -> Option<Decimal> {
    let amount = amount_in(v, field, amount, currency)?;
    if amount <= Decimal::ZERO {
        v.add(format!("{field}.amount"), "must be greater than zero");
        return None;
    }
    if currency.round(amount) != amount {
        v.add(format!("{field}.amount"), format!("has more decimals than {} allows", currency.code));
        return None;
    }
    Some(amount)
}

/// What settling did: the allocations (for the answer), what was left,
/// and the invoices now settled in full.
struct Settled {
    allocations: Vec<Allocation>,
    unallocated: Decimal,
    in_full: Vec<Uuid>,
}

impl Settled {
    /// Publishes InvoiceSettled for each invoice settled in full: after the
    /// event of the money that settled them, so a consumer never sees an
    /// invoice settled before the money arrived.
    async fn publish(
        &self,
        tx: &mut PgConnection,
        tenant_id: Uuid,
        actor: &str,
        account_id: Uuid,
    ) -> Result<(), BillingError> {
        for invoice_id in &self.in_full {
            let event = InvoiceSettled { invoice_id: invoice_id.to_string(), account_id: account_id.to_string() };
            publish(tx, tenant_id, actor, Payload::InvoiceSettled(event)).await?;
        }
        Ok(())
    }
}

/// Settles the account's posted invoices with `amount` (`None`: all they
/// owe), a named invoice first, then oldest first, under their row locks;
/// records the allocations of `settling_id`.
async fn settle_invoices(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    currency: Currency,
    settling_id: Uuid,
    amount: Option<Decimal>,
    first: Option<Uuid>,
) -> Result<(Decimal, Settled), BillingError> {
    let open = repo::lock_open_invoices(tx, tenant_id, account_id).await?;
    if let Some(first) = first
        && !open.iter().any(|(invoice, _)| invoice.id == first)
    {
        return Err(BillingError::precondition(
            "INVOICE_NOT_OPEN",
            format!("invoice {first} is not a posted, unsettled invoice of the account"),
        ));
    }
    let invoices: Vec<_> = open.iter().map(|(invoice, _)| invoice.clone()).collect();
    let amount = amount.unwrap_or_else(|| invoices.iter().map(|invoice| invoice.owed).sum());
    let (allocations, unallocated) = allocate(amount, &invoices, first);
    let mut lines = Vec::with_capacity(allocations.len());
    let mut in_full = Vec::new();
    for (invoice_id, paid) in &allocations {
        let settled = repo::settle(tx, tenant_id, *invoice_id, *paid).await?;
        if settled {
            in_full.push(*invoice_id);
        }
        lines.push(Allocation {
            invoice_id: invoice_id.to_string(),
            invoice_number: open.iter().find(|(invoice, _)| invoice.id == *invoice_id).map_or(0, |(_, number)| *number),
            amount: Some(money(*paid, currency)),
            settled,
        });
    }
    repo::insert_allocations(tx, tenant_id, settling_id, &allocations).await?;
    Ok((amount, Settled { allocations: lines, unallocated, in_full }))
}

/// The lines a credit note names: (line number, amount or `None` for all
/// of the line not credited yet); `None` after a violation.
fn credited_lines(
    v: &mut Violations,
    lines: &[CreditedLine],
    currency: Currency,
) -> Option<Vec<(i32, Option<Decimal>)>> {
    let mut parsed = Vec::with_capacity(lines.len());
    let mut bad = false;
    for (index, line) in lines.iter().enumerate() {
        if line.line_number < 1 {
            v.add(format!("lines[{index}].line_number"), "must be 1 or more");
            bad = true;
        } else if parsed.iter().any(|(number, _)| *number == line.line_number) {
            v.add(format!("lines[{index}].line_number"), "names a line twice");
            bad = true;
        }
        let amount = match &line.amount {
            None => None,
            Some(_) => {
                let amount = positive_amount(v, &format!("lines[{index}].amount"), line.amount.as_ref(), currency);
                bad |= amount.is_none();
                amount
            }
        };
        parsed.push((line.line_number, amount));
    }
    (!bad).then_some(parsed)
}

/// Credits lines of a posted invoice of the account (`None`: every line
/// for what is not credited yet), never beyond a line's total; returns the
/// credit note's amount and the invoice to settle first (when it is still
/// open).
async fn credit_lines(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    invoice_id: Uuid,
    lines: Option<&[(i32, Option<Decimal>)]>,
) -> Result<(Decimal, Option<Uuid>), BillingError> {
    let invoice = repo::invoice(tx, tenant_id, invoice_id, true)
        .await?
        .filter(|invoice| invoice.account_id == account_id)
        .ok_or_else(|| BillingError::not_found("invoice", invoice_id))?;
    if invoice.status != "POSTED" {
        return Err(BillingError::precondition(
            "INVOICE_NOT_POSTED",
            format!("invoice {invoice_id} is not posted: void or change a draft instead of crediting it"),
        ));
    }
    let stored = repo::lines(tx, tenant_id, invoice_id).await?;
    let wanted: Vec<(i32, Option<Decimal>)> = match lines {
        Some(lines) => lines.to_vec(),
        None => (1..=stored.len() as i32).map(|number| (number, None)).collect(),
    };
    let mut credits = Vec::with_capacity(wanted.len());
    for (number, amount) in wanted {
        let Some(line) = usize::try_from(number - 1).ok().and_then(|index| stored.get(index)) else {
            return Err(Violations::single("lines", format!("invoice {invoice_id} has {} lines", stored.len())).into());
        };
        let left = line.total - line.credited;
        let amount = amount.unwrap_or(left);
        if amount > left || (lines.is_some() && amount.is_zero()) {
            return Err(BillingError::precondition(
                "LINE_ALREADY_CREDITED",
                format!("line {number} of invoice {invoice_id} has {left} left to credit, less than {amount}"),
            ));
        }
        if amount > Decimal::ZERO {
            credits.push((number, amount));
        }
    }
    let total: Decimal = credits.iter().map(|(_, amount)| *amount).sum();
    if total.is_zero() {
        return Err(BillingError::precondition(
            "LINE_ALREADY_CREDITED",
            format!("invoice {invoice_id} is credited in full already"),
        ));
    }
    repo::credit_invoice_lines(tx, tenant_id, invoice_id, &credits).await?;
    let open = invoice.settled < invoice.total;
    Ok((total, open.then_some(invoice_id)))
}

impl BillingApi {
    /// Posts a credit note (`Some(amount)`) or a write-off of everything
    /// owed (`None`), settling invoices, in the caller's transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn post_adjustment(
        &self,
        tx: &mut PgConnection,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        currency: Currency,
        amount: Option<Decimal>,
        reason: &str,
    ) -> Result<Adjustment, BillingError> {
        self.adjust_first(tx, caller, tenant_id, account_id, currency, amount, None, reason).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn adjust_first(
        &self,
        tx: &mut PgConnection,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        currency: Currency,
        amount: Option<Decimal>,
        first: Option<Uuid>,
        reason: &str,
    ) -> Result<Adjustment, BillingError> {
        let id = Uuid::now_v7();
        let (total, settled) = settle_invoices(tx, tenant_id, account_id, currency, id, amount, first).await?;
        if total.is_zero() {
            return Err(BillingError::precondition(
                "NOTHING_TO_WRITE_OFF",
                format!("account {account_id} owes nothing on posted invoices"),
            ));
        }
        let kind = if amount.is_some() { "CREDIT_NOTE" } else { "WRITE_OFF" };
        let record = Settling { id, account_id, currency, amount: total, unallocated: settled.unallocated };
        let created_at = repo::insert_adjustment(tx, tenant_id, kind, &record, reason).await?;
        let (id_text, account_text, amount_wire) =
            (id.to_string(), account_id.to_string(), Some(money(total, currency)));
        let payload = if amount.is_some() {
            Payload::CreditNotePosted(CreditNotePosted {
                credit_note_id: id_text.clone(),
                account_id: account_text.clone(),
                amount: amount_wire.clone(),
            })
        } else {
            Payload::WriteOffPosted(WriteOffPosted {
                write_off_id: id_text.clone(),
                account_id: account_text.clone(),
                amount: amount_wire.clone(),
            })
        };
        publish(tx, tenant_id, &caller.subject, payload).await?;
        settled.publish(tx, tenant_id, &caller.subject, account_id).await?;
        Ok(Adjustment {
            id: id_text,
            account_id: account_text,
            amount: amount_wire,
            reason: reason.to_owned(),
            allocations: settled.allocations,
            unallocated: Some(money(settled.unallocated, currency)),
            create_time: Some(timestamp(created_at)),
        })
    }

    /// A credit note or write-off as its own request.
    #[allow(clippy::too_many_arguments)]
    async fn adjust(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        currency: Currency,
        amount: Option<Decimal>,
        first: Option<Uuid>,
        reason: &str,
        (mut tx, pending): (sqlx::Transaction<'static, sqlx::Postgres>, bss_platform::idempotency::PendingRequest),
    ) -> Result<Adjustment, BillingError> {
        let adjustment =
            self.adjust_first(&mut tx, caller, tenant_id, account_id, currency, amount, first, reason).await?;
        // Both answers are the adjustment in field 1: the credit note's
        // message is stored for either.
        let response = CreateCreditNoteResponse { credit_note: Some(adjustment.clone()) };
        self.commit(tx, pending, &response).await?;
        Ok(adjustment)
    }
}

#[tonic::async_trait]
impl PaymentService for BillingApi {
    async fn record_payment(
        &self,
        request: Request<RecordPaymentRequest>,
    ) -> Result<Response<RecordPaymentResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let input = request.payment.clone().unwrap_or_default();
            let account_id = parse_id("payment.account_id", &input.account_id)?;
            let currency = self.account_currency(&caller, account_id).await?;
            let mut v = Violations::new();
            let amount = positive_amount(&mut v, "payment.amount", input.amount.as_ref(), currency);
            let first = v.keep("invoice_id", parse_optional_id(&request.invoice_id));
            let (Some(amount), Some(first)) = (amount, first) else {
                return Err(v.into());
            };
            let (mut tx, pending) = match self.begin(tenant_id, "RecordPayment", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let id = Uuid::now_v7();
            let (_, settled) =
                settle_invoices(&mut tx, tenant_id, account_id, currency, id, Some(amount), first).await?;
            let record = Settling { id, account_id, currency, amount, unallocated: settled.unallocated };
            let created_at = repo::insert_payment(&mut tx, tenant_id, &record).await?;
            let posted = PaymentPosted {
                payment_id: id.to_string(),
                account_id: account_id.to_string(),
                amount: Some(money(amount, currency)),
            };
            publish(&mut tx, tenant_id, &caller.subject, Payload::PaymentPosted(posted)).await?;
            settled.publish(&mut tx, tenant_id, &caller.subject, account_id).await?;
            let response = RecordPaymentResponse {
                payment: Some(Payment {
                    id: id.to_string(),
                    account_id: account_id.to_string(),
                    amount: Some(money(amount, currency)),
                    allocations: settled.allocations,
                    unallocated: Some(money(settled.unallocated, currency)),
                    create_time: Some(timestamp(created_at)),
                }),
            };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn get_account_balance(
        &self,
        request: Request<GetAccountBalanceRequest>,
    ) -> Result<Response<GetAccountBalanceResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, READERS)?;
        let run = async {
            let mut v = Violations::new();
            let account_id = v.keep("account_id", required_id(&request.get_ref().account_id));
            let Some(account_id) = account_id else {
                return Err(v.into());
            };
            let currency = self.account_currency(&caller, account_id).await?;
            let mut connection = self.db.acquire().await?;
            let (balance, outstanding, unsettled) =
                repo::balance(&mut connection, tenant_id, account_id, now().date_naive()).await?;
            Ok::<_, BillingError>(GetAccountBalanceResponse {
                balance: Some(money(balance, currency)),
                outstanding: Some(money(outstanding, currency)),
                unsettled: Some(money(unsettled, currency)),
            })
        };
        Ok(Response::new(run.await?))
    }

    async fn create_credit_note(
        &self,
        request: Request<CreateCreditNoteRequest>,
    ) -> Result<Response<CreateCreditNoteResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let currency = self.account_currency(&caller, account_id).await?;
            let mut v = Violations::new();
            let against_lines = request.whole_invoice || !request.lines.is_empty();
            let amount = if against_lines {
                if request.amount.is_some() {
                    v.add("amount", "must be empty when crediting an invoice's lines: it is their sum");
                }
                if request.invoice_id.is_empty() {
                    v.add("invoice_id", "is required when crediting an invoice's lines");
                }
                if request.whole_invoice && !request.lines.is_empty() {
                    v.add("lines", "must be empty when crediting the whole invoice");
                }
                Some(None)
            } else {
                positive_amount(&mut v, "amount", request.amount.as_ref(), currency).map(Some)
            };
            let credited = credited_lines(&mut v, &request.lines, currency);
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let first = v.keep("invoice_id", parse_optional_id(&request.invoice_id));
            let (Some(amount), Some(reason), Some(first), Some(credited)) = (amount, reason, first, credited) else {
                return Err(v.into());
            };
            v.into_result()?;
            let (mut tx, pending) =
                match self.begin(tenant_id, "CreateCreditNote", &request.request_id, &request).await? {
                    Opened::Replayed(response) => return Ok(response),
                    Opened::Fresh(tx, pending) => (tx, pending),
                };
            let (amount, first) = match (amount, first) {
                (Some(amount), first) => (amount, first),
                (None, Some(invoice_id)) => {
                    let lines = if request.whole_invoice { None } else { Some(credited.as_slice()) };
                    credit_lines(&mut tx, tenant_id, account_id, invoice_id, lines).await?
                }
                (None, None) => return Err(Violations::single("invoice_id", "is required").into()),
            };
            let note = self
                .adjust(&caller, tenant_id, account_id, currency, Some(amount), first, &reason, (tx, pending))
                .await?;
            Ok::<_, BillingError>(CreateCreditNoteResponse { credit_note: Some(note) })
        };
        Ok(Response::new(run.await?))
    }

    async fn refund_credit(
        &self,
        request: Request<RefundCreditRequest>,
    ) -> Result<Response<RefundCreditResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let currency = self.account_currency(&caller, account_id).await?;
            let mut v = Violations::new();
            let amount = positive_amount(&mut v, "amount", request.amount.as_ref(), currency);
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let (Some(amount), Some(reason)) = (amount, reason) else {
                return Err(v.into());
            };
            let (mut tx, pending) = match self.begin(tenant_id, "RefundCredit", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            // The account's credits, locked oldest first: a racing refund
            // waits, then sees what this one took.
            let credits = repo::lock_credits(&mut tx, tenant_id, account_id).await?;
            let (balance, _, _) = repo::balance(&mut tx, tenant_id, account_id, now().date_naive()).await?;
            let held: Decimal = credits.iter().map(|(_, _, unallocated)| *unallocated).sum();
            let refundable = held.min(-balance).max(Decimal::ZERO);
            if amount > refundable {
                return Err(BillingError::precondition(
                    "REFUND_EXCEEDS_CREDIT",
                    format!(
                        "account {account_id} holds {} of credit, less than {amount}",
                        money(refundable, currency).amount
                    ),
                ));
            }
            let id = Uuid::now_v7();
            let sources: Vec<(Uuid, Decimal)> = allocate(
                amount,
                &credits
                    .iter()
                    .map(|(source, _, unallocated)| OpenInvoice { id: *source, owed: *unallocated })
                    .collect::<Vec<_>>(),
                None,
            )
            .0;
            repo::consume_credits(&mut tx, tenant_id, id, &credits, &sources).await?;
            let record = Settling { id, account_id, currency, amount, unallocated: Decimal::ZERO };
            let created_at = repo::insert_adjustment(&mut tx, tenant_id, "REFUND", &record, &reason).await?;
            let posted = RefundPosted {
                refund_id: id.to_string(),
                account_id: account_id.to_string(),
                amount: Some(money(amount, currency)),
            };
            publish(&mut tx, tenant_id, &caller.subject, Payload::RefundPosted(posted)).await?;
            let response = RefundCreditResponse {
                refund: Some(Adjustment {
                    id: id.to_string(),
                    account_id: account_id.to_string(),
                    amount: Some(money(amount, currency)),
                    reason,
                    allocations: Vec::new(),
                    unallocated: Some(money(Decimal::ZERO, currency)),
                    create_time: Some(timestamp(created_at)),
                }),
            };
            self.commit(tx, pending, &response).await?;
            Ok::<_, BillingError>(response)
        };
        Ok(Response::new(run.await?))
    }

    async fn write_off_account(
        &self,
        request: Request<WriteOffAccountRequest>,
    ) -> Result<Response<WriteOffAccountResponse>, Status> {
        let (caller, tenant_id) = authorize(&request, WRITERS)?;
        let request = request.into_inner();
        let run = async {
            let account_id = parse_id("account_id", &request.account_id)?;
            let reason =
                required_text(&request.reason, MAX_REASON).map_err(|error| Violations::single("reason", error))?;
            let currency = self.account_currency(&caller, account_id).await?;
            let opened = match self.begin(tenant_id, "WriteOffAccount", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let write_off = self.adjust(&caller, tenant_id, account_id, currency, None, None, &reason, opened).await?;
            Ok::<_, BillingError>(WriteOffAccountResponse { write_off: Some(write_off) })
        };
        Ok(Response::new(run.await?))
    }
}
