//! Bitrix24's multi-fields: a contact's, lead's or company's PHONE and EMAIL lists. Each entry
//! has an id, a value and a value type (WORK, MOBILE, ...). A write sends changes, not the whole
//! list: an entry with an ID changes that entry (or removes it with `DELETE: Y`), one without an
//! ID is added, and entries not mentioned stay.

use serde_json::{Map, Value, json};

use crate::model::CrmError;

/// The multi-fields and the value types each accepts.
const FIELDS: &[(&str, &[&str])] = &[
    ("PHONE", &["WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING", "OTHER"]),
    ("EMAIL", &["WORK", "HOME", "MAILING", "OTHER"]),
];

/// Whether `name` is a multi-field.
pub fn is_multifield(name: &str) -> bool {
    FIELDS.iter().any(|(field, _)| *field == name)
}

/// Checks a write to a multi-field and normalizes it to a list of changes:
/// `{"ID"?, "VALUE"?, "VALUE_TYPE"?, "DELETE"?}`. A bare string is one added entry.
pub fn changes(name: &str, value: &Value) -> Result<Value, CrmError> {
    let entries: Vec<Value> = match value {
        Value::Null => Vec::new(),
        Value::String(_) => vec![json!({"VALUE": value})],
        Value::Array(entries) => entries.clone(),
        Value::Object(entries) => entries.values().cloned().collect(),
        other => return Err(invalid(name, &format!("expected a list of entries, got {other}"))),
    };
    entries
        .iter()
        .map(|entry| change(name, entry))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn invalid(name: &str, why: &str) -> CrmError {
    CrmError::Invalid(format!("field {name}: {why}"))
}

fn change(name: &str, entry: &Value) -> Result<Value, CrmError> {
    let entry = match entry {
        Value::String(_) => json!({"VALUE": entry}),
        Value::Object(_) => entry.clone(),
        other => return Err(invalid(name, &format!("an entry must be an object, not {other}"))),
    };
    let mut out = Map::new();
    for (key, value) in entry.as_object().into_iter().flatten() {
        match key.as_str() {
            "ID" => {
                let id = value
                    .as_i64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|id| *id > 0)
                    .ok_or_else(|| invalid(name, &format!("entry ID {value} is not an id")))?;
                out.insert("ID".into(), json!(id));
            }
            "VALUE" => {
                let text = value
                    .as_str()
                    .map(str::trim)
                    .ok_or_else(|| invalid(name, "VALUE must be text"))?;
                check_value(name, text)?;
                out.insert("VALUE".into(), json!(text));
            }
            "VALUE_TYPE" => {
                let kind = value.as_str().unwrap_or_default().to_ascii_uppercase();
                let allowed = FIELDS.iter().find(|(f, _)| *f == name).map_or(&[][..], |(_, k)| k);
                if !allowed.contains(&kind.as_str()) {
                    return Err(invalid(
                        name,
                        &format!("VALUE_TYPE must be one of {}", allowed.join(", ")),
                    ));
                }
                out.insert("VALUE_TYPE".into(), json!(kind));
            }
            "DELETE" => {
                let delete = matches!(value.as_str(), Some("Y")) || value == &Value::Bool(true);
                out.insert("DELETE".into(), json!(delete));
            }
            "TYPE_ID" => {}
            other => return Err(invalid(name, &format!("unknown entry key {other}"))),
        }
    }
    if !out.contains_key("ID") && !out.contains_key("VALUE") {
        return Err(invalid(name, "a new entry needs a VALUE"));
    }
    Ok(Value::Object(out))
}

fn check_value(name: &str, text: &str) -> Result<(), CrmError> {
    let valid = match name {
        "EMAIL" => {
            text.split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'))
                && !text.contains(char::is_whitespace)
        }
        _ => {
            let digits = text.chars().filter(char::is_ascii_digit).count();
            digits >= 3 && text.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
        }
    };
    if valid {
        Ok(())
    } else {
        Err(invalid(name, &format!("'{text}' is not a valid value")))
    }
}

/// A value as repeat-client matching compares it, checked as the field checks it: a phone's
/// digits, with its leading + kept ("+1 (555) 010-20" is "+155501020"); an email lower-cased.
pub fn comparable(name: &str, text: &str) -> Result<String, CrmError> {
    let text = text.trim();
    check_value(name, text)?;
    Ok(match name {
        "EMAIL" => text.to_ascii_lowercase(),
        _ => {
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            if text.starts_with('+') {
                format!("+{digits}")
            } else {
                digits
            }
        }
    })
}

/// Applies normalized changes to the stored list: `[{"ID", "VALUE", "VALUE_TYPE"}]`.
pub fn merge(name: &str, stored: &Value, changes: &Value) -> Result<Value, CrmError> {
    let mut entries: Vec<Value> = stored.as_array().cloned().unwrap_or_default();
    let mut next_id = entries.iter().filter_map(|e| e["ID"].as_i64()).max().unwrap_or(0) + 1;
    for change in changes.as_array().into_iter().flatten() {
        match change["ID"].as_i64() {
            Some(id) => {
                let at = entries
                    .iter()
                    .position(|e| e["ID"].as_i64() == Some(id))
                    .ok_or_else(|| invalid(name, &format!("entry {id} does not exist")))?;
                if change["DELETE"] == Value::Bool(true) {
                    entries.remove(at);
                    continue;
                }
                for key in ["VALUE", "VALUE_TYPE"] {
                    if let Some(value) = change.get(key) {
                        entries[at][key] = value.clone();
                    }
                }
            }
            None if change["DELETE"] == Value::Bool(true) => {}
            None => {
                let kind = change.get("VALUE_TYPE").cloned().unwrap_or_else(|| json!("WORK"));
                entries.push(json!({"ID": next_id, "VALUE": change["VALUE"], "VALUE_TYPE": kind}));
                next_id += 1;
            }
        }
    }
    Ok(if entries.is_empty() {
        Value::Null
    } else {
        Value::Array(entries)
    })
}

/// A stored list as REST shows it: ids as text and each entry's TYPE_ID.
pub fn to_rest(name: &str, stored: &Value) -> Value {
    match stored {
        Value::Array(entries) => Value::Array(
            entries
                .iter()
                .map(|e| {
                    json!({
                        "ID": e["ID"].as_i64().map(|id| id.to_string()),
                        "VALUE_TYPE": e["VALUE_TYPE"],
                        "VALUE": e["VALUE"],
                        "TYPE_ID": name,
                    })
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}
