//! The gRPC server every service runs: health (v1), reflection (v1 and
//! v1alpha), one span per call, request ids, caller authentication, request
//! timeout, concurrency and message size limits, connection age, and a
//! graceful shutdown that first says NOT_SERVING.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{HeaderValue, Request, Response};
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::util::option_layer;
use tower::{Layer, Service};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer, ExposeHeaders};
use tracing::Instrument;

use crate::access::{CallRecord, Observed};
use crate::auth::{ACTING_TENANT_HEADER, Caller, TokenVerifier};
use crate::config::{ServerConfig, ServerTlsFiles};
use crate::fairness::{Fairness, FairnessLayer};
use crate::shutdown::Shutdown;
use crate::telemetry;
use crate::tenancy::TenantDirectory;
use crate::text_guard::{TextGuard, TextGuardLayer};

/// Header carrying the id of one client request across every hop.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Health service name that stays SERVING while the process runs: the
/// liveness probe asks for it; readiness asks for "" (the whole server).
pub const LIVENESS_SERVICE: &str = "liveness";

/// Asks whether the service can do its work now (database reachable, ...).
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

/// Keeps the health of further service names (the gateway's per context)
/// until the server shuts down, given its health reporter.
pub type HealthWatcher = Arc<dyn Fn(HealthReporter, Shutdown) -> BoxFuture<'static, ()> + Send + Sync>;

tokio::task_local! {
    /// The request id of the call being served.
    static REQUEST_ID: String;
}

/// The request id of the call this task serves, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A service's gRPC server, bound and ready to run.
pub struct GrpcServer {
    listener: TcpListener,
    config: ServerConfig,
    routes: Routes,
    service_names: Vec<&'static str>,
    reflected_names: Vec<String>,
    verifier: Arc<TokenVerifier>,
    readiness: Option<ReadinessCheck>,
    health_watcher: Option<HealthWatcher>,
    grpc_web_origins: Option<Vec<String>>,
    metrics_addr: Option<SocketAddr>,
    name: &'static str,
    tenants: Option<Arc<dyn TenantDirectory>>,
    tenant_share: Option<usize>,
}

impl GrpcServer {
    /// A server on a listener the caller bound (the binary binds its
    /// configured address; tests and the suite bind port 0 first, so every
    /// address is known before any service is built).
    pub fn new(listener: TcpListener, config: ServerConfig, verifier: Arc<TokenVerifier>) -> GrpcServer {
        GrpcServer {
            listener,
            config,
            routes: Routes::default(),
            service_names: Vec::new(),
            reflected_names: Vec::new(),
            verifier,
            readiness: None,
            health_watcher: None,
            grpc_web_origins: None,
            metrics_addr: None,
            name: "",
            tenants: None,
            tenant_share: None,
        }
    }

    /// Calls one tenant may have in the server at once (the configured
    /// `tenant_concurrency_limit` wins; unset and not given: a quarter of
    /// the concurrency limit).
    pub fn tenant_share(mut self, calls: usize) -> GrpcServer {
        self.tenant_share = Some(calls);
        self
    }

    /// [`GrpcServer::tenants`] when there is a directory.
    pub fn tenants_if(self, directory: Option<Arc<dyn TenantDirectory>>) -> GrpcServer {
        match directory {
            Some(directory) => self.tenants(directory),
            None => self,
        }
    }

    /// Refuses calls of tenants `directory` does not know as active
    /// (unknown: TENANT_UNKNOWN, suspended: TENANT_SUSPENDED).
    pub fn tenants(mut self, directory: Arc<dyn TenantDirectory>) -> GrpcServer {
        self.tenants = Some(directory);
        self
    }

    /// The server's name in its metrics' `server` label ("accounts", ...).
    pub fn named(mut self, name: &'static str) -> GrpcServer {
        self.name = name;
        self
    }

