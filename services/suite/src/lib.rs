//! The whole suite in one process, for development, demos and the
//! end-to-end tests: every service on its own port over one database (each
//! in its own schema).

pub mod postgres;

use std::net::{IpAddr, SocketAddr};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bss_console::sandbox_idp::{SandboxIdp, SandboxIdpConfig};
use bss_gateway::GatewayConfig;
use bss_gateway::rate_limit::RateLimitConfig;
use bss_platform::config::{
    AcceptedIssuer, AuthConfig, ClientTlsFiles, DatabaseConfig, PlatformConfig, ServerConfig, ServerTlsFiles,
    TelemetryConfig,
};
use bss_platform::server::StartupError;
use bss_platform::shutdown::Shutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Where and how the suite runs.
#[derive(Clone, Debug)]
pub struct SuiteConfig {
    /// The database every service uses (each in its own schema), and the
    /// pool settings each service's pool takes.
    pub database: DatabaseConfig,
    pub host: IpAddr,
    /// Port of the first service; the others follow. 0 picks free ports.
    pub base_port: u16,
    pub auth: AuthConfig,
    pub server: ServerConfig,
    /// Per-tenant rate limits at the gateway.
    pub rate_limit: RateLimitConfig,
    /// The gateway's own settings, where given.
    pub gateway: GatewaySettings,
    /// Mutual TLS between the gateway and the services, when set.
    pub tls: Option<SuiteTls>,
    /// Whether the reseller sync runs in the suite (tests that start and
    /// stop it themselves turn it off; its port stays bound and unserved).
    pub reseller_sync: bool,
    /// How card and PayPal orders are paid.
    pub payments: Payments,
    /// The built administration console the suite serves (`make console`
    /// builds `console/dist`); its origin may call the gateway.
    pub console_dir: PathBuf,
    /// Further web origins allowed to call the gateway over gRPC-Web.
    pub cors_allowed_origins: Vec<String>,
    /// How the console signs in besides a pasted token: the deployment's
    /// identity provider (`BSS_CONSOLE_OIDC_*`), the SANDBOX one the suite
    /// runs (`make run`), or none.
    pub console_login: ConsoleLogin,
}

/// The gateway's settings besides the server's and its rate limits, as the
/// standalone gateway reads them (`BSS_CONNECTIONS_PER_BACKEND`,
/// `BSS_DEFAULT_DEADLINE_MS`, `BSS_MAX_DEADLINE_MS`); unset keeps its
/// defaults.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct GatewaySettings {
    pub connections_per_backend: Option<usize>,
    pub default_deadline_ms: Option<u64>,
    pub max_deadline_ms: Option<u64>,
}

/// How billing has card and PayPal orders paid.
#[derive(Clone, Debug, Default)]
pub enum Payments {
    /// No provider: such orders are refused (PAYMENT_PROVIDER_MISSING).
    #[default]
    None,
    /// Billing's SANDBOX payment provider (a gateway's test mode: it moves
    /// no money): `make run` and the tests.
    Sandbox,
    /// A provider implementing `bss.provider.v1.PaymentProviderService` at
    /// this URL (`BSS_PAYMENT_PROVIDER_URL`).
    Provider(String),
}

/// The console's OIDC login.
#[derive(Clone, Debug, Default)]
pub enum ConsoleLogin {
    /// A pasted token only.
    #[default]
    TokenOnly,
    /// The suite runs its SANDBOX identity provider (anyone signs in as any
    /// role) and the services accept its tokens: development only.
    SandboxIdentityProvider,
    /// An identity provider of the deployment; the services accept its
    /// tokens when `auth` accepts its issuer with its keys.
    IdentityProvider { authority: String, client_id: String, scope: String },
}

/// PEM files for mutual TLS inside the suite: the services present the
/// server certificate and require client certificates signed by the CA;
/// the gateway presents the client certificate.
#[derive(Clone, Debug)]
pub struct SuiteTls {
    pub ca_file: PathBuf,
    pub server_cert_file: PathBuf,
    pub server_key_file: PathBuf,
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    /// The name in the server certificate.
    pub server_name: String,
}

