//! `target/bench/summary.json`: one entry per measured figure, next to the
//! baseline measured in the same run.

use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct Entry {
    pub id: String,
    pub measure: String,
    pub value: u64,
    pub unit: String,
    pub baseline: u64,
    pub baseline_unit: String,
    /// value / baseline, three decimals.
    pub ratio: f64,
    /// What the entry must reach, in words (for example "ratio >= 0.5").
    pub goal: String,
    /// Whether the goal was reached; null for figures without a goal.
    pub met: Option<bool>,
}

impl Entry {
    pub fn new(id: &str, measure: &str, value: u64, unit: &str, baseline: u64, baseline_unit: &str) -> Entry {
        let ratio = (value as f64 / baseline.max(1) as f64 * 1000.0).round() / 1000.0;
        Entry {
            id: id.to_owned(),
            measure: measure.to_owned(),
            value,
            unit: unit.to_owned(),
            baseline,
            baseline_unit: baseline_unit.to_owned(),
            ratio,
            goal: "none (information)".to_owned(),
            met: None,
        }
    }

    /// Sets the goal: the ratio must be at least `minimum`.
    pub fn ratio_at_least(mut self, minimum: f64) -> Entry {
        self.goal = format!("ratio >= {minimum}");
        self.met = Some(self.ratio >= minimum);
        self
    }

    /// Sets a goal checked elsewhere.
    pub fn goal(mut self, goal: &str, met: bool) -> Entry {
        self.goal = goal.to_owned();
        self.met = Some(met);
        self
    }

    pub fn line(&self) -> String {
        let met = match self.met {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "info",
        };
        format!(
            "{:<11} {:<60} {:>8} {:<7} baseline {:>8} {:<11} ratio {:>6.3}  goal {} [{met}]",
            self.id, self.measure, self.value, self.unit, self.baseline, self.baseline_unit, self.ratio, self.goal
        )
    }
}

/// Where the summary is written.
pub const PATH: &str = "target/bench/summary.json";

/// The machine the figures were measured on: they mean nothing without it.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory_kib: u64,
    pub postgres_version: String,
    /// The Postgres settings the figures depend on, as `SHOW` prints them.
    pub postgres_settings: std::collections::BTreeMap<String, String>,
}

/// A group of entries that did not finish, and why.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    pub group: String,
    pub error: String,
}

/// `summary.json`: the machine, every entry measured so far, and the groups
/// that failed; written again after each group, so a failure keeps what was
/// measured before it.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub machine: Machine,
    pub entries: Vec<Entry>,
    pub failed: Vec<Failure>,
    /// The suite's peak resident memory (KiB) once each group ended, when
    /// it is sampled ([`Summary::follow_peak`]).
    #[serde(skip)]
    pub peaks: Vec<(String, u64)>,
    #[serde(skip)]
    peak: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    #[serde(skip)]
    path: std::path::PathBuf,
}

/// Settings that change what a figure means.
const SETTINGS: &[&str] = &[
    "max_connections",
    "shared_buffers",
    "synchronous_commit",
    "fsync",
    "wal_level",
    "work_mem",
    "effective_io_concurrency",
    "max_wal_size",
];

impl Summary {
    fn empty(machine: Machine, path: std::path::PathBuf) -> Summary {
        Summary { machine, entries: Vec::new(), failed: Vec::new(), peaks: Vec::new(), peak: None, path }
    }

    /// An empty summary of this machine and the Postgres at `database_url`.
    pub async fn start(database_url: &str) -> Summary {
        let machine = Machine::read(database_url).await;
        let summary = Summary::empty(machine, PATH.into());
        summary.write();
        summary
    }

    /// Records `peak` (a sampled peak of resident memory, `now` KiB at
    /// first) as it stands at the end of each group from now on, so growth
    /// is told group by group.
    pub fn follow_peak(&mut self, peak: std::sync::Arc<std::sync::atomic::AtomicU64>, now: u64) {
        self.peaks.push(("the start".to_owned(), now));
        self.peak = Some(peak);
    }

    /// Runs a group of entries as a task of its own and records what it
    /// measured, or that it failed; then writes the summary.
    pub async fn measure(&mut self, group: &str, run: impl Future<Output = Vec<Entry>> + Send + 'static) {
        match tokio::spawn(run).await {
            Ok(entries) => {
                for entry in &entries {
                    println!("{}", entry.line());
                }
                self.entries.extend(entries);
            }
            Err(error) => {
                let error = match error.try_into_panic() {
                    Ok(panic) => panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                        .unwrap_or_else(|| "panicked".to_owned()),
                    Err(error) => error.to_string(),
                };
                eprintln!("{group} failed: {error}");
                self.failed.push(Failure { group: group.to_owned(), error });
            }
        }
        if let Some(peak) = &self.peak {
            self.peaks.push((group.to_owned(), peak.load(std::sync::atomic::Ordering::Relaxed)));
        }
        self.write();
    }

