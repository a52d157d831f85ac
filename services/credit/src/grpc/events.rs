//! CreditEventService: the credit event stream.

use std::pin::Pin;

use bss_platform::auth;
use bss_platform::time::timestamp;
use bss_proto::credit::credit_event_service_server::CreditEventService;
use bss_proto::credit::{CreditEvent, StreamEventsRequest, StreamEventsResponse};
use futures::Stream;
use tonic::{Request, Response, Status};

use super::{CreditApi, READERS};

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl CreditEventService for CreditApi {
    type StreamEventsStream = EventStream;

    async fn stream_events(&self, request: Request<StreamEventsRequest>) -> Result<Response<EventStream>, Status> {
        let tenant = auth::stream_scope(&request, READERS)?;
        let after = request.into_inner().after_sequence;
        let stream = self.events.serve(after, tenant, |mut event: CreditEvent, sequence, committed| {
            event.sequence = sequence;
            event.occur_time = Some(timestamp(committed));
            StreamEventsResponse { event: Some(event) }
        });
        Ok(Response::new(stream))
    }
}
