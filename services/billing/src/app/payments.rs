//! Money received and given back: payments, credit notes and write-offs
//! settle the account's posted invoices (`domain::settle`), refunds pay
//! back the credit it holds; each is posted with its events and the
//! invoices it settled in full, and answers with what it did.

use bss_platform::auth::Caller;
use bss_platform::idempotency::RequestKey;
use bss_platform::money::Currency;
use bss_platform::time::now;
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::{CreditNotePosted, InvoiceSettled, PaymentPosted, RefundPosted, WriteOffPosted};
use prost::Message;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Billing, publish};
use crate::domain::error::BillingError;
use crate::domain::settle::{self, Allocation, CreditableLine, OpenInvoice, Receipt, allocate};
use crate::repo::{self, Settling};
use crate::wire::money_in;

/// A credit note as asked: an amount, or lines of a posted invoice.
pub struct CreditNote {
    pub account_id: Uuid,
    pub currency: Currency,
    pub credit: Credited,
    pub reason: String,
}

/// What a credit note credits.
pub enum Credited {
    /// An amount, settling `first` first when named.
    Amount { amount: Decimal, first: Option<Uuid> },
    /// Lines of a posted invoice of the account (`None`: every line for
    /// what is left of it); the note is their sum and settles that invoice
    /// first while it is open.
    Lines { invoice_id: Uuid, lines: Option<Vec<(i32, Option<Decimal>)>> },
}

