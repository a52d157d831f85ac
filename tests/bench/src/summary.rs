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

pub fn write(entries: &[Entry]) -> std::io::Result<std::path::PathBuf> {
    let folder = std::path::Path::new("target/bench");
    std::fs::create_dir_all(folder)?;
    let path = folder.join("summary.json");
    let json = serde_json::to_string_pretty(entries).map_err(std::io::Error::other)?;
    std::fs::write(&path, json)?;
    Ok(path)
}
