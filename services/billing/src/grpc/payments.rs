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

use super::{BillingApi, READERS, WRITERS, publish};
use crate::domain::error::BillingError;
use crate::domain::settle::allocate;
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
            let amount = positive_amount(&mut v, "amount", request.amount.as_ref(), currency);
            let reason = v.keep("reason", required_text(&request.reason, MAX_REASON));
            let first = v.keep("invoice_id", parse_optional_id(&request.invoice_id));
            let (Some(amount), Some(reason), Some(first)) = (amount, reason, first) else {
                return Err(v.into());
            };
            let opened = match self.begin(tenant_id, "CreateCreditNote", &request.request_id, &request).await? {
                Opened::Replayed(response) => return Ok(response),
                Opened::Fresh(tx, pending) => (tx, pending),
            };
            let note =
                self.adjust(&caller, tenant_id, account_id, currency, Some(amount), first, &reason, opened).await?;
            Ok::<_, BillingError>(CreateCreditNoteResponse { credit_note: Some(note) })
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
