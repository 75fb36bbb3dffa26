//! The benchmark's output: one line per measurement, as a Markdown table or as JSON.
//!
//! Every comparison is measured in rounds that alternate its two sides, so each round
//! yields one ratio taken under the same machine conditions; the table prints the
//! median of the rounds' throughputs and the median of the rounds' ratios.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// The row number (1 to 5); one row may have several lines.
    pub row: u8,
    /// What was measured, e.g. `PlaceOrder over HTTP, 64 clients`.
    pub name: String,
    /// paylog's result, formatted for people.
    pub paylog: String,
    /// The other side of the comparison, formatted for people (empty if none).
    pub baseline: String,
    /// Median of the rounds' paylog ÷ baseline ratios.
    pub ratio: Option<f64>,
    /// The target, in words.
    pub target: String,
    /// Whether the target was met (`None` when this line has no target).
    pub met: Option<bool>,
    /// Latencies, group sizes and other context.
    pub detail: String,
    /// The same numbers for machines (events/s, microseconds, bytes).
    pub values: BTreeMap<String, f64>,
}

impl Line {
    pub fn new(row: u8, name: impl Into<String>) -> Self {
        Self {
            row,
            name: name.into(),
            paylog: String::new(),
            baseline: String::new(),
            ratio: None,
            target: String::new(),
            met: None,
            detail: String::new(),
            values: BTreeMap::new(),
        }
    }

    pub fn value(&mut self, key: &str, value: f64) -> &mut Self {
        self.values.insert(key.to_owned(), value);
        self
    }
}

/// Everything one `paylog bench` run measured, and how.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `full`, `quick` or `smoke`.
    pub mode: String,
    /// `dev` or `release`: the cargo profile of this binary.
    pub profile: String,
    /// Whether this binary was built with optimisations (no debug assertions). A dev
    /// build's numbers are not comparable with the targets, which are set for the
    /// release build: every line then says so instead of "yes" or "no".
    pub comparable: bool,
    pub rounds: usize,
    pub lines: Vec<Line>,
    /// Wall-clock seconds of the whole run.
    pub elapsed_secs: f64,
}

impl Report {
    /// The Markdown table (with a one-line header saying how it was produced).
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "paylog bench ({} run, {} build{}, median of {} rounds, {:.0} s)\n",
            self.mode,
            self.profile,
            if self.comparable {
                ""
            } else {
                " — not comparable"
            },
            self.rounds,
            self.elapsed_secs
        );
        out.push_str(
            "| # | measurement | paylog | baseline (same run) | ratio | target | met | detail |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|---|\n");
        for l in &self.lines {
            let ratio = l
                .ratio
                .map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0));
            let met = match l.met {
                _ if !self.comparable => DEV_BUILD,
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                l.row,
                cell(&l.name),
                cell(&l.paylog),
                cell(&l.baseline),
                ratio,
                cell(&l.target),
                met,
                cell(&l.detail)
            );
        }
        out
    }
}

/// What the `met` column says on a build without optimisations.
pub const DEV_BUILD: &str = "dev build — not comparable";

/// Whether this binary is an optimised build: `debug_assertions` are on in the dev
/// profile (whatever its opt-level) and off in the release profile.
pub fn optimised_build() -> bool {
    !cfg!(debug_assertions)
}

/// A table cell: never empty, never breaking the table.
fn cell(s: &str) -> String {
    if s.is_empty() {
        "–".to_owned()
    } else {
        s.replace('|', "\\|")
    }
}

/// The median of some measurements (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// A per-second count for people, without the unit: `123k`, `1.23M`.
pub fn rate(per_sec: f64) -> String {
    if !per_sec.is_finite() {
        return "n/a".to_owned();
    }
    if per_sec >= 1e6 {
        format!("{:.2}M", per_sec / 1e6)
    } else if per_sec >= 1e4 {
        format!("{:.0}k", per_sec / 1e3)
    } else if per_sec >= 1e3 {
        format!("{:.1}k", per_sec / 1e3)
    } else {
        format!("{per_sec:.0}")
    }
}

/// Microseconds for people: `850µs`, `4.2ms`.
pub fn micros(us: f64) -> String {
    if !us.is_finite() {
        return "n/a".to_owned();
    }
    if us >= 1000.0 {
        format!("{:.1}ms", us / 1000.0)
    } else {
        format!("{us:.0}µs")
    }
}

/// Bytes for people: `182 MiB`.
pub fn mib(bytes: f64) -> String {
    format!("{:.0} MiB", bytes / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn rates_and_times_read_well() {
        assert_eq!(rate(1_234_567.0), "1.23M");
        assert_eq!(rate(45_600.0), "46k");
        assert_eq!(rate(4_560.0), "4.6k");
        assert_eq!(micros(4200.0), "4.2ms");
        assert_eq!(micros(850.0), "850µs");
    }

    #[test]
    fn the_table_has_a_line_per_measurement_and_escapes_pipes() {
        let mut line = Line::new(1, "a|b");
        line.ratio = Some(0.5);
        let report = Report {
            mode: "smoke".into(),
            profile: "release".into(),
            comparable: true,
            rounds: 1,
            lines: vec![line, Line::new(2, "c")],
            elapsed_secs: 1.0,
        };
        let table = report.markdown();
        assert!(table.contains("| 1 | a\\|b | – | – | 50% |"));
        assert!(table.contains("| 2 | c |"));
    }

    #[test]
    fn a_dev_build_marks_the_header_and_every_line_not_comparable() {
        let mut met = Line::new(4, "rebuild");
        met.met = Some(true);
        let mut missed = Line::new(5, "growth");
        missed.met = Some(false);
        let report = Report {
            mode: "smoke".into(),
            profile: "dev".into(),
            comparable: false,
            rounds: 1,
            lines: vec![met, missed],
            elapsed_secs: 1.0,
        };
        let table = report.markdown();
        assert!(table.contains("dev build — not comparable, median"));
        let rows: Vec<&str> = table
            .lines()
            .filter(|l| l.starts_with("| 4 ") || l.starts_with("| 5 "))
            .collect();
        assert_eq!(rows.len(), 2);
        for row in rows {
            assert!(row.contains(DEV_BUILD), "{row}");
            assert!(!row.contains("| yes |") && !row.contains("**no**"), "{row}");
        }
    }
}
