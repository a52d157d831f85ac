//! Prometheus metrics, every one of them named `bss_*` (the standard
//! `process_*` excepted): RED metrics per RPC (recorded by the server's
//! [`CallRecord`](crate::access::CallRecord) when a call ends), the
//! database pools, the outbox backlog, each consumer's position and lag,
//! the process (CPU, memory, file descriptors, threads) and the build.
//!
//! The recorder is process-wide: in the one-process suite every service
//! shares it, and any of its metrics endpoints shows them all (labelled by
//! `server` and `schema`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::get;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::shutdown::Shutdown;

/// Buckets of the call duration histogram, in seconds.
const DURATION_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// How often the histograms' recorded samples are folded into their
/// buckets. The recorder holds every sample until then (a scrape folds
/// them too): without this, a process nobody scrapes grew by about 20
/// bytes per call, without bound.
const UPKEEP: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static POOLS: Mutex<Vec<(&'static str, String, PgPool)>> = Mutex::new(Vec::new());
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();
/// Each running consumer's standing, by (schema, stream).
static CONSUMERS: Mutex<Option<HashMap<(String, String), Standing>>> = Mutex::new(None);

/// Installs the process-wide recorder (once; later calls are no-ops). `None`
/// when another recorder was installed first.
fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("bss_grpc_server_handling_seconds".to_owned()), DURATION_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            let upkeep = handle.clone();
            let folding = std::thread::Builder::new().name("metrics-upkeep".to_owned()).spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP);
                    upkeep.run_upkeep();
                }
            });
            if let Err(error) = folding {
                tracing::warn!(%error, "no metrics upkeep thread: histogram samples are folded only when scraped");
            }
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!("bss_grpc_server_started_total", "RPCs started on the server.");
    metrics::describe_counter!(
        "bss_grpc_server_handled_total",
        "RPCs ended on the server, by gRPC status code (a stream when it closes)."
    );
    metrics::describe_histogram!(
        "bss_grpc_server_handling_seconds",
        metrics::Unit::Seconds,
        "Time from the request's arrival to the call's end (its trailers, or its cancellation)."
    );
    metrics::describe_gauge!(
        "bss_db_pool_connections",
        "Open connections of a service's pool (schema, pool: its application name), by state."
    );
    metrics::describe_gauge!("bss_db_pool_max_connections", "Upper bound of the service's pool.");
    metrics::describe_gauge!("bss_outbox_backlog_events", "Events committed but not yet given a stream position.");
    metrics::describe_gauge!("bss_outbox_latest_sequence", "Position of the newest event of the service's stream.");
    metrics::describe_counter!(
        "bss_outbox_unreadable_sent_total",
        "Events of the schema's outbox that did not decode, sent to a stream without their payload (each time sent)."
    );
    metrics::describe_gauge!("bss_consumer_position", "Position of the last event a consumer applied.");
    metrics::describe_gauge!(
        "bss_consumer_lag_seconds",
        "How far behind its source a consumer is: the age of the event it is applying, or the time since it last \
         reached its source when it cannot; 0 when it has applied everything it was sent."
    );
    metrics::describe_gauge!("bss_consumer_connected", "1 while a consumer follows its source's stream, else 0.");
    metrics::describe_counter!("bss_consumer_events_total", "Events a consumer applied.");
    metrics::describe_counter!("bss_consumer_dead_letters_total", "Events a consumer set aside as dead letters.");
    metrics::describe_gauge!(
        "bss_dead_letters",
        "Events set aside in the schema's dead letters now (reseller_sync's: copies that failed)."
    );
    metrics::describe_counter!(
        "bss_tenant_calls_waited_total",
        "Calls that waited for their tenant's share of a server."
    );
    metrics::describe_counter!(
        "bss_tenant_calls_refused_total",
        "Calls refused TENANT_BUSY: too many of their tenant's calls waited already."
    );
    metrics::describe_gauge!("bss_build_info", "The running build: its version and commit, always 1.");
    let process = PROCESS.get_or_init(metrics_process::Collector::default);
    process.describe();
    gauge!(
        "bss_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "commit" => option_env!("BSS_GIT_COMMIT").unwrap_or("unknown")
    )
    .set(1.0);
}