    /// Serves Prometheus metrics on `address` (`None`: not at all) while the
    /// server runs.
    pub fn metrics(mut self, address: Option<SocketAddr>) -> GrpcServer {
        self.metrics_addr = address;
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Adds one generated service with the configured message limit each
    /// way (`max_message_bytes`); its name is served by health and
    /// reflection.
    pub fn add_service<S>(mut self, service: S) -> GrpcServer
    where
        S: Service<Request<tonic::body::Body>, Response = Response<tonic::body::Body>, Error = Infallible>
            + NamedService
            + bss_proto::limits::MessageLimits
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes = self.routes.add_service(service.limited(self.config.max_message_bytes));
        self
    }

    /// A check run at start and every few seconds; health says NOT_SERVING
    /// while it fails.
    pub fn readiness(mut self, check: ReadinessCheck) -> GrpcServer {
        self.readiness = Some(check);
        self
    }

    /// Runs `watcher` beside the server with its health reporter: it keeps
    /// the status of names the server does not own (the gateway reports
    /// each context's services as their backend answers).
    pub fn health_watcher(mut self, watcher: HealthWatcher) -> GrpcServer {
        self.health_watcher = Some(watcher);
        self
    }

    /// Serves every path no added service claims with `service` (the
    /// gateway's forwarding proxy). Callers are authenticated first.
    pub fn fallback<S>(mut self, service: S) -> GrpcServer
    where
        S: Service<Request<axum::body::Body>, Response = Response<tonic::body::Body>, Error = Infallible>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        let routes = std::mem::take(&mut self.routes);
        self.routes = Routes::from(routes.into_axum_router().fallback_service(service));
        self
    }

    /// Also lists these services in reflection (services served through the
    /// fallback).
    pub fn reflect(mut self, names: impl IntoIterator<Item = String>) -> GrpcServer {
        self.reflected_names.extend(names);
        self
    }

    /// Accepts gRPC-Web (HTTP/1.1) beside gRPC, with CORS for `origins`
    /// (none: same-origin pages only).
    pub fn grpc_web(mut self, origins: Vec<String>) -> GrpcServer {
        self.grpc_web_origins = Some(origins);
        self
    }

    /// Serves until `shutdown` triggers, then says NOT_SERVING, waits the
    /// drain delay, stops accepting, and lets calls in flight finish within
    /// the grace period.
    pub async fn run(self, shutdown: Shutdown) -> Result<(), ServeError> {
        let GrpcServer {
            listener,
            config,
            routes,
            service_names,
            reflected_names,
            verifier,
            readiness,
            health_watcher,
            grpc_web_origins,
            metrics_addr,
            name,
            tenants,
            tenant_share,
        } = self;
        let share = config.tenant_concurrency_limit.or(tenant_share).unwrap_or(config.concurrency_limit / 4);

        crate::metrics::init();
        if let Some(address) = metrics_addr {
            crate::metrics::spawn(address, shutdown.clone()).await.map_err(ServeError::Metrics)?;
        }

        let (reporter, health_service) = tonic_health::server::health_reporter();
        reporter.set_service_status(LIVENESS_SERVICE, ServingStatus::Serving).await;
        let ready = match &readiness {
            Some(check) => check().await,
            None => true,
        };
        let initial = if ready { ServingStatus::Serving } else { ServingStatus::NotServing };
        set_readiness(&reporter, &service_names, initial).await;

        let mut reflected: Vec<String> = service_names.iter().map(|name| (*name).to_owned()).collect();
        reflected.extend(reflected_names);
        let routes = routes
            .add_service(health_service)
            .add_service(reflection(&reflected).build_v1()?)
            .add_service(reflection(&reflected).build_v1alpha()?);

        if let Some(check) = readiness {
            tokio::spawn(watch_readiness(check, reporter.clone(), service_names.clone(), shutdown.clone(), ready));
        }
        if let Some(watcher) = health_watcher {
            tokio::spawn(watcher(reporter.clone(), shutdown.clone()));
        }

        let drained = Shutdown::new();
        let stop_accepting = {
            let shutdown = shutdown.clone();
            let drained = drained.clone();
            let reporter = reporter.clone();
            let drain_delay = Duration::from_millis(config.drain_delay_ms);
            async move {
                shutdown.wait().await;
                tracing::info!(drain_delay_ms = drain_delay.as_millis() as u64, "health NOT_SERVING; draining");
                set_readiness(&reporter, &service_names, ServingStatus::NotServing).await;
                tokio::time::sleep(drain_delay).await;
                drained.trigger();
            }
        };

        let fairness = Fairness::new(name, share);
        let detached = fairness.detached();
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = &config.tls {
            builder = builder.tls_config(server_tls(tls)?)?;
        }
        let grpc_web = grpc_web_origins.is_some();
        let cors = grpc_web_origins.filter(|origins| !origins.is_empty()).map(|origins| cors(&origins));
        let serve = builder
            .accept_http1(grpc_web)
            .timeout(config.request_timeout())
            .max_connection_age(Duration::from_secs(config.max_connection_age_secs))
            .layer(option_layer(cors))
            .layer(option_layer(grpc_web.then(tonic_web::GrpcWebLayer::new)))
            .layer(RpcLayer::new(verifier).named(name).tenants(tenants).timeout(config.request_timeout()))
            .layer(FairnessLayer::new(fairness))
            .layer(GlobalConcurrencyLimitLayer::new(config.concurrency_limit))
            .layer(TextGuardLayer::new(TextGuard::new(bss_proto::FILE_DESCRIPTOR_SET, config.max_message_bytes)))
            .add_routes(routes)
            // Without TCP_NODELAY on accepted connections, a reply's trailers
            // wait for the peer's delayed ACK (40 ms) whenever a client makes
            // one call at a time, as a stream consumer does.
            .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), stop_accepting);

        // One grace period, from the end of the drain, for calls in flight
        // and for work calls left running (an import whose client stopped
        // listening) alike.
        let grace = Duration::from_millis(config.shutdown_grace_ms);
        let grace_over = async {
            drained.wait().await;
            tokio::time::sleep(grace).await
        };
        tokio::pin!(grace_over);
        let mut over = false;
        tokio::select! {
            served = serve => served?,
            _ = &mut grace_over => {
                tracing::warn!("shutdown grace period over; closing the calls still open");
                over = true;
            }
        }
        detached.close();
        if !over {
            tokio::select! {
                _ = detached.wait() => {}
                _ = &mut grace_over => over = true,
            }
        }
        if over && !detached.is_empty() {
            tracing::warn!(tasks = detached.len(), "shutdown grace period over; work left by calls is cut off");
        }
        reporter.set_service_status(LIVENESS_SERVICE, ServingStatus::NotServing).await;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reading TLS file: {0}")]
    TlsFile(#[from] std::io::Error),
    #[error("metrics endpoint: {0}")]
    Metrics(std::io::Error),
}

