//! The billing service binary: configuration, telemetry, then serve.

use bss_billing::{App, BillingConfig};
use bss_platform::config;
use bss_platform::shutdown::Shutdown;
use bss_platform::telemetry;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config: BillingConfig = config::load()?;
    let _telemetry = telemetry::init("bss-billing", &config.platform.telemetry)?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let listener = tokio::net::TcpListener::bind(config.platform.listen_addr).await?;
    let app = App::build(&config, listener, shutdown).await?;
    tracing::info!(address = %app.local_addr()?, "billing service listening");
    app.run_until_stopped().await?;
    Ok(())
}
