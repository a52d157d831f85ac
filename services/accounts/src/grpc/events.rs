//! AccountEventService: the accounts event stream, a sales rep's limited
//! to what its `app::events::RepView` lets it see.

use std::pin::Pin;

use bss_platform::auth;
use bss_platform::time::timestamp;
use bss_proto::accounts::account_event_service_server::AccountEventService;
use bss_proto::accounts::{AccountEvent, StreamEventsRequest, StreamEventsResponse};
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::{AccountsApi, READERS};

type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEventsResponse, Status>> + Send>>;

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
        let limited =
            futures::stream::unfold((stream, self.rep_view(tenant_id, rep)), |(mut stream, mut view)| async move {
                loop {
                    let item = stream.next().await?;
                    let keep = match &item {
                        Ok(response) => match &response.event {
                            Some(event) => view.sees(event).await.map_err(Status::from),
                            None => Ok(false),
                        },
                        Err(_) => Ok(true),
                    };
                    match keep {
                        Ok(true) => return Some((item, (stream, view))),
                        Ok(false) => continue,
                        Err(status) => return Some((Err(status), (stream, view))),
                    }
                }
            });
        Ok(Response::new(Box::pin(limited)))
    }
}
