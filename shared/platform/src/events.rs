//! Events between services: the transactional outbox of a publishing
//! service, the gapless sequence its consumers follow, the `StreamEvents`
//! streams, and the consumer side.
//!
//! - A change and its event are written in one transaction ([`publish`]),
//!   in the envelope every stream shares ([`Envelope`]).
//! - One sequencer per schema (an advisory lock makes it one across
//!   replicas) numbers committed events 1, 2, 3, ... in batches, then
//!   notifies. A consumer that has read up to N never misses an event below
//!   N, because numbers are given only to committed rows, in order.
//! - [`EventLog::stream`] sends the backlog after a position, then waits for
//!   new numbers (notification from the sequencer, a poll as a safety net).
//! - [`run_consumer`] applies each event and moves its cursor in one
//!   transaction of the consumer's schema (several events in one, when they
//!   are already waiting): delivery is at least once, the effect exactly
//!   once. One replica consumes a stream at a time (a
//!   session advisory lock); the others wait to take over.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use prost::Message;
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{Notify, watch};
use tonic::Status;
use tracing::Instrument;
use uuid::Uuid;

use crate::error::PlatformError;
use crate::metrics;
use crate::shutdown::Shutdown;

/// Events numbered per sequencer round, and read per query by a stream.
const BATCH: i64 = 1_000;
/// Most events a consumer applies in one transaction, when they are
/// already waiting (a backlog, a burst): one commit and one cursor move for
/// all of them in place of one each.
const CONSUMER_BATCH: usize = 256;
/// Most events of a batch a consumer prepares at once (see
/// [`Subscription::prepare_key`]).
const PREPARE_CONCURRENCY: usize = 8;
/// How often an idle sequencer looks for events written by other replicas.
const SEQUENCER_POLL: Duration = Duration::from_millis(50);
/// How often the latest number is re-read, in case a notification was lost.
const REFRESH: Duration = Duration::from_secs(1);
/// Longest pause of an interrupted consumer before it tries again: a
/// consumer resumes within this of its source and database being back.
pub const CONSUMER_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// An event as stored in the outbox.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub sequence: i64,
    pub tenant_id: Uuid,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

pub use bss_proto::envelope::{Envelope, Made};

/// An event envelope of `tenant_id` made by `actor` now, in the current
/// trace.
pub fn made_now(tenant_id: Uuid, actor: &str) -> Made {
    Made {
        tenant_id: tenant_id.to_string(),
        occur_time: Some(crate::time::timestamp(crate::time::now())),
        actor: actor.to_owned(),
        traceparent: crate::telemetry::current_traceparent(),
    }
}

/// The event of `payload`, made by `actor` now in the current trace.
pub fn event<E: Envelope>(tenant_id: Uuid, actor: &str, payload: E::Payload) -> E {
    E::wrap(&made_now(tenant_id, actor), payload)
}

/// Writes events of `tenant_id` made by `actor`, in order, in the caller's
/// transaction: they are published exactly when the change they describe
/// commits, each with the trace context of the request that made it.
pub async fn publish<E: Envelope>(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    actor: &str,
    payloads: impl IntoIterator<Item = E::Payload>,
) -> Result<(), PlatformError> {
    let made = made_now(tenant_id, actor);
    let events: Vec<(&str, Vec<u8>)> = payloads
        .into_iter()
        .map(|payload| {
            let event = E::wrap(&made, payload);
            (event.event_type(), event.encode_to_vec())
        })
        .collect();
    publish_all(connection, tenant_id, &events).await
}

/// Writes events (type, encoded payload) in the caller's transaction, in
/// one statement, in the given order.
pub async fn publish_all(
    connection: &mut PgConnection,
    tenant_id: Uuid,
    events: &[(&str, Vec<u8>)],
) -> Result<(), PlatformError> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO outbox (tenant_id, event_type, payload)
         SELECT $1, event_type, payload FROM unnest($2::text[], $3::bytea[]) WITH ORDINALITY AS e(event_type, payload, n)
         ORDER BY n",
    )
    .bind(tenant_id)
    .bind(events.iter().map(|(event_type, _)| *event_type).collect::<Vec<_>>())
    .bind(events.iter().map(|(_, payload)| payload.as_slice()).collect::<Vec<_>>())
    .execute(connection)
    .await?;
    Ok(())
}

