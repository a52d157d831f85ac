//! The console binary: configuration, telemetry, then serve.

use bss_console::{App, ConsoleConfig};
use bss_platform::config;
use bss_platform::shutdown::Shutdown;
use bss_platform::telemetry;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config: ConsoleConfig = config::load()?;
    let _telemetry = telemetry::init("bss-console", &config.telemetry)?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let listener = tokio::net::TcpListener::bind(config.listen_addr).await?;
    let app = App::build(&config, listener, shutdown)?;
    tracing::info!(address = %app.local_addr()?, dir = %config.dir.display(), gateway = %config.gateway_url, "console listening");
    app.run_until_stopped().await?;
    Ok(())
}