/// What settling did: the allocations, what was left, and the invoices now
/// settled in full.
struct Settled {
    amount: Decimal,
    allocations: Vec<Allocation>,
    unallocated: Decimal,
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
        for allocation in self.allocations.iter().filter(|allocation| allocation.settled) {
            let event =
                InvoiceSettled { invoice_id: allocation.invoice_id.to_string(), account_id: account_id.to_string() };
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
    settling_id: Uuid,
    amount: Option<Decimal>,
    first: Option<Uuid>,
) -> Result<Settled, BillingError> {
    let open = repo::lock_open_invoices(tx, tenant_id, account_id).await?;
    if let Some(first) = first
        && !open.iter().any(|(invoice, _)| invoice.id == first)
    {
        return Err(BillingError::precondition(
            "INVOICE_NOT_OPEN",
            format!("invoice {first} is not a posted, unsettled invoice of the account"),
        ));
    }
    let invoices: Vec<OpenInvoice> = open.iter().map(|(invoice, _)| invoice.clone()).collect();
    let amount = amount.unwrap_or_else(|| invoices.iter().map(|invoice| invoice.owed).sum());
    let (allocated, unallocated) = allocate(amount, &invoices, first);
    let in_full = repo::settle(tx, tenant_id, &allocated).await?;
    let allocations = allocated
        .iter()
        .map(|&(invoice_id, paid)| Allocation {
            invoice_id,
            invoice_number: open.iter().find(|(invoice, _)| invoice.id == invoice_id).map_or(0, |(_, number)| *number),
            amount: paid,
            settled: in_full.contains(&invoice_id),
        })
        .collect();
    repo::insert_allocations(tx, tenant_id, settling_id, &allocated).await?;
    Ok(Settled { amount, allocations, unallocated })
}

/// Credits lines of a posted invoice of the account; returns the credit
/// note's amount and the invoice to settle first (while it is open).
async fn credit_lines(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    account_id: Uuid,
    invoice_id: Uuid,
    wanted: Option<&[(i32, Option<Decimal>)]>,
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
    let lines: Vec<CreditableLine> = repo::lines(tx, tenant_id, invoice_id)
        .await?
        .iter()
        .map(|line| CreditableLine { total: line.total, credited: line.credited })
        .collect();
    let credits = settle::line_credits(invoice_id, &lines, wanted)?;
    repo::credit_invoice_lines(tx, tenant_id, invoice_id, &credits).await?;
    let open = invoice.settled < invoice.total;
    Ok((credits.iter().map(|(_, amount)| *amount).sum(), open.then_some(invoice_id)))
}

/// Credits up to `unused` of the line of posted invoice `invoice_id`
/// (of `account_id`) that bills a subscription period's charge (its
/// description and total), never beyond what is left of it. Returns the
/// amount credited and the invoice when it is still open (settled first),
/// or none when nothing is left to credit. Lines are not tied to charges:
/// of lines alike (two subscriptions of the same plan, started the same
/// day, on one invoice), the first with something left is credited.
pub(crate) async fn credit_subscription_line(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    (account_id, invoice_id): (Uuid, Uuid),
    (description, total, unused): (&str, Decimal, Decimal),
) -> Result<Option<(Decimal, Option<Uuid>)>, BillingError> {
    let lines = repo::lines(tx, tenant_id, invoice_id).await?;
    let Some((number, left)) = lines
        .iter()
        .zip(1..)
        .map(|(line, number)| (line, number, line.total - line.credited))
        .find(|(line, _, left)| line.description == description && line.total == total && *left > Decimal::ZERO)
        .map(|(_, number, left)| (number, left))
    else {
        return Ok(None);
    };
    let amount = unused.min(left);
    if amount <= Decimal::ZERO {
        return Ok(None);
    }
    credit_lines(tx, tenant_id, account_id, invoice_id, Some(&[(number, Some(amount))])).await.map(Some)
}

/// Posts a payment of the account in the caller's transaction: it settles
/// the account's invoices (`first` first), the rest stays as its credit;
/// published with the invoices it settled in full.
pub(crate) async fn post_payment(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    (account_id, currency, amount, first): (Uuid, Currency, Decimal, Option<Uuid>),
) -> Result<Receipt, BillingError> {
    let id = Uuid::now_v7();
    let settled = settle_invoices(tx, tenant_id, account_id, id, Some(amount), first).await?;
    let record = Settling { id, account_id, currency, amount, unallocated: settled.unallocated };
    let created_at = repo::insert_payment(tx, tenant_id, &record).await?;
    let posted = PaymentPosted {
        payment_id: id.to_string(),
        account_id: account_id.to_string(),
        amount: Some(money_in(amount, currency)),
    };
    publish(tx, tenant_id, actor, Payload::PaymentPosted(posted)).await?;
    settled.publish(tx, tenant_id, actor, account_id).await?;
    Ok(Receipt {
        id,
        account_id,
        currency,
        amount,
        allocations: settled.allocations,
        unallocated: settled.unallocated,
        reason: String::new(),
        created_at,
    })
}

impl Billing {
    /// Records a payment: it settles the account's invoices (`first`
    /// first), the rest stays as its credit. The answer, made by `respond`
    /// of the payment, is what a retry gets.
    pub async fn record_payment<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, currency, amount, first): (Uuid, Currency, Decimal, Option<Uuid>),
        respond: impl FnOnce(&Receipt) -> R,
    ) -> Result<R, BillingError> {
        self.write(key, async |tx| {
            let receipt = post_payment(tx, tenant_id, &caller.subject, (account_id, currency, amount, first)).await?;
            Ok(respond(&receipt))
        })
        .await
    }

    /// (balance, outstanding today, unsettled) of the account, in its
    /// currency.
    pub async fn balance(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
    ) -> Result<(Currency, Decimal, Decimal, Decimal), BillingError> {
        let currency = self.account_currency(caller, account_id).await?;
        let mut connection = self.db.acquire().await?;
        let (balance, outstanding, unsettled) =
            repo::balance(&mut connection, tenant_id, account_id, now().date_naive()).await?;
        Ok((currency, balance, outstanding, unsettled))
    }

    /// Posts a credit note of an amount or of an invoice's lines.
    pub async fn create_credit_note<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        note: CreditNote,
        respond: impl FnOnce(&Receipt) -> R,
    ) -> Result<R, BillingError> {
        let CreditNote { account_id, currency, credit, reason } = note;
        self.write(key, async |tx| {
            let (amount, first) = match credit {
                Credited::Amount { amount, first } => (amount, first),
                Credited::Lines { invoice_id, lines } => {
                    credit_lines(tx, tenant_id, account_id, invoice_id, lines.as_deref()).await?
                }
            };
            let note =
                adjust(tx, &caller.subject, tenant_id, (account_id, currency), Some(amount), first, &reason).await?;
            Ok(respond(&note))
        })
        .await
    }

    /// Writes off everything the account owes on posted invoices
    /// (NOTHING_TO_WRITE_OFF when it owes nothing).
    pub async fn write_off<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, currency, reason): (Uuid, Currency, String),
        respond: impl FnOnce(&Receipt) -> R,
    ) -> Result<R, BillingError> {
        self.write(key, async |tx| {
            let write_off = adjust(tx, &caller.subject, tenant_id, (account_id, currency), None, None, &reason).await?;
            Ok(respond(&write_off))
        })
        .await
    }

    /// Pays back credit the account holds, oldest credit first, never more
    /// than [`settle::refundable`] (REFUND_EXCEEDS_CREDIT).
    pub async fn refund_credit<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, currency, amount, reason): (Uuid, Currency, Decimal, String),
        respond: impl FnOnce(&Receipt) -> R,
    ) -> Result<R, BillingError> {
        self.write(key, async |tx| {
            // The account's credits, locked oldest first: a racing refund
            // waits, then sees what this one took.
            let credits = repo::lock_credits(tx, tenant_id, account_id).await?;
            let (balance, _, _) = repo::balance(tx, tenant_id, account_id, now().date_naive()).await?;
            let held: Decimal = credits.iter().map(|(_, _, unallocated)| *unallocated).sum();
            let refundable = settle::refundable(held, balance);
            if amount > refundable {
                return Err(BillingError::precondition(
                    "REFUND_EXCEEDS_CREDIT",
                    format!(
                        "account {account_id} holds {} of credit, less than {amount}",
                        money_in(refundable, currency).amount
                    ),
                ));
            }
            let id = Uuid::now_v7();
            let held: Vec<OpenInvoice> = credits
                .iter()
                .map(|(source, _, unallocated)| OpenInvoice { id: *source, owed: *unallocated })
                .collect();
            let (sources, _) = allocate(amount, &held, None);
            repo::consume_credits(tx, tenant_id, id, &credits, &sources).await?;
            let record = Settling { id, account_id, currency, amount, unallocated: Decimal::ZERO };
            let created_at = repo::insert_adjustment(tx, tenant_id, "REFUND", &record, &reason).await?;
            let posted = RefundPosted {
                refund_id: id.to_string(),
                account_id: account_id.to_string(),
                amount: Some(money_in(amount, currency)),
            };
            publish(tx, tenant_id, &caller.subject, Payload::RefundPosted(posted)).await?;
            let refund = Receipt {
                id,
                account_id,
                currency,
                amount,
                allocations: Vec::new(),
                unallocated: Decimal::ZERO,
                reason,
                created_at,
            };
            Ok(respond(&refund))
        })
        .await
    }
}

