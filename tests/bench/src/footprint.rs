//! P8: each service's footprint as it is deployed, one process per service
//! (the release binaries `make bench` builds): time from start to SERVING
//! with its migrations applied to an empty database, and resident memory
//! once idle; then the whole suite's peak resident memory while the
//! P-series ran (all six services in the one process `make run` starts).
//! These have no baseline to run beside them: each is shown against its goal.

use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bss_testkit::TestDatabase;
use tokio::process::{Child, Command};

use crate::summary::Entry;

const SERVICES: [&str; 6] = ["accounts", "pricing", "credit", "billing", "reseller-sync", "gateway"];
/// Goals: resident memory idle and under load, time to SERVING.
const IDLE_KIB: u64 = 64 * 1024;
const LOADED_KIB: u64 = 256 * 1024;
const START_MS: u64 = 2_000;

/// Resident memory of process `pid`, in KiB (`VmRSS`).
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()
}

/// Samples the resident memory of `pid` every 250 ms; the peak so far.
pub fn sample_peak(pid: u32) -> Arc<AtomicU64> {
    let peak = Arc::new(AtomicU64::new(0));
    let kept = peak.clone();
    tokio::spawn(async move {
        while let Some(kib) = resident_kib(pid) {
            kept.fetch_max(kib, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    peak
}

/// Starts each service alone and measures it; `suite` names the running
/// suite's services for those that call peers. `by_group` is the suite's
/// peak once each earlier group ended: what each group added to it.
pub async fn footprint(suite: &bss_suite::Endpoints, suite_peak_kib: u64, by_group: &[(String, u64)]) -> Vec<Entry> {
    let mut entries = Vec::new();
    for name in SERVICES {
        let (started, idle) = measure(name, suite).await;
        entries.push(
            Entry::new(
                &format!("P8-start-{name}"),
                &match name {
                    "gateway" => "bss-gateway from start to SERVING (no database)".to_owned(),
                    name => format!("bss-{name} from start to SERVING, migrations applied to an empty database"),
                },
                started,
                "ms",
                START_MS,
                "ms (goal)",
            )
            .goal("<= 2 s", started <= START_MS),
        );
        entries.push(
            Entry::new(
                &format!("P8-idle-{name}"),
                &format!("bss-{name} resident memory, idle"),
                idle,
                "KiB",
                IDLE_KIB,
                "KiB (goal)",
            )
            .goal("<= 64 MiB", idle <= IDLE_KIB),
        );
    }
    entries.push(
        Entry::new(
            "P8-loaded",
            "the suite's peak resident memory under the P-series (six services, one process)",
            suite_peak_kib,
            "KiB",
            LOADED_KIB,
            "KiB (goal)",
        )
        .goal("<= 256 MiB (for all six together, so for each)", suite_peak_kib <= LOADED_KIB),
    );
    for pair in by_group.windows(2) {
        let ((_, before), (group, peak)) = (&pair[0], &pair[1]);
        entries.push(Entry::new(
            &format!("P8-peak-{}", group.replace(", ", "-")),
            &format!("the suite's peak resident memory at the end of {group} (vs before it)"),
            *peak,
            "KiB",
            *before,
            "KiB",
        ));
    }
    entries
}

/// (ms to SERVING, idle resident KiB) of `bss-<name>` started alone.
async fn measure(name: &str, suite: &bss_suite::Endpoints) -> (u64, u64) {
    let database = TestDatabase::create().await;
    let (mut child, _, to_serving) = start_alone(name, suite, database.url()).await;
    // Idle: its start-up work done, its pools and caches as they settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = child.id().expect("running");
    let idle = resident_kib(pid).expect("its resident memory");
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status().await;
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
    (to_serving, idle)
}

/// Starts the release `bss-<name>` on its own port over `database_url`,
/// its peers the suite's, and waits until it is SERVING: (the process, its
/// address, ms to SERVING). Killed when dropped.
pub async fn start_alone(name: &str, suite: &bss_suite::Endpoints, database_url: &str) -> (Child, SocketAddr, u64) {
    start_alone_with(name, suite, database_url, &[]).await
}

/// [`start_alone`] with more settings in its environment.
pub async fn start_alone_with(
    name: &str,
    suite: &bss_suite::Endpoints,
    database_url: &str,
    settings: &[(&str, &str)],
) -> (Child, SocketAddr, u64) {
    let address: SocketAddr =
        TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port");
    let binary = std::env::current_exe().expect("own path").with_file_name(format!("bss-{name}"));
    let peer = |address: SocketAddr| format!("http://{address}");
    let started = Instant::now();
    let mut child = Command::new(&binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BSS_LISTEN_ADDR", address.to_string())
        .env("BSS_METRICS_ADDR", "")
        .env("DATABASE_URL", database_url)
        .env("BSS_AUTH__HS256_SECRET", bss_testkit::TEST_SECRET)
        .env("BSS_AUTH__ISSUER", bss_testkit::TEST_ISSUER)
        .env("BSS_AUTH__AUDIENCE", bss_testkit::TEST_AUDIENCE)
        .env("BSS_ACCOUNTS_URL", peer(suite.accounts))
        .env("BSS_PRICING_URL", peer(suite.pricing))
        .env("BSS_CREDIT_URL", peer(suite.credit))
        .env("BSS_BILLING_URL", peer(suite.billing))
        .env("BSS_BACKENDS__ACCOUNTS", peer(suite.accounts))
        .env("BSS_BACKENDS__PRICING", peer(suite.pricing))
        .env("BSS_BACKENDS__CREDIT", peer(suite.credit))
        .env("BSS_BACKENDS__BILLING", peer(suite.billing))
        .env("BSS_BACKENDS__RESELLERSYNC", peer(suite.reseller_sync))
        .env("BSS_RATE_LIMIT__DEFAULT__REQUESTS_PER_SECOND", "100000000")
        .env("BSS_RATE_LIMIT__DEFAULT__BURST", "100000000")
        .env("BSS_DATABASE__MAX_CONNECTIONS", "8")
        .env("RUST_LOG", "warn")
        .envs(settings.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|error| panic!("start {}: {error}", binary.display()));
    let deadline = started + Duration::from_secs(60);
    while !crate::suite::serving(address).await {
        assert!(Instant::now() < deadline, "bss-{name} did not serve within a minute");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("bss-{name} exited with {status} while starting");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (child, address, started.elapsed().as_millis() as u64)
}
