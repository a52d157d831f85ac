//! The gateway: the suite's one entry from outside. It authenticates the
//! caller, applies per-tenant rate limits, deadlines and message size
//! limits, and forwards every RPC of every contract to the service that
//! owns its context, unary and streaming alike. It also serves health,
//! reflection for all contracts, and gRPC-Web.

pub mod deadline;
pub mod proxy;
pub mod rate_limit;
pub mod routing;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bss_platform::auth::TokenVerifier;
use bss_platform::client;
use bss_platform::config::{self, AuthConfig, ClientTlsFiles, ServerConfig, TelemetryConfig};
use bss_platform::server::{GrpcServer, HealthWatcher, ServeError, StartupError};
use bss_platform::shutdown::Shutdown;
use serde::Deserialize;
use tokio::net::{TcpListener, TcpSocket};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::deadline::Deadlines;
use crate::proxy::Proxy;
use crate::rate_limit::{RateLimitConfig, RateLimiter};
use crate::routing::{Backend, Routes};

#[derive(Clone, Debug, Deserialize)]
pub struct GatewayConfig {
    #[serde(default = "default_listen_addr")]
    pub listen_addr: SocketAddr,
    /// Address of the Prometheus metrics endpoint (`BSS_METRICS_ADDR`,
    /// default 0.0.0.0:9090); an empty string for none.
    #[serde(default = "config::default_metrics_addr", deserialize_with = "config::optional_addr")]
    pub metrics_addr: Option<SocketAddr>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The URL of the service owning each context, for example
    /// `accounts = "http://accounts:50051"` (`BSS_BACKENDS__ACCOUNTS`).
    #[serde(default)]
    pub backends: BTreeMap<String, String>,
    /// TLS (and the gateway's client certificate) towards the backends.
    #[serde(default)]
    pub backend_tls: Option<ClientTlsFiles>,
    /// HTTP/2 connections kept to each backend, used in turn (by each
    /// thread: its calls never use another thread's connections).
    #[serde(default = "default_connections_per_backend")]
    pub connections_per_backend: usize,
    /// Threads serving calls (`BSS_THREADS`); unset: one per core the
    /// process may use (its CPU quota included).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Deadline of a call whose client sent none.
    #[serde(default = "default_deadline_ms")]
    pub default_deadline_ms: u64,
    /// Longest deadline a client may ask for.
    #[serde(default = "default_max_deadline_ms")]
    pub max_deadline_ms: u64,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Origins of web pages allowed to call through gRPC-Web.
    #[serde(default)]
    pub cors_allowed_origins: Vec<String>,
}

fn default_listen_addr() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 50050))
}
fn default_connections_per_backend() -> usize {
    4
}
fn default_deadline_ms() -> u64 {
    10_000
}
fn default_max_deadline_ms() -> u64 {
    60_000
}

impl GatewayConfig {
    /// A configuration with defaults in front of `backends`.
    pub fn new(listen_addr: SocketAddr, auth: AuthConfig, backends: BTreeMap<String, String>) -> GatewayConfig {
        GatewayConfig {
            listen_addr,
            metrics_addr: None,
            auth,
            server: ServerConfig::default(),
            telemetry: TelemetryConfig::default(),
            backends,
            backend_tls: None,
            connections_per_backend: default_connections_per_backend(),
            threads: None,
            default_deadline_ms: default_deadline_ms(),
            max_deadline_ms: default_max_deadline_ms(),
            rate_limit: RateLimitConfig::default(),
            cors_allowed_origins: Vec::new(),
        }
    }
}

pub struct App {
    server: GrpcServer,
    shutdown: Shutdown,
}

/// What every thread of a gateway shares: the token check and the rate
/// limits (a tenant's quota is one per replica, whichever thread its calls
/// reach).
#[derive(Clone)]
struct Shared {
    verifier: Arc<TokenVerifier>,
    limiter: Arc<RateLimiter>,
}

impl Shared {
    fn new(config: &GatewayConfig) -> Result<Shared, StartupError> {
        Ok(Shared {
            verifier: Arc::new(TokenVerifier::from_config(&config.auth)?),
            limiter: Arc::new(RateLimiter::new(config.rate_limit.clone())),
        })
    }
}

impl App {
    /// The gateway on one runtime (the suite's in-process gateway, tests).
    pub async fn build(config: &GatewayConfig, listener: TcpListener, shutdown: Shutdown) -> Result<App, StartupError> {
        App::on_thread(config, listener, shutdown, &Shared::new(config)?, Share::whole())
    }