/// The event log of one service schema: numbers committed events and
/// streams them.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    schema: String,
    channel: String,
    latest: watch::Sender<i64>,
    written: Notify,
    shutdown: Shutdown,
}

impl EventLog {
    /// Starts the sequencer and the notification listener of the pool's
    /// schema.
    pub async fn start(pool: PgPool, shutdown: Shutdown) -> Result<EventLog, sqlx::Error> {
        // Read on a connection of its own, as the migrations ran: the
        // pool's acquire timeout is sized for calls, not for a start on a
        // busy database.
        let mut connection = PgConnection::connect_with(&pool.connect_options()).await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(&mut connection).await?;
        // At 0 from the start, so the first unreadable event is an increase.
        metrics::unreadable_events_counted(&schema);
        let latest = latest_sequence(&mut connection).await?;
        connection.close().await?;
        let log = EventLog {
            inner: Arc::new(Inner {
                pool,
                channel: format!("{schema}_events"),
                schema,
                latest: watch::channel(latest).0,
                written: Notify::new(),
                shutdown,
            }),
        };
        tokio::spawn(log.clone().sequence_forever());
        tokio::spawn(log.clone().listen_forever());
        Ok(log)
    }

    /// Tells the sequencer that events were just committed, so it numbers
    /// them now rather than at its next poll.
    pub fn written(&self) {
        self.inner.written.notify_one();
    }

    /// The highest number given so far.
    pub fn latest(&self) -> i64 {
        *self.inner.latest.borrow()
    }

    /// [`EventLog::stream`] as the messages of a `StreamEvents` RPC: each
    /// stored payload decoded as `E`, then `respond` given it with its
    /// sequence and commit time to make the message sent.
    ///
    /// A stored event that does not decode (only SQL written outside the
    /// service can store one) is sent with its tenant and no payload, as
    /// consumers receive a kind they do not know, and logged and counted
    /// here: one such row must not stop every consumer of every tenant at
    /// its position. The row stays in the outbox as it is.
    pub fn serve<E, R>(
        &self,
        after: i64,
        tenant: Option<Uuid>,
        respond: impl Fn(E, i64, DateTime<Utc>) -> R + Send + Sync + 'static,
    ) -> BoxStream<'static, Result<R, Status>>
    where
        E: Envelope + 'static,
        R: Send + 'static,
    {
        let schema = self.inner.schema.clone();
        self.stream(after, tenant)
            .map(move |stored| {
                let stored = stored.map_err(Status::from)?;
                let event = E::decode(stored.payload.as_slice()).unwrap_or_else(|error| {
                    tracing::error!(
                        %schema, sequence = stored.sequence, event_type = %stored.event_type, %error,
                        "an outbox event does not decode; sent without its payload"
                    );
                    metrics::unreadable_event_sent(&schema);
                    E::bare(&Made { tenant_id: stored.tenant_id.to_string(), ..Made::default() })
                });
                Ok(respond(event, stored.sequence, stored.created_at))
            })
            .boxed()
    }

