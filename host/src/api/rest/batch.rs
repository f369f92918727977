//! `batch`: up to 50 REST calls in one request, run in order, as Bitrix24 runs them. `cmd` is an
//! object of named commands or an array of them, each `"method?query"`; the answer's sections
//! (`result`, `result_error`, `result_total`, `result_next`, `result_time`) come back in the
//! shape PHP gives them: a list when the keys are 0, 1, 2… in order (an array `cmd` with no
//! failures), `[]` when empty, an object otherwise. A command may use an earlier one's result:
//! `$result[name]`, `$result[name][KEY]`, `$result[name][n][KEY]`, `$result[n]` for array
//! commands. With `halt` set the first error stops the batch; the answer is 200 either way.

use std::time::Instant;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{Answer, ApiError, AppState, dispatch, params, time_taken};
use crate::directory::TokenHolder;
use crate::permissions::Access;

/// Most commands one `batch` call may hold, as in Bitrix24.
const MAX_COMMANDS: usize = 50;

/// The mark a reference to an earlier result starts with.
const REFERENCE: &str = "$result[";

/// Runs a batch call.
pub(super) async fn run(
    app: &AppState,
    caller: &TokenHolder,
    access: &Access,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    let commands = commands(params::get(p, "cmd"))?;
    let halt = params::get(p, "halt").is_some_and(is_set);
    let mut sections = Sections::default();
    for (key, command) in commands {
        let started = Instant::now();
        let started_at = app.clock.now();
        let (method, query) = command.split_once('?').unwrap_or((&command, ""));
        let method = method.trim_matches('/').to_ascii_lowercase();
        let method = method.strip_suffix(".json").unwrap_or(&method);
        let mut command_params = params::parse_form(query.as_bytes());
        for value in command_params.values_mut() {
            substitute(value, &sections.result);
        }
        let outcome = if method == "batch" {
            Err(ApiError::invalid("batch calls cannot be nested"))
        } else {
            dispatch(app, caller, access, method, &command_params).await
        };
        let failed = outcome.is_err();
        sections.record(key, outcome, time_taken(started, started_at, app.clock.now()));
        if failed && halt {
            break;
        }
    }
    Ok(sections.into_answer())
}

/// The commands in order with their keys: the names of an object `cmd`, or "0", "1", … of an
/// array one.
fn commands(cmd: Option<&Value>) -> Result<Vec<(String, String)>, ApiError> {
    let listed: Vec<(String, &Value)> = match cmd {
        Some(Value::Object(named)) => named.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Some(Value::Array(list)) => list.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        _ => return Err(ApiError::invalid("Parameter 'cmd' must be array")),
    };
    if listed.len() > MAX_COMMANDS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ERROR_BATCH_LENGTH_EXCEEDED",
            format!("Max batch length exceeded ({MAX_COMMANDS})"),
        ));
    }
    listed
        .into_iter()
        .map(|(key, command)| match command.as_str() {
            Some(text) => Ok((key, text.to_string())),
            None => Err(ApiError::invalid(format!("command {key} must be a string"))),
        })
        .collect()
}

/// `halt` as the SDKs send it: `1`, `true`, `Y`.
fn is_set(value: &Value) -> bool {
    match value {
        Value::Bool(set) => *set,
        Value::Number(n) => n.as_i64() == Some(1),
        Value::String(s) => matches!(s.as_str(), "1" | "true" | "Y" | "y"),
        _ => false,
    }
}

/// The answer's sections, keyed by command, in the order the commands ran.
#[derive(Default)]
struct Sections {
    result: Map<String, Value>,
    errors: Map<String, Value>,
    totals: Map<String, Value>,
    nexts: Map<String, Value>,
    times: Map<String, Value>,
}

impl Sections {
    fn record(&mut self, key: String, outcome: Result<Answer, ApiError>, time: Value) {
        match outcome {
            Ok(answer) => {
                if let Some(total) = answer.total {
                    self.totals.insert(key.clone(), json!(total));
                }
                if let Some(next) = answer.next {
                    self.nexts.insert(key.clone(), json!(next));
                }
                self.times.insert(key.clone(), time);
                self.result.insert(key, answer.result);
            }
            Err(e) => {
                self.errors.insert(key, e.body());
            }
        }
    }

    fn into_answer(self) -> Answer {
        json!({
            "result": php_array(self.result),
            "result_error": php_array(self.errors),
            "result_total": php_array(self.totals),
            "result_next": php_array(self.nexts),
            "result_time": php_array(self.times),
        })
        .into()
    }
}

