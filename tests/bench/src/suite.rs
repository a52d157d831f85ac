//! The suite under load runs as its own process, the release `bss-suite
//! run`, as operators run it: the load client must not share its runtime.

use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bss_suite::Endpoints;
use tokio::process::{Child, Command};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Connections each service of the suite under load may hold.
const POOL: &str = "32";

pub struct SuiteProcess {
    child: Child,
    pub endpoints: Endpoints,
}

impl SuiteProcess {
    /// Starts `bss-suite run` (the binary next to this one) against
    /// `database_url`, verifying the test kit's tokens, without rate limits,
    /// and waits until the gateway says SERVING.
    pub async fn start(database_url: &str) -> SuiteProcess {
        let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let base_port = free_ports(8);
        let binary = std::env::current_exe().expect("own path").with_file_name("bss-suite");
        let child = Command::new(&binary)
            .args(["run", "--base-port", &base_port.to_string()])
            .env("DATABASE_URL", database_url)
            .env("BSS_AUTH__HS256_SECRET", bss_testkit::TEST_SECRET)
            .env("BSS_AUTH__ISSUER", bss_testkit::TEST_ISSUER)
            .env("BSS_AUTH__AUDIENCE", bss_testkit::TEST_AUDIENCE)
            .env("BSS_RATE_LIMIT__DEFAULT__REQUESTS_PER_SECOND", "100000000")
            .env("BSS_RATE_LIMIT__DEFAULT__BURST", "100000000")
            // Each service may hold as many connections as the baselines'
            // pgbench clients (32), and one tenant may use them all: the
            // bench has one tenant, and compares like with like.
            .env("BSS_DATABASE__MAX_CONNECTIONS", POOL)
            .env("BSS_SERVER__TENANT_CONCURRENCY_LIMIT", POOL)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", binary.display()));
        let endpoints = Endpoints::fixed(host, base_port);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if serving(endpoints.gateway).await {
                break;
            }
            assert!(Instant::now() < deadline, "the suite did not become ready within a minute");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        SuiteProcess { child, endpoints }
    }

    /// The suite's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM, then wait for the graceful shutdown.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
    }
}

pub async fn serving(address: std::net::SocketAddr) -> bool {
    let Ok(channel) =
        tonic::transport::Endpoint::from_shared(format!("http://{address}")).expect("uri").connect().await
    else {
        return false;
    };
    matches!(
        HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await,
        Ok(response) if response.get_ref().status == ServingStatus::Serving as i32
    )
}

/// A base port with `count` free ports after it.
fn free_ports(count: u16) -> u16 {
    for _ in 0..100 {
        let base = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_or(0, |address| address.port());
        if base == 0 || base > u16::MAX - count {
            continue;
        }
        if (base..base + count).all(|port| TcpListener::bind(("127.0.0.1", port)).is_ok()) {
            return base;
        }
    }
    panic!("no range of {count} free ports found");
}
