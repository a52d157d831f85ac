//! The console service: serves the administration console's built files
//! (`make console` builds them into `console/dist`), its public
//! configuration (`GET /config.json`: where the gateway is, and the OIDC
//! login when one is configured), and a Content-Security-Policy that lets
//! the page talk to the gateway and the identity provider only. The
//! console itself calls the gateway over gRPC-Web; this service holds no
//! token and calls nothing.
//!
//! In `make run` it also hosts the SANDBOX identity provider
//! ([`sandbox_idp`]) the console's OIDC login is tried and tested with.
//!
//! Any path that is not a file is the single-page app's (its `index.html`),
//! so a reloaded deep link works; a missing file under `/assets/` is 404.

pub mod sandbox_idp;

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::Router;
use axum::routing::get;
use bss_platform::config::TelemetryConfig;
use bss_platform::shutdown::Shutdown;
use http::HeaderValue;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

/// How the console is served (`BSS_CONSOLE_*`).
#[derive(Clone, Debug, Deserialize)]
pub struct ConsoleConfig {
    /// Where it listens (`BSS_CONSOLE_LISTEN_ADDR`, default 0.0.0.0:8080;
    /// the services' `BSS_LISTEN_ADDR` is not its own).
    #[serde(rename = "console_listen_addr", default = "default_listen_addr")]
    pub listen_addr: SocketAddr,
    /// The built console (`BSS_CONSOLE_DIR`, default `console/dist`).
    #[serde(rename = "console_dir", default = "default_dir")]
    pub dir: PathBuf,
    /// The gateway as the browser reaches it (`BSS_CONSOLE_GATEWAY_URL`),
    /// for example `https://bss.example.com`; its origin must be in the
    /// gateway's `BSS_CORS_ALLOWED_ORIGINS` unless it is this one.
    #[serde(rename = "console_gateway_url", default = "default_gateway_url")]
    pub gateway_url: String,
    /// The identity provider's issuer URL (`BSS_CONSOLE_OIDC_AUTHORITY`),
    /// served to the page in `/config.json` and allowed by its policy: the
    /// page then offers an authorization-code login (with PKCE) beside the
    /// pasted token, and sends the access token it gets to the gateway.
    #[serde(rename = "console_oidc_authority", default)]
    pub oidc_authority: Option<String>,
    /// The console's client id at the identity provider
    /// (`BSS_CONSOLE_OIDC_CLIENT_ID`).
    #[serde(rename = "console_oidc_client_id", default)]
    pub oidc_client_id: String,
    /// The scopes it asks for (`BSS_CONSOLE_OIDC_SCOPE`).
    #[serde(rename = "console_oidc_scope", default = "default_scope")]
    pub oidc_scope: String,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

fn default_listen_addr() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}
fn default_dir() -> PathBuf {
    PathBuf::from("console/dist")
}
fn default_gateway_url() -> String {
    "http://127.0.0.1:50050".to_owned()
}
fn default_scope() -> String {
    "openid profile".to_owned()
}

impl ConsoleConfig {
    /// The console of `dir` in front of the gateway at `gateway_url`,
    /// signing in with a pasted token.
    pub fn new(listen_addr: SocketAddr, dir: PathBuf, gateway_url: String) -> ConsoleConfig {
        ConsoleConfig {
            listen_addr,
            dir,
            gateway_url,
            oidc_authority: None,
            oidc_client_id: String::new(),
            oidc_scope: default_scope(),
            telemetry: TelemetryConfig::default(),
        }
    }

    /// What the page reads at start (`GET /config.json`).
    pub fn public(&self) -> PublicConfig {
        PublicConfig {
            gateway_url: self.gateway_url.trim_end_matches('/').to_owned(),
            oidc: self.oidc_authority.as_ref().map(|authority| Oidc {
                authority: authority.clone(),
                client_id: self.oidc_client_id.clone(),
                scope: self.oidc_scope.clone(),
            }),
        }
    }
}

/// The console's configuration as the page reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicConfig {
    pub gateway_url: String,
    pub oidc: Option<Oidc>,
}

/// The OIDC login the page uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Oidc {
    pub authority: String,
    pub client_id: String,
    pub scope: String,
}

/// The origin (`scheme://host[:port]`) of `url`; `None` when it has none.
fn origin(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?))
}

/// The Content-Security-Policy of every answer: the page's own scripts
/// and styles only (Mantine sets style attributes, hence inline styles),
/// no framing, and connections to itself, the gateway and the identity
/// provider only.
pub fn content_security_policy(config: &ConsoleConfig) -> String {
    let mut connect = vec!["'self'".to_owned()];
    connect.extend(origin(&config.gateway_url));
    connect.extend(config.oidc_authority.as_deref().and_then(origin));
    connect.dedup();
    let form = std::iter::once("'self'".to_owned())
        .chain(config.oidc_authority.as_deref().and_then(origin))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         font-src 'self'; connect-src {}; frame-ancestors 'none'; base-uri 'none'; form-action {form}; \
         object-src 'none'",
        connect.join(" ")
    )
}

