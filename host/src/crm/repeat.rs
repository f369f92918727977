//! Repeat clients, as Bitrix24 has them: a new lead whose phone or email belongs to an existing
//! contact or company is a repeat lead (`IS_RETURN_CUSTOMER` "Y") and is linked to that client; so
//! is a lead made for an existing contact or company (`CONTACT_ID`, `COMPANY_ID`).
//! The exception list holds values that never count (the company's own switchboard, spam
//! numbers); admins keep it through the admin API and robots add to it with "add to exceptions".

use std::collections::HashSet;

use crate::store;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock::Millis;
use crate::model::REPEAT_FIELD;
use crate::model::multifields::comparable;
use crate::model::{CrmError, EntityType, ItemRef};
use crate::store::{Conn, Tx};

/// What kind of value an exception is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A phone number (the PHONE multi-field).
    Phone,
    /// An email address (the EMAIL multi-field).
    Email,
}

impl Kind {
    const ALL: [Self; 2] = [Self::Phone, Self::Email];

    /// The multi-field holding values of this kind.
    fn field(self) -> &'static str {
        match self {
            Self::Phone => "PHONE",
            Self::Email => "EMAIL",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Email => "email",
        }
    }

    fn parse(text: &str) -> Result<Self, CrmError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .ok_or_else(|| CrmError::Invalid(format!("stored exception kind '{text}' is unknown")))
    }
}

/// A value in the form matching compares, with its kind.
pub type Comparable = (Kind, String);

/// A value of `kind` as matching compares it, refused when the field would not take it.
pub fn comparable_value(kind: Kind, text: &str) -> Result<String, CrmError> {
    if text.trim().is_empty() {
        return Err(CrmError::Invalid(format!("the {} is empty", kind.as_str())));
    }
    comparable(kind.field(), text)
}

/// One value on the exception list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Exception {
    /// Its id.
    pub id: i64,
    /// Phone or email.
    pub kind: Kind,
    /// The value as matching compares it: a phone's digits with its leading +, an email
    /// lower-cased.
    pub value: String,
    /// Why it is there.
    pub comment: String,
    /// The user who added it; 0, the automation, for a robot.
    pub added_by: i64,
    /// The robot run that added it, if a robot did.
    pub run_id: Option<String>,
    /// The entity type of the item whose value it was, if a robot added it.
    pub entity_type: Option<String>,
    /// That item's id.
    pub item_id: Option<i64>,
    /// When it was added (ms since the epoch).
    pub created_at: Millis,
}

/// Values to put on the list, and who puts them there.
#[derive(Debug, Clone)]
pub struct NewExceptions {
    /// The values, already comparable.
    pub values: Vec<Comparable>,
    /// Why.
    pub comment: String,
    /// The user adding them (0 for a robot).
    pub added_by: i64,
    /// The robot run adding them.
    pub run_id: Option<String>,
    /// The item they were taken from.
    pub item: Option<ItemRef>,
}