fn server_tls(files: &ServerTlsFiles) -> Result<tonic::transport::ServerTlsConfig, std::io::Error> {
    let identity = Identity::from_pem(std::fs::read(&files.cert_file)?, std::fs::read(&files.key_file)?);
    let mut tls = tonic::transport::ServerTlsConfig::new().identity(identity);
    if let Some(client_ca) = &files.client_ca_file {
        tls = tls.client_ca_root(Certificate::from_pem(std::fs::read(client_ca)?));
    }
    Ok(tls)
}

/// CORS for browsers calling through gRPC-Web from `origins`.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([http::Method::POST, http::Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(ExposeHeaders::list([
            http::HeaderName::from_static("grpc-status"),
            http::HeaderName::from_static("grpc-message"),
            http::HeaderName::from_static("grpc-status-details-bin"),
            http::HeaderName::from_static(REQUEST_ID_HEADER),
        ]))
        .max_age(Duration::from_secs(3600))
}

/// Reflection over the contracts, the health service and the `google.rpc`
/// error details (so grpcurl can print them), listing `service_names`.
fn reflection<'a>(service_names: &[String]) -> tonic_reflection::server::Builder<'a> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(bss_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health");
    for name in service_names {
        builder = builder.with_service_name(name.clone());
    }
    builder
}

