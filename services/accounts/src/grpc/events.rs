//! AccountEventService: the accounts event stream.

use std::pin::Pin;

use bss_platform::auth;
use bss_platform::time::timestamp;
use bss_proto::accounts::account_event_service_server::AccountEventService;
use bss_proto::accounts::{AccountEvent, StreamEventsRequest, StreamEventsResponse};
use futures::Stream;
use tonic::{Request, Response, Status};

use super::{AccountsApi, READERS};

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AccountEventService for AccountsApi {
    type StreamEventsStream = EventStream;

    async fn stream_events(&self, request: Request<StreamEventsRequest>) -> Result<Response<EventStream>, Status> {
        let tenant = auth::stream_scope(&request, READERS)?;
        let after = request.into_inner().after_sequence;
        let stream = self.events.serve(after, tenant, |mut event: AccountEvent, sequence, committed| {
            event.sequence = sequence;
            event.occur_time = Some(timestamp(committed));
            StreamEventsResponse { event: Some(event) }
        });
        Ok(Response::new(stream))
    }
}
