//! The gateway binary: configuration, telemetry, then serve on a thread
//! per core.

use bss_gateway::{GatewayConfig, Threads};
use bss_platform::config;
use bss_platform::shutdown::Shutdown;
use bss_platform::telemetry;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let config: GatewayConfig = config::load()?;
    let threads =
        config.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get));
    // This runtime runs telemetry's export and waits for signals; calls are
    // served by the gateway's own threads, and this thread waits for them.
    // Its worker drives the exporter while the telemetry guard flushes it.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let _entered = runtime.enter();
    let _telemetry = telemetry::init("bss-gateway", &config.telemetry)?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();
    let gateway = Threads::start(&config, threads, shutdown)?;
    tracing::info!(address = %gateway.local_addr(), threads, backends = ?config.backends, "gateway listening");
    gateway.join()?;
    Ok(())
}
