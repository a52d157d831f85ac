//! The billing context, in the `billing` schema. This first part serves
//! billing's event stream (`bss.billing.v1.BillingEventService`) from its
//! outbox: the transactions billing posts, which credit applies to each
//! account's balance. Orders, subscriptions, invoices, payments and periods
//! build on it.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bss_platform::auth::{self, Role, TokenVerifier};
use bss_platform::config::PlatformConfig;
use bss_platform::db;
use bss_platform::events::EventLog;
use bss_platform::server::{GrpcServer, ServeError, StartupError};
use bss_platform::shutdown::Shutdown;
use bss_platform::time::timestamp;
use bss_proto::billing::billing_event_service_server::{BillingEventService, BillingEventServiceServer};
use bss_proto::billing::{BillingEvent, StreamEventsRequest, StreamEventsResponse};
use futures::Stream;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

/// The Postgres schema this service owns.
pub const SCHEMA: &str = "billing";

/// Roles that may read billing.
pub const READERS: &[Role] =
    &[Role::TenantAdmin, Role::BillingClerk, Role::CreditManager, Role::AccountManager, Role::Integration];

pub struct BillingApi {
    events: EventLog,
}

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

/// The billing service, connected, migrated and bound; `run_until_stopped`
/// serves it.
pub struct App {
    server: GrpcServer,
    shutdown: Shutdown,
    db: PgPool,
    events: EventLog,
}

impl App {
    pub async fn build(
        config: &PlatformConfig,
        listener: TcpListener,
        shutdown: Shutdown,
    ) -> Result<App, StartupError> {
        let db = db::connect(&config.database, SCHEMA, "bss-billing").await?;
        db::migrate(&db, SCHEMA, sqlx::migrate!("./migrations")).await?;
        let verifier = Arc::new(TokenVerifier::from_config(&config.auth)?);
        let events = EventLog::start(db.clone(), shutdown.clone()).await?;
        let api = Arc::new(BillingApi { events: events.clone() });
        let limit = config.server.max_message_bytes;
        let server = GrpcServer::new(listener, config.server.clone(), verifier)
            .add_service(
                BillingEventServiceServer::from_arc(api)
                    .max_decoding_message_size(limit)
                    .max_encoding_message_size(limit),
            )
            .readiness(db::readiness(db.clone()));
        Ok(App { server, shutdown, db, events })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }

    /// The service's pool.
    pub fn db(&self) -> &PgPool {
        &self.db
    }

    /// The service's event log: a transaction that publishes calls
    /// `written()` after it commits.
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    pub async fn run_until_stopped(self) -> Result<(), ServeError> {
        self.server.run(self.shutdown).await
    }
}
