//! Runs the storage benchmark report end to end on a tiny data set, so that the driver the
//! README's figures come from keeps working. Timings are not checked (that is what the report
//! is for); the row counts and the shape of the report are.

use std::process::Command;

#[test]
fn storage_report_runs_on_a_small_data_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_strata-bench-storage"))
        .args([
            "--hosts",
            "3",
            "--duration",
            "2h",
            "--runs",
            "3",
            "--batch-rows",
            "100",
        ])
        .args(["--python", "none", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "report failed:\n{stdout}\n{stderr}");
    // 3 hosts x 720 readings.
    assert!(
        stdout.contains("2,160 rows, 21,600 field values"),
        "{stdout}"
    );
    for line in [
        "| write (WAL fsync=always",
        "| scan, all 21 columns",
        "| memcpy of the same",
        "| Strata |",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
}
