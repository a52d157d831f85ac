//! Services started one by one in the test process, over one fresh
//! database: what a service's API tests start (the service, and the peers
//! it calls), each on a port of its own. [`crate::TestApp`] starts the
//! whole suite instead.

use std::net::SocketAddr;

use bss_platform::config::PlatformConfig;
use bss_platform::events::EventLog;
use bss_platform::shutdown::Shutdown;
use bss_testkit::TestDatabase;
use tokio::net::TcpListener;
use tonic::transport::Channel;

/// A fresh database and the services started over it; dropping it stops
/// them.
pub struct Kit {
    database: TestDatabase,
    shutdown: Shutdown,
}

impl Drop for Kit {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// A service started by the kit.
pub struct Service {
    pub address: SocketAddr,
    /// A channel to it.
    pub channel: Channel,
    /// Its pool, in its own schema.
    pub db: sqlx::PgPool,
    /// Its event log (for the services that publish events).
    pub events: Option<EventLog>,
}

impl Service {
    /// Its address as a peer's configuration names it.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// A port bound before the service on it starts (two services that call
/// each other need both addresses first).
pub async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let address = listener.local_addr().expect("bound");
    (listener, address)
}

/// Starts a service's `App` (built from `$config` on `$listener`) and
/// answers its [`Service`]; `$events` says whether it publishes events.
macro_rules! start {
    ($kit:expr, $app:path, $config:expr, $listener:expr, $events:tt) => {{
        let app = <$app>::build(&$config, $listener, $kit.shutdown.clone()).await.expect("the service starts");
        let address = app.local_addr().expect("bound");
        let db = app.db().clone();
        let events = start!(@events app, $events);
        tokio::spawn(app.run_until_stopped());
        Service { address, channel: bss_testkit::channel(address).await, db, events }
    }};
    (@events $app:ident, true) => {
        Some($app.events().clone())
    };
    (@events $app:ident, false) => {
        None
    };
}

impl Kit {
    /// A fresh database, nothing started yet.
    pub async fn new() -> Kit {
        bss_testkit::init_logging();
        Kit { database: TestDatabase::create().await, shutdown: Shutdown::new() }
    }

    pub fn database_url(&self) -> &str {
        self.database.url()
    }

    /// The platform configuration of a service over the kit's database.
    pub fn platform(&self) -> PlatformConfig {
        bss_testkit::platform_config(self.database.url())
    }

    pub async fn accounts(&self, listener: TcpListener, config: bss_accounts::AccountsConfig) -> Service {
        start!(self, bss_accounts::App, config, listener, false)
    }

    pub async fn pricing(&self, listener: TcpListener, config: bss_pricing::PricingConfig) -> Service {
        start!(self, bss_pricing::App, config, listener, false)
    }

    pub async fn credit(&self, listener: TcpListener, config: bss_credit::CreditConfig) -> Service {
        start!(self, bss_credit::App, config, listener, true)
    }

    pub async fn billing(&self, listener: TcpListener, config: bss_billing::BillingConfig) -> Service {
        start!(self, bss_billing::App, config, listener, true)
    }

    /// What stops every service the kit started (a test may stop them
    /// first).
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }
}
