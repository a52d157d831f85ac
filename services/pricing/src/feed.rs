//! The accounts event stream, applied to pricing's read model of accounts:
//! each account's currency and sales rep, and group memberships. Once an
//! event commits, this replica forgets what it held of the accounts in
//! memory (other replicas hear of it by notification).

use std::sync::Arc;

use bss_platform::events::{HandlerError, Source, Subscription, parse_id as id};
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::{Account, AccountEvent, ChangeKind};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::books::Books;
use crate::repo;

/// Accounts' stream, read with pricing's own identity.
pub struct AccountsFeed {
    pub source: Source,
    pub books: Arc<Books>,
}

async fn record(tx: &mut PgConnection, tenant_id: Uuid, account: Option<&Account>) -> Result<(), HandlerError> {
    let account = account.ok_or_else(|| HandlerError::DeadLetter("an account event without the account".to_owned()))?;
    repo::accounts::upsert(tx, tenant_id, id(&account.id)?, &account.currency_code, &account.sales_rep_id).await?;
    Ok(())
}

impl Subscription for AccountsFeed {
    type Event = AccountEvent;

    fn stream_name(&self) -> &str {
        "accounts"
    }

    fn source(&self) -> &Source {
        &self.source
    }

    type Prepared = ();

    async fn prepare(&self, _: &AccountEvent) -> Result<(), HandlerError> {
        Ok(())
    }

    async fn apply(&self, tx: &mut PgConnection, event: &AccountEvent, (): ()) -> Result<(), HandlerError> {
        let tenant_id = id(&event.tenant_id)?;
        match &event.payload {
            Some(Payload::AccountCreated(created)) => record(tx, tenant_id, created.account.as_ref()).await,
            Some(Payload::AccountUpdated(updated)) => record(tx, tenant_id, updated.account.as_ref()).await,
            Some(Payload::AccountDeleted(deleted)) => {
                let account = deleted.account.as_ref().map(|account| account.id.as_str()).unwrap_or_default();
                Ok(repo::accounts::delete(tx, tenant_id, id(account)?).await?)
            }
            Some(Payload::GroupMembershipChanged(change)) => {
                let member = id(&change.member_account_id)?;
                let parent = match ChangeKind::try_from(change.kind) {
                    Ok(ChangeKind::Deleted) => None,
                    _ => Some(id(&change.parent_account_id)?),
                };
                Ok(repo::accounts::set_membership(tx, tenant_id, member, parent).await?)
            }
            _ => Ok(()),
        }
    }

    /// Forgets the account the event changed (a member's parent is the
    /// member's fact); a deleted account's members left its group too, so
    /// then every account of the tenant.
    fn committed(&self, event: &AccountEvent) {
        let Ok(tenant_id) = id(&event.tenant_id) else { return };
        let changed = match &event.payload {
            Some(Payload::AccountCreated(created)) => created.account.as_ref().map(|account| &account.id),
            Some(Payload::AccountUpdated(updated)) => updated.account.as_ref().map(|account| &account.id),
            Some(Payload::GroupMembershipChanged(change)) => Some(&change.member_account_id),
            Some(Payload::AccountDeleted(_)) => return self.books.forget_tenant_accounts(tenant_id),
            _ => return,
        };
        match changed.map(|account| id(account)) {
            Some(Ok(account_id)) => self.books.forget(tenant_id, account_id),
            _ => self.books.forget_tenant_accounts(tenant_id),
        }
    }
}
