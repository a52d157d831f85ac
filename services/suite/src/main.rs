//! `bss-suite`: runs the whole suite on one machine (`make run`), wraps a
//! command with a reachable Postgres (`make test`, `make bench`), and mints
//! development tokens.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bss_gateway::rate_limit::RateLimitConfig;
use bss_platform::auth::{Role, TokenIssuer, TokenSpec};
use bss_platform::config::{AcceptedIssuer, AuthConfig, DatabaseConfig, Secret, ServerConfig};
use bss_platform::shutdown::Shutdown;
use bss_proto::accounts::tenant_service_client::TenantServiceClient;
use bss_proto::accounts::{CreateTenantRequest, Tenant};
use bss_suite::postgres::{self, LocalPostgres};
use bss_suite::{ConsoleLogin, GatewaySettings, Payments, Suite, SuiteConfig};
use clap::{Args, Parser, Subcommand};
use sqlx::Connection;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bss_platform::auth::DEVELOPMENT_HS256_SECRET as DEV_SECRET;
/// How long `make run` says NOT_SERVING before it stops, unless
/// `BSS_SERVER__DRAIN_DELAY_MS` says (nothing balances load in front of it).
const MAKE_RUN_DRAIN_DELAY_MS: u64 = 500;
const DEFAULT_LOCAL_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Parser)]
#[command(name = "bss-suite", about = "Run the BSS account suite on one machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start every service (and a private Postgres when DATABASE_URL is not set).
    Run(RunArgs),
    /// Run a command with DATABASE_URL pointing at a reachable Postgres,
    /// starting a private one when none is reachable.
    WithPostgres(WithPostgresArgs),
    /// Print a development token.
    Token(TokenArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Folder of the private Postgres (git-ignored).
    #[arg(long, default_value = ".data/postgres")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port of the gateway; the services follow it.
    #[arg(long, env = "BSS_BASE_PORT", default_value_t = 50050)]
    base_port: u16,
    /// The built administration console (`make console`).
    #[arg(long, env = "BSS_CONSOLE_DIR", default_value = "console/dist")]
    console_dir: PathBuf,
    /// Further web origins allowed to call the gateway over gRPC-Web, comma
    /// separated or as the gateway's list (`["https://a","https://b"]`);
    /// the console's own is always allowed.
    #[arg(long, env = "BSS_CORS_ALLOWED_ORIGINS", default_value = "")]
    cors_allowed_origins: String,
    /// The console signs in at this OIDC identity provider (its issuer
    /// URL) instead of the sandbox one; the services accept its tokens,
    /// verified with the keys of `--console-oidc-public-key-file`.
    #[arg(long, env = "BSS_CONSOLE_OIDC_AUTHORITY")]
    console_oidc_authority: Option<String>,
    /// Files of the identity provider's PEM public keys (EC P-256 or RSA),
    /// comma separated.
    #[arg(long, env = "BSS_CONSOLE_OIDC_PUBLIC_KEY_FILES", value_delimiter = ',')]
    console_oidc_public_key_files: Vec<PathBuf>,
    #[arg(long, env = "BSS_CONSOLE_OIDC_CLIENT_ID", default_value = "bss-console")]
    console_oidc_client_id: String,
    #[arg(long, env = "BSS_CONSOLE_OIDC_SCOPE", default_value = "openid profile")]
    console_oidc_scope: String,
    /// Runs the SANDBOX identity provider (anyone signs in as any role)
    /// for the console's single sign-on, unless a real one is named; only
    /// on a loopback address.
    #[arg(long, env = "BSS_SANDBOX_IDP", default_value_t = true, action = clap::ArgAction::Set)]
    sandbox_idp: bool,
    /// A payment provider implementing bss.provider.v1.PaymentProviderService
    /// (as billing's `BSS_PAYMENT_PROVIDER_URL`); it replaces the sandbox.
    #[arg(long, env = "BSS_PAYMENT_PROVIDER_URL")]
    payment_provider_url: Option<String>,
    /// Pays card and PayPal orders through billing's SANDBOX provider (it
    /// moves no money) when no provider is named; only on a loopback
    /// address. `false`: such orders are refused (PAYMENT_PROVIDER_MISSING).
    #[arg(long, env = "BSS_SANDBOX_PAYMENTS", default_value_t = true, action = clap::ArgAction::Set)]
    sandbox_payments: bool,
}