async fn set_readiness(reporter: &HealthReporter, service_names: &[&'static str], status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for name in service_names {
        reporter.set_service_status(*name, status).await;
    }
}

async fn watch_readiness(
    check: ReadinessCheck,
    reporter: HealthReporter,
    service_names: Vec<&'static str>,
    shutdown: Shutdown,
    mut was_ready: bool,
) {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let ready = check().await;
        if shutdown.is_triggered() {
            return;
        }
        if ready != was_ready {
            if ready {
                tracing::info!("dependencies reachable again: SERVING");
            } else {
                tracing::warn!("dependencies unreachable: NOT_SERVING");
            }
            let status = if ready { ServingStatus::Serving } else { ServingStatus::NotServing };
            set_readiness(&reporter, &service_names, status).await;
            was_ready = ready;
        }
    }
}

/// Calls that need no bearer token: health probes and reflection.
pub fn is_public_path(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
}

/// Splits "/bss.accounts.v1.AccountService/GetAccount" into its service and
/// method.
pub fn split_path(path: &str) -> (&str, &str) {
    let trimmed = path.trim_start_matches('/');
    trimmed.split_once('/').unwrap_or((trimmed, ""))
}

/// The request id of a call: the client's `x-request-id` when it is a sane
/// header value, else a new UUID. It is written back into the request.
pub fn ensure_request_id(headers: &mut http::HeaderMap) -> String {
    if let Some(existing) = headers.get(REQUEST_ID_HEADER).and_then(|value| value.to_str().ok())
        && !existing.is_empty()
        && existing.len() <= 128
    {
        return existing.to_owned();
    }
    let fresh = uuid::Uuid::new_v4().to_string();
    if let Ok(value) = HeaderValue::from_str(&fresh) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    fresh
}

/// The gRPC status code a response carries in its headers (error responses
/// are trailers-only); 0 (OK) otherwise.
pub fn header_status_code<B>(response: &Response<B>) -> i32 {
    response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// Most bytes of `grpc-status-details-bin` an answer carries; larger
/// details are dropped (the code and message stay). HTTP/2 peers commonly
/// refuse header lists over 16 KiB, and a proxy's refusal may take its
/// whole connection down.
pub const MAX_ERROR_DETAILS_BYTES: usize = 8 * 1024;
/// Most bytes of `grpc-message` (percent-encoded) an answer carries.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 4 * 1024;

/// An error answer as a caller and every proxy in between can take it:
/// what tonic says of a request it could not decode (INTERNAL) is bad input
/// (INVALID_ARGUMENT); oversized details are dropped and an oversized
/// message is cut. The platform's error builders keep within these bounds;
/// this is the guard for everything else.
pub fn answer_within_bounds<B: Default>(response: Response<B>) -> Response<B> {
    let code = header_status_code(&response);
    if code == 0 {
        return response;
    }
    if code == tonic::Code::Internal as i32 {
        let message = response
            .headers()
            .get("grpc-message")
            .and_then(|value| value.to_str().ok())
            .map(percent_decode)
            .unwrap_or_default();
        if message.starts_with("failed to decode Protobuf message") || message == "Missing request message." {
            let headers = response.headers().clone();
            let why = if message.starts_with("Missing") {
                "is missing".to_owned()
            } else {
                format!("could not be decoded ({message})")
            };
            let violation = crate::error::Violations::single("request", format!("the request message {why}"));
            let mut answer = crate::error::invalid_argument(&violation).into_http::<B>();
            if let Some(request_id) = headers.get(REQUEST_ID_HEADER) {
                answer.headers_mut().insert(REQUEST_ID_HEADER, request_id.clone());
            }
            return answer;
        }
    }
    let mut response = response;
    let headers = response.headers_mut();
    let details_too_large =
        headers.get("grpc-status-details-bin").is_some_and(|value| value.len() > MAX_ERROR_DETAILS_BYTES);
    if details_too_large {
        headers.remove("grpc-status-details-bin");
        tracing::warn!("error details over {MAX_ERROR_DETAILS_BYTES} bytes dropped");
    }
    if let Some(message) = headers.get("grpc-message").filter(|value| value.len() > MAX_ERROR_MESSAGE_BYTES) {
        let text = message.to_str().unwrap_or_default();
        // Cut before a percent escape, never inside one.
        let mut end = MAX_ERROR_MESSAGE_BYTES;
        while end > 0 && !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut cut = text[..end].to_owned();
        if let Some(escape) = cut.rfind('%').filter(|position| cut.len() - position < 3) {
            cut.truncate(escape);
        }
        cut.push_str("%E2%80%A6");
        if let Ok(value) = HeaderValue::from_str(&cut) {
            headers.insert("grpc-message", value);
        }
    }
    response
}

/// A percent-encoded `grpc-message` as text.
pub(crate) fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && index + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&value[index + 1..index + 3], 16)
        {
            decoded.push(byte);
            index += 3;
            continue;
        }
        decoded.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// One span per call (continuing the client's trace), the request id, and