    /// Every event after `after` (of `tenant` only, when given), then each
    /// new one, until the process shuts down.
    pub fn stream(
        &self,
        after: i64,
        tenant: Option<Uuid>,
    ) -> impl futures::Stream<Item = Result<StoredEvent, PlatformError>> + Send + 'static {
        let pool = self.inner.pool.clone();
        let mut latest = self.inner.latest.subscribe();
        let shutdown = self.inner.shutdown.clone();
        async_stream::try_stream! {
            let mut cursor = after.max(0);
            loop {
                let high = *latest.borrow_and_update();
                if high > cursor {
                    let batch = read(&pool, cursor, high, tenant).await?;
                    let full = batch.len() as i64 == BATCH;
                    let last = batch.last().map(|event| event.sequence);
                    for event in batch {
                        yield event;
                    }
                    cursor = if full { last.unwrap_or(high) } else { high };
                    if full {
                        continue;
                    }
                }
                tokio::select! {
                    changed = latest.changed() => if changed.is_err() { break },
                    _ = shutdown.wait() => break,
                }
            }
        }
    }

    async fn sequence_forever(self) {
        let inner = &self.inner;
        loop {
            tokio::select! {
                _ = inner.shutdown.wait() => return,
                _ = inner.written.notified() => {}
                _ = tokio::time::sleep(SEQUENCER_POLL) => {}
            }
            loop {
                match self.sequence_batch().await {
                    Ok(numbered) if numbered == BATCH => continue,
                    Ok(_) => break,
                    Err(error) => {
                        tracing::warn!(%error, "numbering outbox events failed; retrying");
                        tokio::time::sleep(REFRESH).await;
                        break;
                    }
                }
            }
        }
    }

    /// Numbers up to one batch of committed events, in insertion order,
    /// after the highest number given so far.
    async fn sequence_batch(&self) -> Result<i64, sqlx::Error> {
        let pool = &self.inner.pool;
        let pending: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM outbox WHERE sequence IS NULL)").fetch_one(pool).await?;
        if !pending {
            return Ok(0);
        }
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || ':outbox-sequencer', 0))")
            .execute(&mut *tx)
            .await?;
        let numbered: Vec<i64> = sqlx::query_scalar(
            "WITH next AS (
                SELECT id, row_number() OVER (ORDER BY id) AS position
                FROM outbox WHERE sequence IS NULL ORDER BY id LIMIT $1
             ), top AS (
                SELECT coalesce(max(sequence), 0) AS value FROM outbox WHERE sequence IS NOT NULL
             )
             UPDATE outbox SET sequence = top.value + next.position
             FROM next, top WHERE outbox.id = next.id
             RETURNING outbox.sequence",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let highest = numbered.iter().copied().max();
        if let Some(highest) = highest {
            sqlx::query("SELECT pg_notify(current_schema() || '_events', $1)")
                .bind(highest.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if let Some(highest) = highest {
            self.advance(highest);
        }
        Ok(numbered.len() as i64)
    }

    fn advance(&self, sequence: i64) {
        self.inner.latest.send_if_modified(|latest| {
            let newer = sequence > *latest;
            if newer {
                *latest = sequence;
            }
            newer
        });
    }

    /// Follows the sequencer's notifications (from every replica), and
    /// re-reads the latest number now and then in case one was lost.
    async fn listen_forever(self) {
        let inner = &self.inner;
        loop {
            let mut listener = match PgListener::connect_with(&inner.pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "event listener cannot connect; retrying");
                    tokio::select! {
                        _ = inner.shutdown.wait() => return,
                        _ = tokio::time::sleep(REFRESH) => continue,
                    }
                }
            };
            if let Err(error) = listener.listen(&inner.channel).await {
                tracing::warn!(%error, "event listener cannot listen; retrying");
                continue;
            }
            loop {
                tokio::select! {
                    _ = inner.shutdown.wait() => return,
                    notification = listener.recv() => match notification {
                        Ok(notification) => {
                            if let Ok(sequence) = notification.payload().parse() {
                                self.advance(sequence);
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "event listener lost its connection; reconnecting");
                            break;
                        }
                    },
                    _ = tokio::time::sleep(REFRESH) => {
                        if let Ok(sequence) = latest_sequence(&inner.pool).await {
                            self.advance(sequence);
                        }
                    }
                }
            }
        }
    }
}

async fn latest_sequence<'c>(executor: impl sqlx::PgExecutor<'c>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT coalesce(max(sequence), 0) FROM outbox WHERE sequence IS NOT NULL")
        .fetch_one(executor)
        .await
}

#[derive(sqlx::FromRow)]
struct EventRow {
    sequence: i64,
    tenant_id: Uuid,
    event_type: String,
    payload: Vec<u8>,
    created_at: DateTime<Utc>,
}

