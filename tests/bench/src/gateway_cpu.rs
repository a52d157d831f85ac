//! P1-cpu: the gateway's own CPU per forwarded unary call. A gateway is
//! started as a process of its own in front of the suite's services and
//! loaded with GetTenant by h2load; its CPU time (user and system, from
//! /proc) over the calls it answered is the figure. The baseline is the
//! suite's CPU per GetTenant answered straight (the accounts service's
//! work for the same call), measured the same way in the same run. The
//! gateway runs as deployed, a thread per core; P1-cpu-1 is the same
//! gateway on one thread (`BSS_THREADS=1`).

use bss_platform::auth::Role;

use crate::footprint::start_alone_with;
use crate::summary::Entry;
use crate::{ROUNDS, bench_tenant, get_tenant, h2load, median, phase_time};

/// /proc counts CPU time in ticks of 1/100 s (USER_HZ, fixed by the
/// Linux ABI).
const TICK_US: u64 = 10_000;

/// CPU time the process has used so far (user and system), microseconds.
pub fn cpu_us(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (in parentheses): utime is the
    // 12th, stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((user + system) * TICK_US)
}

/// The CPU `pid` spends per call of `target` under h2load at full load,
/// microseconds (the median of [`ROUNDS`] phases).
async fn cpu_per_call(pid: u32, target: &crate::compare::Target, token: &str) -> u64 {
    let mut per_call = Vec::new();
    for _ in 0..ROUNDS {
        let before = cpu_us(pid).expect("its CPU time");
        let run = h2load::run(&target.url, &target.body, token, phase_time(), None).await.expect("h2load runs");
        let used = cpu_us(pid).expect("its CPU time") - before;
        assert!(run.all_answered_with_data(target.answer_size), "every call answered");
        per_call.push(used / run.succeeded.max(1));
    }
    median(per_call.into_iter())
}

pub async fn gateway_cpu(endpoints: &bss_suite::Endpoints, suite_pid: u32, database_url: &str) -> Vec<Entry> {
    let tenant = bench_tenant(endpoints).await;
    let token = bss_testkit::token(tenant, &[Role::TenantAdmin]);
    let direct = get_tenant(endpoints.accounts, tenant, &token).await;
    let mut gateway_us = Vec::new();
    let one_thread = [("BSS_THREADS", "1")];
    for settings in [&[][..], &one_thread[..]] {
        let (gateway, address, _) = start_alone_with("gateway", endpoints, database_url, settings).await;
        let through = get_tenant(address, tenant, &token).await;
        // Warm the path (connections, the tenant cache).
        h2load::run(&through.url, &through.body, &token, phase_time(), None).await.expect("h2load runs");
        gateway_us.push(cpu_per_call(gateway.id().expect("the gateway runs"), &through, &token).await);
    }
    let service_us = cpu_per_call(suite_pid, &direct, &token).await;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let (per_core, one) = (gateway_us[0], gateway_us[1]);
    vec![
        Entry::new(
            "P1-cpu",
            &format!(
                "the gateway's CPU per forwarded GetTenant, {cores} threads (one per core), h2load 4x16 streams \
                 (vs the service's per call answered straight)"
            ),
            per_core,
            "us/call",
            service_us,
            "us/call",
        )
        .goal(&format!("at most 40 us per call ({per_core} us)"), per_core <= 40),
        Entry::new(
            "P1-cpu-1",
            "the same on one thread (BSS_THREADS=1) (vs the service's per call answered straight)",
            one,
            "us/call",
            service_us,
            "us/call",
        ),
    ]
}
