//! Invoices: written by hand, generated from what an account owes
//! (`invoicing`), posted with gapless numbers and credit's due dates,
//! voided while drafts; billing runs started for the worker (`runs`).

use bss_platform::auth::Caller;
use bss_platform::idempotency::RequestKey;
use bss_platform::time::now;
use chrono::NaiveDate;
use prost::Message;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::invoicing::{self, Scope};
use super::{Billing, account_currency};
use crate::domain::bill_to::invoiced_to;
use crate::domain::error::BillingError;
use crate::domain::invoice::{InvoiceStatus, check_draft, line_total};
use crate::domain::order::PricedBy;
use crate::repo::runs::{self, RunRow};
use crate::repo::{self, InvoiceRow, LineRow};

/// An invoice written by hand.
pub struct NewInvoice {
    pub account_id: Uuid,
    pub invoice_date: NaiveDate,
    pub delivery_date: Option<NaiveDate>,
    /// (description, quantity, unit price in the account's currency).
    pub lines: Vec<(String, Decimal, Decimal)>,
    pub order_references: Vec<String>,
}

/// An invoice with its lines.
pub type Invoice = (InvoiceRow, Vec<LineRow>);

impl Billing {
    /// Drafts an invoice written by hand for `account` (as the caller sees
    /// it), in its currency (the unit prices must be in it); a managed
    /// copy's goes to its tenant reseller.
    pub async fn create_invoice<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account, new): (&bss_proto::accounts::Account, NewInvoice),
        respond: impl FnOnce(&Invoice) -> Result<R, BillingError>,
    ) -> Result<R, BillingError> {
        let currency = account_currency(account)?;
        let reseller = match &account.managed_by {
            Some(_) => self.payer(caller, account).await?.parent_id,
            None => None,
        };
        let (bill_to, for_account_id) = invoiced_to(new.account_id, reseller);
        let lines: Vec<LineRow> = new
            .lines
            .into_iter()
            .map(|(description, quantity, unit_price)| LineRow {
                product_id: None,
                description,
                quantity,
                unit_price,
                total: line_total(quantity, unit_price, currency),
                credited: Decimal::ZERO,
                priced_by: PricedBy::default(),
            })
            .collect();
        self.write(key, async |tx| {
            let row = InvoiceRow {
                id: Uuid::now_v7(),
                account_id: bill_to,
                for_account_id,
                currency: currency.code.to_owned(),
                number: None,
                status: InvoiceStatus::Draft.code().to_owned(),
                invoice_date: new.invoice_date,
                delivery_date: new.delivery_date,
                due_date: None,
                total: lines.iter().map(|line| line.total).sum(),
                settled: Decimal::ZERO,
                order_references: new.order_references,
                created_at: now(),
                posted_at: None,
                void_reason: None,
                billing_address: None,
                collection: None,
            };
            let invoice = (row, lines);
            let response = respond(&invoice)?;
            repo::insert_invoices(tx, tenant_id, std::slice::from_ref(&invoice)).await?;
            Ok(response)
        })
        .await
    }

    /// Posts a draft: its number, and its due date from credit's terms of
    /// the account (asked before the transaction).
    pub async fn post_invoice<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        id: Uuid,
        respond: impl FnOnce(&Invoice) -> Result<R, BillingError>,
    ) -> Result<R, BillingError> {
        if let Some(stored) = self.replay(&key).await? {
            return Ok(stored);
        }
        let draft = self.invoice(tenant_id, id).await?.0;
        let due_dates = self.due_dates(caller, &[(draft.account_id, draft.invoice_date, draft.delivery_date)]).await?;
        self.write(key, async |tx| {
            let locked =
                repo::invoice(tx, tenant_id, id, true).await?.ok_or_else(|| BillingError::not_found("invoice", id))?;
            check_draft(id, locked.status()?, locked.number)?;
            let drafts: Vec<(Uuid, NaiveDate)> = due_dates.into_iter().map(|due| (id, due)).collect();
            let posted = invoicing::post(tx, tenant_id, &caller.subject, &drafts).await?;
            let posted = posted.into_iter().next().ok_or_else(|| BillingError::not_found("invoice", id))?;
            let lines = repo::lines(tx, tenant_id, id).await?;
            respond(&(posted, lines))
        })
        .await
    }

    /// Voids a draft: what it held is owed again, for the next invoice.
    pub async fn void_invoice<R: Message + Default>(
        &self,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (id, reason): (Uuid, String),
        respond: impl FnOnce(&Invoice) -> Result<R, BillingError>,
    ) -> Result<R, BillingError> {
        self.write(key, async |tx| {
            let locked =
                repo::invoice(tx, tenant_id, id, true).await?.ok_or_else(|| BillingError::not_found("invoice", id))?;
            check_draft(id, locked.status()?, locked.number)?;
            repo::void_invoice(tx, tenant_id, id, &reason).await?;
            let voided =
                InvoiceRow { status: InvoiceStatus::Voided.code().to_owned(), void_reason: Some(reason), ..locked };
            let lines = repo::lines(tx, tenant_id, id).await?;
            respond(&(voided, lines))
        })
        .await
    }

    /// An invoice with its lines.
    /// An invoice as `caller` may see it: a customer's own user only its
    /// account's (billed to it or held for it).
    pub async fn invoice_for(&self, caller: &Caller, tenant_id: Uuid, id: Uuid) -> Result<Invoice, BillingError> {
        let invoice = self.invoice(tenant_id, id).await?;
        let owners: Vec<Uuid> = [Some(invoice.0.account_id), invoice.0.for_account_id].into_iter().flatten().collect();
        self.check_own(caller, &owners, ("invoice", id)).await?;
        Ok(invoice)
    }

    pub async fn invoice(&self, tenant_id: Uuid, id: Uuid) -> Result<Invoice, BillingError> {
        let mut connection = self.db.acquire().await?;
        let row = repo::invoice(&mut connection, tenant_id, id, false)
            .await?
            .ok_or_else(|| BillingError::not_found("invoice", id))?;
        let lines = repo::lines(&mut connection, tenant_id, id).await?;
        Ok((row, lines))
    }

    /// The account's invoices in `status` (`None`: any) in id order after
    /// `after` (another tenant's account is NOT_FOUND, not an empty list).
    pub async fn invoices_of(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        (account_id, status): (Uuid, Option<InvoiceStatus>),
        (after, limit): (Option<Uuid>, i64),
    ) -> Result<Vec<Invoice>, BillingError> {
        self.fetch_account(caller, account_id).await?;
        let mut connection = self.db.acquire().await?;
        let status = status.map(InvoiceStatus::code);
        let rows = repo::invoices(&mut connection, tenant_id, account_id, status, after, limit).await?;
        let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
        let mut lines = repo::lines_of(&mut connection, tenant_id, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let lines = lines.remove(&row.id).unwrap_or_default();
                (row, lines)
            })
            .collect())
    }

    /// Invoices what the account owes up to `date` (what it is billed for,
    /// and what it bought that others pay), posted when `post`.
    pub async fn generate_invoices<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (account_id, date, post): (Uuid, NaiveDate, bool),
        respond: impl FnOnce(&[Invoice]) -> Result<R, BillingError>,
    ) -> Result<R, BillingError> {
        self.fetch_account(caller, account_id).await?;
        self.write(key, async |tx| {
            let drafts = self.draft(tx, tenant_id, &[account_id], Scope::BilledToOrBought, date).await?;
            if !post || drafts.is_empty() {
                return respond(&drafts);
            }
            let invoices: Vec<_> = drafts.iter().map(|(row, _)| (row.account_id, row.invoice_date, None)).collect();
            let due_dates = self.due_dates(caller, &invoices).await?;
            let posting: Vec<_> = drafts.iter().map(|(row, _)| row.id).zip(due_dates).collect();
            let posted = invoicing::post(tx, tenant_id, &caller.subject, &posting).await?;
            let invoices: Vec<Invoice> = posted
                .into_iter()
                .map(|row| {
                    let lines = drafts.iter().find(|(draft, _)| draft.id == row.id).map(|(_, lines)| lines.clone());
                    (row, lines.unwrap_or_default())
                })
                .collect();
            respond(&invoices)
        })
        .await
    }

    /// Starts a billing run of the tenant for `date` and wakes its worker.
    pub async fn start_billing_run<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        (date, post): (NaiveDate, bool),
        respond: impl FnOnce(&RunRow) -> R,
    ) -> Result<R, BillingError> {
        let response = self
            .write(key, async |tx| Ok(respond(&runs::start(tx, tenant_id, date, post, &caller.subject).await?)))
            .await?;
        self.runs.notify_one();
        Ok(response)
    }

    /// A billing run and its progress.
    pub async fn billing_run(&self, tenant_id: Uuid, id: Uuid) -> Result<RunRow, BillingError> {
        runs::get(&self.db, tenant_id, id).await?.ok_or_else(|| BillingError::not_found("billing run", id))
    }
}