/// Up to a batch of the events numbered after `after` up to `up_to`, of
/// `tenant` only when given: two statements, so a tenant's read is always
/// planned on its own index (a prepared statement's generic plan would not
/// use it for `$3 IS NULL OR tenant_id = $3`).
async fn read(pool: &PgPool, after: i64, up_to: i64, tenant: Option<Uuid>) -> Result<Vec<StoredEvent>, PlatformError> {
    let sql = match tenant {
        None => {
            "SELECT sequence, tenant_id, event_type, payload, created_at FROM outbox
             WHERE sequence > $1 AND sequence <= $2 ORDER BY sequence LIMIT $3"
        }
        Some(_) => {
            "SELECT sequence, tenant_id, event_type, payload, created_at FROM outbox
             WHERE tenant_id = $4 AND sequence > $1 AND sequence <= $2 ORDER BY sequence LIMIT $3"
        }
    };
    let mut query = sqlx::query_as(sql).bind(after).bind(up_to).bind(BATCH);
    if let Some(tenant) = tenant {
        query = query.bind(tenant);
    }
    let rows: Vec<EventRow> = query.fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|row| StoredEvent {
            sequence: row.sequence,
            tenant_id: row.tenant_id,
            event_type: row.event_type,
            payload: row.payload,
            created_at: row.created_at,
        })
        .collect())
}

/// Why an event could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Try the same event again later (a dependency is down, a conflict).
    #[error("retry: {0}")]
    Retry(String),
    /// This event can never be applied as it is: set it aside and go on.
    #[error("dead letter: {0}")]
    DeadLetter(String),
}

/// A peer's failure while an event is applied: a peer that could not answer
/// or asked to come back later (ABORTED, RESOURCE_EXHAUSTED) is retried;
/// any other refusal will not change, so the event is set aside.
impl From<crate::client::PeerError> for HandlerError {
    fn from(error: crate::client::PeerError) -> HandlerError {
        use crate::client::PeerError;
        match error {
            PeerError::Unavailable { what, cause } => HandlerError::Retry(format!("{what}: {cause}")),
            PeerError::Refused(status)
                if matches!(status.code(), tonic::Code::Aborted | tonic::Code::ResourceExhausted) =>
            {
                HandlerError::Retry(status.message().to_owned())
            }
            PeerError::Refused(status) => HandlerError::DeadLetter(format!("{:?} {}", status.code(), status.message())),
        }
    }
}

/// An id an event names; an event naming something that is not an id can
/// never apply.
pub fn parse_id(value: &str) -> Result<Uuid, HandlerError> {
    Uuid::parse_str(value).map_err(|_| HandlerError::DeadLetter(format!("not an id: {value:?}")))
}

impl From<sqlx::Error> for HandlerError {
    fn from(error: sqlx::Error) -> HandlerError {
        HandlerError::Retry(error.to_string())
    }
}

/// A stream of another service's events, and what consuming one does.
pub trait Subscription: Send + Sync + 'static {
    type Event: Streamed;

    /// Name of the stream in this schema's cursors, for example "accounts".
    fn stream_name(&self) -> &str;

    /// The service publishing the stream and the identity it is read with.
    fn source(&self) -> &Source;

    /// Whether the transaction of each event may commit without waiting
    /// for its WAL flush. Safe only when every effect of `apply` is either
    /// in that transaction or made durably elsewhere and idempotent by a
    /// request id: a server crash then loses at most the last cursor moves,
    /// and those events are applied again with the same effect.
    fn relaxed_commit(&self) -> bool {
        false
    }

    /// What [`Subscription::prepare`] learns and does outside the
    /// transaction, handed to [`Subscription::apply`]; `()` for a
    /// consumer whose work is all local.
    type Prepared: Send;

    /// The part of an event's work that calls other services, done before
    /// its transaction begins, so no transaction (nor the cursor's row
    /// lock) stays open across a remote call. It may run again for the
    /// same event (a retry, a crash before the commit): what it changes
    /// elsewhere must be idempotent (a request id derived from the event).
    /// Events already waiting are prepared together before their one
    /// transaction, so an event's `prepare` must not depend on what `apply`
    /// did for an earlier event of the stream, beyond repeating a call that
    /// is idempotent by its request id.
    fn prepare(&self, event: &Self::Event) -> impl Future<Output = Result<Self::Prepared, HandlerError>> + Send;

    /// Which waiting events may be prepared at once: those with the same
    /// key one after another, in the stream's order; those with different
    /// keys concurrently (at most [`PREPARE_CONCURRENCY`]). The default
    /// gives every event the same key, so a batch is prepared in order.
    /// A consumer whose `prepare` only touches what one key names (say,
    /// one account and its copy) returns that key, so a backlog of many
    /// keys is not worked through one remote call at a time.
    fn prepare_key(&self, _event: &Self::Event) -> String {
        String::new()
    }

    /// Applies the event inside `tx`, the transaction that also moves the
    /// cursor, with what `prepare` made of it.
    fn apply(
        &self,
        tx: &mut PgConnection,
        event: &Self::Event,
        prepared: Self::Prepared,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Called once the transaction of `apply` has committed: for what this
    /// process holds in memory of what the event changed (a cache to drop).
    fn committed(&self, _event: &Self::Event) {}
}