/// What `make run` reads as every standalone service reads it, from the
/// same sources (`BSS_CONFIG_FILE`, `BSS_*` variables, `*_FILE` secrets)
/// under the same names: tokens (`BSS_AUTH__*`; the development HS256
/// secret unless one is given), the server's limits (`BSS_SERVER__*`, each
/// service's and the gateway's), the pools (`BSS_DATABASE__*`), the
/// gateway's rate limits (`BSS_RATE_LIMIT__*`) and its own settings.
#[derive(serde::Deserialize)]
struct Settings {
    #[serde(default)]
    auth: AuthConfig,
    server: ServerConfig,
    /// Every service's pool as `BSS_DATABASE__*` gives it; the address as
    /// `DATABASE_URL` (or `DATABASE_URL_FILE`, `BSS_DATABASE__URL`, the
    /// configuration file's `database.url`), empty for a private Postgres.
    database: DatabaseConfig,
    #[serde(default)]
    rate_limit: RateLimitConfig,
    #[serde(flatten)]
    gateway: GatewaySettings,
}

impl Settings {
    fn load() -> Result<Settings, Error> {
        // Stopped at once on this machine, unless the server's settings say.
        let defaults = figment::Figment::new()
            .merge(figment::providers::Serialized::default("server.drain_delay_ms", MAKE_RUN_DRAIN_DELAY_MS))
            .merge(figment::providers::Serialized::default("database.url", ""));
        let mut settings: Settings = bss_platform::config::load_over(defaults)?;
        if settings.server.tls.is_some() {
            return Err("make run serves plaintext on the loopback address its clients use: BSS_SERVER__TLS__* \
                        (TLS between clients and a service) is for the standalone services"
                .into());
        }
        if settings.auth.hs256_secret.is_none() {
            settings.auth.hs256_secret = Some(Secret::new(DEV_SECRET));
        }
        Ok(settings)
    }

    /// Tokens of the HS256 secret the services accept.
    fn issuer(&self) -> TokenIssuer {
        issuer(&self.auth)
    }
}

/// Tokens of the HS256 secret `auth` gives (the development one by default).
fn issuer(auth: &AuthConfig) -> TokenIssuer {
    let secret = auth.hs256_secret.as_ref().map(Secret::expose).unwrap_or(DEV_SECRET);
    TokenIssuer::hs256(secret, &auth.issuer, &auth.audience)
}

/// What `bss-suite token` reads: the token settings alone.
#[derive(serde::Deserialize)]
struct AuthSettings {
    #[serde(default)]
    auth: AuthConfig,
}

impl RunArgs {
    /// How card and PayPal orders are paid: the provider named, else the
    /// sandbox when asked for and the suite listens on a loopback address
    /// only (it approves any card), else none.
    fn payments(&self) -> Payments {
        match (&self.payment_provider_url, self.sandbox_payments) {
            (Some(url), _) => Payments::Provider(url.clone()),
            (None, true) if self.host.is_loopback() => Payments::Sandbox,
            (None, true) => {
                eprintln!(
                    "The SANDBOX payment provider runs only on a loopback address: card and PayPal orders are \
                     refused (name a provider with BSS_PAYMENT_PROVIDER_URL)."
                );
                Payments::None
            }
            (None, false) => Payments::None,
        }
    }

    /// How the console signs in, and the services' token configuration
    /// that goes with it.
    /// How the console signs in, and `auth` accepting its identity
    /// provider's tokens.
    fn console_login(&self, mut auth: AuthConfig) -> Result<(ConsoleLogin, AuthConfig), Error> {
        let login = match self.console_oidc_authority.as_deref().map(str::trim) {
            Some(authority) if !authority.is_empty() => {
                let keys = self.console_oidc_public_key_files.iter().map(|file| {
                    std::fs::read_to_string(file)
                        .map_err(|error| format!("the identity provider's key {}: {error}", file.display()))
                });
                auth.accepted_issuers.push(AcceptedIssuer {
                    issuer: authority.to_owned(),
                    public_keys: keys.collect::<Result<_, _>>()?,
                });
                ConsoleLogin::IdentityProvider {
                    authority: authority.to_owned(),
                    client_id: self.console_oidc_client_id.clone(),
                    scope: self.console_oidc_scope.clone(),
                }
            }
            // Anyone who reaches it signs in as anyone: never beyond this machine.
            _ if self.sandbox_idp && self.host.is_loopback() => ConsoleLogin::SandboxIdentityProvider,
            _ => ConsoleLogin::TokenOnly,
        };
        Ok((login, auth))
    }
}

#[derive(Args)]
struct WithPostgresArgs {
    /// Folder of the private Postgres, when one is needed.
    #[arg(long, default_value = ".data/test-postgres")]
    data_dir: PathBuf,
    /// Connections the command needs at once: a reachable Postgres that
    /// allows fewer is passed over for a private one that allows them.
    #[arg(long, default_value_t = 0)]
    min_connections: u32,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, required = true)]
    command: Vec<String>,
}