    pub fn print(&self) {
        for entry in &self.entries {
            println!("{}", entry.line());
        }
        for failure in &self.failed {
            println!("{:<11} FAILED: {}", failure.group, failure.error);
        }
    }

    pub fn any_failed(&self) -> bool {
        !self.failed.is_empty()
    }

    /// The summary as the README's benchmark table: the machine, then one
    /// row per entry (figure, baseline, ratio, goal, whether met), then the
    /// groups that failed.
    pub fn markdown(&self) -> String {
        let machine = &self.machine;
        let settings: Vec<String> =
            machine.postgres_settings.iter().map(|(name, value)| format!("{name}={value}")).collect();
        let mut table = format!(
            "Measured on {} cores ({}), {} MiB, Postgres {} ({}).\n\n\
             | id | measure | figure | baseline | ratio | goal | |\n|---|---|---|---|---|---|---|\n",
            machine.cores,
            machine.cpu,
            machine.memory_kib / 1024,
            machine.postgres_version,
            settings.join(", ")
        );
        for entry in &self.entries {
            let met = match entry.met {
                Some(true) => "met",
                Some(false) => "**not met**",
                None => "information",
            };
            table.push_str(&format!(
                "| {} | {} | {} {} | {} {} | {:.3} | {} | {met} |\n",
                entry.id,
                entry.measure.replace('|', "/"),
                entry.value,
                entry.unit,
                entry.baseline,
                entry.baseline_unit,
                entry.ratio,
                entry.goal.replace('|', "/"),
            ));
        }
        for failure in &self.failed {
            table.push_str(&format!(
                "| {} | **failed**: {} | | | | | |\n",
                failure.group,
                failure.error.replace('|', "/")
            ));
        }
        table
    }

    fn write(&self) {
        let written = self.path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| {
            let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
            std::fs::write(&self.path, json)?;
            std::fs::write(self.path.with_extension("md"), self.markdown())
        });
        if let Err(error) = written {
            eprintln!("writing {}: {error}", self.path.display());
        }
    }
}

impl Machine {
    async fn read(database_url: &str) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find_map(|line| {
                    line.strip_prefix(name)?.trim_start().strip_prefix(':').map(|value| value.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let mut machine = Machine {
            cores: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            cpu: field(&cpuinfo, "model name"),
            memory_kib: field(&meminfo, "MemTotal").trim_end_matches("kB").trim().parse().unwrap_or(0),
            postgres_version: String::new(),
            postgres_settings: std::collections::BTreeMap::new(),
        };
        if let Ok(pool) = sqlx::PgPool::connect(database_url).await {
            machine.postgres_version =
                sqlx::query_scalar("SHOW server_version").fetch_one(&pool).await.unwrap_or_default();
            for name in SETTINGS {
                let value: Option<String> =
                    sqlx::query_scalar("SELECT current_setting($1)").bind(*name).fetch_one(&pool).await.ok();
                machine.postgres_settings.insert((*name).to_owned(), value.unwrap_or_default());
            }
            pool.close().await;
        }
        machine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_group_that_fails_keeps_what_was_measured_before_it() {
        let folder = std::env::temp_dir().join(format!("bss-bench-summary-{}", std::process::id()));
        let machine = Machine {
            cores: 2,
            cpu: String::new(),
            memory_kib: 0,
            postgres_version: "15".to_owned(),
            postgres_settings: Default::default(),
        };
        let path = folder.join("summary.json");
        let mut summary = Summary::empty(machine, path.clone());
        summary.measure("P1", async { vec![Entry::new("P1", "calls", 10, "calls/s", 20, "calls/s")] }).await;
        summary.measure("P2", async { panic!("too many clients already") }).await;
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("written")).expect("json");
        assert_eq!(written["entries"][0]["ratio"], 0.5);
        assert_eq!(written["failed"][0]["group"], "P2");
        assert_eq!(written["failed"][0]["error"], "too many clients already");
        assert_eq!(written["machine"]["postgres_version"], "15");
        assert!(summary.any_failed());
        let table = std::fs::read_to_string(path.with_extension("md")).expect("the table written");
        assert!(table.contains("| P1 | calls | 10 calls/s | 20 calls/s | 0.500 | none (information) | information |"));
        assert!(table.contains("| P2 | **failed**: too many clients already |"));
        std::fs::remove_dir_all(folder).ok();
    }
}