/// Where a consumer reads a stream: the publishing service's channel and
/// the consuming service's own identity.
#[derive(Clone)]
pub struct Source {
    pub channel: tonic::transport::Channel,
    pub identity: crate::auth::ServiceIdentity,
}

/// An event whose stream a consumer can follow.
pub trait Streamed: Envelope + Send + Sync + 'static {
    /// The stream of events after `after`, read from `source`.
    fn open(
        source: &Source,
        after: i64,
    ) -> impl Future<Output = Result<BoxStream<'static, Result<Self, Status>>, Status>> + Send;
}

macro_rules! streamed {
    ($event:ty, $module:ident :: $client:ident) => {
        impl Streamed for $event {
            async fn open(source: &Source, after: i64) -> Result<BoxStream<'static, Result<$event, Status>>, Status> {
                let request =
                    source.identity.request(bss_proto::$module::StreamEventsRequest { after_sequence: after })?;
                let stream = $client::new(source.channel.clone()).stream_events(request).await?.into_inner();
                Ok(stream.map(|message| message.map(|message| message.event.unwrap_or_default())).boxed())
            }
        }
    };
}

use bss_proto::accounts::account_event_service_client::AccountEventServiceClient;
use bss_proto::billing::billing_event_service_client::BillingEventServiceClient;
use bss_proto::credit::credit_event_service_client::CreditEventServiceClient;

streamed!(bss_proto::accounts::AccountEvent, accounts::AccountEventServiceClient);
streamed!(bss_proto::billing::BillingEvent, billing::BillingEventServiceClient);
streamed!(bss_proto::credit::CreditEvent, credit::CreditEventServiceClient);

/// A shared subscription (also applied by hand, say to retry a dead
/// letter) is one.
impl<S: Subscription> Subscription for std::sync::Arc<S> {
    type Event = S::Event;

    fn stream_name(&self) -> &str {
        (**self).stream_name()
    }

    fn source(&self) -> &Source {
        (**self).source()
    }

    fn relaxed_commit(&self) -> bool {
        (**self).relaxed_commit()
    }

    type Prepared = S::Prepared;

    fn prepare(&self, event: &Self::Event) -> impl Future<Output = Result<Self::Prepared, HandlerError>> + Send {
        (**self).prepare(event)
    }

    fn prepare_key(&self, event: &Self::Event) -> String {
        (**self).prepare_key(event)
    }

    fn apply(
        &self,
        tx: &mut PgConnection,
        event: &Self::Event,
        prepared: Self::Prepared,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        (**self).apply(tx, event, prepared)
    }

    fn committed(&self, event: &Self::Event) {
        (**self).committed(event)
    }
}