#[derive(Args)]
struct TokenArgs {
    /// Tenant id, `*` for a service identity, or nothing for a platform admin.
    #[arg(long)]
    tenant: Option<String>,
    /// Roles, comma separated (platform_admin, tenant_admin, account_manager,
    /// sales_rep, credit_manager, billing_clerk, integration, customer_user).
    #[arg(long, value_delimiter = ',', default_value = "tenant_admin")]
    roles: Vec<Role>,
    #[arg(long)]
    sales_rep_id: Option<String>,
    /// The user a customer_user token acts as (it acts for that user's
    /// account).
    #[arg(long)]
    user_id: Option<uuid::Uuid>,
    #[arg(long, default_value = "dev")]
    subject: String,
    #[arg(long, default_value_t = 12)]
    ttl_hours: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::WithPostgres(args) => with_postgres(args).await,
        // Signed as `make run` verifies: the same settings (BSS_AUTH__*,
        // the secret from a file too), the development secret by default.
        Command::Token(args) => bss_platform::config::load::<AuthSettings>().map_err(Error::from).map(|settings| {
            let who = Who { subject: &args.subject, tenant: args.tenant, roles: args.roles };
            println!("{}", mint(&issuer(&settings.auth), who, (args.sales_rep_id, args.user_id), args.ttl_hours));
            ExitCode::SUCCESS
        }),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("bss-suite: {error}");
            ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Who a token is for.
struct Who<'a> {
    subject: &'a str,
    tenant: Option<String>,
    roles: Vec<Role>,
}

fn mint(
    issuer: &TokenIssuer,
    who: Who<'_>,
    (sales_rep_id, user_id): (Option<String>, Option<uuid::Uuid>),
    ttl_hours: u64,
) -> String {
    issuer.mint(&TokenSpec {
        subject: who.subject.to_owned(),
        tenant: who.tenant,
        roles: who.roles,
        sales_rep_id,
        user_id,
        ttl: Duration::from_secs(ttl_hours * 3600),
    })
}

/// The items of a list variable (`BSS_CORS_ALLOWED_ORIGINS`) in either
/// form the suite's configuration uses: the services' list (`["https://a","https://b"]`) or comma
/// separated.
fn list(value: &str) -> Vec<String> {
    value
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|origin| origin.trim().trim_matches('"').trim().to_owned())
        .filter(|origin| !origin.is_empty())
        .collect()
}

async fn run(args: RunArgs) -> Result<ExitCode, Error> {
    // Logs and spans as the standalone services make them: the same
    // variables (BSS_TELEMETRY__LOG_FORMAT, OTEL_EXPORTER_OTLP_ENDPOINT).
    let telemetry = bss_platform::config::load_telemetry()?;
    let _telemetry = bss_platform::telemetry::init("bss-suite", &telemetry)?;
    let settings = Settings::load()?;
    let (database_url, private) = match settings.database.url.expose() {
        "" => {
            println!("starting a private Postgres in {}", args.data_dir.display());
            let server = LocalPostgres::start(&args.data_dir).await?;
            let url = ensure_database(&server.url(), "bss").await?;
            (url, Some(server))
        }
        url => (url.to_owned(), None),
    };

    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let (console_login, auth) = args.console_login(settings.auth.clone())?;
    let config = SuiteConfig {
        database: DatabaseConfig { url: Secret::new(database_url), ..settings.database.clone() },
        host: args.host,
        base_port: args.base_port,
        auth,
        server: settings.server.clone(),
        rate_limit: settings.rate_limit.clone(),
        gateway: settings.gateway.clone(),
        tls: None,
        reseller_sync: true,
        payments: args.payments(),
        console_dir: args.console_dir.clone(),
        cors_allowed_origins: list(&args.cors_allowed_origins),
        console_login,
    };
    let started = Suite::start(&config, shutdown.clone()).await;
    let suite = match started {
        Ok(suite) => suite,
        Err(error) => {
            if let Some(server) = private {
                server.stop().await?;
            }
            return Err(error.into());
        }
    };

    let issuer = settings.issuer();
    let platform_admin = Who { subject: "dev:platform-admin", tenant: None, roles: vec![Role::PlatformAdmin] };
    let platform_token = mint(&issuer, platform_admin, (None, None), 12);
    let demo_tenant = create_demo_tenant(suite.endpoints.gateway, &platform_token).await?;
    let tenant_admin =
        Who { subject: "dev:tenant-admin", tenant: Some(demo_tenant.clone()), roles: vec![Role::TenantAdmin] };
    let tenant_token = mint(&issuer, tenant_admin, (None, None), 12);
    if let Some(idp) = &suite.sandbox_idp {
        idp.set_default_tenant(&demo_tenant);
    }

    println!();
    println!("The BSS suite is running. Call the gateway; the services behind it are listed for operators.");
    for (name, address) in suite.endpoints.list() {
        println!("  {name:<14} {address}");
    }
    println!();
    match &suite.sandbox_idp {
        Some(idp) => println!(
            "Console: http://{} (sign in with a token below, or single sign-on at the SANDBOX identity provider {})",
            suite.endpoints.console,
            idp.issuer()
        ),
        None => println!("Console: http://{} (sign in with a token below)", suite.endpoints.console),
    }
    println!("Demo tenant: {demo_tenant}");
    println!("Platform admin token (12 h):\n  {platform_token}");
    println!("Tenant admin token for the demo tenant (12 h):\n  {tenant_token}");
    println!();
    println!("Try:");
    println!("  export TOKEN={tenant_token}");
    println!("  grpcurl -plaintext {} list", suite.endpoints.gateway);
    println!(
        "  grpcurl -plaintext -H \"authorization: Bearer $TOKEN\" -d '{{\"account\":{{\"code\":\"ACME\",\"name\":\"Acme\"}}}}' {} bss.accounts.v1.AccountService/CreateAccount",
        suite.endpoints.gateway
    );
    println!();
    println!("Ctrl-C stops everything.");

    let stopped = suite.wait().await;
    if let Some(server) = private {
        println!("stopping the private Postgres");
        server.stop().await?;
    }
    stopped?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the database `name` on the server at `server_url` unless it
/// exists, and returns its URL.
async fn ensure_database(server_url: &str, name: &str) -> Result<String, Error> {
    let mut connection = sqlx::PgConnection::connect(server_url).await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut connection)
        .await?;
    if !exists {
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut connection).await?;
    }
    connection.close().await?;
    Ok(format!("{}/{name}", server_url.trim_end_matches("/postgres")))
}

