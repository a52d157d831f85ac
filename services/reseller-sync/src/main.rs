//! The reseller-sync service binary: configuration, telemetry, then serve.

use bss_platform::config;
use bss_platform::shutdown::Shutdown;
use bss_platform::telemetry;
use bss_reseller_sync::{App, ResellerSyncConfig};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config: ResellerSyncConfig = config::load()?;
    let _telemetry = telemetry::init("bss-reseller-sync", &config.platform.telemetry)?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let listener = tokio::net::TcpListener::bind(config.platform.listen_addr).await?;
    let app = App::build(&config, listener, shutdown).await?;
    tracing::info!(address = %app.local_addr()?, "reseller-sync service listening");
    app.run_until_stopped().await?;
    Ok(())
}