    /// The gateway's part on one thread: its own listener and connections
    /// to the backends, `share` of the concurrency limits, `shared` token
    /// checks and rate limits.
    fn on_thread(
        config: &GatewayConfig,
        listener: TcpListener,
        shutdown: Shutdown,
        shared: &Shared,
        share: Share,
    ) -> Result<App, StartupError> {
        let mut backends = BTreeMap::new();
        for (context, url) in &config.backends {
            let channels = (0..config.connections_per_backend.max(1))
                .map(|_| client::channel(url, config.backend_tls.as_ref()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| StartupError::Config(format!("backend {context}: {error}")))?;
            backends.insert(context.clone(), Backend::new(channels));
        }
        let routes = Routes::new(backends);
        let watcher =
            watch_backends(routes.backends().map(|(context, backend)| (context.clone(), backend.clone())).collect());
        let proxy = Proxy::new(
            routes,
            shared.limiter.clone(),
            Deadlines {
                default: Duration::from_millis(config.default_deadline_ms),
                max: Duration::from_millis(config.max_deadline_ms),
            },
            config.server.max_message_bytes,
        );
        // No call through the gateway outlives the longest deadline it grants.
        let server_config = ServerConfig {
            request_timeout_ms: config.max_deadline_ms,
            concurrency_limit: share.of(config.server.concurrency_limit),
            tenant_concurrency_limit: config.server.tenant_concurrency_limit.map(|limit| share.of(limit)),
            ..config.server.clone()
        };
        let server = GrpcServer::new(listener, server_config, shared.verifier.clone())
            .named("gateway")
            .metrics(config.metrics_addr.filter(|_| share.index == 0))
            .fallback(proxy)
            .reflect(routing::contract_services())
            .grpc_web(config.cors_allowed_origins.clone())
            .health_watcher(watcher);
        Ok(App { server, shutdown })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }

    pub async fn run_until_stopped(self) -> Result<(), ServeError> {
        self.server.run(self.shutdown).await
    }
}

/// One thread's part of a gateway on several.
#[derive(Clone, Copy, Debug)]
struct Share {
    index: usize,
    threads: usize,
}

impl Share {
    fn whole() -> Share {
        Share { index: 0, threads: 1 }
    }