/// Consumes `subscription` until shutdown: waits to be the one consumer of
/// the stream, then applies every event after the stored cursor.
pub async fn run_consumer<S: Subscription>(pool: PgPool, subscription: S, shutdown: Shutdown) {
    let name = subscription.stream_name().to_owned();
    let mut backoff = Duration::from_millis(100);
    // Known once the consumer has reached its database.
    let mut schema = None;
    while !shutdown.is_triggered() {
        match consume_while_leader(&pool, &subscription, &shutdown, &mut backoff, &mut schema).await {
            Ok(()) => backoff = Duration::from_millis(100),
            // A standby replica: it asks again after a pause, quietly.
            Err(ConsumerError::NotLeader) => {
                tracing::debug!(stream = %name, "another replica consumes this stream; standing by");
                backoff = Duration::from_millis(100);
            }
            Err(error) => {
                tracing::warn!(stream = %name, %error, retry_in_ms = backoff.as_millis() as u64, "consumer interrupted");
                if let Some(schema) = &schema {
                    metrics::consumer_step(schema, &name, metrics::Step::Interrupted);
                }
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(CONSUMER_MAX_BACKOFF);
            }
        }
    }
    if let Some(schema) = &schema {
        metrics::consumer_stopped(schema, &name);
    }
}

#[derive(Debug, thiserror::Error)]
enum ConsumerError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("source stream: {0}")]
    Source(#[from] Status),
    #[error("applying event {sequence}: {reason}")]
    Apply { sequence: i64, reason: String },
    #[error("another replica consumes this stream")]
    NotLeader,
}

/// `backoff` goes back to its start once an event is applied again, so a
/// consumer that recovered waits little after its next interruption (and
/// one whose source fails right after opening keeps backing off).
async fn consume_while_leader<S: Subscription>(
    pool: &PgPool,
    subscription: &S,
    shutdown: &Shutdown,
    backoff: &mut Duration,
    known_schema: &mut Option<String>,
) -> Result<(), ConsumerError> {
    let name = subscription.stream_name();
    // The session lock lives as long as this dedicated connection.
    let mut leadership = PgConnection::connect_with(&pool.connect_options()).await?;
    let leader: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended(current_schema() || ':consumer:' || $1, 0))")
            .bind(name)
            .fetch_one(&mut leadership)
            .await?;
    if !leader {
        // The leader, in another replica, reports the lag.
        if let Some(schema) = known_schema.as_deref() {
            metrics::consumer_stopped(schema, name);
        }
        tokio::select! {
            _ = shutdown.wait() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(2)) => return Err(ConsumerError::NotLeader),
        }
    }
    let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(&mut leadership).await?;
    *known_schema = Some(schema.clone());
    let mut cursor: i64 = sqlx::query_scalar("SELECT position FROM consumer_cursors WHERE stream = $1")
        .bind(name)
        .fetch_optional(pool)
        .await?
        .unwrap_or(0);
    tracing::info!(stream = %name, cursor, "consuming");
    let mut events = S::Event::open(subscription.source(), cursor).await?;
    metrics::consumer_step(&schema, name, metrics::Step::Opened);
    loop {
        let next = tokio::select! {
            biased;
            _ = shutdown.wait() => return Ok(()),
            next = events.next() => next,
        };
        // The event that came, and those already waiting behind it; the
        // source failing or ending stops the gathering, and is reported
        // once what was gathered is applied.
        let mut batch = Vec::new();
        let mut interrupted = None;
        let mut next = Some(next);
        while let Some(arrived) = next {
            let event = match arrived {
                Some(Ok(event)) => event,
                Some(Err(status)) => {
                    interrupted = Some(ConsumerError::Source(status));
                    break;
                }
                None => {
                    interrupted = Some(ConsumerError::Source(Status::unavailable("the source stream ended")));
                    break;
                }
            };
            if event.sequence() > batch.last().map_or(cursor, |event: &S::Event| event.sequence()) {
                let occurred = crate::time::system_time(event.made().occur_time.as_ref());
                metrics::consumer_step(&schema, name, metrics::Step::Received(occurred));
                batch.push(event);
            }
            next = if batch.len() < CONSUMER_BATCH { events.next().now_or_never() } else { None };
        }
        for (sequence, dead_letter) in apply_batch(pool, subscription, &batch, shutdown).await? {
            metrics::record_consumed(&schema, name, sequence, dead_letter);
            metrics::consumer_step(&schema, name, metrics::Step::Applied);
            cursor = sequence;
        }
        if let Some(error) = interrupted {
            return Err(error);
        }
        // Stopping: an event left unapplied (its retry cut short) must not
        // be passed over by the next one.
        if shutdown.is_triggered() {
            return Ok(());
        }
        // Working again: the next interruption starts its backoff over.
        *backoff = Duration::from_millis(100);
    }
}

