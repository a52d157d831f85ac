//! An account's credit terms: a credit manager's change (resolved against
//! the tenant's ratings and range, checked against the etag it read,
//! recorded in the history), and the due dates they give invoices.

use std::collections::HashMap;

use bss_platform::auth::Caller;
use bss_platform::idempotency::RequestKey;
use bss_platform::money::Currency;
use bss_platform::time::timestamp;
use bss_proto::credit::credit_event::Payload;
use bss_proto::credit::{CreditTerms, CreditTermsChange, CreditTermsChanged};
use chrono::NaiveDate;
use prost::Message;
use uuid::Uuid;

use super::{Credit, publish};
use crate::domain::account::{CreditAccount, TermsChange as Change, TermsInput, TermsSnapshot};
use crate::domain::error::CreditError;
use crate::domain::terms::PaymentTerms;
use crate::repo::{self, HistoryRow};
use crate::wire::terms_to_proto;

/// A credit manager's change of an account's terms.
pub struct TermsChange {
    pub account_id: Uuid,
    pub terms: TermsInput,
    /// The etag of the terms the change was made against (empty: none).
    pub etag: String,
    pub reason: String,
}

/// An invoice whose due date is asked.
pub struct DueDateQuery {
    pub account_id: Uuid,
    pub invoice_date: NaiveDate,
    pub delivery_date: Option<NaiveDate>,
}

impl Credit {
    /// Changes an account's terms and records the change (before, after,
    /// reason, actor) in its history and on the event stream. The answer,
    /// made by `respond` of the terms afterwards, is what a retry gets.
    pub async fn change_credit_terms<R: Message + Default>(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        key: Option<RequestKey>,
        change: TermsChange,
        respond: impl FnOnce(CreditTerms) -> R,
    ) -> Result<R, CreditError> {
        // Met (and so lockable) before the transaction.
        self.account(caller, tenant_id, change.account_id).await?;
        self.write(key, async |tx| {
            let settings = repo::settings(tx, tenant_id).await?;
            let rating = match change.terms.rating.as_str() {
                "" => None,
                code => repo::rating(tx, tenant_id, code).await?,
            };
            let before = repo::lock_account(tx, tenant_id, change.account_id).await?;
            let terms = change.terms.resolve(&before, &settings, rating.as_ref())?;
            before.check_terms_etag(&change.etag)?;
            let (updated_at, terms_version) = repo::save_terms(tx, tenant_id, change.account_id, &terms).await?;
            let after = CreditAccount { terms, updated_at, terms_version, ..before.clone() };
            let kept =
                Change { before: TermsSnapshot::of(&before, &settings), after: TermsSnapshot::of(&after, &settings) };
            let change_time =
                repo::add_history(tx, tenant_id, change.account_id, &kept, &change.reason, &caller.subject).await?;
            let (before, after) = (terms_to_proto(&before, &settings), terms_to_proto(&after, &settings));
            let changed = CreditTermsChange {
                before: Some(before),
                after: Some(after.clone()),
                reason: change.reason,
                actor: caller.subject.clone(),
                change_time: Some(timestamp(change_time)),
            };
            let event = Payload::CreditTermsChanged(CreditTermsChanged { change: Some(changed) });
            publish(tx, tenant_id, &caller.subject, event).await?;
            Ok(respond(after))
        })
        .await
    }

    /// The changes of an account's terms, newest first, before `before`,
    /// at most `limit`, and the account's currency.
    pub async fn terms_history(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        account_id: Uuid,
        (before, limit): (Option<Uuid>, i64),
    ) -> Result<(Vec<HistoryRow>, Currency), CreditError> {
        let (account, _) = self.account(caller, tenant_id, account_id).await?;
        let mut connection = self.db.acquire().await?;
        Ok((repo::history(&mut connection, tenant_id, account_id, before, limit).await?, account.currency))
    }

    /// The due date of an invoice of the account under its payment terms,
    /// and those terms.
    pub async fn due_date(
        &self,
        caller: &Caller,
        tenant_id: Uuid,
        query: DueDateQuery,
    ) -> Result<(NaiveDate, PaymentTerms), CreditError> {
        let (account, settings) = self.account(caller, tenant_id, query.account_id).await?;
        let terms = account.terms.payment_terms;
        Ok((terms.due_date(query.invoice_date, query.delivery_date, account.terms.period_days(&settings)), terms))
    }

    /// The due date of each invoice, in order, for many accounts at once
    /// (a billing run's batch): an account credit has not met has the
    /// tenant's default period and no payment terms.
    pub async fn due_dates(
        &self,
        tenant_id: Uuid,
        queries: &[DueDateQuery],
    ) -> Result<Vec<(NaiveDate, PaymentTerms)>, CreditError> {
        let ids: Vec<Uuid> = queries.iter().map(|query| query.account_id).collect();
        let mut connection = self.db.acquire().await?;
        let settings = repo::settings(&mut connection, tenant_id).await?;
        let known: HashMap<Uuid, CreditAccount> = repo::accounts(&mut connection, tenant_id, &ids)
            .await?
            .into_iter()
            .map(|account| (account.account_id, account))
            .collect();
        Ok(queries
            .iter()
            .map(|query| {
                let (terms, period) = known
                    .get(&query.account_id)
                    .map_or((PaymentTerms::NotSpecified, settings.default_period_days), |account| {
                        (account.terms.payment_terms, account.terms.period_days(&settings))
                    });
                (terms.due_date(query.invoice_date, query.delivery_date, period), terms)
            })
            .collect())
    }
}
