//! The accounts event stream as a sales representative sees it: the events
//! of the accounts carrying its sales-rep id only, as every read does.

use std::collections::HashMap;

use bss_proto::accounts::AccountEvent;
use bss_proto::accounts::account_event::Payload;
use sqlx::PgPool;
use uuid::Uuid;

use super::Accounts;
use crate::domain::error::AccountsError;
use crate::repo;

/// The account an event is about, with its sales-rep id when the event
/// carries the account itself.
fn concerned(event: &AccountEvent) -> Option<(&str, Option<&str>)> {
    Some(match event.payload.as_ref()? {
        Payload::AccountCreated(created) => {
            let account = created.account.as_ref()?;
            (account.id.as_str(), Some(account.sales_rep_id.as_str()))
        }
        Payload::AccountUpdated(updated) => {
            let account = updated.account.as_ref()?;
            (account.id.as_str(), Some(account.sales_rep_id.as_str()))
        }
        Payload::AccountDeleted(deleted) => {
            let account = deleted.account.as_ref()?;
            (account.id.as_str(), Some(account.sales_rep_id.as_str()))
        }
        Payload::AccountStatusChanged(changed) => (changed.account_id.as_str(), None),
        Payload::ContactChanged(changed) => (changed.contact.as_ref()?.account_id.as_str(), None),
        Payload::AddressChanged(changed) => (changed.address.as_ref()?.account_id.as_str(), None),
        Payload::GroupMembershipChanged(changed) => (changed.member_account_id.as_str(), None),
        Payload::UserAssigned(assigned) => (assigned.user.as_ref()?.account_id.as_str(), None),
    })
}

/// What one sales representative's stream of a tenant has learnt of the
/// accounts' owners so far.
pub struct RepView {
    db: PgPool,
    tenant_id: Uuid,
    rep: String,
    known: HashMap<Uuid, Option<String>>,
}

impl Accounts {
    /// The view of the stream of `tenant_id` a sales representative
    /// limited to `rep` has.
    pub fn rep_view(&self, tenant_id: Uuid, rep: String) -> RepView {
        RepView { db: self.db.clone(), tenant_id, rep, known: HashMap::new() }
    }
}

impl RepView {
    /// Whether the rep may see the event: its account carries the rep's id
    /// (as the event shows it, else as the last event of the account on
    /// this stream left it, else as the account is now).
    pub async fn sees(&mut self, event: &AccountEvent) -> Result<bool, AccountsError> {
        let Some((account_id, carried)) = concerned(event) else {
            return Ok(false);
        };
        let Ok(account_id) = account_id.parse::<Uuid>() else {
            return Ok(false);
        };
        if let Some(carried) = carried {
            // The account as this event leaves it: the events after it follow
            // its owner then (an account moved to another rep leaves this one).
            self.known.insert(account_id, Some(carried.to_owned()));
            return Ok(carried == self.rep);
        }
        if let Some(found) = self.known.get(&account_id) {
            return Ok(found.as_deref() == Some(self.rep.as_str()));
        }
        let found = repo::accounts::sales_rep_of(&self.db, self.tenant_id, account_id).await?;
        let seen = found.as_deref() == Some(self.rep.as_str());
        self.known.insert(account_id, found);
        Ok(seen)
    }
}