/// The span an event is applied in: the trace of the request that made it.
fn apply_span(stream: &str, event: &impl Envelope) -> tracing::Span {
    let span = tracing::info_span!("apply event", stream = %stream, sequence = event.sequence());
    if let Ok(traceparent) = http::HeaderValue::from_str(&event.made().traceparent) {
        let mut headers = http::HeaderMap::new();
        headers.insert("traceparent", traceparent);
        crate::telemetry::continue_trace(&span, &headers);
    }
    span
}

/// Applies `batch` (events after the cursor, in order) and moves the cursor
/// past them in one transaction: every event prepared first, then applied.
/// When that fails (an event to retry or set aside, another consumer ahead,
/// the database), nothing of it is kept and the events are applied one at a
/// time. Returns (sequence, set aside as a dead letter) of each applied,
/// in order: all of them, unless shutdown cut a retry short.
async fn apply_batch<S: Subscription>(
    pool: &PgPool,
    subscription: &S,
    batch: &[S::Event],
    shutdown: &Shutdown,
) -> Result<Vec<(i64, bool)>, ConsumerError> {
    let name = subscription.stream_name();
    if let ([first, .., last], false) = (batch, shutdown.is_triggered()) {
        let together = async {
            let prepared = prepare_all(subscription, batch).await?;
            let mut tx = pool.begin().await.ok()?;
            if subscription.relaxed_commit() {
                sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await.ok()?;
            }
            if !move_cursor(&mut tx, name, first.sequence(), last.sequence()).await.ok()? {
                return None;
            }
            for (event, prepared) in batch.iter().zip(prepared) {
                subscription.apply(&mut tx, event, prepared).instrument(apply_span(name, event)).await.ok()?;
            }
            tx.commit().await.ok()
        };
        if together.await.is_some() {
            for event in batch {
                subscription.committed(event);
            }
            return Ok(batch.iter().map(|event| (event.sequence(), false)).collect());
        }
    }
    let mut applied = Vec::with_capacity(batch.len());
    for event in batch {
        let (sequence, tenant_id) = (event.sequence(), event.made().tenant_id.parse().unwrap_or_default());
        let outcome = apply_once(pool, subscription, event, sequence, tenant_id, shutdown)
            .instrument(apply_span(name, event))
            .await?;
        let Some(dead_letter) = outcome else { break };
        applied.push((sequence, dead_letter));
    }
    Ok(applied)
}

/// Prepares every event of `batch`, by lanes of one key each (see
/// [`Subscription::prepare_key`]): in order within a lane, lanes
/// concurrently. `None` when any failed (the caller then applies the events
/// one at a time, preparing each again).
async fn prepare_all<S: Subscription>(subscription: &S, batch: &[S::Event]) -> Option<Vec<S::Prepared>> {
    let name = subscription.stream_name();
    let lanes = lanes(batch.iter().map(|event| subscription.prepare_key(event)));
    let done: Vec<_> = futures::stream::iter(lanes)
        .map(|lane| async move {
            let mut done = Vec::with_capacity(lane.len());
            for index in lane {
                let event = &batch[index];
                done.push((index, subscription.prepare(event).instrument(apply_span(name, event)).await.ok()?));
            }
            Some(done)
        })
        .buffer_unordered(PREPARE_CONCURRENCY)
        .collect()
        .await;
    let mut prepared: Vec<Option<S::Prepared>> = batch.iter().map(|_| None).collect();
    for (index, made) in done.into_iter().flatten().flatten() {
        prepared[index] = Some(made);
    }
    prepared.into_iter().collect()
}