/// The address of each running service.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// The one address clients use.
    pub gateway: SocketAddr,
    pub accounts: SocketAddr,
    pub pricing: SocketAddr,
    pub credit: SocketAddr,
    pub billing: SocketAddr,
    pub reseller_sync: SocketAddr,
    /// Prometheus metrics of the whole process (`GET /metrics`): in one
    /// process the services share one recorder.
    pub metrics: SocketAddr,
    /// The administration console (HTTP).
    pub console: SocketAddr,
}

/// Port offsets from the base port, when the ports are fixed.
const GATEWAY_OFFSET: u16 = 0;
const ACCOUNTS_OFFSET: u16 = 1;
const PRICING_OFFSET: u16 = 2;
const CREDIT_OFFSET: u16 = 3;
const BILLING_OFFSET: u16 = 4;
const RESELLER_SYNC_OFFSET: u16 = 5;
const SANDBOX_IDP_OFFSET: u16 = 7;
const CONSOLE_OFFSET: u16 = 8;
const METRICS_OFFSET: u16 = 9;

impl Endpoints {
    /// Where `bss-suite run --base-port <base_port>` listens.
    pub fn fixed(host: IpAddr, base_port: u16) -> Endpoints {
        Endpoints {
            gateway: SocketAddr::new(host, base_port + GATEWAY_OFFSET),
            accounts: SocketAddr::new(host, base_port + ACCOUNTS_OFFSET),
            pricing: SocketAddr::new(host, base_port + PRICING_OFFSET),
            credit: SocketAddr::new(host, base_port + CREDIT_OFFSET),
            billing: SocketAddr::new(host, base_port + BILLING_OFFSET),
            reseller_sync: SocketAddr::new(host, base_port + RESELLER_SYNC_OFFSET),
            metrics: SocketAddr::new(host, base_port + METRICS_OFFSET),
            console: SocketAddr::new(host, base_port + CONSOLE_OFFSET),
        }
    }

    pub fn list(&self) -> Vec<(&'static str, SocketAddr)> {
        vec![
            ("gateway", self.gateway),
            ("accounts", self.accounts),
            ("pricing", self.pricing),
            ("credit", self.credit),
            ("billing", self.billing),
            ("reseller-sync", self.reseller_sync),
            ("metrics (HTTP)", self.metrics),
            ("console (HTTP)", self.console),
        ]
    }
}

