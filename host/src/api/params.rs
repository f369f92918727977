//! Request parameters the way Bitrix24 clients send them: a query string, a form body with
//! PHP-style nested keys (`fields[TITLE]=x&select[]=ID`), or a JSON body, merged into one object.

use serde_json::{Map, Value};

use super::ApiError;
pub use crate::rest_fields::*;

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
