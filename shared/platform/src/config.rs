//! Typed configuration, read once at start from the environment and an
//! optional TOML file.
//!
//! Sources, later ones winning: the defaults below, the file named by
//! `BSS_CONFIG_FILE`, then `BSS_*` environment variables where `__` separates
//! nesting levels (`BSS_DATABASE__MAX_CONNECTIONS=32`). Two standard variables
//! are read as well: `DATABASE_URL` and `OTEL_EXPORTER_OTLP_ENDPOINT`.
//!
//! Any of these variables may also be given as a file, so secrets need not
//! sit in the environment ([`file_variables`]): every file in the folder
//! `BSS_SECRETS_DIR` named as a variable (a Kubernetes Secret mounted as a
//! volume), and `X_FILE=/path` for the secret settings (`DATABASE_URL`,
//! `BSS_DATABASE__URL`, `BSS_AUTH__HS256_SECRET`,
//! `BSS_AUTH__SERVICE_TOKEN`). A variable given twice is an error.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A value that must never appear in logs: `Debug` prints a placeholder.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Call it only where the value is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret([redacted])")
    }
}

/// Loads a service's configuration from the sources listed in the module docs.
pub fn load<T: DeserializeOwned>() -> Result<T, Box<figment::Error>> {
    load_over(Figment::new())
}

/// As [`load`], over `defaults` of the caller's own (each source overrides
/// them setting by setting).
pub fn load_over<T: DeserializeOwned>(defaults: impl figment::Provider) -> Result<T, Box<figment::Error>> {
    let mut figment = Figment::from(defaults);
    if let Ok(path) = std::env::var("BSS_CONFIG_FILE") {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment
        .merge(Env::prefixed("BSS_").split("__"))
        .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database.url".into()))
        .merge(Env::raw().only(&["OTEL_EXPORTER_OTLP_ENDPOINT"]).map(|_| "telemetry.otlp_endpoint".into()));
    let environment: BTreeMap<String, String> = std::env::vars().collect();
    let from_files = file_variables(&environment).map_err(|why| Box::new(figment::Error::from(why)))?;
    for (name, value) in from_files {
        if let Some(key) = setting_key(&name) {
            // A secret is text as it is; other settings are typed as their
            // variables are (numbers, lists).
            let value = if SECRET_SETTINGS.contains(&name.as_str()) {
                figment::value::Value::from(value)
            } else {
                value.parse::<figment::value::Value>().unwrap_or_else(|never| match never {})
            };
            figment = figment.merge(Serialized::default(&key, value));
        }
    }
    figment.extract().map_err(Box::new)
}

/// The settings `X_FILE` may give (`X` being secret, and no setting of ours
/// ending in `_FILE` being one of them).
const SECRET_SETTINGS: [&str; 4] =
    ["DATABASE_URL", "BSS_DATABASE__URL", "BSS_AUTH__HS256_SECRET", "BSS_AUTH__SERVICE_TOKEN"];

/// Where a variable goes in the settings: `BSS_DATABASE__URL` and
/// `DATABASE_URL` in `database.url`; `None` for a variable not read.
fn setting_key(name: &str) -> Option<String> {
    match name {
        "DATABASE_URL" => Some("database.url".to_owned()),
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("telemetry.otlp_endpoint".to_owned()),
        _ => name
            .strip_prefix("BSS_")
            .filter(|rest| !rest.is_empty() && *rest != "CONFIG_FILE" && *rest != "SECRETS_DIR")
            .map(|rest| rest.split("__").map(str::to_lowercase).collect::<Vec<_>>().join(".")),
    }
}

/// The variables `environment` gives as files: each file of the folder
/// `BSS_SECRETS_DIR` whose name is a variable read (others, such as a
/// mounted Secret's `..data`, are skipped), and `X_FILE` for the secret
/// settings; each value is the file's text without its final newline. A
/// variable set more than once (in the environment, as `X_FILE`, in the
/// folder) is refused, naming it, as is a file that cannot be read.
pub fn file_variables(environment: &BTreeMap<String, String>) -> Result<Vec<(String, String)>, String> {
    fn read(path: &Path) -> Result<String, String> {
        let text = std::fs::read_to_string(path).map_err(|error| format!("reading {}: {error}", path.display()))?;
        let text = text.strip_suffix('\n').map(|text| text.strip_suffix('\r').unwrap_or(text)).unwrap_or(&text);
        Ok(text.to_owned())
    }
    // What the environment sets, by setting (DATABASE_URL and
    // BSS_DATABASE__URL are one setting).
    let in_environment: BTreeMap<String, &String> =
        environment.keys().filter_map(|name| setting_key(name).map(|key| (key, name))).collect();
    let mut given: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    let mut give = |name: String, value: String, source: String| {
        let key = setting_key(&name).unwrap_or_else(|| name.clone());
        if let Some((first, ..)) = given.get(&key) {
            return Err(format!("{name} is given twice: by {first} and by {source}"));
        }
        if let Some(variable) = in_environment.get(&key) {
            return Err(format!("{name} is given twice: as the variable {variable} and by {source}"));
        }
        given.insert(key, (source, name, value));
        Ok(())
    };
    for name in SECRET_SETTINGS {
        if let Some(path) = environment.get(&format!("{name}_FILE")) {
            give(name.to_owned(), read(Path::new(path))?, format!("{name}_FILE"))?;
        }
    }
    if let Some(folder) = environment.get("BSS_SECRETS_DIR") {
        let entries =
            std::fs::read_dir(folder).map_err(|error| format!("reading BSS_SECRETS_DIR {folder}: {error}"))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| setting_key(name).is_some())
            .collect();
        names.sort();
        for name in names {
            let path = Path::new(folder).join(&name);
            give(name, read(&path)?, format!("BSS_SECRETS_DIR ({})", path.display()))?;
        }
    }
    let mut given: Vec<(String, String)> = given.into_values().map(|(_, name, value)| (name, value)).collect();
    given.sort();
    Ok(given)
}

