//! A plugin's test cases (`plugin-tests.json`): the item a run is for, the robot's config, and
//! what the run must show. Each expectation names only what it checks: `returns` and each of
//! `writes` hold when every field they give is as given, so a case says what matters to it.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::KitError;
use super::scratch::{ItemSpec, RunReport};
use crate::queue::RunStatus;

/// The file `plugin test` reads by default, beside the plugin's Cargo.toml.
pub const CASES_FILE: &str = "plugin-tests.json";

/// The cases of a plugin.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cases {
    /// In the order they run.
    pub cases: Vec<Case>,
}

/// One run and what it must show.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case is about.
    pub name: String,
    /// The item the robot runs for; a deal with no fields unless said.
    #[serde(default)]
    pub item: ItemSpec,
    /// The robot's config; templates are resolved against the item.
    #[serde(default = "empty_object")]
    pub config: Value,
    /// What the run must show.
    #[serde(default)]
    pub expect: Expect,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// What a run must show; parts left out are not checked, except that the run must succeed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// "succeeded" (the default) or "failed".
    pub status: Option<RunStatus>,
    /// Return values the run must have (others may be there too).
    pub returns: Option<Value>,
    /// The writes, in order: as many as given, each matching its fields.
    pub writes: Option<Vec<Value>>,
    /// Texts that must each appear in a line of the log.
    #[serde(default)]
    pub logs: Vec<String>,
    /// Text the error must contain.
    pub error: Option<String>,
}

impl Cases {
    /// Reads a cases file.
    pub fn read(path: &Path) -> Result<Self, KitError> {
        let text = std::fs::read_to_string(path).map_err(|e| KitError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| KitError::Invalid(format!("{}: {e}", path.display())))
    }
}

impl Expect {
    /// What in `report` differs from this expectation; empty when it holds.
    pub fn mismatches(&self, report: &RunReport) -> Vec<String> {
        let mut wrong = Vec::new();
        let status = self.status.unwrap_or(RunStatus::Succeeded);
        if report.status != status {
            wrong.push(format!(
                "status is {}, expected {status}{}",
                report.status,
                report.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
            ));
        }
        if let Some(expected) = &self.returns
            && !report.returns.as_ref().is_some_and(|actual| contains(actual, expected))
        {
            wrong.push(format!(
                "returns {}, expected {expected}",
                show(report.returns.as_ref())
            ));
        }
        if let Some(expected) = &self.writes {
            let matches = expected.len() == report.writes.len()
                && expected
                    .iter()
                    .zip(&report.writes)
                    .all(|(e, actual)| contains(actual, e));
            if !matches {
                wrong.push(format!(
                    "writes {}, expected {}",
                    Value::from(report.writes.clone()),
                    Value::from(expected.clone())
                ));
            }
        }
        for text in &self.logs {
            if !report.logs.iter().any(|line| line.message.contains(text.as_str())) {
                wrong.push(format!("no log line contains {text:?}"));
            }
        }
        if let Some(text) = &self.error
            && !report.error.as_deref().is_some_and(|e| e.contains(text.as_str()))
        {
            wrong.push(format!(
                "error is {}, expected it to contain {text:?}",
                show_text(report.error.as_deref())
            ));
        }
        wrong
    }
}

/// Whether `actual` has everything `expected` gives: objects field by field, the rest equal.
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected
            .iter()
            .all(|(key, value)| actual.get(key).is_some_and(|a| contains(a, value))),
        _ => actual == expected,
    }
}

fn show(value: Option<&Value>) -> String {
    value.map_or("nothing".into(), Value::to_string)
}

fn show_text(text: Option<&str>) -> String {
    text.map_or("none".into(), |t| format!("{t:?}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::runtime::LogLine;

    fn report() -> RunReport {
        RunReport {
            status: RunStatus::Succeeded,
            error: None,
            transient: false,
            returns: Some(json!({"comment_id": 1, "extra": true})),
            writes: vec![json!({"kind": "comment", "id": 1, "text": "Hi", "item": {"entity_type": "deal", "id": 1}})],
            logs: vec![LogLine {
                level: "info".into(),
                message: "commented 1".into(),
            }],
            fuel: 10,
            memory_bytes: 1 << 20,
            duration: Duration::from_micros(5),
            config: json!({}),
        }
    }

    #[test]
    fn an_expectation_checks_only_what_it_gives() {
        let expect: Expect = serde_json::from_value(json!({
            "returns": {"comment_id": 1},
            "writes": [{"kind": "comment", "text": "Hi"}],
            "logs": ["commented"]
        }))
        .unwrap();
        assert!(expect.mismatches(&report()).is_empty());
        assert!(
            Expect::default().mismatches(&report()).is_empty(),
            "a run that succeeded"
        );
    }

    #[test]
    fn every_difference_is_named() {
        let expect: Expect = serde_json::from_value(json!({
            "status": "failed",
            "returns": {"comment_id": 2},
            "writes": [],
            "logs": ["nothing like it"],
            "error": "empty"
        }))
        .unwrap();
        let wrong = expect.mismatches(&report());
        assert_eq!(wrong.len(), 5, "{wrong:#?}");
        assert!(wrong[0].starts_with("status is succeeded, expected failed"));
    }
}
