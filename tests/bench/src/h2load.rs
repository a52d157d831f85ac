//! h2load, a light HTTP/2 load client in C, loads a unary gRPC method with a
//! pre-framed request. Used where the Rust client's own cost would hide the
//! difference between two server paths. It does not read `grpc-status`, so
//! callers check the answer separately and look at the DATA bytes.

use std::time::Duration;

/// What one h2load run measured.
#[derive(Clone, Debug)]
pub struct H2loadResult {
    /// Finished requests per second.
    pub rate: u64,
    pub requests: u64,
    pub succeeded: u64,
    /// Response DATA bytes: an error answer (trailers only) has none.
    pub data_bytes: u64,
    /// Per-request latencies in microseconds, sorted (from the log file).
    pub latencies_us: Vec<u64>,
}

impl H2loadResult {
    pub fn percentile_us(&self, per_mille: u64) -> u64 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let last = self.latencies_us.len() as u64 - 1;
        self.latencies_us[(last * per_mille / 1000) as usize]
    }

    /// Whether every request got an HTTP answer carrying a message.
    pub fn all_answered_with_data(&self, smallest_message: u64) -> bool {
        self.requests > 0 && self.succeeded == self.requests && self.data_bytes >= self.requests * smallest_message
    }
}

/// A gRPC frame: no compression, big-endian length, the message.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8];
    frame.extend((message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

/// Loads `url` with `body` from 4 connections of 16 streams each, for
/// `duration`; at most `total_rate` requests per second when given.
pub async fn run(
    url: &str,
    body: &[u8],
    token: &str,
    duration: Duration,
    total_rate: Option<u64>,
) -> Result<H2loadResult, String> {
    const CONNECTIONS: u64 = 4;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let body_path = std::env::temp_dir().join(format!("bss-h2load-{id}.bin"));
    let log_path = std::env::temp_dir().join(format!("bss-h2load-{id}.log"));
    std::fs::write(&body_path, body).map_err(|error| format!("write body: {error}"))?;
    let mut command = tokio::process::Command::new("h2load");
    command
        .args(["-D", &duration.as_secs().to_string(), "-c", &CONNECTIONS.to_string(), "-m", "16", "-t", "1"])
        .arg("-d")
        .arg(&body_path)
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .args(["-H", &format!("authorization: Bearer {token}")])
        .arg(format!("--log-file={}", log_path.display()));
    if let Some(rate) = total_rate {
        command.arg(format!("--rps={}", (rate / CONNECTIONS).max(1)));
    }
    let output = command
        .arg(url)
        .output()
        .await
        .map_err(|error| format!("h2load did not run (make deps installs it): {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&body_path);
    let _ = std::fs::remove_file(&log_path);
    if !output.status.success() {
        return Err(format!("h2load failed: {stdout}{}", String::from_utf8_lossy(&output.stderr)));
    }
    let line =
        |prefix: &str| stdout.lines().find(|line| line.trim_start().starts_with(prefix)).unwrap_or_default().to_owned();
    let first_number = |text: &str, after: &str| -> Option<f64> {
        text.split(after).nth(1)?.split_whitespace().next()?.trim_end_matches(',').parse().ok()
    };
    let finished = line("finished in");
    let rate = first_number(&finished, "s, ").ok_or_else(|| format!("no rate in h2load output: {stdout}"))?;
    let requests = line("requests:");
    let total = first_number(&requests, "requests: ").unwrap_or(0.0);
    let succeeded = requests
        .split(", ")
        .find(|part| part.ends_with("succeeded"))
        .and_then(|part| part.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    let traffic = line("traffic:");
    let data_bytes = traffic
        .split(", ")
        .find(|part| part.ends_with("data"))
        .and_then(|part| part.split('(').nth(1)?.split(')').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    let mut latencies_us: Vec<u64> =
        log.lines().filter_map(|line| line.split('\t').nth(2)?.trim().parse().ok()).collect();
    latencies_us.sort_unstable();
    Ok(H2loadResult {
        rate: rate.round() as u64,
        requests: total as u64,
        succeeded: succeeded as u64,
        data_bytes: data_bytes as u64,
        latencies_us,
    })
}
