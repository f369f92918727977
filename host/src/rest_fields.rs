//! Field values the way Bitrix24 sends them (ids as numbers or text, Y/N flags, dates in
//! several forms), read from JSON objects: the REST API's parameters, and the REST-shaped JSON
//! that plugins hand to host calls, so both accept and refuse the same things.

use serde_json::{Map, Value};

use crate::crm::Page;
use crate::model::{CrmError, parse_datetime};

/// A parameter by name, ignoring case (`id`, `ID` and `Id` are one parameter to Bitrix24).
pub fn get<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A required positive integer id parameter.
pub fn id(params: &Map<String, Value>, name: &str) -> Result<i64, CrmError> {
    let value = get(params, name);
    let id = match value {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    id.filter(|id| *id > 0)
        .ok_or_else(|| CrmError::Invalid(format!("{} is not defined or invalid.", name.to_ascii_uppercase())))
}

/// An optional integer parameter (`SORT`); a value that is not an integer is refused.
pub fn optional_int(params: &Map<String, Value>, name: &str) -> Result<Option<i64>, CrmError> {
    let invalid = || CrmError::Invalid(format!("{} is not defined or invalid.", name.to_ascii_uppercase()));
    match get(params, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(invalid),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

/// An optional string parameter (`NAME`); a number is taken as its text, anything else refused.
pub fn optional_str(params: &Map<String, Value>, name: &str) -> Result<Option<String>, CrmError> {
    match get(params, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(CrmError::Invalid(format!("{name} must be a string."))),
    }
}

/// An optional moment (`DEADLINE`): absent keeps, empty or `null` clears, otherwise a date or
/// date and time as [`parse_datetime`] reads them.
pub fn optional_time(params: &Map<String, Value>, name: &str) -> Result<Option<Option<i64>>, CrmError> {
    match get(params, name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => parse_datetime(s.trim())
            .map(|at| Some(Some(at)))
            .ok_or_else(|| CrmError::Invalid(format!("{name} '{s}' is not a date and time"))),
        Some(other) => Err(CrmError::Invalid(format!(
            "{name} must be a date and time, not {other}"
        ))),
    }
}

/// An optional Y/N flag; `true`/`false` and 1/0 are accepted too.
pub fn optional_flag(params: &Map<String, Value>, name: &str) -> Result<Option<bool>, CrmError> {
    match get(params, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if matches!(s.as_str(), "Y" | "1" | "true") => Ok(Some(true)),
        Some(Value::String(s)) if matches!(s.as_str(), "N" | "0" | "false") => Ok(Some(false)),
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
        Some(other) => Err(CrmError::Invalid(format!("{name} must be Y or N, not {other}"))),
    }
}

/// An optional list of strings; a single string is a list of one.
pub fn optional_strings(params: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, CrmError> {
    match get(params, name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Vec::new())),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(_)) => strings(params, name).map(Some),
        Some(other) => Err(CrmError::Invalid(format!(
            "{name} must be a list of strings, not {other}"
        ))),
    }
}

/// An optional list of ids (`AUDITORS`): numbers or their text, one alone or in a list; `null`
/// is the empty list.
pub fn optional_ids(params: &Map<String, Value>, name: &str) -> Result<Option<Vec<i64>>, CrmError> {
    let invalid = || CrmError::Invalid(format!("{name} must be a list of user ids"));
    let id = |v: &Value| match v {
        Value::Number(n) => n.as_i64().ok_or_else(invalid),
        Value::String(s) => s.trim().parse().map_err(|_| invalid()),
        _ => Err(invalid()),
    };
    match get(params, name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Vec::new())),
        Some(Value::Array(list)) => list.iter().map(id).collect::<Result<_, _>>().map(Some),
        Some(one) => id(one).map(|id| Some(vec![id])),
    }
}

/// Refuses parameters outside `allowed` (compared case-insensitively), so a misspelt field is
/// reported instead of silently ignored.
pub fn only(params: &Map<String, Value>, allowed: &[&str]) -> Result<(), CrmError> {
    match params
        .keys()
        .find(|k| !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)))
    {
        Some(unknown) => Err(CrmError::Invalid(format!("unknown field {unknown}"))),
        None => Ok(()),
    }
}

/// The page a list call asks for with `start`: from that offset (absent is 0), counted; or, for
/// `start=-1`, Bitrix24's fast paging: the first `limit` rows, not counted.
pub fn page(params: &Map<String, Value>, limit: i64) -> Result<Page, CrmError> {
    let start = match get(params, "start") {
        None | Some(Value::Null) => Some(0),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    match start {
        Some(-1) => Ok(Page {
            start: 0,
            limit,
            count: false,
        }),
        Some(start) if start >= 0 => Ok(Page {
            start,
            limit,
            count: true,
        }),
        _ => Err(CrmError::Invalid("START is not defined or invalid.".into())),
    }
}

/// An optional object parameter (`fields`, `filter`, `order`); absent is empty.
pub fn object(params: &Map<String, Value>, name: &str) -> Result<Map<String, Value>, CrmError> {
    match get(params, name) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(Value::Array(list)) if list.is_empty() => Ok(Map::new()),
        Some(_) => Err(CrmError::Invalid(format!("Parameter '{name}' must be array."))),
    }
}

/// An optional list-of-strings parameter (`select`).
pub fn strings(params: &Map<String, Value>, name: &str) -> Result<Vec<String>, CrmError> {
    match get(params, name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| CrmError::Invalid(format!("Parameter '{name}' must hold strings.")))
            })
            .collect(),
        Some(_) => Err(CrmError::Invalid(format!("Parameter '{name}' must be array."))),
    }
}
