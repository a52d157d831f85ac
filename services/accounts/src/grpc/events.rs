//! AccountEventService: the accounts event stream.

use std::pin::Pin;

use bss_platform::auth;
use bss_platform::error::internal;
use bss_platform::time::timestamp;
use bss_proto::accounts::account_event_service_server::AccountEventService;
use bss_proto::accounts::{AccountEvent, StreamEventsRequest, StreamEventsResponse};
use futures::{Stream, StreamExt};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{AccountsApi, READERS};

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AccountEventService for AccountsApi {
    type StreamEventsStream = EventStream;

    async fn stream_events(&self, request: Request<StreamEventsRequest>) -> Result<Response<EventStream>, Status> {
        let tenant = auth::stream_scope(&request, READERS)?;
        let after = request.into_inner().after_sequence;
        let stream = self.events.stream(after, tenant).map(|stored| {
            let stored = stored.map_err(Status::from)?;
            let mut event = AccountEvent::decode(stored.payload.as_slice()).map_err(|error| internal(&error))?;
            event.sequence = stored.sequence;
            event.occur_time = Some(timestamp(stored.created_at));
            Ok(StreamEventsResponse { event: Some(event) })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
