//! CreditEventService: the credit event stream.

use std::pin::Pin;

use bss_platform::auth;
use bss_platform::error::internal;
use bss_platform::time::timestamp;
use bss_proto::credit::credit_event_service_server::CreditEventService;
use bss_proto::credit::{CreditEvent, StreamEventsRequest, StreamEventsResponse};
use futures::{Stream, StreamExt};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{CreditApi, READERS};

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl CreditEventService for CreditApi {
    type StreamEventsStream = EventStream;

    async fn stream_events(&self, request: Request<StreamEventsRequest>) -> Result<Response<EventStream>, Status> {
        let tenant = auth::stream_scope(&request, READERS)?;
        let after = request.into_inner().after_sequence;
        let stream = self.events.stream(after, tenant).map(|stored| {
            let stored = stored.map_err(Status::from)?;
            let mut event = CreditEvent::decode(stored.payload.as_slice()).map_err(|error| internal(&error))?;
            event.sequence = stored.sequence;
            event.occur_time = Some(timestamp(stored.created_at));
            Ok(StreamEventsResponse { event: Some(event) })
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
