//! Two unary methods (or one method by two paths) loaded the same way by
//! h2load, in alternating rounds so both see the same machine: the highest
//! rate of each, then the p99 latency of each at one fixed rate.

use crate::h2load::{self, H2loadResult};
use crate::{ROUNDS, median, phase_time};

/// A unary gRPC method at a URL, its framed request, and the size of its
/// smallest successful answer.
pub struct Target {
    pub url: String,
    pub body: Vec<u8>,
    pub answer_size: u64,
}

/// Which side's maximum the latency rounds run at half of.
#[derive(Clone, Copy)]
pub enum HalfOf {
    Measured,
    Baseline,
}

pub struct Comparison {
    pub measured_rate: u64,
    pub baseline_rate: u64,
    /// The rate of the latency rounds.
    pub half: u64,
    pub measured_p99_us: u64,
    pub baseline_p99_us: u64,
    /// Whether every call of every run got an answer with a message.
    pub all_answered: bool,
    pub requests: u64,
}

pub async fn compare(measured: &Target, baseline: &Target, token: &str, half_of: HalfOf) -> Comparison {
    let load = |target: &Target, rate: Option<u64>| {
        let (url, body) = (target.url.clone(), target.body.clone());
        let token = token.to_owned();
        async move { h2load::run(&url, &body, &token, phase_time(), rate).await.expect("h2load runs") }
    };
    let mut runs: Vec<(H2loadResult, u64)> = Vec::new();
    // Warm both paths (connections, caches) before measuring.
    load(measured, None).await;
    load(baseline, None).await;

    let (mut measured_max, mut baseline_max) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let run = load(baseline, None).await;
        baseline_max.push(run.rate);
        runs.push((run, baseline.answer_size));
        let run = load(measured, None).await;
        measured_max.push(run.rate);
        runs.push((run, measured.answer_size));
    }
    let measured_rate = median(measured_max.into_iter());
    let baseline_rate = median(baseline_max.into_iter());
    let half = match half_of {
        HalfOf::Measured => measured_rate / 2,
        HalfOf::Baseline => baseline_rate / 2,
    };

    let (mut measured_p99, mut baseline_p99) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let run = load(baseline, Some(half)).await;
        baseline_p99.push(run.percentile_us(990));
        runs.push((run, baseline.answer_size));
        let run = load(measured, Some(half)).await;
        measured_p99.push(run.percentile_us(990));
        runs.push((run, measured.answer_size));
    }
    Comparison {
        measured_rate,
        baseline_rate,
        half,
        measured_p99_us: median(measured_p99.into_iter()),
        baseline_p99_us: median(baseline_p99.into_iter()),
        all_answered: runs.iter().all(|(run, size)| run.all_answered_with_data(*size)),
        requests: runs.iter().map(|(run, _)| run.requests).sum(),
    }
}