/// Posts a credit note (`Some(amount)`) or a write-off of everything
/// owed (`None`) in the caller's transaction, by `actor`, settling invoices
/// (`first` first).
pub(crate) async fn adjust(
    tx: &mut PgConnection,
    actor: &str,
    tenant_id: Uuid,
    (account_id, currency): (Uuid, Currency),
    amount: Option<Decimal>,
    first: Option<Uuid>,
    reason: &str,
) -> Result<Receipt, BillingError> {
    let id = Uuid::now_v7();
    let settled = settle_invoices(tx, tenant_id, account_id, id, amount, first).await?;
    if settled.amount.is_zero() {
        return Err(BillingError::precondition(
            "NOTHING_TO_WRITE_OFF",
            format!("account {account_id} owes nothing on posted invoices"),
        ));
    }
    let kind = if amount.is_some() { "CREDIT_NOTE" } else { "WRITE_OFF" };
    let record = Settling { id, account_id, currency, amount: settled.amount, unallocated: settled.unallocated };
    let created_at = repo::insert_adjustment(tx, tenant_id, kind, &record, reason).await?;
    let (id_text, account_text, amount_wire) =
        (id.to_string(), account_id.to_string(), Some(money_in(settled.amount, currency)));
    let payload = match amount {
        Some(_) => Payload::CreditNotePosted(CreditNotePosted {
            credit_note_id: id_text,
            account_id: account_text,
            amount: amount_wire,
        }),
        None => Payload::WriteOffPosted(WriteOffPosted {
            write_off_id: id_text,
            account_id: account_text,
            amount: amount_wire,
        }),
    };
    publish(tx, tenant_id, actor, payload).await?;
    settled.publish(tx, tenant_id, actor, account_id).await?;
    Ok(Receipt {
        id,
        account_id,
        currency,
        amount: settled.amount,
        allocations: settled.allocations,
        unallocated: settled.unallocated,
        reason: reason.to_owned(),
        created_at,
    })
}
