//! Forwards an authenticated call to the backend of its context: rate
//! limit, deadline, message size, trace context, then the call itself with
//! its body and trailers streamed through untouched.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bss_platform::auth::{Caller, TenantScope};
use bss_platform::error::{unavailable, with_reason};
use bss_platform::telemetry;
use futures::future::BoxFuture;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Limited};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Service, ServiceExt};

use crate::deadline::Deadlines;
use crate::rate_limit::RateLimiter;
use crate::routing::Routes;

/// The ErrorInfo domain of the gateway.
pub const DOMAIN: &str = "gateway.bss";

#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    routes: Routes,
    limiter: Arc<RateLimiter>,
    deadlines: Deadlines,
    max_message_bytes: usize,
}

impl Proxy {
    pub fn new(routes: Routes, limiter: Arc<RateLimiter>, deadlines: Deadlines, max_message_bytes: usize) -> Proxy {
        Proxy { inner: Arc::new(Inner { routes, limiter, deadlines, max_message_bytes }) }
    }
}

impl Service<Request<axum::body::Body>> for Proxy {
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<axum::body::Body>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move { Ok(inner.forward(request).await.unwrap_or_else(|status| status.into_http())) })
    }
}

impl Inner {
    async fn forward(&self, request: Request<axum::body::Body>) -> Result<Response<tonic::body::Body>, Status> {
        let (mut parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        let (context, backend) = self.routes.backend(&path).map_err(Status::unimplemented)?;
        // A context whose service does not answer its health check is
        // refused at once, not after the call's deadline.
        if !backend.is_serving() {
            return Err(with_reason(
                Code::Unavailable,
                DOMAIN,
                "CONTEXT_UNAVAILABLE",
                &format!("the {context} service is not serving; retry later"),
            ));
        }
        let backend = backend.channel();
        let caller = parts.extensions.get::<Caller>().ok_or_else(|| Status::unauthenticated("no caller"))?;
        if let Err(wait) = self.limiter.acquire(&rate_key(caller)) {
            return Err(rate_limited(wait));
        }
        let deadline = self.deadlines.apply(&mut parts.headers);
        // The backend's span is a child of this gateway span.
        telemetry::inject_current(&mut parts.headers);
        let body = if self.routes.is_client_streaming(&path) {
            tonic::body::Body::new(body)
        } else {
            self.whole_message(body).await?
        };
        parts.uri = Uri::builder()
            .path_and_query(parts.uri.path_and_query().map_or(path.as_str(), |path| path.as_str()))
            .build()
            .map_err(|error| Status::invalid_argument(format!("bad request path: {error}")))?;
        match tokio::time::timeout(deadline, backend.oneshot(Request::from_parts(parts, body))).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(unavailable("backend", &error)),
            Err(_) => Err(Status::deadline_exceeded("the deadline passed before the backend answered")),
        }
    }

    /// Reads a unary request (one length-prefixed message) whole, refusing
    /// it when it is larger than the limit.
    async fn whole_message(&self, body: axum::body::Body) -> Result<tonic::body::Body, Status> {
        const FRAME_HEADER: usize = 5;
        match Limited::new(body, self.max_message_bytes + FRAME_HEADER).collect().await {
            Ok(collected) => Ok(tonic::body::Body::new(http_body_util::Full::new(collected.to_bytes()))),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(with_reason(
                Code::ResourceExhausted,
                DOMAIN,
                "MESSAGE_TOO_LARGE",
                &format!("the request message is larger than {} bytes", self.max_message_bytes),
            )),
            Err(error) => Err(Status::cancelled(format!("reading the request failed: {error}"))),
        }
    }
}

/// Whose quota a call uses: its tenant, else the caller itself.
fn rate_key(caller: &Caller) -> String {
    match caller.tenant {
        TenantScope::One(tenant_id) => tenant_id.to_string(),
        TenantScope::None | TenantScope::Any => format!("caller:{}", caller.subject),
    }
}

fn rate_limited(wait: std::time::Duration) -> Status {
    let mut details = ErrorDetails::with_retry_info(Some(wait));
    details.set_error_info("RATE_LIMITED", DOMAIN, HashMap::new());
    Status::with_error_details(
        Code::ResourceExhausted,
        format!("rate limit of the tenant reached; retry in {} ms", wait.as_millis().max(1)),
        details,
    )
}