    /// This thread's part of `total` (rounded up, at least one).
    fn of(self, total: usize) -> usize {
        total.div_ceil(self.threads).max(1)
    }
}

/// A gateway on several threads, each a single-threaded runtime with a
/// listener of its own on the same address (`SO_REUSEPORT`: the kernel
/// spreads connections over them) and its own connections to the
/// backends. A call is read, forwarded and answered on the thread that
/// accepted its connection, so no call is handed between threads (on a
/// shared runtime that cost a fifth of the gateway's CPU per call: see
/// P1-cpu in the README). Each thread takes its part of the concurrency
/// limits; token checks and rate limits are shared. Any thread that stops
/// (or panics) stops the others.
pub struct Threads {
    address: SocketAddr,
    threads: Vec<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl Threads {
    /// Starts `threads` threads serving `config`; returns once each listens.
    pub fn start(config: &GatewayConfig, threads: usize, shutdown: Shutdown) -> Result<Threads, StartupError> {
        let shared = Shared::new(config)?;
        let threads = threads.max(1);
        let mut address = config.listen_addr;
        let mut started = Vec::with_capacity(threads);
        for index in 0..threads {
            let share = Share { index, threads };
            // The first thread's port (the configured one may be 0) is the
            // others'. A thread that cannot start stops those started.
            match spawn(config, &shared, share, shutdown.clone(), move || reuse_port_listener(address)) {
                Ok((thread, bound)) => {
                    started.push(thread);
                    address = bound;
                }
                Err(error) => {
                    shutdown.trigger();
                    return Err(error);
                }
            }
        }
        Ok(Threads { address, threads: started })
    }

    /// One thread serving `config` on `listener`, bound already (the
    /// suite's process binds every listener first).
    pub fn start_on(
        config: &GatewayConfig,
        listener: std::net::TcpListener,
        shutdown: Shutdown,
    ) -> Result<Threads, StartupError> {
        listener.set_nonblocking(true)?;
        let shared = Shared::new(config)?;
        let (thread, address) =
            spawn(config, &shared, Share::whole(), shutdown, move || TcpListener::from_std(listener))?;
        Ok(Threads { address, threads: vec![thread] })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Waits until every thread has stopped serving (after the shutdown).
    pub fn join(self) -> Result<(), ServeError> {
        let mut result = Ok(());
        for thread in self.threads {
            match thread.join() {
                Ok(served) => result = result.and(served),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        result
    }
}

/// A thread serving `share` of the gateway on a single-threaded runtime of
/// its own, on the listener `listen` makes on it: the thread, and the
/// address it listens on once it does.
fn spawn(
    config: &GatewayConfig,
    shared: &Shared,
    share: Share,
    shutdown: Shutdown,
    listen: impl FnOnce() -> std::io::Result<TcpListener> + Send + 'static,
) -> Result<(std::thread::JoinHandle<Result<(), ServeError>>, SocketAddr), StartupError> {
    let (config, shared) = (config.clone(), shared.clone());
    let (listening, listens) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new().name(format!("gateway-{}", share.index)).spawn(move || {
        // However this thread ends (a panic included), the others stop.
        let _stop_all = shutdown.trigger_on_drop();
        let started = (|| {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let app = {
                let _entered = runtime.enter();
                App::on_thread(&config, listen()?, shutdown.clone(), &shared, share)?
            };
            let bound = app.local_addr()?;
            Ok::<_, StartupError>((runtime, app, bound))
        })();
        let (runtime, app) = match started {
            Ok((runtime, app, bound)) => {
                let _ = listening.send(Ok(bound));
                (runtime, app)
            }
            Err(error) => {
                let _ = listening.send(Err(error));
                return Ok(());
            }
        };
        runtime.block_on(app.run_until_stopped())
    })?;
    match listens.recv() {
        Ok(Ok(bound)) => Ok((thread, bound)),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(StartupError::Config(format!("gateway thread {} stopped while starting", share.index))),
    }
}

/// A listener on `address` that other sockets of this user may share (the
/// kernel allows `SO_REUSEPORT` only between sockets of one user).
fn reuse_port_listener(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(address)?;
    socket.listen(1024)
}

/// How often the gateway asks each backend's health.
const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// Failed health checks in a row after which a backend's calls are refused.
const DOWN_AFTER: u32 = 2;

/// Keeps each context's health: every second it asks each backend's health
/// (within a second), records it on the backend (its calls are refused at
/// once while it is down: two failed checks in a row) and reports the context's services SERVING or
/// NOT_SERVING. The gateway itself stays ready: one context down leaves the
/// others served.
fn watch_backends(backends: Vec<(String, Backend)>) -> HealthWatcher {
    Arc::new(move |reporter, shutdown| {
        let backends = backends.clone();
        Box::pin(async move {
            let names: Vec<(Backend, String, Vec<String>)> = backends
                .into_iter()
                .map(|(context, backend)| (backend, context.clone(), routing::services_of(&context)))
                .collect();
            // Taken as serving (as their calls are) until asked.
            for (_, _, services) in &names {
                for service in services {
                    reporter.set_service_status(service, tonic_health::ServingStatus::Serving).await;
                }
            }
            let mut failures = vec![0_u32; names.len()];
            loop {
                // Every backend at once: a hung one delays no other's.
                let answers =
                    futures::future::join_all(names.iter().map(|(backend, ..)| backend_serving(backend.channels())))
                        .await;
                for (((backend, context, services), answered), failures) in
                    names.iter().zip(answers).zip(failures.iter_mut())
                {
                    // Down after two checks in a row (a backend that starts
                    // within them is never refused), up at its first answer.
                    *failures = if answered { 0 } else { failures.saturating_add(1) };
                    let serving = answered || *failures < DOWN_AFTER;
                    if !backend.set_serving(serving) {
                        continue;
                    }
                    if serving {
                        tracing::info!(context = %context, "backend SERVING again");
                    } else {
                        tracing::warn!(context = %context, "backend not serving: its calls are refused UNAVAILABLE");
                    }
                    let status = if serving {
                        tonic_health::ServingStatus::Serving
                    } else {
                        tonic_health::ServingStatus::NotServing
                    };
                    for service in services {
                        reporter.set_service_status(service, status).await;
                    }
                }
                tokio::select! {
                    _ = shutdown.wait() => break,
                    _ = tokio::time::sleep(HEALTH_INTERVAL) => {}
                }
            }
            for (_, _, services) in &names {
                for service in services {
                    reporter.set_service_status(service, tonic_health::ServingStatus::NotServing).await;
                }
            }
        })
    })
}

/// Whether a backend serves: any of its connections' health says SERVING
/// within a second. Each connection is pinned to one pod behind the
/// Service, so one draining or overloaded pod never takes its context down
/// while another serves.
async fn backend_serving(channels: &[Channel]) -> bool {
    let asked = channels.iter().cloned().map(|channel| async move {
        let mut health = HealthClient::new(channel);
        let mut request = tonic::Request::new(HealthCheckRequest { service: String::new() });
        request.set_timeout(Duration::from_secs(1));
        let answer = tokio::time::timeout(Duration::from_secs(1), health.check(request)).await;
        matches!(answer, Ok(Ok(response)) if response.get_ref().status == ServingStatus::Serving as i32)
    });
    futures::future::join_all(asked).await.into_iter().any(|serving| serving)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_takes_its_part_of_a_limit_rounded_up() {
        let second_of_two = Share { index: 1, threads: 2 };
        assert_eq!(second_of_two.of(1_024), 512);
        assert_eq!(second_of_two.of(5), 3, "rounded up: no call refused that one thread would take");
        assert_eq!(second_of_two.of(1), 1, "at least one");
        assert_eq!(Share::whole().of(4), 4);
    }
}
