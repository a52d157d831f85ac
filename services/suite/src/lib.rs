//! The whole suite in one process, for development, demos and the
//! end-to-end tests: every service on its own port over one database (each
//! in its own schema).

pub mod postgres;

use std::net::{IpAddr, SocketAddr};

use bss_platform::config::{AuthConfig, DatabaseConfig, PlatformConfig, ServerConfig, TelemetryConfig};
use bss_platform::server::StartupError;
use bss_platform::shutdown::Shutdown;
use tokio::task::JoinSet;

/// Where and how the suite runs.
#[derive(Clone, Debug)]
pub struct SuiteConfig {
    pub database_url: String,
    pub host: IpAddr,
    /// Port of the first service; the others follow. 0 picks free ports.
    pub base_port: u16,
    pub auth: AuthConfig,
    pub server: ServerConfig,
    pub max_connections_per_service: u32,
}

/// The address of each running service.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub accounts: SocketAddr,
}

impl Endpoints {
    pub fn list(&self) -> Vec<(&'static str, SocketAddr)> {
        vec![("accounts", self.accounts)]
    }
}

/// A started suite. Trigger the shutdown given to `start` to stop it, then
/// `wait` for every service to finish.
pub struct Suite {
    pub endpoints: Endpoints,
    tasks: JoinSet<(&'static str, Result<(), String>)>,
}

impl Suite {
    pub async fn start(config: &SuiteConfig, shutdown: Shutdown) -> Result<Suite, StartupError> {
        let service_config = |offset: u16| PlatformConfig {
            listen_addr: SocketAddr::new(
                config.host,
                if config.base_port == 0 { 0 } else { config.base_port + offset },
            ),
            database: DatabaseConfig {
                max_connections: config.max_connections_per_service,
                ..DatabaseConfig::new(config.database_url.clone())
            },
            auth: config.auth.clone(),
            server: config.server.clone(),
            telemetry: TelemetryConfig::default(),
        };
        let mut tasks = JoinSet::new();

        let accounts = bss_accounts::App::build(&service_config(0), shutdown.clone()).await?;
        let endpoints = Endpoints { accounts: accounts.local_addr()? };
        tasks.spawn(async move { ("accounts", accounts.run_until_stopped().await.map_err(|error| error.to_string())) });

        Ok(Suite { endpoints, tasks })
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