/// Why `config` cannot be served: a gateway or identity-provider URL
/// without an origin (the policy would leave it out and the page could not
/// reach it), or a policy that is no header value.
pub fn check(config: &ConsoleConfig) -> Result<HeaderValue, String> {
    if origin(&config.gateway_url).is_none() {
        return Err(format!("BSS_CONSOLE_GATEWAY_URL {:?} is no URL with an origin", config.gateway_url));
    }
    if let Some(authority) = config.oidc_authority.as_deref().filter(|authority| origin(authority).is_none()) {
        return Err(format!("BSS_CONSOLE_OIDC_AUTHORITY {authority:?} is no URL with an origin"));
    }
    HeaderValue::from_str(&content_security_policy(config)).map_err(|error| format!("the policy: {error}"))
}

/// Marks an asset answer for keeping a year: only a file found (hashed
/// names never change), never a 404 a rolling update may answer.
fn kept_a_year(response: &http::Response<axum::body::Body>) -> Option<HeaderValue> {
    response.status().is_success().then(|| HeaderValue::from_static("public, max-age=31536000, immutable"))
}

/// The console's routes; `policy` is its Content-Security-Policy (see
/// [`check`]).
pub fn router(config: &ConsoleConfig, policy: HeaderValue) -> Router {
    let public = config.public();
    let index = ServeFile::new(config.dir.join("index.html"));
    let assets = Router::new()
        .fallback_service(ServeDir::new(config.dir.join("assets")))
        .layer(SetResponseHeaderLayer::overriding(CACHE_CONTROL, kept_a_year));
    Router::new()
        .route("/config.json", get(move || async move { axum::Json(public) }))
        .route("/healthz", get(|| async { "ok" }))
        .nest_service("/assets", assets)
        .fallback_service(ServeDir::new(&config.dir).fallback(index))
        .layer(SetResponseHeaderLayer::if_not_present(CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .layer(SetResponseHeaderLayer::overriding(CONTENT_SECURITY_POLICY, policy))
        .layer(SetResponseHeaderLayer::overriding(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
}

/// The console service, bound and ready to serve.
pub struct App {
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
}

impl App {
    /// The service on `listener`; a console not built yet is served as
    /// 404s (with a warning) rather than refused; a configuration it cannot
    /// serve safely (see [`check`]) is refused.
    pub fn build(config: &ConsoleConfig, listener: TcpListener, shutdown: Shutdown) -> std::io::Result<App> {
        let policy = check(config).map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
        if !config.dir.join("index.html").is_file() {
            tracing::warn!(dir = %config.dir.display(), "the console is not built here: run `make console`");
        }
        Ok(App { listener, router: router(config, policy), shutdown })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let shutdown = self.shutdown;
        axum::serve(self.listener, self.router).with_graceful_shutdown(async move { shutdown.wait().await }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_may_reach_itself_the_gateway_and_the_identity_provider_only() {
        let mut config =
            ConsoleConfig::new(default_listen_addr(), default_dir(), "https://bss.example.com/".to_owned());
        let policy = content_security_policy(&config);
        assert!(policy.contains("connect-src 'self' https://bss.example.com;"), "{policy}");
        assert!(policy.contains("script-src 'self';") && policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(policy.contains("form-action 'self';"), "{policy}");
        config.oidc_authority = Some("https://login.example.com/realms/bss".to_owned());
        let policy = content_security_policy(&config);
        assert!(policy.contains("connect-src 'self' https://bss.example.com https://login.example.com;"), "{policy}");
        assert!(policy.contains("form-action 'self' https://login.example.com;"), "{policy}");
        assert_eq!(origin("http://127.0.0.1:50050"), Some("http://127.0.0.1:50050".to_owned()));
        assert_eq!(origin("not a url"), None);
        config.gateway_url = "bss.example.com".to_owned();
        assert!(check(&config).is_err(), "a gateway without an origin is refused, never left out of the policy");
    }

    #[test]
    fn the_page_learns_the_gateway_and_the_login_it_uses() {
        let mut config = ConsoleConfig::new(default_listen_addr(), default_dir(), "http://127.0.0.1:50050/".to_owned());
        assert_eq!(config.public(), PublicConfig { gateway_url: "http://127.0.0.1:50050".to_owned(), oidc: None });
        config.oidc_authority = Some("https://login.example.com".to_owned());
        config.oidc_client_id = "bss-console".to_owned();
        let oidc = config.public().oidc.expect("an OIDC login");
        assert_eq!((oidc.client_id.as_str(), oidc.scope.as_str()), ("bss-console", "openid profile"));
    }
}