/// Makes sure the recorder is installed, so what follows is counted.
pub fn init() {
    handle();
}

/// Reports `pool` (of `schema`, named `name`: its application name, so a
/// service's second pool is told from its first) on every scrape: its
/// connections and the outbox backlog of the schema.
pub fn register_pool(schema: &'static str, name: &str, pool: &PgPool) {
    init();
    if let Ok(mut pools) = POOLS.lock() {
        pools.retain(|(_, _, pool)| !pool.is_closed());
        pools.push((schema, name.to_owned(), pool.clone()));
    }
}

/// Every method of the suite's contracts, as `/package.Service/Method`.
static KNOWN_METHODS: OnceLock<std::collections::HashSet<String>> = OnceLock::new();

/// The service and method labels of a call to `path`: its own when it is a
/// method of the contracts, health or reflection; `unknown` otherwise, so
/// made-up paths (refused UNIMPLEMENTED or UNAUTHENTICATED) never grow the
/// number of series.
pub(crate) fn method_labels(path: &str) -> (&str, &str) {
    let known = KNOWN_METHODS.get_or_init(|| {
        prost_reflect::DescriptorPool::decode(bss_proto::FILE_DESCRIPTOR_SET)
            .map(|pool| {
                pool.services()
                    .flat_map(|service| {
                        service
                            .methods()
                            .map(|method| format!("/{}/{}", service.full_name(), method.name()))
                            .collect::<Vec<_>>()
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    if known.contains(path) || crate::server::is_public_path(path) {
        crate::server::split_path(path)
    } else {
        ("unknown", "unknown")
    }
}

fn call_labels(server: &'static str, service: &str, method: &str) -> [(&'static str, String); 3] {
    [("server", server.to_owned()), ("grpc_service", service.to_owned()), ("grpc_method", method.to_owned())]
}

/// A call has started.
pub(crate) fn record_started(server: &'static str, service: &str, method: &str) {
    counter!("bss_grpc_server_started_total", &call_labels(server, service, method)).increment(1);
}

/// A call has ended: its status code and duration.
pub(crate) fn record_handled(server: &'static str, service: &str, method: &str, code: tonic::Code, elapsed: Duration) {
    let labels = call_labels(server, service, method);
    histogram!("bss_grpc_server_handling_seconds", &labels).record(elapsed.as_secs_f64());
    let [server, service, method] = labels;
    let with_code = [server, service, method, ("grpc_code", code_name(code).to_owned())];
    counter!("bss_grpc_server_handled_total", &with_code).increment(1);
}

/// A status code's name as gRPC's own Prometheus middlewares spell it.
pub(crate) fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// Shows `schema`'s count of unreadable events sent, at 0 until one is.
pub(crate) fn unreadable_events_counted(schema: &str) {
    init();
    counter!("bss_outbox_unreadable_sent_total", "schema" => schema.to_owned()).increment(0);
}

/// An event of `schema`'s outbox that did not decode, sent without its
/// payload.
pub(crate) fn unreadable_event_sent(schema: &str) {
    counter!("bss_outbox_unreadable_sent_total", "schema" => schema.to_owned()).increment(1);
}

/// One event a consumer applied (or set aside).
pub(crate) fn record_consumed(schema: &str, stream: &str, sequence: i64, dead_letter: bool) {
    let labels = [("schema", schema.to_owned()), ("stream", stream.to_owned())];
    gauge!("bss_consumer_position", &labels).set(sequence as f64);
    counter!("bss_consumer_events_total", &labels).increment(1);
    if dead_letter {
        counter!("bss_consumer_dead_letters_total", &labels).increment(1);
    }
}

/// Where a consumer stands with its source, for its lag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Following its source, with everything it was sent applied.
    Current,
    /// Applying (or retrying) an event made at this time.
    Applying(SystemTime),
    /// Cut off from its source or its database since this time: what was
    /// made meanwhile waits.
    CutOff(SystemTime),
}

/// What a consumer just did.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// Opened its source's stream.
    Opened,
    /// Received an event made at this time (unknown: now).
    Received(Option<SystemTime>),
    /// Applied (or set aside) the event it received.
    Applied,
    /// Lost its source or its database.
    Interrupted,
}

impl Standing {
    /// Where a consumer that stood at `before` stands after `step`, at `now`.
    /// Being cut off dates from the earliest moment anything was left
    /// waiting, however often reconnecting fails.
    pub fn after(before: Option<Standing>, step: Step, now: SystemTime) -> Standing {
        match (before, step) {
            (_, Step::Opened | Step::Applied) => Standing::Current,
            (_, Step::Received(made)) => Standing::Applying(made.map_or(now, |made| made.min(now))),
            (Some(Standing::Applying(since) | Standing::CutOff(since)), Step::Interrupted) => Standing::CutOff(since),
            (Some(Standing::Current) | None, Step::Interrupted) => Standing::CutOff(now),
        }
    }

    /// How far behind its source a consumer standing here is at `now`.
    pub fn lag(self, now: SystemTime) -> Duration {
        match self {
            Standing::Current => Duration::ZERO,
            Standing::Applying(since) | Standing::CutOff(since) => now.duration_since(since).unwrap_or_default(),
        }
    }
}

/// The consumer of `stream` in `schema` took `step`.
pub(crate) fn consumer_step(schema: &str, stream: &str, step: Step) {
    if let Ok(mut consumers) = CONSUMERS.lock() {
        let consumers = consumers.get_or_insert_with(HashMap::new);
        let key = (schema.to_owned(), stream.to_owned());
        let standing = Standing::after(consumers.get(&key).copied(), step, SystemTime::now());
        consumers.insert(key, standing);
    }
}

/// The consumer of `stream` in `schema` stopped consuming (shut down, or
/// another replica consumes): it reports no lag of its own.
pub(crate) fn consumer_stopped(schema: &str, stream: &str) {
    if let Ok(mut consumers) = CONSUMERS.lock()
        && let Some(consumers) = consumers.as_mut()
    {
        consumers.remove(&(schema.to_owned(), stream.to_owned()));
        let labels = [("schema", schema.to_owned()), ("stream", stream.to_owned())];
        gauge!("bss_consumer_lag_seconds", &labels).set(0.0);
        gauge!("bss_consumer_connected", &labels).set(0.0);
    }
}

/// Sets each consumer's lag as of now: it grows while a consumer is stuck.
fn collect_consumers() {
    let now = SystemTime::now();
    let Ok(consumers) = CONSUMERS.lock() else { return };
    for ((schema, stream), standing) in consumers.iter().flatten() {
        let labels = [("schema", schema.clone()), ("stream", stream.clone())];
        gauge!("bss_consumer_lag_seconds", &labels).set(standing.lag(now).as_secs_f64());
        let connected = !matches!(standing, Standing::CutOff(_));
        gauge!("bss_consumer_connected", &labels).set(if connected { 1.0 } else { 0.0 });
    }
}

/// Reads the pools' gauges and the outboxes' backlogs.
async fn collect() {
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
    collect_consumers();
    let pools: Vec<(&'static str, String, PgPool)> = match POOLS.lock() {
        Ok(pools) => pools.iter().filter(|(_, _, pool)| !pool.is_closed()).cloned().collect(),
        Err(_) => return,
    };
    for (schema, name, pool) in pools {
        let idle = pool.num_idle() as u32;
        let in_use = pool.size().saturating_sub(idle);
        let labels = |state: Option<&'static str>| {
            let mut labels = vec![("schema", schema.to_owned()), ("pool", name.clone())];
            labels.extend(state.map(|state| ("state", state.to_owned())));
            labels
        };
        gauge!("bss_db_pool_connections", &labels(Some("idle"))).set(f64::from(idle));
        gauge!("bss_db_pool_connections", &labels(Some("in_use"))).set(f64::from(in_use));
        gauge!("bss_db_pool_max_connections", &labels(None)).set(f64::from(pool.options().get_max_connections()));
        let outbox: Result<(i64, i64), sqlx::Error> = sqlx::query_as(
            "SELECT (SELECT count(*) FROM outbox WHERE sequence IS NULL),
                    (SELECT coalesce(max(sequence), 0) FROM outbox WHERE sequence IS NOT NULL)",
        )
        .fetch_one(&pool)
        .await;
        match outbox {
            Ok((backlog, latest)) => {
                gauge!("bss_outbox_backlog_events", "schema" => schema).set(backlog as f64);
                gauge!("bss_outbox_latest_sequence", "schema" => schema).set(latest as f64);
            }
            Err(error) => tracing::debug!(%error, schema, "outbox backlog not read"),
        }
        let dead_letters: Result<i64, sqlx::Error> =
            sqlx::query_scalar("SELECT count(*) FROM dead_letters").fetch_one(&pool).await;
        if let Ok(count) = dead_letters {
            gauge!("bss_dead_letters", "schema" => schema).set(count as f64);
        }
    }
}

/// The metrics in Prometheus' text format.
pub async fn render() -> String {
    collect().await;
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, shutdown: Shutdown) -> std::io::Result<()> {
    init();
    let app = Router::new().route("/metrics", get(render));
    axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.wait().await }).await
}