/// The telemetry settings alone, from the same sources as [`load`]
/// (`BSS_TELEMETRY__LOG_FORMAT`, `OTEL_EXPORTER_OTLP_ENDPOINT`, the
/// configuration file): for a process that is not one service
/// (`bss-suite run`).
pub fn load_telemetry() -> Result<TelemetryConfig, Box<figment::Error>> {
    #[derive(Deserialize)]
    struct TelemetryOnly {
        #[serde(default)]
        telemetry: TelemetryConfig,
    }
    load::<TelemetryOnly>().map(|only| only.telemetry)
}

/// What every service needs: where to listen, its database, how callers are
/// authenticated, server limits and telemetry.
#[derive(Clone, Debug, Deserialize)]
pub struct PlatformConfig {
    /// Address the gRPC server listens on (`BSS_LISTEN_ADDR`).
    #[serde(default = "default_listen_addr")]
    pub listen_addr: SocketAddr,
    /// Address of the Prometheus metrics endpoint (`BSS_METRICS_ADDR`,
    /// default 0.0.0.0:9090); set it to an empty string for none.
    #[serde(default = "default_metrics_addr", deserialize_with = "optional_addr")]
    pub metrics_addr: Option<SocketAddr>,
    pub database: DatabaseConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// TLS for this service's calls to the other services of the suite
    /// (`BSS_PEER_TLS__CA_FILE`, `__CERT_FILE`, `__KEY_FILE`,
    /// `__DOMAIN_NAME`); plain HTTP/2 when unset.
    #[serde(default)]
    pub peer_tls: Option<ClientTlsFiles>,
}

impl PlatformConfig {
    /// Calls one tenant may have in a service at once: as configured, else
    /// half the database pool, so the other half stays for every other
    /// tenant.
    pub fn tenant_share(&self) -> usize {
        self.server.tenant_concurrency_limit.unwrap_or((self.database.max_connections as usize / 2).max(1))
    }

    /// A service's configuration with the defaults, on `database_url`.
    pub fn new(listen_addr: SocketAddr, database_url: impl Into<String>) -> PlatformConfig {
        PlatformConfig {
            listen_addr,
            metrics_addr: None,
            database: DatabaseConfig::new(database_url),
            auth: AuthConfig::default(),
            server: ServerConfig::default(),
            telemetry: TelemetryConfig::default(),
            peer_tls: None,
        }
    }
}

fn default_listen_addr() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 50051))
}

/// Where a binary serves its metrics unless told otherwise.
pub fn default_metrics_addr() -> Option<SocketAddr> {
    Some(SocketAddr::from(([0, 0, 0, 0], 9090)))
}

/// An address, or none for an empty string.
pub fn optional_addr<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.trim().parse().map(Some).map_err(serde::de::Error::custom)
}

#[derive(Clone, Debug, Deserialize)]
pub struct DatabaseConfig {
    /// Postgres URL (`DATABASE_URL`), for example
    /// `postgres://bss@db:5432/bss`.
    pub url: Secret,
    /// Upper bound of pooled connections per process.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// How long a request may wait for a pooled connection.
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
    /// How long start-up keeps retrying an unreachable database before giving up.
    #[serde(default = "default_startup_timeout_ms")]
    pub startup_timeout_ms: u64,
    /// Server-side limit of any single statement.
    #[serde(default = "default_statement_timeout_ms")]
    pub statement_timeout_ms: u64,
}

