//! Prometheus metrics: RED metrics per RPC (recorded by the server's
//! [`RpcLayer`](crate::server::RpcLayer)), the database pools, the outbox
//! backlog and each consumer's lag, served as text on a port of their own.
//!
//! The recorder is process-wide: in the one-process suite every service
//! shares it, and any of its metrics endpoints shows them all (labelled by
//! `server` and `schema`).

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

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static POOLS: Mutex<Vec<(&'static str, PgPool)>> = Mutex::new(Vec::new());

/// Installs the process-wide recorder (once; later calls are no-ops). `None`
/// when another recorder was installed first.
fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("grpc_server_handling_seconds".to_owned()), DURATION_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!("grpc_server_started_total", "RPCs started on the server.");
    metrics::describe_counter!("grpc_server_handled_total", "RPCs completed on the server, by gRPC status code.");
    metrics::describe_histogram!(
        "grpc_server_handling_seconds",
        metrics::Unit::Seconds,
        "Time from the request's arrival to the response's headers."
    );
    metrics::describe_gauge!("db_pool_connections", "Open connections of the service's pool, by state.");
    metrics::describe_gauge!("db_pool_max_connections", "Upper bound of the service's pool.");
    metrics::describe_gauge!("outbox_backlog_events", "Events committed but not yet given a stream position.");
    metrics::describe_gauge!("outbox_latest_sequence", "Position of the newest event of the service's stream.");
    metrics::describe_gauge!("consumer_position", "Position of the last event a consumer applied.");
    metrics::describe_gauge!("consumer_lag_seconds", "Age of the last event a consumer applied, when it applied it.");
    metrics::describe_counter!("consumer_events_total", "Events a consumer applied.");
    metrics::describe_counter!("consumer_dead_letters_total", "Events a consumer set aside as dead letters.");
    metrics::describe_counter!("tenant_calls_waited_total", "Calls that waited for their tenant's share of a server.");
    metrics::describe_counter!(
        "tenant_calls_refused_total",
        "Calls refused TENANT_BUSY: too many of their tenant's calls waited already."
    );
}

/// Makes sure the recorder is installed, so what follows is counted.
pub fn init() {
    handle();
}

/// Reports `pool` (of `schema`) on every scrape: its connections and the
/// outbox backlog of the schema.
pub fn register_pool(schema: &'static str, pool: &PgPool) {
    init();
    if let Ok(mut pools) = POOLS.lock() {
        pools.retain(|(_, pool)| !pool.is_closed());
        pools.push((schema, pool.clone()));
    }
}

/// One finished call: its method, status code and duration.
pub(crate) fn record_call(server: &'static str, service: &str, method: &str, code: tonic::Code, elapsed: Duration) {
    let labels =
        [("server", server.to_owned()), ("grpc_service", service.to_owned()), ("grpc_method", method.to_owned())];
    counter!("grpc_server_started_total", &labels).increment(1);
    let mut with_code = labels.to_vec();
    with_code.push(("grpc_code", code_name(code).to_owned()));
    counter!("grpc_server_handled_total", &with_code).increment(1);
    histogram!("grpc_server_handling_seconds", &labels).record(elapsed.as_secs_f64());
}

/// A status code's name as gRPC's own Prometheus middlewares spell it.
fn code_name(code: tonic::Code) -> &'static str {
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

/// One event a consumer applied (or set aside).
pub(crate) fn record_consumed(
    schema: &str,
    stream: &str,
    sequence: i64,
    occurred: Option<SystemTime>,
    dead_letter: bool,
) {
    let labels = [("schema", schema.to_owned()), ("stream", stream.to_owned())];
    gauge!("consumer_position", &labels).set(sequence as f64);
    counter!("consumer_events_total", &labels).increment(1);
    if dead_letter {
        counter!("consumer_dead_letters_total", &labels).increment(1);
    }
    if let Some(lag) = occurred.and_then(|occurred| SystemTime::now().duration_since(occurred).ok()) {
        gauge!("consumer_lag_seconds", &labels).set(lag.as_secs_f64());
    }
}

/// Reads the pools' gauges and the outboxes' backlogs.
async fn collect() {
    let pools: Vec<(&'static str, PgPool)> = match POOLS.lock() {
        Ok(pools) => pools.iter().filter(|(_, pool)| !pool.is_closed()).cloned().collect(),
        Err(_) => return,
    };
    for (schema, pool) in pools {
        let idle = pool.num_idle() as u32;
        let in_use = pool.size().saturating_sub(idle);
        gauge!("db_pool_connections", "schema" => schema, "state" => "idle").set(f64::from(idle));
        gauge!("db_pool_connections", "schema" => schema, "state" => "in_use").set(f64::from(in_use));
        gauge!("db_pool_max_connections", "schema" => schema).set(f64::from(pool.options().get_max_connections()));
        let outbox: Result<(i64, i64), sqlx::Error> = sqlx::query_as(
            "SELECT (SELECT count(*) FROM outbox WHERE sequence IS NULL),
                    (SELECT coalesce(max(sequence), 0) FROM outbox WHERE sequence IS NOT NULL)",
        )
        .fetch_one(&pool)
        .await;
        match outbox {
            Ok((backlog, latest)) => {
                gauge!("outbox_backlog_events", "schema" => schema).set(backlog as f64);
                gauge!("outbox_latest_sequence", "schema" => schema).set(latest as f64);
            }
            Err(error) => tracing::debug!(%error, schema, "outbox backlog not read"),
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