/// the caller's verified identity in the request's extensions.
/// Also records each call's RED metrics under the server's name.
#[derive(Clone)]
pub struct RpcLayer {
    verifier: Arc<TokenVerifier>,
    name: &'static str,
    tenants: Option<Arc<dyn TenantDirectory>>,
    timeout: Option<Duration>,
}

impl RpcLayer {
    pub fn new(verifier: Arc<TokenVerifier>) -> RpcLayer {
        RpcLayer { verifier, name: "", tenants: None, timeout: None }
    }

    /// The server's own time limit of a call: a call abandoned after it (or
    /// after the client's `grpc-timeout`) is recorded DEADLINE_EXCEEDED, not
    /// CANCELLED.
    pub fn timeout(self, timeout: Duration) -> RpcLayer {
        RpcLayer { timeout: Some(timeout), ..self }
    }

    /// The `server` label of the metrics.
    pub fn named(self, name: &'static str) -> RpcLayer {
        RpcLayer { name, ..self }
    }

    /// Who tells whether a caller's tenant exists and is active (`None`:
    /// nobody; every tenant is served).
    pub fn tenants(self, tenants: Option<Arc<dyn TenantDirectory>>) -> RpcLayer {
        RpcLayer { tenants, ..self }
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = RpcService<S>;
    fn layer(&self, inner: S) -> RpcService<S> {
        RpcService {
            inner,
            verifier: self.verifier.clone(),
            name: self.name,
            tenants: self.tenants.clone(),
            timeout: self.timeout,
        }
    }
}

#[derive(Clone)]
pub struct RpcService<S> {
    inner: S,
    verifier: Arc<TokenVerifier>,
    name: &'static str,
    tenants: Option<Arc<dyn TenantDirectory>>,
    timeout: Option<Duration>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RpcService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Default + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<tonic::body::Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let started = std::time::Instant::now();
        let path = request.uri().path().to_owned();
        let (service, method) = split_path(&path);
        let request_id = ensure_request_id(request.headers_mut());
        let span = tracing::info_span!(
            "rpc",
            otel.name = %path.trim_start_matches('/'),
            otel.kind = "server",
            server = self.name,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            request_id = %request_id,
            tenant = tracing::field::Empty,
            caller = tracing::field::Empty,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        telemetry::continue_trace(&span, request.headers());
        // Counted as started now; recorded and logged once when it ends.
        let deadline = crate::access::deadline(self.timeout, request.headers());
        let record = CallRecord::start(self.name, path.clone(), started, span.clone()).within(deadline);

        let request_id_value = HeaderValue::from_str(&request_id).ok();
        let observed = move |response: Response<ResBody>, record: CallRecord| {
            let (mut parts, body) = response.into_parts();
            if let Some(value) = request_id_value {
                parts.headers.insert(REQUEST_ID_HEADER, value);
            }
            let body = Observed::new(body, &parts.headers, record);
            Response::from_parts(parts, tonic::body::Body::new(body))
        };

        let mut checked_tenant = None;
        if !is_public_path(&path) {
            match authenticate(&self.verifier, request.headers()) {
                Ok(caller) => {
                    span.record("caller", caller.subject.as_str());
                    match caller.tenant {
                        crate::auth::TenantScope::One(tenant) => span.record("tenant", tracing::field::display(tenant)),
                        crate::auth::TenantScope::Any => span.record("tenant", "*"),
                        crate::auth::TenantScope::None => span.record("tenant", "none"),
                    };
                    checked_tenant = self.tenants.clone().zip(crate::tenancy::checked_tenant(&caller));
                    request.extensions_mut().insert(caller);
                }
                Err(status) => {
                    let _entered = span.enter();
                    tracing::debug!(message = status.message(), "call refused");
                    return Box::pin(std::future::ready(Ok(observed(status.into_http(), record))));
                }
            }
        }

        // The clone that was polled ready is the one that must serve the call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(
            REQUEST_ID.scope(
                request_id,
                async move {
                    // The caller's tenant must exist and be active.
                    if let Some((tenants, tenant_id)) = checked_tenant {
                        let refused = match tenants.standing(tenant_id).await {
                            Ok(standing) => crate::tenancy::refusal(standing),
                            Err(status) => Some(status),
                        };
                        if let Some(status) = refused {
                            tracing::debug!(message = status.message(), "call refused");
                            return Ok(observed(status.into_http(), record));
                        }
                    }
                    let response = answer_within_bounds(inner.call(request).await?);
                    Ok(observed(response, record))
                }
                .instrument(span),
            ),
        )
    }
}