/// A started suite. Trigger the shutdown given to `start` to stop it, then
/// `wait` for every service to finish.
pub struct Suite {
    pub endpoints: Endpoints,
    /// The SANDBOX identity provider, when the suite runs one.
    pub sandbox_idp: Option<Arc<SandboxIdp>>,
    tasks: JoinSet<(&'static str, Result<(), String>)>,
}

impl Suite {
    pub async fn start(config: &SuiteConfig, shutdown: Shutdown) -> Result<Suite, StartupError> {
        // Every listener is bound first, so each service knows the others'
        // addresses before any starts.
        let mut tasks = JoinSet::new();
        let bind = |offset: u16| {
            let port = if config.base_port == 0 { 0 } else { config.base_port + offset };
            TcpListener::bind(SocketAddr::new(config.host, port))
        };
        let (gateway_listener, accounts_listener, pricing_listener, credit_listener, billing_listener) = (
            bind(GATEWAY_OFFSET).await?,
            bind(ACCOUNTS_OFFSET).await?,
            bind(PRICING_OFFSET).await?,
            bind(CREDIT_OFFSET).await?,
            bind(BILLING_OFFSET).await?,
        );
        let reseller_sync_listener = bind(RESELLER_SYNC_OFFSET).await?;
        let metrics_listener = bind(METRICS_OFFSET).await?;
        let console_listener = bind(CONSOLE_OFFSET).await?;
        let endpoints = Endpoints {
            gateway: gateway_listener.local_addr()?,
            accounts: accounts_listener.local_addr()?,
            pricing: pricing_listener.local_addr()?,
            credit: credit_listener.local_addr()?,
            billing: billing_listener.local_addr()?,
            reseller_sync: reseller_sync_listener.local_addr()?,
            metrics: metrics_listener.local_addr()?,
            console: console_listener.local_addr()?,
        };
        // The console's page calls the gateway (and an identity provider)
        // from its own origin: on a loopback address, as `localhost` or
        // the address itself.
        let mut console_origins = vec![format!("http://{}", endpoints.console)];
        if endpoints.console.ip().is_loopback() {
            console_origins.push(format!("http://localhost:{}", endpoints.console.port()));
        }
        let mut auth = config.auth.clone();
        let sandbox_idp = match config.console_login {
            ConsoleLogin::SandboxIdentityProvider => {
                let listener = bind(SANDBOX_IDP_OFFSET).await?;
                let idp = SandboxIdp::generate(SandboxIdpConfig {
                    issuer: format!("http://{}", listener.local_addr()?),
                    client_id: "bss-console".to_owned(),
                    redirect_uris: console_origins.iter().map(|origin| format!("{origin}/callback")).collect(),
                    audience: auth.audience.clone(),
                    token_ttl: Duration::from_secs(3600),
                })
                .map_err(|why| std::io::Error::other(format!("the sandbox identity provider: {why}")))?;
                auth.accepted_issuers.push(AcceptedIssuer {
                    issuer: idp.issuer().to_owned(),
                    public_keys: vec![idp.public_key_pem().to_owned()],
                });
                let router = idp.router(&console_origins);
                let stopped = shutdown.clone();
                tasks.spawn(async move {
                    let served =
                        axum::serve(listener, router).with_graceful_shutdown(async move { stopped.wait().await });
                    ("sandbox identity provider", served.await.map_err(|error| error.to_string()))
                });
                Some(idp)
            }
            _ => None,
        };
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        let url = |address: SocketAddr| format!("{scheme}://{address}");
        let client_tls = config.tls.as_ref().map(|tls| ClientTlsFiles {
            ca_file: tls.ca_file.clone(),
            cert_file: Some(tls.client_cert_file.clone()),
            key_file: Some(tls.client_key_file.clone()),
            domain_name: Some(tls.server_name.clone()),
        });
        let service_config = |address: SocketAddr| PlatformConfig {
            listen_addr: address,
            metrics_addr: None,
            database: config.database.clone(),
            auth: auth.clone(),
            server: ServerConfig {
                tls: config.tls.as_ref().map(|tls| ServerTlsFiles {
                    cert_file: tls.server_cert_file.clone(),
                    key_file: tls.server_key_file.clone(),
                    client_ca_file: Some(tls.ca_file.clone()),
                }),
                ..config.server.clone()
            },
            telemetry: TelemetryConfig::default(),
            peer_tls: client_tls.clone(),
        };
        let metrics_shutdown = shutdown.clone();
        tasks.spawn(async move {
            (
                "metrics",
                bss_platform::metrics::serve(metrics_listener, metrics_shutdown).await.map_err(|e| e.to_string()),
            )
        });

        let accounts_config = bss_accounts::AccountsConfig {
            pricing_url: Some(url(endpoints.pricing)),
            billing_url: Some(url(endpoints.billing)),
            credit_url: Some(url(endpoints.credit)),
            ..bss_accounts::AccountsConfig::new(service_config(endpoints.accounts))
        };
        let accounts = bss_accounts::App::build(&accounts_config, accounts_listener, shutdown.clone()).await?;
        tasks.spawn(async move { ("accounts", accounts.run_until_stopped().await.map_err(|error| error.to_string())) });

        let pricing_config = bss_pricing::PricingConfig {
            accounts_url: Some(url(endpoints.accounts)),
            ..bss_pricing::PricingConfig::new(service_config(endpoints.pricing))
        };
        let pricing = bss_pricing::App::build(&pricing_config, pricing_listener, shutdown.clone()).await?;
        tasks.spawn(async move { ("pricing", pricing.run_until_stopped().await.map_err(|error| error.to_string())) });

        let billing_config = bss_billing::BillingConfig {
            accounts_url: Some(url(endpoints.accounts)),
            credit_url: Some(url(endpoints.credit)),
            pricing_url: Some(url(endpoints.pricing)),
            sandbox_payments: matches!(config.payments, Payments::Sandbox),
            payment_provider_url: match &config.payments {
                Payments::Provider(url) => Some(url.clone()),
                Payments::None | Payments::Sandbox => None,
            },
            ..bss_billing::BillingConfig::new(service_config(endpoints.billing))
        };
        let billing = bss_billing::App::build(&billing_config, billing_listener, shutdown.clone()).await?;
        tasks.spawn(async move { ("billing", billing.run_until_stopped().await.map_err(|error| error.to_string())) });

        let credit_config = bss_credit::CreditConfig {
            accounts_url: Some(url(endpoints.accounts)),
            billing_url: Some(url(endpoints.billing)),
            ..bss_credit::CreditConfig::new(service_config(endpoints.credit))
        };
        let credit = bss_credit::App::build(&credit_config, credit_listener, shutdown.clone()).await?;
        tasks.spawn(async move { ("credit", credit.run_until_stopped().await.map_err(|error| error.to_string())) });

        let sync_config = bss_reseller_sync::ResellerSyncConfig::new(
            service_config(endpoints.reseller_sync),
            url(endpoints.accounts),
            url(endpoints.billing),
        );
        if config.reseller_sync {
            let sync = bss_reseller_sync::App::build(&sync_config, reseller_sync_listener, shutdown.clone()).await?;
            tasks.spawn(
                async move { ("reseller-sync", sync.run_until_stopped().await.map_err(|error| error.to_string())) },
            );
        }

        let backends = BTreeMap::from([
            ("accounts".to_owned(), url(endpoints.accounts)),
            ("pricing".to_owned(), url(endpoints.pricing)),
            ("credit".to_owned(), url(endpoints.credit)),
            ("billing".to_owned(), url(endpoints.billing)),
            ("resellersync".to_owned(), url(endpoints.reseller_sync)),
        ]);
        let mut gateway_config = GatewayConfig {
            server: config.server.clone(),
            rate_limit: config.rate_limit.clone(),
            backend_tls: client_tls,
            cors_allowed_origins: console_origins.into_iter().chain(config.cors_allowed_origins.clone()).collect(),
            ..GatewayConfig::new(endpoints.gateway, auth, backends)
        };
        let given = &config.gateway;
        gateway_config.connections_per_backend =
            given.connections_per_backend.unwrap_or(gateway_config.connections_per_backend);
        gateway_config.default_deadline_ms = given.default_deadline_ms.unwrap_or(gateway_config.default_deadline_ms);
        gateway_config.max_deadline_ms = given.max_deadline_ms.unwrap_or(gateway_config.max_deadline_ms);
        let mut console_config =
            bss_console::ConsoleConfig::new(endpoints.console, config.console_dir.clone(), url(endpoints.gateway));
        match (&config.console_login, &sandbox_idp) {
            (ConsoleLogin::IdentityProvider { authority, client_id, scope }, _) => {
                console_config.oidc_authority = Some(authority.clone());
                console_config.oidc_client_id = client_id.clone();
                console_config.oidc_scope = scope.clone();
            }
            (_, Some(idp)) => {
                console_config.oidc_authority = Some(idp.issuer().to_owned());
                console_config.oidc_client_id = "bss-console".to_owned();
            }
            _ => {}
        }
        let console = bss_console::App::build(&console_config, console_listener, shutdown.clone())?;
        tasks.spawn(async move { ("console", console.run_until_stopped().await.map_err(|error| error.to_string())) });

        // On a thread of its own, as the gateway binary serves: on the
        // suite's runtime every forwarded call would wake another of its
        // threads (see P1 in the README). Started last: nothing after it
        // can fail and leave it running.
        let gateway = bss_gateway::Threads::start_on(&gateway_config, gateway_listener.into_std()?, shutdown.clone())?;
        // A suite dropped (its tasks aborted) stops the gateway's thread.
        let stop = shutdown.trigger_on_drop();
        tasks.spawn(async move {
            let _stop = stop;
            let served = tokio::task::spawn_blocking(move || gateway.join()).await;
            (
                "gateway",
                served.map_err(|error| error.to_string()).and_then(|served| served.map_err(|error| error.to_string())),
            )
        });

        Ok(Suite { endpoints, sandbox_idp, tasks })
    }

    /// Waits until every service has stopped; names the ones that failed.
    pub async fn wait(mut self) -> Result<(), String> {
        let mut failures = Vec::new();
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((name, Err(error))) => failures.push(format!("{name}: {error}")),
                Err(error) => failures.push(format!("task: {error}")),
            }
        }
        if failures.is_empty() { Ok(()) } else { Err(failures.join("; ")) }
    }
}