/// Binds `address` and serves the metrics there in the background.
pub async fn spawn(address: SocketAddr, shutdown: Shutdown) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = serve(listener, shutdown).await {
            tracing::error!(%error, "metrics endpoint stopped");
        }
    });
    tracing::info!(address = %bound, "metrics at /metrics");
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + seconds)
    }

    #[test]
    fn only_the_contracts_methods_are_labels_of_their_own() {
        assert_eq!(
            method_labels("/bss.accounts.v1.AccountService/GetAccount"),
            ("bss.accounts.v1.AccountService", "GetAccount")
        );
        assert_eq!(method_labels("/grpc.health.v1.Health/Check"), ("grpc.health.v1.Health", "Check"));
        assert_eq!(method_labels("/bss.accounts.v1.AccountService/MadeUp"), ("unknown", "unknown"));
        assert_eq!(method_labels("/x/y"), ("unknown", "unknown"));
    }

    #[test]
    fn a_stuck_event_ages_until_it_applies() {
        let applying = Standing::after(Some(Standing::Current), Step::Received(Some(at(0))), at(2));
        assert_eq!(applying.lag(at(2)), Duration::from_secs(2));
        assert_eq!(applying.lag(at(60)), Duration::from_secs(60), "the lag grows while the event is retried");
        let applied = Standing::after(Some(applying), Step::Applied, at(61));
        assert_eq!(applied.lag(at(100)), Duration::ZERO);
    }

    #[test]
    fn a_consumer_cut_off_lags_from_the_first_moment_anything_waited() {
        let cut = Standing::after(Some(Standing::Current), Step::Interrupted, at(10));
        assert_eq!(cut.lag(at(15)), Duration::from_secs(5));
        let still = Standing::after(Some(cut), Step::Interrupted, at(20));
        assert_eq!(still.lag(at(30)), Duration::from_secs(20), "failing to reconnect does not reset it");
        let stuck_then_cut = Standing::after(Some(Standing::Applying(at(3))), Step::Interrupted, at(10));
        assert_eq!(stuck_then_cut.lag(at(10)), Duration::from_secs(7), "the waiting event's age carries on");
        assert_eq!(Standing::after(Some(still), Step::Opened, at(31)), Standing::Current);
    }

    #[test]
    fn an_event_dated_in_the_future_counts_from_now() {
        let skewed = Standing::after(None, Step::Received(Some(at(100))), at(50));
        assert_eq!(skewed.lag(at(50)), Duration::ZERO);
        assert_eq!(skewed.lag(at(55)), Duration::from_secs(5));
    }
}
