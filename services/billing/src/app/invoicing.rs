//! Charges become invoices: subscription periods are charged, open charges
//! are grouped by who pays (one invoice per bill-to account and currency,
//! one per sub-account with separate invoices), and drafts are posted.
//! GenerateInvoices does it for one account, a billing run batch by batch.

use bss_platform::money::money_to_wire;
use bss_platform::time::{format_date, now};
use bss_proto::billing::billing_event::Payload;
use bss_proto::billing::{InvoicePosted, OrderAmount};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::app::{collections, publish_all};
use crate::domain::error::BillingError;
use crate::domain::invoice;
use crate::repo::{self, InvoiceRow, LineRow};

/// Whose charges are invoiced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// What is billed to the accounts (a billing run).
    BilledTo,
    /// What is billed to the accounts or was bought by them
    /// (GenerateInvoices: a funded member's or managed copy's charges go to
    /// its parent or tenant reseller).
    BilledToOrBought,
}

/// Drafts the invoices of what the accounts owe (`scope`) up to `date`, in
/// the caller's transaction.
pub async fn draft(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    accounts: &[Uuid],
    scope: Scope,
    date: NaiveDate,
) -> Result<Vec<(InvoiceRow, Vec<LineRow>)>, BillingError> {
    let bought = scope == Scope::BilledToOrBought;
    repo::charges::charge_subscriptions(tx, tenant_id, accounts, bought, date).await?;
    let charges = repo::charges::open(tx, tenant_id, accounts, bought, date).await?;
    let created_at = now();
    let drafts = invoice::group(charges);
    let mut invoices = Vec::with_capacity(drafts.len());
    let mut invoiced: (Vec<Uuid>, Vec<Uuid>) = (Vec::new(), Vec::new());
    for draft in drafts {
        let id = Uuid::now_v7();
        let lines: Vec<LineRow> = draft
            .charges
            .iter()
            .map(|charge| LineRow {
                product_id: Some(charge.product_id.clone()),
                description: charge.description.clone(),
                quantity: charge.quantity,
                unit_price: charge.unit_price,
                total: charge.total,
                credited: Decimal::ZERO,
            })
            .collect();
        invoiced.0.extend(draft.charges.iter().map(|charge| charge.id));
        invoiced.1.extend(draft.charges.iter().map(|_| id));
        let row = InvoiceRow {
            id,
            account_id: draft.bill_to,
            for_account_id: draft.for_account,
            total: draft.total(),
            order_references: draft.order_references(),
            currency: draft.currency,
            number: None,
            status: "DRAFT".to_owned(),
            invoice_date: date,
            delivery_date: None,
            due_date: None,
            settled: Decimal::ZERO,
            created_at,
            posted_at: None,
            void_reason: None,
            billing_address: None,
            collection: None,
        };
        invoices.push((row, lines));
    }
    if invoices.is_empty() {
        return Ok(invoices);
    }
    repo::insert_invoices(tx, tenant_id, &invoices).await?;
    repo::charges::assign(tx, tenant_id, (&invoiced.0, &invoiced.1)).await?;
    let ids: Vec<Uuid> = invoices.iter().map(|(row, _)| row.id).collect();
    for (id, address) in repo::charges::address_invoices(tx, tenant_id, &ids).await? {
        if let Some((row, _)) = invoices.iter_mut().find(|(row, _)| row.id == id) {
            row.billing_address = Some(address);
        }
    }
    Ok(invoices)
}

/// Posts drafts (id, due date) in order and publishes each as
/// InvoicePosted, with what it bills of each order (credit captures that
/// much of the order's reservation), in the caller's transaction.
pub async fn post(
    tx: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    drafts: &[(Uuid, NaiveDate)],
) -> Result<Vec<InvoiceRow>, BillingError> {
    let mut posted = repo::post_invoices(tx, tenant_id, drafts).await?;
    collections::queue(tx, tenant_id, &mut posted).await?;
    let ids: Vec<Uuid> = posted.iter().map(|row| row.id).collect();
    let billed = repo::charges::billed_per_order(tx, tenant_id, &ids).await?;
    let mut events = Vec::with_capacity(posted.len());
    for row in &posted {
        let currency = row.currency()?;
        let order_amounts = billed
            .iter()
            // Zero amounts too: credit captures nothing for them, rather
            // than the whole reservation of a reference it was not told
            // an amount for.
            .filter(|(invoice_id, _, _)| *invoice_id == row.id)
            .map(|(_, reference, amount)| OrderAmount {
                reference: reference.clone(),
                amount: Some(money_to_wire(currency.round(*amount), currency)),
            })
            .collect();
        events.push(Payload::InvoicePosted(InvoicePosted {
            invoice_id: row.id.to_string(),
            account_id: row.account_id.to_string(),
            amount: Some(money_to_wire(currency.round(row.total), currency)),
            due_date: row.due_date.map(format_date).unwrap_or_default(),
            order_references: row.order_references.clone(),
            order_amounts,
        }));
    }
    publish_all(tx, tenant_id, actor, events).await?;
    Ok(posted)
}
