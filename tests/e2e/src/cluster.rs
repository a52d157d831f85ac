//! The suite as separate processes, one per service binary, configured as
//! Kubernetes configures them (environment variables), for the fault
//! tests: a service can be sent SIGTERM, killed, started again on its
//! port; Postgres can be a private server the test stops and starts; a
//! proxy (latency, resets) can sit between a service and its database or
//! between two services.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use bss_suite::postgres::LocalPostgres;
use bss_testkit::proxy::Proxy;
use bss_testkit::{TEST_AUDIENCE, TEST_ISSUER, TEST_SECRET, TestDatabase};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

/// A service of the suite, as its binary is named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Accounts,
    Pricing,
    Credit,
    Billing,
    ResellerSync,
    Gateway,
}

impl Service {
    pub const ALL: [Service; 6] = [
        Service::Accounts,
        Service::Pricing,
        Service::Credit,
        Service::Billing,
        Service::ResellerSync,
        Service::Gateway,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Accounts => "accounts",
            Service::Pricing => "pricing",
            Service::Credit => "credit",
            Service::Billing => "billing",
            Service::ResellerSync => "reseller-sync",
            Service::Gateway => "gateway",
        }
    }

    /// The environment variable naming this service's URL to the others.
    fn url_variables(self) -> &'static [&'static str] {
        match self {
            Service::Accounts => &["BSS_ACCOUNTS_URL", "BSS_BACKENDS__ACCOUNTS"],
            Service::Pricing => &["BSS_PRICING_URL", "BSS_BACKENDS__PRICING"],
            Service::Credit => &["BSS_CREDIT_URL", "BSS_BACKENDS__CREDIT"],
            Service::Billing => &["BSS_BILLING_URL", "BSS_BACKENDS__BILLING"],
            Service::ResellerSync => &["BSS_BACKENDS__RESELLERSYNC"],
            Service::Gateway => &[],
        }
    }
}

/// What a cluster is started with.
#[derive(Default)]
pub struct ClusterOptions {
    /// A private Postgres server the test may halt and resume (else a fresh
    /// database on the shared server).
    pub private_postgres: bool,
    /// Services whose database connections go through a proxy.
    pub database_proxied: Vec<Service>,
    /// (caller, callee) pairs whose calls go through a proxy.
    pub peer_proxied: Vec<(Service, Service)>,
    /// Extra environment of a service (say a small pool).
    pub env: Vec<(Service, &'static str, String)>,
    /// Services that store on a second private Postgres server of their
    /// own (the others on the first).
    pub second_postgres: Vec<Service>,
}

/// A running cluster; every process is killed when it is dropped.
pub struct Cluster {
    folder: PathBuf,
    database_url: String,
    postgres: Option<LocalPostgres>,
    _database: Option<TestDatabase>,
    /// The second server, and who stores on it.
    second: Option<(LocalPostgres, Vec<Service>)>,
    addresses: BTreeMap<Service, SocketAddr>,
    processes: BTreeMap<Service, Child>,
    database_proxies: BTreeMap<Service, Proxy>,
    peer_proxies: BTreeMap<(Service, Service), Proxy>,
    env: Vec<(Service, &'static str, String)>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.processes.values_mut() {
            let _ = child.start_kill();
        }
        let servers = [self.postgres.take(), self.second.take().map(|(second, _)| second)];
        for postgres in servers.into_iter().flatten() {
            let stopped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                runtime.block_on(postgres.stop())
            });
            let _ = stopped.join();
        }
        let _ = std::fs::remove_dir_all(self.folder.join("postgres"));
        let _ = std::fs::remove_dir_all(self.folder.join("postgres-2"));
    }
}

