//! The accounts event stream, applied to pricing's read model of accounts:
//! each account's currency and sales rep, and group memberships.

use bss_platform::auth::ServiceIdentity;
use bss_platform::events::{HandlerError, Subscription};
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::account_event_service_client::AccountEventServiceClient;
use bss_proto::accounts::{Account, AccountEvent, ChangeKind, StreamEventsRequest};
use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::PgConnection;
use tonic::Status;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::repo;

pub struct AccountsFeed {
    pub accounts: Channel,
    pub identity: ServiceIdentity,
}

fn id(value: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(value).map_err(|_| HandlerError::DeadLetter(format!("not an id: {value:?}")))
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

    async fn open(&self, after: i64) -> Result<BoxStream<'static, Result<AccountEvent, Status>>, Status> {
        let request = self.identity.request(StreamEventsRequest { after_sequence: after })?;
        let stream = AccountEventServiceClient::new(self.accounts.clone()).stream_events(request).await?.into_inner();
        Ok(stream.map(|message| message.map(|message| message.event.unwrap_or_default())).boxed())
    }

    fn position(&self, event: &AccountEvent) -> (i64, Uuid) {
        (event.sequence, event.tenant_id.parse().unwrap_or_default())
    }

    fn occurred(&self, event: &AccountEvent) -> Option<std::time::SystemTime> {
        bss_platform::time::system_time(event.occur_time.as_ref())
    }

    async fn apply(&self, tx: &mut PgConnection, event: &AccountEvent) -> Result<(), HandlerError> {
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
}
