//! Templates in robot config values, in Bitrix24's stored form: `{=Document:TITLE}` (a field of
//! the item), `{=Document:COMPANY_ID.TITLE}` (a field of the linked company, contact or user),
//! `{=System:Now}`, `{=System:Date}`, and `{=r_…:key}` (a value an earlier robot of the same
//! stay in the stage returned). A template that names something missing is an error, never a
//! silent empty string.

use std::collections::HashMap;

use serde_json::Value;

/// What one template names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// A field of the item.
    Document(String),
    /// A field of what a link field of the item points at (`COMPANY_ID.TITLE`,
    /// `ASSIGNED_BY_ID.EMAIL`).
    Linked {
        /// The item's link field.
        link: String,
        /// The field of the linked record.
        field: String,
    },
    /// The run's time, ISO 8601 UTC.
    Now,
    /// The run's date, `YYYY-MM-DD` UTC.
    Today,
    /// A value an earlier robot returned.
    Returned {
        /// The robot.
        robot_id: String,
        /// The key in its return values.
        key: String,
    },
}

impl Reference {
    fn parse(inner: &str) -> Result<Self, String> {
        let unknown = || format!("{{={inner}}} is not a template this host knows");
        let (source, name) = inner.split_once(':').ok_or_else(unknown)?;
        let name = name.trim();
        match source.trim() {
            "Document" => match name.split_once('.') {
                Some((link, field)) => Ok(Self::Linked {
                    link: link.into(),
                    field: field.into(),
                }),
                None => Ok(Self::Document(name.into())),
            },
            "System" if name.eq_ignore_ascii_case("Now") => Ok(Self::Now),
            "System" if name.eq_ignore_ascii_case("Date") => Ok(Self::Today),
            robot if robot.starts_with("r_") => Ok(Self::Returned {
                robot_id: robot.into(),
                key: name.into(),
            }),
            _ => Err(unknown()),
        }
    }
}

/// A piece of a config string: literal text or a template.
enum Piece<'a> {
    Text(&'a str),
    Template(Reference),
}

fn pieces(text: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{=") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("template in '{text}' is not closed with }}"))?;
        out.push(Piece::Template(Reference::parse(&after[..end])?));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Every template in a config value, each once, in order of appearance.
pub fn references(config: &Value) -> Result<Vec<Reference>, String> {
    let mut found = Vec::new();
    collect(config, &mut found)?;
    Ok(found)
}

fn collect(value: &Value, found: &mut Vec<Reference>) -> Result<(), String> {
    match value {
        Value::String(text) => {
            for piece in pieces(text)? {
                if let Piece::Template(reference) = piece
                    && !found.contains(&reference)
                {
                    found.push(reference);
                }
            }
        }
        Value::Array(list) => list.iter().try_for_each(|v| collect(v, found))?,
        Value::Object(map) => map.values().try_for_each(|v| collect(v, found))?,
        _ => {}
    }
    Ok(())
}

/// The config with every template replaced by its value from `values` (which holds one for
/// each of [`references`]). A string that is exactly one template takes the value's own type,
/// so `"{=Document:OPPORTUNITY}"` becomes a number; templates inside text become text.
pub fn resolve(config: &Value, values: &HashMap<Reference, Value>) -> Result<Value, String> {
    Ok(match config {
        Value::String(text) => {
            let pieces = pieces(text)?;
            let value_of = |reference: &Reference| {
                values
                    .get(reference)
                    .cloned()
                    .ok_or_else(|| format!("no value for template {reference:?}"))
            };
            match pieces.as_slice() {
                [Piece::Template(only)] => value_of(only)?,
                _ => {
                    let mut out = String::with_capacity(text.len());
                    for piece in &pieces {
                        match piece {
                            Piece::Text(t) => out.push_str(t),
                            Piece::Template(reference) => out.push_str(&as_text(&value_of(reference)?)),
                        }
                    }
                    Value::String(out)
                }
            }
        }
        Value::Array(list) => Value::Array(list.iter().map(|v| resolve(v, values)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(v, values)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// A value as it reads inside text: whole amounts without a trailing ".0" ("1500", not
/// "1500.0").
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_are_found_and_replaced_keeping_types() {
        let config = json!({"text": "Deal {=Document:TITLE} for {=Document:ASSIGNED_BY_ID.NAME}", "amount": "{=Document:OPPORTUNITY}", "ref": ["{=r_1:comment_id}", "at {=System:Now}"]});
        let found = references(&config).unwrap();
        assert_eq!(found.len(), 5);
        let values: HashMap<Reference, Value> = HashMap::from([
            (Reference::Document("TITLE".into()), json!("Supply")),
            (
                Reference::Linked {
                    link: "ASSIGNED_BY_ID".into(),
                    field: "NAME".into(),
                },
                json!("Ann"),
            ),
            (Reference::Document("OPPORTUNITY".into()), json!(1500.5)),
            (
                Reference::Returned {
                    robot_id: "r_1".into(),
                    key: "comment_id".into(),
                },
                json!(7),
            ),
            (Reference::Now, json!("2026-01-01T00:00:00+00:00")),
        ]);
        assert!(found.iter().all(|r| values.contains_key(r)), "{found:?}");
        assert_eq!(
            resolve(&config, &values).unwrap(),
            json!({"text": "Deal Supply for Ann", "amount": 1500.5, "ref": [7, "at 2026-01-01T00:00:00+00:00"]})
        );
    }

    #[test]
    fn unknown_and_unclosed_templates_are_errors() {
        assert!(references(&json!("{=Nope:X}")).is_err());
        assert!(references(&json!("{=Document:TITLE")).is_err());
    }
}
