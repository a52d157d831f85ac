//! Calls from one service to another: channels (with optional mutual TLS)
//! and requests that carry the caller's token, the tenant, the W3C trace
//! context, the request id and a deadline.

use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::auth::{ACTING_TENANT_HEADER, Caller, TenantScope};
use crate::config::ClientTlsFiles;
use crate::server::{REQUEST_ID_HEADER, current_request_id};
use crate::telemetry;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("endpoint {0:?} is not a valid URL")]
    BadUrl(String),
    #[error("reading TLS file: {0}")]
    TlsFile(#[from] std::io::Error),
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Largest header list taken from a peer (its trailers included).
pub const PEER_MAX_HEADER_LIST_BYTES: u32 = 256 * 1024;

/// A channel to `url`, connected on first use and reconnected as needed.
/// One channel per backend multiplexes every call over HTTP/2.
pub fn channel(url: &str, tls: Option<&ClientTlsFiles>) -> Result<Channel, ClientError> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|_| ClientError::BadUrl(url.to_owned()))?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        // A peer's oversized answer fails that call, never the connection
        // other calls share (servers of the suite keep their answers far
        // smaller; see `server::answer_within_bounds`).
        .http2_max_header_list_size(PEER_MAX_HEADER_LIST_BYTES);
    if let Some(files) = tls {
        endpoint = endpoint.tls_config(client_tls(files)?)?;
    }
    Ok(endpoint.connect_lazy())
}

fn client_tls(files: &ClientTlsFiles) -> Result<ClientTlsConfig, ClientError> {
    let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(&files.ca_file)?));
    if let (Some(cert), Some(key)) = (&files.cert_file, &files.key_file) {
        config = config.identity(Identity::from_pem(std::fs::read(cert)?, std::fs::read(key)?));
    }
    if let Some(domain) = &files.domain_name {
        config = config.domain_name(domain.clone());
    }
    Ok(config)
}

/// A request to another service made for `caller`: its token and tenant,
/// the current trace context and request id, and `timeout` as deadline.
pub fn request<T>(message: T, caller: &Caller, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    let metadata = request.metadata_mut();
    if let Ok(value) = MetadataValue::try_from(format!("Bearer {}", caller.token)) {
        metadata.insert("authorization", value);
    }
    if let TenantScope::One(tenant_id) = caller.tenant
        && let Ok(value) = MetadataValue::try_from(tenant_id.to_string())
    {
        metadata.insert(ACTING_TENANT_HEADER, value);
    }
    if let Some(request_id) = current_request_id()
        && let Ok(value) = MetadataValue::try_from(request_id)
    {
        metadata.insert(REQUEST_ID_HEADER, value);
    }
    let mut headers = std::mem::take(metadata).into_headers();
    telemetry::inject_current(&mut headers);
    *request.metadata_mut() = tonic::metadata::MetadataMap::from_headers(headers);
    request
}

/// A peer's error, as this service answers its own caller.
#[derive(Debug)]
pub enum PeerError {
    /// The peer refused the call for the caller's own reasons (bad input,
    /// a rule, not found, not allowed) or asked it to come back later (a
    /// collision, the tenant's share busy, with its retry delay): the
    /// caller gets that answer as it came.
    Refused(tonic::Status),
    /// The peer could not answer (down, failing, timed out): UNAVAILABLE
    /// naming the peer, which the caller may retry.
    Unavailable { what: &'static str, cause: String },
}

/// Sorts the error status of a call made for this service's caller, with
/// the caller's token (see [`PeerError`]).
pub fn peer_error(what: &'static str, status: tonic::Status) -> PeerError {
    use tonic::Code;
    match status.code() {
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::NotFound
        | Code::PermissionDenied
        | Code::AlreadyExists
        | Code::OutOfRange
        | Code::Aborted
        | Code::ResourceExhausted => PeerError::Refused(status),
        _ => PeerError::Unavailable { what, cause: status.message().to_owned() },
    }
}

/// As [`peer_error`], for a call made with this service's own identity: a
/// refusal of that identity (PERMISSION_DENIED, UNAUTHENTICATED) is this
/// deployment's configuration, not the caller's doing, so it is
/// UNAVAILABLE (and logged as an error).
pub fn service_peer_error(what: &'static str, status: tonic::Status) -> PeerError {
    use tonic::Code;
    match status.code() {
        Code::PermissionDenied | Code::Unauthenticated => {
            tracing::error!(peer = what, error = %status.message(), "a peer refused this service's own identity");
            PeerError::Unavailable { what, cause: format!("refused this service's identity: {}", status.message()) }
        }
        _ => peer_error(what, status),
    }
}
