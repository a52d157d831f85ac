//! The Postgres baseline: pgbench running a custom script against the same
//! server, in the same run.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

/// What pgbench reported.
#[derive(Clone, Debug)]
pub struct PgbenchResult {
    pub tps: u64,
    pub latency_average_us: u64,
}

/// Runs `script` with `clients` connections for `duration` against the
/// database at `url`, with prepared statements (as sqlx uses them).
pub async fn run(url: &str, script: &str, clients: usize, duration: Duration) -> Result<PgbenchResult, String> {
    let options: PgConnectOptions = url.parse().map_err(|error| format!("database url: {error}"))?;
    let script_path = std::env::temp_dir().join(format!("bss-bench-{}.sql", uuid::Uuid::new_v4().simple()));
    std::fs::write(&script_path, script).map_err(|error| format!("write script: {error}"))?;
    let output = tokio::process::Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c", &clients.to_string(), "-j", "2", "-T", &duration.as_secs().to_string()])
        .arg("-f")
        .arg(&script_path)
        .args(["-h", options.get_host(), "-p", &options.get_port().to_string(), "-U", options.get_username()])
        .arg(options.get_database().unwrap_or("postgres"))
        .output()
        .await
        .map_err(|error| format!("pgbench did not run (is it installed? make deps): {error}"))?;
    let _ = std::fs::remove_file(&script_path);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("pgbench failed: {stdout}{}", String::from_utf8_lossy(&output.stderr)));
    }
    let number_after = |prefix: &str| -> Option<f64> {
        let line = stdout.lines().find(|line| line.starts_with(prefix))?;
        line.trim_start_matches(prefix).split_whitespace().next()?.parse().ok()
    };
    let tps = number_after("tps = ").ok_or_else(|| format!("no tps in pgbench output: {stdout}"))?;
    let latency_ms = number_after("latency average = ").unwrap_or(0.0);
    Ok(PgbenchResult { tps: tps.round() as u64, latency_average_us: (latency_ms * 1000.0).round() as u64 })
}
