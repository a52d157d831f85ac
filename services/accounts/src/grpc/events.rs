//! AccountEventService: the accounts event stream. A sales rep sees the
//! events of the accounts carrying its sales-rep id only, as every read
//! does.

use std::collections::HashMap;
use std::pin::Pin;

use bss_platform::auth;
use bss_platform::time::timestamp;
use bss_proto::accounts::account_event::Payload;
use bss_proto::accounts::account_event_service_server::AccountEventService;
use bss_proto::accounts::{AccountEvent, StreamEventsRequest, StreamEventsResponse};
use futures::{Stream, StreamExt};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{AccountsApi, READERS};

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEventsResponse, Status>> + Send>>;

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

/// Whether a sales rep limited to `rep` may see the event: its account
/// carries the rep's id (as the event shows it, else as the last event of
/// the account on this stream left it, else as the account is now).
async fn visible(
    db: &PgPool,
    tenant_id: Uuid,
    rep: &str,
    event: &AccountEvent,
    known: &mut HashMap<Uuid, Option<String>>,
) -> Result<bool, Status> {
    let Some((account_id, carried)) = concerned(event) else {
        return Ok(false);
    };
    let Ok(account_id) = account_id.parse::<Uuid>() else {
        return Ok(false);
    };
    if let Some(carried) = carried {
        // The account as this event leaves it: the events after it follow
        // its owner then (an account moved to another rep leaves this one).
        known.insert(account_id, Some(carried.to_owned()));
        return Ok(carried == rep);
    }
    if let Some(found) = known.get(&account_id) {
        return Ok(found.as_deref() == Some(rep));
    }
    let found: Option<String> =
        sqlx::query_scalar("SELECT sales_rep_id FROM accounts.accounts WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(account_id)
            .fetch_optional(db)
            .await
            .map_err(|error| Status::from(bss_platform::error::PlatformError::from(error)))?;
    let seen = found.as_deref() == Some(rep);
    known.insert(account_id, found);
    Ok(seen)
}

#[tonic::async_trait]
impl AccountEventService for AccountsApi {
    type StreamEventsStream = EventStream;

    async fn stream_events(&self, request: Request<StreamEventsRequest>) -> Result<Response<EventStream>, Status> {
        let tenant = auth::stream_scope(&request, READERS)?;
        let caller = auth::caller(&request)?;
        let after = request.into_inner().after_sequence;
        let stream = self.events.serve(after, tenant, |mut event: AccountEvent, sequence, committed| {
            event.sequence = sequence;
            event.occur_time = Some(timestamp(committed));
            StreamEventsResponse { event: Some(event) }
        });
        let (Some(rep), Some(tenant_id)) = (caller.sales_rep_limit().map(str::to_owned), tenant) else {
            return Ok(Response::new(stream));
        };
        let db = self.db.clone();
        let limited = futures::stream::unfold((stream, HashMap::new()), move |(mut stream, mut known)| {
            let (db, rep) = (db.clone(), rep.clone());
            async move {
                loop {
                    let item = stream.next().await?;
                    let keep = match &item {
                        Ok(response) => match &response.event {
                            Some(event) => visible(&db, tenant_id, &rep, event, &mut known).await,
                            None => Ok(false),
                        },
                        Err(_) => Ok(true),
                    };
                    match keep {
                        Ok(true) => return Some((item, (stream, known))),
                        Ok(false) => continue,
                        Err(status) => return Some((Err(status), (stream, known))),
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(limited)))
    }
}
