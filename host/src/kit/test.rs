//! `stagewright plugin test`: runs a plugin in a scratch host and prints each run as its run
//! record would show it, then whether the case's expectations hold.

use serde_json::Value;

use super::KitError;
use super::cases::{Case, Cases};
use super::scratch::{RunReport, ScratchHost};

/// Runs every case against the component `wasm` (its compiled code kept in `compiled_code`),
/// writing a report to `out`; returns how many failed.
pub async fn run_cases(
    wasm: &[u8],
    cases: &Cases,
    compiled_code: &std::path::Path,
    out: &mut impl std::io::Write,
) -> Result<usize, KitError> {
    let host = ScratchHost::start(wasm, compiled_code).await?;
    let m = host.manifest();
    line(out, format!("{} {} ({})", m.id, m.version, m.name))?;
    for capability in &m.capabilities {
        line(out, format!("  {}", capability.in_words()))?;
    }
    let mut failed = 0;
    for (n, case) in cases.cases.iter().enumerate() {
        let report = host.run(&case.item, &case.config, 1 + n as i64).await?;
        let wrong = case.expect.mismatches(&report);
        print_case(out, case, &report, &wrong)?;
        if !wrong.is_empty() {
            failed += 1;
        }
    }
    let passed = cases.cases.len() - failed;
    line(out, format!("\n{passed} passed, {failed} failed"))?;
    Ok(failed)
}

fn print_case(
    out: &mut impl std::io::Write,
    case: &Case,
    report: &RunReport,
    wrong: &[String],
) -> Result<(), KitError> {
    line(out, format!("\ncase: {}", case.name))?;
    let micros = report.duration.as_micros();
    line(
        out,
        format!(
            "  status: {} in {}.{:03} ms, {} fuel, {:.1} MiB of memory",
            report.status,
            micros / 1000,
            micros % 1000,
            report.fuel,
            report.memory_bytes as f64 / f64::from(1 << 20)
        ),
    )?;
    if let Some(error) = &report.error {
        let kind = if report.transient { "transient" } else { "permanent" };
        line(out, format!("  error ({kind}): {error}"))?;
    }
    line(out, format!("  config: {}", report.config))?;
    if let Some(returns) = &report.returns {
        line(out, format!("  returns: {returns}"))?;
    }
    for write in &report.writes {
        line(out, format!("  writes: {}", compact(write)))?;
    }
    for log in &report.logs {
        line(out, format!("  log {}: {}", log.level, log.message))?;
    }
    if wrong.is_empty() {
        line(out, "  ok".into())
    } else {
        wrong.iter().try_for_each(|w| line(out, format!("  FAILED: {w}")))
    }
}

/// A write without the fields it leaves empty.
fn compact(write: &Value) -> Value {
    match write {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn line(out: &mut impl std::io::Write, text: String) -> Result<(), KitError> {
    writeln!(out, "{text}").map_err(|e| KitError::Invalid(format!("writing the report: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_are_left_out_of_a_write() {
        let write = serde_json::json!({"kind": "update", "stage_id": null, "fields": {"TITLE": "x"}});
        assert_eq!(
            compact(&write),
            serde_json::json!({"kind": "update", "fields": {"TITLE": "x"}})
        );
    }
}