fn authenticate(verifier: &TokenVerifier, headers: &http::HeaderMap) -> Result<Caller, tonic::Status> {
    let authorization = headers.get(http::header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let acting_tenant = headers.get(ACTING_TENANT_HEADER).and_then(|value| value.to_str().ok());
    verifier.verify_header(authorization, acting_tenant).map_err(tonic::Status::from)
}

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("token keys: {0}")]
    Keys(#[from] jsonwebtoken::errors::Error),
    #[error("listener: {0}")]
    Bind(#[from] std::io::Error),
    /// Stored rows a migration left for the service to convert could not be.
    #[error("converting stored data: {0}")]
    Convert(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: tonic::Status) -> Response<tonic::body::Body> {
        answer_within_bounds(status.into_http())
    }

    #[test]
    fn an_undecodable_or_missing_request_is_bad_input() {
        let undecodable = answer(tonic::Status::internal("failed to decode Protobuf message: invalid wire type"));
        assert_eq!(header_status_code(&undecodable), tonic::Code::InvalidArgument as i32);
        let missing = answer(tonic::Status::internal("Missing request message."));
        assert_eq!(header_status_code(&missing), tonic::Code::InvalidArgument as i32);
        let internal = answer(tonic::Status::internal("something else"));
        assert_eq!(header_status_code(&internal), tonic::Code::Internal as i32, "other causes stay what they are");
    }

    #[test]
    fn oversized_details_are_dropped_and_messages_cut() {
        let details = tonic_types::ErrorDetails::with_bad_request(
            (0..400)
                .map(|index| tonic_types::FieldViolation::new(format!("f{index}"), "x".repeat(100)))
                .collect::<Vec<_>>(),
        );
        use tonic_types::StatusExt;
        let huge = tonic::Status::with_error_details(tonic::Code::InvalidArgument, "é".repeat(10_000), details);
        let bounded = answer(huge);
        assert_eq!(header_status_code(&bounded), tonic::Code::InvalidArgument as i32);
        assert!(bounded.headers().get("grpc-status-details-bin").is_none());
        let message = bounded.headers().get("grpc-message").expect("message");
        assert!(message.len() <= MAX_ERROR_MESSAGE_BYTES + 9);
        assert!(percent_decode(message.to_str().expect("ascii")).ends_with('…'));
    }
}