fn default_max_connections() -> u32 {
    16
}
fn default_acquire_timeout_ms() -> u64 {
    5_000
}
fn default_startup_timeout_ms() -> u64 {
    60_000
}
fn default_statement_timeout_ms() -> u64 {
    15_000
}

impl DatabaseConfig {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseConfig {
            url: Secret::new(url),
            max_connections: default_max_connections(),
            acquire_timeout_ms: default_acquire_timeout_ms(),
            startup_timeout_ms: default_startup_timeout_ms(),
            statement_timeout_ms: default_statement_timeout_ms(),
        }
    }
}

/// How bearer tokens are verified. At least one key must be configured, or
/// every call is refused.
#[derive(Clone, Debug, Deserialize)]
pub struct AuthConfig {
    /// Required `iss` claim.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Further identity providers whose tokens are accepted, each with its
    /// own keys (`[[auth.accepted_issuers]]` in the configuration file, or
    /// `BSS_AUTH__ACCEPTED_ISSUERS`): while moving to another provider, or
    /// `make run`'s sandbox provider beside the development tokens. Their
    /// callers' subjects are named `<sub>@<issuer>`.
    #[serde(default)]
    pub accepted_issuers: Vec<AcceptedIssuer>,
    /// Required `aud` claim.
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Shared secret for HS256 tokens: development and tests only.
    #[serde(default)]
    pub hs256_secret: Option<Secret>,
    /// PEM public keys accepted for RS256 tokens.
    #[serde(default)]
    pub rs256_public_keys: Vec<String>,
    /// PEM public keys accepted for ES256 tokens.
    #[serde(default)]
    pub es256_public_keys: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
    /// The token this service uses for its own calls (role `integration`,
    /// tenant `*`), issued by the deployment's identity provider. Without
    /// it, a service with the HS256 secret signs its own.
    #[serde(default)]
    pub service_token: Option<Secret>,
}

/// An identity provider whose tokens are accepted besides the main issuer's.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AcceptedIssuer {
    /// Its `iss`.
    pub issuer: String,
    /// Its PEM public keys: EC P-256 (ES256 tokens) or RSA (RS256).
    #[serde(default)]
    pub public_keys: Vec<String>,
}

fn default_issuer() -> String {
    "bss-dev".to_owned()
}
fn default_audience() -> String {
    "bss".to_owned()
}
fn default_leeway_secs() -> u64 {
    5
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: default_issuer(),
            accepted_issuers: Vec::new(),
            audience: default_audience(),
            hs256_secret: None,
            rs256_public_keys: Vec::new(),
            es256_public_keys: Vec::new(),
            leeway_secs: default_leeway_secs(),
            service_token: None,
        }
    }
}

/// Limits of the gRPC server.
#[derive(Clone, Debug, Deserialize)]
pub struct ServerConfig {
    /// Longest time one call may take; a shorter client deadline wins.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Calls handled at once by the process; more wait their turn.
    #[serde(default = "default_concurrency_limit")]
    pub concurrency_limit: usize,
    /// Largest request or response message, in bytes.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Connections are closed (gracefully) after this long, so clients
    /// rebalance across replicas.
    #[serde(default = "default_max_connection_age_secs")]
    pub max_connection_age_secs: u64,
    /// After SIGTERM, how long health says NOT_SERVING before the listener
    /// closes, so load balancers stop sending new calls.
    #[serde(default = "default_drain_delay_ms")]
    pub drain_delay_ms: u64,
    /// After the listener closes, how long calls in flight may still run.
    #[serde(default = "default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// TLS for the listener; with `client_ca_file`, callers must present a
    /// certificate signed by that CA (mutual TLS).
    #[serde(default)]
    pub tls: Option<ServerTlsFiles>,
    /// Calls one tenant may have in the server at once; more of its calls
    /// wait (others' do not). Unset: half the database pool (a quarter of
    /// the concurrency limit for the gateway).
    #[serde(default)]
    pub tenant_concurrency_limit: Option<usize>,
}

/// PEM files of a server's TLS identity.
#[derive(Clone, Debug, Deserialize)]
pub struct ServerTlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// CA that signs client certificates; when set, clients must present one.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
}

/// PEM files with which a client reaches TLS servers.
#[derive(Clone, Debug, Deserialize)]
pub struct ClientTlsFiles {
    /// CA that signs the servers' certificates.
    pub ca_file: PathBuf,
    /// This client's certificate and key, for mutual TLS.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Name the servers' certificates carry, when it differs from the host
    /// in the URL.
    #[serde(default)]
    pub domain_name: Option<String>,
}