/// A keyed section as PHP's `json_encode` writes an array: a list when its keys are 0, 1, 2…
/// in order (and when it is empty), an object otherwise.
fn php_array(section: Map<String, Value>) -> Value {
    let sequential = section.keys().enumerate().all(|(i, key)| *key == i.to_string());
    if sequential {
        Value::Array(section.into_iter().map(|(_, v)| v).collect())
    } else {
        Value::Object(section)
    }
}

/// Replaces references to earlier results inside `value`'s strings, after the query was
/// decoded (clients percent-encode the `$` and brackets): a string that is one reference
/// becomes the referenced value itself; a reference inside longer text becomes its text. A
/// reference to nothing stays as written, so the command fails on it, not the batch.
fn substitute(value: &mut Value, results: &Map<String, Value>) {
    match value {
        Value::String(text) if text.contains(REFERENCE) => {
            if let Some((found, rest)) = reference(text, results)
                && rest.is_empty()
                && text.starts_with(REFERENCE)
            {
                *value = found.clone();
            } else {
                *text = substitute_in_text(text, results);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, results)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, results)),
        _ => {}
    }
}

/// `text` with each resolvable reference replaced by its value's text.
fn substitute_in_text(text: &str, results: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(REFERENCE) {
        out.push_str(&rest[..at]);
        match reference(&rest[at..], results) {
            Some((found, after)) => {
                match found {
                    Value::String(s) => out.push_str(s),
                    Value::Null => {}
                    other => out.push_str(&other.to_string()),
                }
                rest = after;
            }
            None => {
                out.push_str(REFERENCE);
                rest = &rest[at + REFERENCE.len()..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value `text` (starting with `$result[`) refers to, and the text after the reference.
fn reference<'a, 'r>(text: &'a str, results: &'r Map<String, Value>) -> Option<(&'r Value, &'a str)> {
    let mut cursor = text.strip_prefix("$result")?;
    let mut found: Option<&Value> = None;
    while let Some(inner) = cursor.strip_prefix('[') {
        let close = inner.find(']')?;
        let key = &inner[..close];
        found = Some(match found {
            None => results.get(key)?,
            Some(Value::Array(items)) => items.get(key.parse::<usize>().ok()?)?,
            Some(Value::Object(fields)) => fields.get(key)?,
            Some(_) => return None,
        });
        cursor = &inner[close + 1..];
    }
    found.map(|value| (value, cursor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results() -> Map<String, Value> {
        json!({
            "deals": [{"ID": "7", "TITLE": "Chairs"}, {"ID": "9", "TITLE": "Desks"}],
            "0": 42,
            "one": {"ID": 5, "CONTACT_ID": null},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn a_whole_reference_becomes_the_value_and_a_partial_one_its_text() {
        let mut params = json!({
            "id": "$result[0]",
            "filter": {">ID": "$result[deals][1][ID]", "TITLE": "after $result[deals][0][TITLE]!"},
            "ids": ["$result[one][ID]", "$result[missing][ID]"],
            "none": "x$result[one][CONTACT_ID]y",
        });
        substitute(&mut params, &results());
        assert_eq!(
            params,
            json!({
                "id": 42,
                "filter": {">ID": "9", "TITLE": "after Chairs!"},
                "ids": [5, "$result[missing][ID]"],
                "none": "xy",
            })
        );
    }

    #[test]
    fn sections_are_lists_only_when_keyed_zero_one_two_in_order() {
        let keyed = |keys: &[&str]| Map::from_iter(keys.iter().map(|k| (k.to_string(), json!(k))));
        assert_eq!(php_array(keyed(&[])), json!([]));
        assert_eq!(php_array(keyed(&["0", "1"])), json!(["0", "1"]));
        assert_eq!(php_array(keyed(&["1"])), json!({"1": "1"}));
        assert_eq!(php_array(keyed(&["0", "2"])), json!({"0": "0", "2": "2"}));
        assert_eq!(php_array(keyed(&["b", "a"])), json!({"b": "b", "a": "a"}));
    }

    #[test]
    fn commands_keep_their_order_and_refuse_more_than_fifty() {
        let named = json!({"b": "crm.deal.get?id=1", "a": "crm.deal.list"});
        let keys: Vec<String> = commands(Some(&named)).unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["b", "a"]);
        let listed = json!(["crm.deal.list", "crm.lead.list"]);
        assert_eq!(
            commands(Some(&listed)).unwrap()[1],
            ("1".into(), "crm.lead.list".into())
        );
        let many = Value::Array(vec![json!("crm.deal.list"); 51]);
        assert_eq!(
            commands(Some(&many)).unwrap_err().body()["error"],
            "ERROR_BATCH_LENGTH_EXCEEDED"
        );
        assert!(commands(Some(&json!("crm.deal.list"))).is_err());
    }
}
