//! `paylog bench --smoke`: the benchmark runs end to end with tiny sizes and its table
//! has a line for every row (1 to 9; row 7 on a NATS cluster it starts), none of them failed.

use std::process::Command;

#[test]
fn bench_smoke_prints_every_row() {
    let scratch = tempfile::tempdir().expect("a temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_paylog"))
        .args(["bench", "--smoke", "--scratch"])
        .arg(scratch.path())
        .output()
        .expect("running paylog bench");
    let table = String::from_utf8_lossy(&output.stdout);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "paylog bench failed:\n{table}\n{log}"
    );
    assert!(!table.contains("FAILED"), "a row failed:\n{table}");
    for row in 1..=9 {
        assert!(
            table.lines().any(|l| l.starts_with(&format!("| {row} | "))),
            "row {row} is missing:\n{table}"
        );
    }
    // Row 2 has one line per concurrency, row 5 one per log size (at least two).
    for line in ["1 client ", "16 clients", "64 clients"] {
        assert!(table.contains(line), "no line with {line:?}:\n{table}");
    }
    let growth = table.lines().filter(|l| l.starts_with("| 5 | ")).count();
    assert!(growth >= 2, "row 5 needs a line per log size:\n{table}");
    // Row 6: the flood before, with the hash pool, and as shipped.
    let flood = table.lines().filter(|l| l.starts_with("| 6 | ")).count();
    assert_eq!(flood, 3, "row 6 needs a line per defence:\n{table}");
    // Tests build without optimisations: no line may claim a target met or missed.
    assert!(
        table.contains("dev build — not comparable, median"),
        "{table}"
    );
    for line in table
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| # "))
    {
        assert!(line.contains("| dev build — not comparable |"), "{line}");
    }
}

#[test]
fn bench_json_smoke_of_one_row_is_machine_readable() {
    let scratch = tempfile::tempdir().expect("a temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_paylog"))
        .args(["bench", "--smoke", "--json", "--rows", "1", "--scratch"])
        .arg(scratch.path())
        .output()
        .expect("running paylog bench");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the output is JSON");
    let lines = report["lines"].as_array().expect("a list of lines");
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["row"], 1);
    let group = lines[0]["values"]["mean_group_size"]
        .as_f64()
        .expect("a group size");
    assert!(group >= 1.0, "mean group size {group}");
}

#[test]
fn bench_refuses_an_unknown_row() {
    let output = Command::new(env!("CARGO_BIN_EXE_paylog"))
        .args(["bench", "--smoke", "--rows", "10"])
        .output()
        .expect("running paylog bench");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("10"));
}