fn default_request_timeout_ms() -> u64 {
    30_000
}
fn default_concurrency_limit() -> usize {
    1_024
}
fn default_max_message_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_max_connection_age_secs() -> u64 {
    600
}
fn default_drain_delay_ms() -> u64 {
    5_000
}
fn default_shutdown_grace_ms() -> u64 {
    15_000
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            request_timeout_ms: default_request_timeout_ms(),
            concurrency_limit: default_concurrency_limit(),
            max_message_bytes: default_max_message_bytes(),
            max_connection_age_secs: default_max_connection_age_secs(),
            drain_delay_ms: default_drain_delay_ms(),
            shutdown_grace_ms: default_shutdown_grace_ms(),
            tls: None,
            tenant_concurrency_limit: None,
        }
    }
}

impl ServerConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// Log format of the process.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines, for terminals.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct TelemetryConfig {
    /// `BSS_TELEMETRY__LOG_FORMAT`: `pretty` or `json`.
    #[serde(default)]
    pub log_format: LogFormat,
    /// OTLP/gRPC collector, for example `http://otel-collector:4317`
    /// (`OTEL_EXPORTER_OTLP_ENDPOINT`). Spans are exported only when set.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder of its own under the system's temporary folder.
    fn folder(name: &str) -> PathBuf {
        let folder = std::env::temp_dir().join(format!("bss-config-{name}-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&folder).expect("folder");
        folder
    }

    fn environment(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
    }

    #[test]
    fn secrets_come_from_files_named_by_x_file_or_held_in_the_secrets_folder() {
        let files = folder("files");
        std::fs::write(files.join("hs256"), "s3cret\n").expect("write");
        let mounted = folder("mounted");
        std::fs::write(mounted.join("DATABASE_URL"), "postgres://app:pw@db/bss\r\n").expect("write");
        std::fs::write(mounted.join("BSS_DATABASE__MAX_CONNECTIONS"), "12").expect("write");
        std::fs::write(mounted.join("..data"), "ignored").expect("write");
        std::fs::write(mounted.join("README"), "ignored").expect("write");
        let hs256 = files.join("hs256").display().to_string();
        let given = file_variables(&environment(&[
            ("BSS_AUTH__HS256_SECRET_FILE", hs256.as_str()),
            ("BSS_SECRETS_DIR", mounted.to_str().expect("utf-8")),
            ("BSS_SERVER__TLS__CERT_FILE", "/not/a/secret/setting.pem"),
        ]))
        .expect("read");
        assert_eq!(
            given,
            [
                ("BSS_AUTH__HS256_SECRET".to_owned(), "s3cret".to_owned()),
                ("BSS_DATABASE__MAX_CONNECTIONS".to_owned(), "12".to_owned()),
                ("DATABASE_URL".to_owned(), "postgres://app:pw@db/bss".to_owned()),
            ],
            "one final newline dropped; a path setting ending in _FILE is no secret file"
        );
        assert_eq!(setting_key("BSS_DATABASE__MAX_CONNECTIONS").as_deref(), Some("database.max_connections"));
        assert_eq!(setting_key("DATABASE_URL").as_deref(), Some("database.url"));
        assert_eq!(setting_key("BSS_SECRETS_DIR"), None);
        assert_eq!(setting_key("HOME"), None);
    }

    #[test]
    fn a_setting_given_twice_or_an_unreadable_file_is_refused_by_name() {
        let mounted = folder("twice");
        std::fs::write(mounted.join("DATABASE_URL"), "postgres://db/a").expect("write");
        let mounted = mounted.to_str().expect("utf-8");
        let both = file_variables(&environment(&[("BSS_SECRETS_DIR", mounted), ("DATABASE_URL", "postgres://db/b")]));
        assert!(both.expect_err("twice").contains("DATABASE_URL is given twice"));
        let file = folder("file").join("url");
        std::fs::write(&file, "postgres://db/c").expect("write");
        let file = file.display().to_string();
        let twice = file_variables(&environment(&[("BSS_SECRETS_DIR", mounted), ("DATABASE_URL_FILE", file.as_str())]));
        assert!(twice.expect_err("twice").contains("DATABASE_URL is given twice"));
        let same_setting =
            file_variables(&environment(&[("BSS_SECRETS_DIR", mounted), ("BSS_DATABASE__URL", "postgres://db/d")]));
        let same_setting = same_setting.expect_err("one setting, two names");
        assert!(same_setting.contains("as the variable BSS_DATABASE__URL"), "{same_setting}");
        let missing = file_variables(&environment(&[("BSS_AUTH__SERVICE_TOKEN_FILE", "/nonexistent/token")]));
        assert!(missing.expect_err("unreadable").contains("/nonexistent/token"));
    }
}
