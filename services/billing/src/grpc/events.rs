//! BillingEventService: the billing event stream.

use std::pin::Pin;

use bss_platform::auth;
use bss_platform::time::timestamp;
use bss_proto::billing::billing_event_service_server::BillingEventService;
use bss_proto::billing::{BillingEvent, StreamEventsRequest, StreamEventsResponse};
use futures::Stream;
use tonic::{Request, Response, Status};

use super::{BillingApi, READERS};

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEventsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl BillingEventService for BillingApi {
    type StreamEventsStream = EventStream;

    async fn stream_events(&self, request: Request<StreamEventsRequest>) -> Result<Response<EventStream>, Status> {
        let tenant = auth::stream_scope(&request, READERS)?;
        let after = request.into_inner().after_sequence;
        let stream = self.events.serve(after, tenant, |mut event: BillingEvent, sequence, committed| {
            event.sequence = sequence;
            event.occur_time = Some(timestamp(committed));
            StreamEventsResponse { event: Some(event) }
        });
        Ok(Response::new(stream))
    }
}