/// The demo tenant, created once per database (the request id makes a
/// restart return the same tenant).
async fn create_demo_tenant(gateway: std::net::SocketAddr, platform_token: &str) -> Result<String, Error> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{gateway}"))?.connect().await?;
    let mut tenants = TenantServiceClient::new(channel);
    let mut request = tonic::Request::new(CreateTenantRequest {
        tenant: Some(Tenant { name: "Demo".to_owned(), default_currency: "EUR".to_owned(), ..Tenant::default() }),
        request_id: "bss-suite-demo-tenant".to_owned(),
    });
    request.metadata_mut().insert("authorization", format!("Bearer {platform_token}").parse()?);
    let tenant = tenants.create_tenant(request).await?.into_inner().tenant.unwrap_or_default();
    Ok(tenant.id)
}

async fn with_postgres(args: WithPostgresArgs) -> Result<ExitCode, Error> {
    let (program, arguments) = args.command.split_first().ok_or("no command given")?;
    let mut private = None;
    let at_hand = match std::env::var("DATABASE_URL") {
        Ok(url) => Some(url),
        Err(_) if postgres::reachable(DEFAULT_LOCAL_URL).await => Some(DEFAULT_LOCAL_URL.to_owned()),
        Err(_) => None,
    };
    let enough = match &at_hand {
        Some(url) if args.min_connections > 0 => {
            let allowed = postgres::max_connections(url).await;
            let enough = allowed.is_some_and(|allowed| allowed >= args.min_connections);
            if !enough {
                eprintln!(
                    "the Postgres at hand allows {} connections, fewer than the {} this needs",
                    allowed.map_or("an unknown number of".to_owned(), |allowed| allowed.to_string()),
                    args.min_connections
                );
            }
            enough
        }
        Some(_) => true,
        None => false,
    };
    let url = match at_hand {
        Some(url) if enough => url,
        _ => {
            eprintln!("starting a private Postgres in {}", args.data_dir.display());
            let allowed = args.min_connections.max(postgres::DEFAULT_MAX_CONNECTIONS);
            let server = LocalPostgres::start_with(&args.data_dir, allowed).await?;
            let url = server.url();
            private = Some(server);
            url
        }
    };
    let mut child = tokio::process::Command::new(program).args(arguments).env("DATABASE_URL", &url).spawn()?;
    // Ctrl-C reaches the child too; wait for it, then clean up.
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    if let Some(server) = private {
        server.stop().await?;
    }
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

#[cfg(test)]
mod tests {
    use super::list;

    #[test]
    fn allowed_origins_read_as_a_list_or_comma_separated() {
        let both = ["https://a.example", "http://localhost:5173"];
        assert_eq!(list(r#"["https://a.example", "http://localhost:5173"]"#), both);
        assert_eq!(list("https://a.example,http://localhost:5173"), both);
        assert!(list("").is_empty() && list("[]").is_empty());
    }
}