fn exception_from_row(row: &store::Row) -> Result<Exception, CrmError> {
    Ok(Exception {
        id: row.try_get("id")?,
        kind: Kind::parse(&row.try_get::<String, _>("kind")?)?,
        value: row.try_get("value")?,
        comment: row.try_get("comment")?,
        added_by: row.try_get("added_by")?,
        run_id: row.try_get("run_id")?,
        entity_type: row.try_get("entity_type")?,
        item_id: row.try_get("item_id")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The whole list, oldest first.
pub async fn list(conn: &mut Conn) -> Result<Vec<Exception>, CrmError> {
    let rows = store::query("SELECT * FROM client_exceptions ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(exception_from_row).collect()
}

/// The entry holding a value, if the value is listed.
pub async fn find(conn: &mut Conn, kind: Kind, value: &str) -> Result<Option<Exception>, CrmError> {
    let row = store::query("SELECT * FROM client_exceptions WHERE kind = $1 AND value = $2")
        .bind(kind.as_str())
        .bind(value)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(exception_from_row).transpose()
}

/// Puts values on the list; those already there stay as they are. Returns the entries added.
pub async fn add(tx: &mut Tx, new: &NewExceptions, now: Millis) -> Result<Vec<Exception>, CrmError> {
    let mut added = Vec::new();
    for (kind, value) in &new.values {
        let row = store::query(
            "INSERT INTO client_exceptions (kind, value, comment, added_by, run_id, entity_type, item_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (kind, value) DO NOTHING
             RETURNING *",
        )
        .bind(kind.as_str())
        .bind(value)
        .bind(new.comment.trim())
        .bind(new.added_by)
        .bind(new.run_id.as_deref())
        .bind(new.item.map(|i| i.entity_type))
        .bind(new.item.map(|i| i.id))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = row {
            added.push(exception_from_row(&row)?);
        }
    }
    Ok(added)
}

/// Takes a value off the list; `false` when no entry has that id.
pub async fn delete(tx: &mut Tx, id: i64) -> Result<bool, CrmError> {
    let deleted = store::query("DELETE FROM client_exceptions WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// The phones and emails among an item's fields, comparable and without repeats.
pub fn values_of(fields: &Map<String, Value>) -> Vec<Comparable> {
    let mut values: Vec<Comparable> = Vec::new();
    for kind in Kind::ALL {
        let entries = fields.get(kind.field()).and_then(Value::as_array);
        for text in entries.into_iter().flatten().filter_map(|e| e["VALUE"].as_str()) {
            if let Ok(value) = comparable_value(kind, text)
                && !values.contains(&(kind, value.clone()))
            {
                values.push((kind, value));
            }
        }
    }
    values
}

/// Which of `values` are on the list.
pub async fn listed(conn: &mut Conn, values: &[Comparable]) -> Result<HashSet<Comparable>, CrmError> {
    let mut found = HashSet::new();
    for (kind, value) in values {
        if find(conn, *kind, value).await?.is_some() {
            found.insert((*kind, value.clone()));
        }
    }
    Ok(found)
}

/// Marks a new lead's fields: a repeat lead when one of its phones or emails not on the exception
/// list belongs to a contact or company, linked to the oldest such contact and company unless the
/// caller chose them (a matching contact's own company counts when no company matched); a repeat
/// lead too when the caller made it for an existing contact or company.
pub(crate) async fn mark_repeat_lead(tx: &mut Tx, fields: &mut Map<String, Value>) -> Result<(), CrmError> {
    let mut values = values_of(fields);
    let exceptions = listed(tx, &values).await?;
    values.retain(|v| !exceptions.contains(v));
    let (contact, company) = clients_with(tx, &values).await?;
    let repeat = contact.is_some() || company.is_some() || for_existing_client(tx, fields).await?;
    fields.insert(REPEAT_FIELD.into(), Value::from(if repeat { "Y" } else { "N" }));
    let company = company.or_else(|| {
        contact
            .as_ref()
            .and_then(|(_, contact)| contact.get("COMPANY_ID").and_then(Value::as_i64))
    });
    for (field, id) in [("CONTACT_ID", contact.map(|(id, _)| id)), ("COMPANY_ID", company)] {
        if let Some(id) = id
            && fields.get(field).is_none_or(Value::is_null)
        {
            fields.insert(field.into(), Value::from(id));
        }
    }
    Ok(())
}

/// Whether the caller made the lead for a contact or company that exists (`CONTACT_ID`,
/// `COMPANY_ID`), as the "create repeat lead" robot does.
async fn for_existing_client(tx: &mut Tx, fields: &Map<String, Value>) -> Result<bool, CrmError> {
    for (field, entity_type) in [("CONTACT_ID", EntityType::Contact), ("COMPANY_ID", EntityType::Company)] {
        let Some(id) = fields.get(field).and_then(Value::as_i64) else {
            continue;
        };
        match crate::crm::get(tx, ItemRef { entity_type, id }).await {
            Ok(_) => return Ok(true),
            Err(CrmError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// The oldest contact (with its fields) and the oldest company having one of `values`.
async fn clients_with(
    tx: &mut Tx,
    values: &[Comparable],
) -> Result<(Option<(i64, Map<String, Value>)>, Option<i64>), CrmError> {
    if values.is_empty() {
        return Ok((None, None));
    }
    let having: Vec<String> = (0..values.len())
        .map(|i| format!("(kind = ${} AND value = ${})", 2 * i + 1, 2 * i + 2))
        .collect();
    let sql = format!(
        "SELECT entity_type, id, fields FROM items WHERE (entity_type, id) IN \
         (SELECT entity_type, item_id FROM client_values WHERE {}) ORDER BY id",
        having.join(" OR ")
    );
    let mut query = store::query(&sql);
    for (kind, value) in values {
        query = query.bind(kind.as_str()).bind(value.as_str());
    }
    let rows = query.fetch_all(&mut *tx).await?;
    let (mut contact, mut company) = (None, None);
    for row in rows {
        let entity_type: String = row.try_get("entity_type")?;
        let id: i64 = row.try_get("id")?;
        if entity_type == "contact" && contact.is_none() {
            let fields: String = row.try_get("fields")?;
            let fields = serde_json::from_str(&fields).unwrap_or_default();
            contact = Some((id, fields));
        } else if entity_type == "company" && company.is_none() {
            company = Some(id);
        }
    }
    Ok((contact, company))
}

/// Whether a field's values make a repeat client (PHONE, EMAIL).
pub(crate) fn is_matched_field(name: &str) -> bool {
    Kind::ALL.iter().any(|kind| kind.field() == name)
}

/// Keeps a contact's or company's rows in `client_values` in step with its phones and emails
/// (`fields`, as stored), so that matching finds it by index; other entity types have none.
pub(crate) async fn index_client(tx: &mut Tx, item: ItemRef, fields: &Map<String, Value>) -> Result<(), CrmError> {
    if !matches!(item.entity_type, EntityType::Contact | EntityType::Company) {
        return Ok(());
    }
    store::query("DELETE FROM client_values WHERE entity_type = $1 AND item_id = $2")
        .bind(item.entity_type)
        .bind(item.id)
        .execute(&mut *tx)
        .await?;
    for (kind, value) in values_of(fields) {
        store::query("INSERT INTO client_values (kind, value, entity_type, item_id) VALUES ($1, $2, $3, $4)")
            .bind(kind.as_str())
            .bind(value)
            .bind(item.entity_type)
            .bind(item.id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
