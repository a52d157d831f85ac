//! A closed-loop load generator: `clients` tasks each call as fast as the
//! server answers, for a fixed time, recording every latency.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Clone, Debug)]
pub struct LoadResult {
    pub calls: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latencies of the successful calls, sorted, in microseconds.
    pub latencies_us: Vec<u64>,
}

impl LoadResult {
    /// Successful calls per second.
    pub fn rate(&self) -> u64 {
        let micros = self.elapsed.as_micros().max(1) as u64;
        self.calls.saturating_sub(self.errors) * 1_000_000 / micros
    }

    /// The latency at `per_mille`/1000 of the sorted successes, in µs.
    pub fn percentile_us(&self, per_mille: u64) -> u64 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let last = self.latencies_us.len() as u64 - 1;
        self.latencies_us[(last * per_mille / 1000) as usize]
    }
}

/// An index below `len` for a client's call: successive calls and clients
/// spread over the range (two primes), the same in every run.
pub fn spread(client: u64, sequence: u64, len: usize) -> usize {
    ((client * 7919 + sequence * 104_729) % len.max(1) as u64) as usize
}

/// Runs `call` from `clients` concurrent tasks for `duration`. `call` gets
/// the client index and a per-client sequence number.
pub async fn run<F, Fut>(clients: usize, duration: Duration, call: F) -> LoadResult
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(clients);
    for client in 0..clients {
        let call = call.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut sequence = 0u64;
            while Instant::now() < deadline {
                let began = Instant::now();
                let ok = call(client, sequence).await;
                sequence += 1;
                if ok {
                    latencies.push(began.elapsed().as_micros() as u64);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            (sequence, latencies)
        }));
    }
    let mut calls = 0;
    let mut latencies_us = Vec::new();
    for task in tasks {
        if let Ok((count, latencies)) = task.await {
            calls += count;
            latencies_us.extend(latencies);
        }
    }
    let elapsed = started.elapsed();
    latencies_us.sort_unstable();
    LoadResult { calls, errors: errors.load(Ordering::Relaxed), elapsed, latencies_us }
}