/// The positions of `keys` grouped by key, each group in order, the groups
/// in the order their keys first appear.
fn lanes(keys: impl Iterator<Item = String>) -> Vec<Vec<usize>> {
    let mut lanes: Vec<Vec<usize>> = Vec::new();
    let mut lane_of = std::collections::HashMap::new();
    for (index, key) in keys.enumerate() {
        let lane = *lane_of.entry(key).or_insert_with(|| {
            lanes.push(Vec::new());
            lanes.len() - 1
        });
        lanes[lane].push(index);
    }
    lanes
}

/// Applies one event and moves the cursor in one transaction; retries
/// transient failures; sets aside events that can never apply
/// (`Some(true)`). `None` when shutdown came while it waited to retry: the
/// event is not applied and the cursor has not moved.
async fn apply_once<S: Subscription>(
    pool: &PgPool,
    subscription: &S,
    event: &S::Event,
    sequence: i64,
    tenant_id: Uuid,
    shutdown: &Shutdown,
) -> Result<Option<bool>, ConsumerError> {
    let name = subscription.stream_name();
    let mut backoff = Duration::from_millis(50);
    loop {
        let applied = match subscription.prepare(event).await {
            Ok(prepared) => {
                let mut tx = pool.begin().await?;
                if subscription.relaxed_commit() {
                    sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
                }
                if !move_cursor(&mut tx, name, sequence, sequence).await? {
                    // Another consumer applied it already.
                    return Ok(Some(false));
                }
                let applied = subscription.apply(&mut tx, event, prepared).await;
                if applied.is_ok() {
                    tx.commit().await?;
                    subscription.committed(event);
                }
                applied
            }
            Err(error) => Err(error),
        };
        match applied {
            Ok(()) => return Ok(Some(false)),
            Err(HandlerError::DeadLetter(reason)) => {
                tracing::error!(stream = %name, sequence, %reason, "event set aside as a dead letter");
                let mut tx = pool.begin().await?;
                if move_cursor(&mut tx, name, sequence, sequence).await? {
                    sqlx::query(
                        "INSERT INTO dead_letters (stream, sequence, tenant_id, payload, error) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (stream, sequence) DO UPDATE SET error = $5, attempts = dead_letters.attempts + 1,
                            updated_at = now()",
                    )
                    .bind(name)
                    .bind(sequence)
                    .bind(tenant_id)
                    .bind(event.encode_to_vec())
                    .bind(&reason)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                return Ok(Some(true));
            }
            Err(HandlerError::Retry(reason)) => {
                tracing::warn!(stream = %name, sequence, %reason, retry_in_ms = backoff.as_millis() as u64, "event will be retried");
                if backoff >= Duration::from_secs(30) {
                    return Err(ConsumerError::Apply { sequence, reason });
                }
                tokio::select! {
                    _ = shutdown.wait() => return Ok(None),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff *= 2;
            }
        }
    }
}

/// Moves the cursor of `stream` to `last` unless it has reached `first`
/// already (the events from `first` to `last` are applied by whoever moved
/// it); `false` when it had. The row lock it takes serializes racing
/// consumers.
async fn move_cursor(tx: &mut PgConnection, stream: &str, first: i64, last: i64) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(
        "INSERT INTO consumer_cursors (stream, position) VALUES ($1, $3)
         ON CONFLICT (stream) DO UPDATE SET position = $3, updated_at = now()
         WHERE consumer_cursors.position < $2",
    )
    .bind(stream)
    .bind(first)
    .bind(last)
    .execute(tx)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

#[cfg(test)]
mod tests {
    use super::lanes;

    fn keyed(keys: &[&str]) -> Vec<Vec<usize>> {
        lanes(keys.iter().map(|key| (*key).to_owned()))
    }

    #[test]
    fn events_of_one_key_share_a_lane_in_stream_order() {
        assert_eq!(keyed(&["a", "b", "a", "c", "b", "a"]), vec![vec![0, 2, 5], vec![1, 4], vec![3]]);
    }

    #[test]
    fn the_default_key_keeps_a_whole_batch_in_order() {
        assert_eq!(keyed(&["", "", "", ""]), vec![vec![0, 1, 2, 3]]);
        assert_eq!(keyed(&[]), Vec::<Vec<usize>>::new());
    }
}
