//! Templates in robot config values, in Bitrix24's stored form: `{=Document:TITLE}` (a field of
//! the item), `{=Document:COMPANY_ID.TITLE}` (a field of the linked company, contact or user),
//! `{=System:Now}`, `{=System:Date}`, and `{=r_…:key}` (a value an earlier robot of the same
//! stay in the stage returned). A template that names something missing is an error, never a
//! silent empty string.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::clock::Millis;
use crate::crm;
use crate::directory;
use crate::model::{CrmError, EntityType, Item, ItemRef, rest_datetime};
use crate::runtime::{RunConn, RunDb};
use crate::store::{Conn, Pool};

use super::Robot;

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

/// Where the records an item links to are read from when a template names one. It takes a
/// connection on the first such template only: most configs name none, and on PostgreSQL every
/// connection taken and given back is a round trip to the server.
pub struct LinkedRecords<'p> {
    source: LinkSource<'p>,
    conn: Option<RunConn>,
}

/// Where [`LinkedRecords`] takes its connection.
enum LinkSource<'p> {
    /// Any connection of the pool.
    Pool(&'p Pool),
    /// Where the run reads: in a chain slice, its transaction, which holds what the slice's
    /// earlier robots wrote.
    Run(&'p RunDb),
}

impl<'p> LinkedRecords<'p> {
    /// Reads through `pool`.
    pub fn new(pool: &'p Pool) -> Self {
        Self {
            source: LinkSource::Pool(pool),
            conn: None,
        }
    }

    /// Reads where a run's host calls read.
    pub fn of_run(db: &'p RunDb) -> Self {
        Self {
            source: LinkSource::Run(db),
            conn: None,
        }
    }

    async fn conn(&mut self) -> Result<&mut Conn, CrmError> {
        if self.conn.is_none() {
            self.conn = Some(match self.source {
                LinkSource::Pool(pool) => RunConn::Own(pool.acquire().await?),
                LinkSource::Run(db) => db.read().await?,
            });
        }
        Ok(&mut **self.conn.as_mut().expect("a connection was just taken"))
    }
}

/// The robot's config with its templates resolved against the item, what it links to, the
/// clock and the stay's earlier return values; `Err` names what a template asked for and
/// could not be found.
pub async fn resolve_config(
    links: &mut LinkedRecords<'_>,
    robot: &Robot,
    item: &Item,
    previous: &Map<String, Value>,
    now: Millis,
) -> Result<Result<Value, String>, CrmError> {
    let references = match references(&robot.config) {
        Ok(references) => references,
        Err(why) => return Ok(Err(why)),
    };
    let fields = item.values();
    let mut values = HashMap::new();
    for reference in references {
        let value = match &reference {
            Reference::Document(field) => match fields.get(field) {
                Some(value) => Ok(value.clone()),
                None if item.item_ref.entity_type.fields().iter().any(|f| f.name == field) => Ok(Value::Null),
                None => Err(format!("{{=Document:{field}}}: the item has no field {field}")),
            },
            Reference::Linked { link, field } => linked_value(links, &fields, link, field).await?,
            Reference::Now => Ok(Value::String(rest_datetime(now))),
            Reference::Today => Ok(Value::String(rest_datetime(now)[..10].to_string())),
            Reference::Returned { robot_id, key } => previous
                .get(robot_id)
                .and_then(|values| values.get(key))
                .cloned()
                .ok_or_else(|| format!("{{={robot_id}:{key}}}: robot {robot_id} has not returned {key} in this stage")),
        };
        match value {
            Ok(value) => values.insert(reference, value),
            Err(why) => return Ok(Err(why)),
        };
    }
    Ok(resolve(&robot.config, &values))
}

/// A field of what an item's link field points at: the company (COMPANY_ID), the contact
/// (CONTACT_ID), or the user (ASSIGNED_BY_ID, CREATED_BY_ID: NAME, LAST_NAME, EMAIL,
/// WORK_POSITION).
async fn linked_value(
    links: &mut LinkedRecords<'_>,
    fields: &Map<String, Value>,
    link: &str,
    field: &str,
) -> Result<Result<Value, String>, CrmError> {
    let template = format!("{{=Document:{link}.{field}}}");
    let Some(id) = fields.get(link).and_then(Value::as_i64) else {
        return Ok(Err(format!("{template}: the item's {link} is empty")));
    };
    let linked = match link {
        "COMPANY_ID" | "CONTACT_ID" => {
            let entity_type = if link == "COMPANY_ID" {
                EntityType::Company
            } else {
                EntityType::Contact
            };
            match crm::get(links.conn().await?, ItemRef { entity_type, id }).await {
                Ok(linked) => linked.values(),
                Err(CrmError::NotFound(_)) => return Ok(Err(format!("{template}: {entity_type} {id} does not exist"))),
                Err(e) => return Err(e),
            }
        }
        "ASSIGNED_BY_ID" | "CREATED_BY_ID" => match directory::user(links.conn().await?, id).await {
            Ok(user) => Map::from_iter([
                ("ID".to_string(), Value::from(user.id)),
                ("NAME".to_string(), Value::from(user.name)),
                ("LAST_NAME".to_string(), Value::from(user.last_name)),
                ("EMAIL".to_string(), Value::from(user.email)),
                ("WORK_POSITION".to_string(), Value::from(user.work_position)),
            ]),
            Err(CrmError::NotFound(_)) => return Ok(Err(format!("{template}: user {id} does not exist"))),
            Err(e) => return Err(e),
        },
        _ => {
            return Ok(Err(format!(
                "{template}: {link} is not a link to a company, contact or user"
            )));
        }
    };
    Ok(linked
        .get(field)
        .cloned()
        .ok_or_else(|| format!("{template}: it has no field {field}")))
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
