//! Request parameters the way Bitrix24 clients send them: a query string, a form body with
//! PHP-style nested keys (`fields[TITLE]=x&select[]=ID`), or a JSON body, merged into one object.

use serde_json::{Map, Value};

use super::ApiError;
use crate::model::parse_datetime;

/// Merges the query string and the body into one parameter object; the body wins on conflicts.
pub fn parse(query: Option<&str>, content_type: Option<&str>, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let mut params = Map::new();
    if let Some(query) = query {
        merge(&mut params, parse_form(query.as_bytes()));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    let is_json = content_type.is_some_and(|c| c.contains("json")) || body.first() == Some(&b'{');
    let from_body = if is_json {
        match serde_json::from_slice(body).map_err(ApiError::bad_json)? {
            Value::Object(map) => map,
            _ => return Err(ApiError::bad_json("expected a JSON object")),
        }
    } else {
        parse_form(body)
    };
    merge(&mut params, from_body);
    Ok(params)
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        into.insert(k, v);
    }
}

/// Parses `a[b][c]=v` pairs into nested objects; `a[]=v` appends; objects whose keys are
/// 0..n become arrays, as PHP would see them.
pub fn parse_form(body: &[u8]) -> Map<String, Value> {
    let mut root = Value::Object(Map::new());
    for (key, value) in form_urlencoded::parse(body) {
        let path = key_path(&key);
        insert(&mut root, &path, Value::String(value.into_owned()));
    }
    match normalize(root) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn key_path(key: &str) -> Vec<String> {
    let Some(open) = key.find('[') else {
        return vec![key.to_string()];
    };
    let mut path = vec![key[..open].to_string()];
    let mut rest = &key[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(close) = stripped.find(']') else { break };
        path.push(stripped[..close].to_string());
        rest = &stripped[close + 1..];
    }
    path
}

fn insert(node: &mut Value, path: &[String], value: Value) {
    let Some((head, tail)) = path.split_first() else {
        *node = value;
        return;
    };
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    let map = node.as_object_mut().expect("made an object above");
    let key = if head.is_empty() {
        map.len().to_string()
    } else {
        head.clone()
    };
    let child = map.entry(key).or_insert(Value::Null);
    insert(child, tail, value);
}

fn normalize(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let sequential = !map.is_empty() && map.keys().enumerate().all(|(i, k)| k == &i.to_string());
            let normalized = map.into_iter().map(|(k, v)| (k, normalize(v)));
            if sequential {
                Value::Array(normalized.map(|(_, v)| v).collect())
            } else {
                Value::Object(normalized.collect())
            }
        }
        other => other,
    }
}

/// A parameter by name, ignoring case (`id`, `ID` and `Id` are one parameter to Bitrix24).
pub fn get<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// A required positive integer id parameter.
pub fn id(params: &Map<String, Value>, name: &str) -> Result<i64, ApiError> {
    let value = get(params, name);
    let id = match value {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    id.filter(|id| *id > 0)
        .ok_or_else(|| ApiError::invalid(format!("{} is not defined or invalid.", name.to_ascii_uppercase())))
}

/// An optional integer parameter (`SORT`); a value that is not an integer is refused.
pub fn optional_int(params: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    let invalid = || ApiError::invalid(format!("{} is not defined or invalid.", name.to_ascii_uppercase()));
    match get(params, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(invalid),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

/// An optional string parameter (`NAME`); a number is taken as its text, anything else refused.
pub fn optional_str(params: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match get(params, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::invalid(format!("{name} must be a string."))),
    }
}

/// An optional moment (`DEADLINE`): absent keeps, empty or `null` clears, otherwise a date or
/// date and time as [`parse_datetime`] reads them.
pub fn optional_time(params: &Map<String, Value>, name: &str) -> Result<Option<Option<i64>>, ApiError> {
    match get(params, name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => parse_datetime(s.trim())
            .map(|at| Some(Some(at)))
            .ok_or_else(|| ApiError::invalid(format!("{name} '{s}' is not a date and time"))),
        Some(other) => Err(ApiError::invalid(format!(
            "{name} must be a date and time, not {other}"
        ))),
    }
}

/// An optional Y/N flag; `true`/`false` and 1/0 are accepted too.
pub fn optional_flag(params: &Map<String, Value>, name: &str) -> Result<Option<bool>, ApiError> {
    match get(params, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if matches!(s.as_str(), "Y" | "1" | "true") => Ok(Some(true)),
        Some(Value::String(s)) if matches!(s.as_str(), "N" | "0" | "false") => Ok(Some(false)),
        Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
        Some(other) => Err(ApiError::invalid(format!("{name} must be Y or N, not {other}"))),
    }
}

/// An optional list of strings; a single string is a list of one.
pub fn optional_strings(params: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, ApiError> {
    match get(params, name) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Vec::new())),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(_)) => strings(params, name).map(Some),
        Some(other) => Err(ApiError::invalid(format!(
            "{name} must be a list of strings, not {other}"
        ))),
    }
}

/// Refuses parameters outside `allowed` (compared case-insensitively), so a misspelt field is
/// reported instead of silently ignored.
pub fn only(params: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match params
        .keys()
        .find(|k| !allowed.iter().any(|a| a.eq_ignore_ascii_case(k)))
    {
        Some(unknown) => Err(ApiError::invalid(format!("unknown field {unknown}"))),
        None => Ok(()),
    }
}

/// An optional non-negative integer parameter (`start`); absent is 0.
pub fn offset(params: &Map<String, Value>, name: &str) -> Result<i64, ApiError> {
    let offset = match get(params, name) {
        None | Some(Value::Null) => Some(0),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    offset
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::invalid(format!("{} is not defined or invalid.", name.to_ascii_uppercase())))
}

/// An optional object parameter (`fields`, `filter`, `order`); absent is empty.
pub fn object(params: &Map<String, Value>, name: &str) -> Result<Map<String, Value>, ApiError> {
    match get(params, name) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(Value::Array(list)) if list.is_empty() => Ok(Map::new()),
        Some(_) => Err(ApiError::invalid(format!("Parameter '{name}' must be array."))),
    }
}

/// An optional list-of-strings parameter (`select`).
pub fn strings(params: &Map<String, Value>, name: &str) -> Result<Vec<String>, ApiError> {
    match get(params, name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ApiError::invalid(format!("Parameter '{name}' must hold strings.")))
            })
            .collect(),
        Some(_) => Err(ApiError::invalid(format!("Parameter '{name}' must be array."))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn php_style_nested_keys_become_objects_and_arrays() {
        let parsed = parse_form(b"fields[TITLE]=A%20deal&filter[%3EOPPORTUNITY]=5&select[]=ID&select[]=TITLE&id=3");
        assert_eq!(
            Value::Object(parsed),
            json!({"fields": {"TITLE": "A deal"}, "filter": {">OPPORTUNITY": "5"}, "select": ["ID", "TITLE"], "id": "3"})
        );
    }

    #[test]
    fn json_body_wins_over_query_and_bad_json_is_refused() {
        let merged = parse(Some("id=1"), Some("application/json"), br#"{"id": 2}"#).unwrap();
        assert_eq!(merged["id"], json!(2));
        assert!(parse(None, Some("application/json"), b"{nope").is_err());
    }
}