/// How long a service may take to answer its health check after starting.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl Cluster {
    /// Starts every service; returns once each answers SERVING. `name`
    /// names the folder of the logs (`target/faults/<name>`).
    pub async fn start(name: &str, options: ClusterOptions) -> Cluster {
        bss_testkit::init_logging();
        let binaries = binaries();
        let folder = binaries.parent().expect("target").join("faults").join(name);
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).expect("log folder");
        let (postgres, database, database_url) = if options.private_postgres {
            let postgres = LocalPostgres::start(&folder.join("postgres")).await.expect("a private Postgres starts");
            let url = postgres.url();
            (Some(postgres), None, url)
        } else {
            let database = TestDatabase::create().await;
            let url = database.url().to_owned();
            (None, Some(database), url)
        };
        let second = match options.second_postgres.is_empty() {
            true => None,
            false => {
                let second = LocalPostgres::start(&folder.join("postgres-2")).await.expect("a second Postgres starts");
                Some((second, options.second_postgres))
            }
        };
        let addresses = free_addresses();
        let mut database_proxies = BTreeMap::new();
        for service in &options.database_proxied {
            let url = match &second {
                Some((second, on_it)) if on_it.contains(service) => second.url(),
                _ => database_url.clone(),
            };
            let proxy = Proxy::start(url_address(&url)).await.expect("database proxy");
            database_proxies.insert(*service, proxy);
        }
        let mut peer_proxies = BTreeMap::new();
        for (caller, callee) in &options.peer_proxied {
            let proxy = Proxy::start(addresses[callee]).await.expect("peer proxy");
            peer_proxies.insert((*caller, *callee), proxy);
        }
        let mut cluster = Cluster {
            folder,
            database_url,
            postgres,
            _database: database,
            second,
            addresses,
            processes: BTreeMap::new(),
            database_proxies,
            peer_proxies,
            env: options.env,
        };
        for service in Service::ALL {
            cluster.spawn(service);
        }
        for service in Service::ALL {
            cluster.wait_serving(service).await;
        }
        cluster
    }

    /// A channel to the gateway, as clients use it.
    pub async fn gateway(&self) -> Channel {
        bss_testkit::channel(self.addresses[&Service::Gateway]).await
    }

    /// A channel straight to a service.
    pub async fn channel(&self, service: Service) -> Channel {
        bss_testkit::channel(self.addresses[&service]).await
    }

    /// The private Postgres server (with `private_postgres`).
    pub fn postgres(&self) -> &LocalPostgres {
        self.postgres.as_ref().expect("the cluster was started with a private Postgres")
    }

    /// The database every service stores in (each in its own schema),
    /// but those on the second server.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// The database `service` stores in.
    pub fn database_url_of(&self, service: Service) -> String {
        match &self.second {
            Some((second, on_it)) if on_it.contains(&service) => second.url(),
            _ => self.database_url.clone(),
        }
    }

    /// The proxy between `service` and Postgres.
    pub fn database_proxy(&self, service: Service) -> &Proxy {
        &self.database_proxies[&service]
    }

    /// The proxy carrying `caller`'s calls to `callee`.
    pub fn peer_proxy(&self, caller: Service, callee: Service) -> &Proxy {
        &self.peer_proxies[&(caller, callee)]
    }

    /// Sends SIGTERM and waits for the process to exit; returns whether it
    /// exited cleanly (status 0).
    pub async fn terminate(&mut self, service: Service) -> bool {
        let mut child = self.processes.remove(&service).expect("the service runs");
        let pid = child.id().expect("a running process");
        let sent = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await.expect("kill");
        assert!(sent.success(), "SIGTERM to {}", service.name());
        let exited = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
        let status = exited.unwrap_or_else(|_| panic!("{} did not exit within 30 s of SIGTERM", service.name()));
        status.expect("exit status").success()
    }

    /// Kills the process (SIGKILL) and waits for it to be gone.
    pub async fn kill(&mut self, service: Service) {
        let mut child = self.processes.remove(&service).expect("the service runs");
        child.kill().await.expect("kill");
    }

    /// Starts a stopped service again on its address; returns once it
    /// answers SERVING.
    pub async fn resume(&mut self, service: Service) {
        self.spawn(service);
        self.wait_serving(service).await;
    }

    /// SIGTERM, then started again: one step of a rolling restart.
    pub async fn restart(&mut self, service: Service) -> bool {
        let clean = self.terminate(service).await;
        self.resume(service).await;
        clean
    }

    fn spawn(&mut self, service: Service) {
        let log_path = self.folder.join(format!("{}.log", service.name()));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).expect("log file");
        let mut command = Command::new(binaries().join(format!("bss-{}", service.name())));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BSS_LISTEN_ADDR", self.addresses[&service].to_string())
            .env("BSS_METRICS_ADDR", "")
            .env("BSS_AUTH__ISSUER", TEST_ISSUER)
            .env("BSS_AUTH__AUDIENCE", TEST_AUDIENCE)
            .env("BSS_DATABASE__MAX_CONNECTIONS", "6")
            .env("BSS_SERVER__DRAIN_DELAY_MS", "200")
            .env("BSS_SERVER__SHUTDOWN_GRACE_MS", "10000")
            .env("BSS_TELEMETRY__LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .kill_on_drop(true);
        let database_url = self.database_url_of(service);
        let database_url = match self.database_proxies.get(&service) {
            Some(proxy) => with_address(&database_url, proxy.address()),
            None => database_url,
        };
        // Secrets as a deployment mounts them: the database URL in a folder
        // of secret files (a Kubernetes Secret's volume), the token key in a
        // file named by BSS_AUTH__HS256_SECRET_FILE.
        let secrets = self.folder.join(format!("secrets-{}", service.name()));
        std::fs::create_dir_all(&secrets).expect("secrets folder");
        std::fs::write(secrets.join("DATABASE_URL"), format!("{database_url}\n")).expect("database URL file");
        // One file per service: another's start never rewrites it while this
        // one reads it.
        let key = self.folder.join(format!("hs256-secret-{}", service.name()));
        std::fs::write(&key, TEST_SECRET).expect("key file");
        command.env("BSS_SECRETS_DIR", &secrets).env("BSS_AUTH__HS256_SECRET_FILE", &key);
        for callee in Service::ALL {
            let address = match self.peer_proxies.get(&(service, callee)) {
                Some(proxy) => proxy.address(),
                None => self.addresses[&callee],
            };
            for variable in callee.url_variables() {
                command.env(variable, format!("http://{address}"));
            }
        }
        for (target, key, value) in &self.env {
            if *target == service {
                command.env(key, value);
            }
        }
        let child = command.spawn().unwrap_or_else(|error| panic!("starting bss-{}: {error}", service.name()));
        self.processes.insert(service, child);
    }

    async fn wait_serving(&mut self, service: Service) {
        use tonic_health::pb::HealthCheckRequest;
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::health_client::HealthClient;
        let address = self.addresses[&service];
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.processes.get_mut(&service)
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("bss-{} exited with {status} while starting; see {}", service.name(), self.folder.display());
            }
            if let Ok(channel) = Channel::from_shared(format!("http://{address}")).expect("uri").connect().await {
                let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await;
                if answer.is_ok_and(|answer| answer.into_inner().status == ServingStatus::Serving as i32) {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "bss-{} did not serve within {START_TIMEOUT:?}; see {}",
                service.name(),
                self.folder.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The folder of the workspace's binaries, built once per test process
/// (the same profile as the running test).
fn binaries() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let executable = std::env::current_exe().expect("test executable");
        // target/<profile>/deps/<test>
        let folder = executable.parent().and_then(Path::parent).expect("target folder").to_path_buf();
        let profile = match folder.file_name().and_then(|name| name.to_str()) {
            Some("debug") | None => "dev".to_owned(),
            Some(other) => other.to_owned(),
        };
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let manifest = crate::repository_root().join("Cargo.toml");
        // As `make build` builds (every target, so the features match the
        // test build's and nothing is compiled twice): a no-op under `make
        // test`, a rebuild of what changed otherwise.
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "--quiet", "--workspace", "--all-targets", "--profile", &profile, "--manifest-path"]);
        build.arg(&manifest);
        // Without the variables cargo set for this test's run: build
        // scripts watch some (ring: CARGO_MANIFEST_DIR), and a changed
        // value would rebuild half the workspace.
        for (name, _) in std::env::vars() {
            let per_package = ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_PACKAGE"];
            if per_package.iter().any(|prefix| name.starts_with(prefix))
                || name == "OUT_DIR"
                || name == "CARGO_TARGET_TMPDIR"
                || name == "CARGO_RUSTC_CURRENT_DIR"
            {
                build.env_remove(name);
            }
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "the service binaries build");
        folder
    })
}

/// A free port for each service: all bound at once, so no two services
/// are given the same port (the kernel may hand a port it just got back
/// out again).
fn free_addresses() -> BTreeMap<Service, SocketAddr> {
    let held: Vec<(Service, std::net::TcpListener)> = Service::ALL
        .into_iter()
        .map(|service| (service, std::net::TcpListener::bind("127.0.0.1:0").expect("a free port")))
        .collect();
    held.iter().map(|(service, listener)| (*service, listener.local_addr().expect("address"))).collect()
}

/// The host and port of a `postgres://` URL.
fn url_address(url: &str) -> SocketAddr {
    let authority = authority(url);
    let host_port = authority.rsplit('@').next().expect("host");
    let host_port = if host_port.contains(':') { host_port.to_owned() } else { format!("{host_port}:5432") };
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port.parse().unwrap_or_else(|_| panic!("the database URL names a TCP address: {url}"))
}

fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// `url` with its host and port replaced by `address`.
fn with_address(url: &str, address: SocketAddr) -> String {
    let authority = authority(url);
    let replaced = match authority.rsplit_once('@') {
        Some((user, _)) => format!("{user}@{address}"),
        None => address.to_string(),
    };
    url.replacen(authority, &replaced, 1)
}
