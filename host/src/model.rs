//! The CRM's shapes: entity types, item references, items, and the field catalogue that decides
//! which fields an item may have and what values they take.

pub mod multifields;
pub mod userfield;

use std::fmt;

use serde_json::{Map, Value};

use crate::clock::Millis;
use userfield::UserField;

/// Why a CRM request cannot be done as asked.
#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    /// The item (or stage, category, comment) does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A field name, value, stage or filter is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A kind of CRM item, with Bitrix24's names and numeric ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityType {
    /// Bitrix24 entityTypeId 1.
    Lead,
    /// Bitrix24 entityTypeId 2.
    Deal,
    /// Bitrix24 entityTypeId 3.
    Contact,
    /// Bitrix24 entityTypeId 4.
    Company,
    /// A smart-process (SPA) type an admin defined with `crm.type.add`, by its entityTypeId.
    /// Whether such a type exists is a question for the store (`crm::types`).
    Dynamic(i64),
}

impl EntityType {
    /// The four built-in types, which have their own `crm.{type}.*` methods.
    pub const STANDARD: [Self; 4] = [Self::Lead, Self::Deal, Self::Contact, Self::Company];

    /// Parses the name used in storage, robots and the plugin contract: "deal", "dynamic_128"
    /// (or "spa:128", the form the 0.1.0 contract documented).
    pub fn parse(name: &str) -> Result<Self, CrmError> {
        if let Some(standard) = Self::STANDARD.into_iter().find(|t| t.to_string() == name) {
            return Ok(standard);
        }
        name.strip_prefix("dynamic_")
            .or_else(|| name.strip_prefix("spa:"))
            .and_then(|id| id.parse().ok())
            .filter(|id| Self::is_dynamic_id(*id))
            .map(Self::Dynamic)
            .ok_or_else(|| CrmError::Invalid(format!("unknown entity type '{name}'")))
    }

    /// Bitrix24's numeric entityTypeId.
    pub fn type_id(self) -> i64 {
        match self {
            Self::Lead => 1,
            Self::Deal => 2,
            Self::Contact => 3,
            Self::Company => 4,
            Self::Dynamic(id) => id,
        }
    }

    /// The type with Bitrix24's numeric entityTypeId.
    pub fn from_type_id(id: i64) -> Result<Self, CrmError> {
        match id {
            1 => Ok(Self::Lead),
            2 => Ok(Self::Deal),
            3 => Ok(Self::Contact),
            4 => Ok(Self::Company),
            id if Self::is_dynamic_id(id) => Ok(Self::Dynamic(id)),
            other => Err(CrmError::NotFound(format!("entity type {other}"))),
        }
    }

    /// Whether an entityTypeId is in one of the ranges Bitrix24 gives smart processes: 128 to
    /// 192, or even numbers from 1030.
    pub fn is_dynamic_id(id: i64) -> bool {
        (128..=192).contains(&id) || (id >= 1030 && id % 2 == 0)
    }

    /// Whether items of this type sit in a pipeline of stages.
    pub fn has_stages(self) -> bool {
        matches!(self, Self::Lead | Self::Deal | Self::Dynamic(_))
    }

    /// Whether the type may have more than one pipeline.
    pub fn has_categories(self) -> bool {
        matches!(self, Self::Deal | Self::Dynamic(_))
    }

    /// The name of the field that holds the stage ("STATUS_ID" for leads, as in Bitrix24).
    pub fn stage_field(self) -> &'static str {
        match self {
            Self::Lead => "STATUS_ID",
            _ => "STAGE_ID",
        }
    }

    /// The fields an integration may set, and how their values are checked.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            Self::Deal => DEAL_FIELDS,
            Self::Lead => LEAD_FIELDS,
            Self::Contact => CONTACT_FIELDS,
            Self::Company => COMPANY_FIELDS,
            Self::Dynamic(_) => SPA_FIELDS,
        }
    }
}

/// The name used in storage, robots and the plugin contract ("deal", "dynamic_128").
impl fmt::Display for EntityType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lead => f.write_str("lead"),
            Self::Deal => f.write_str("deal"),
            Self::Contact => f.write_str("contact"),
            Self::Company => f.write_str("company"),
            Self::Dynamic(id) => write!(f, "dynamic_{id}"),
        }
    }
}

/// Entity types are stored as their name, so SQL can bind them directly.
impl crate::store::Bind for EntityType {
    fn into_arg(self) -> crate::store::Arg {
        crate::store::Arg::Text(Some(self.to_string()))
    }
    fn null() -> crate::store::Arg {
        crate::store::Arg::Text(None)
    }
}

/// Names one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ItemRef {
    /// Its entity type.
    pub entity_type: EntityType,
    /// Its id within that type.
    pub id: i64,
}

impl ItemRef {
    /// Reads Bitrix24's short item reference: `L_3` lead, `D_12` deal, `C_4` contact,
    /// `CO_5` company, `T80_7` item 7 of smart process 128 (the type id in hex).
    pub fn parse_short(text: &str) -> Result<Self, CrmError> {
        let invalid = || CrmError::Invalid(format!("'{text}' is not a CRM reference like D_12"));
        let (prefix, id) = text.split_once('_').ok_or_else(invalid)?;
        let entity_type = match prefix {
            "L" => EntityType::Lead,
            "D" => EntityType::Deal,
            "C" => EntityType::Contact,
            "CO" => EntityType::Company,
            dynamic => dynamic
                .strip_prefix('T')
                .and_then(|hex| i64::from_str_radix(hex, 16).ok())
                .filter(|id| EntityType::is_dynamic_id(*id))
                .map(EntityType::Dynamic)
                .ok_or_else(invalid)?,
        };
        let id = id.parse().ok().filter(|id| *id > 0).ok_or_else(invalid)?;
        Ok(Self { entity_type, id })
    }

    /// The item a row names in its `entity_type` and `item_id` columns, if it names one.
    pub fn from_columns(entity_type: Option<String>, id: Option<i64>) -> Result<Option<Self>, CrmError> {
        match (entity_type, id) {
            (Some(entity_type), Some(id)) => Ok(Some(Self {
                entity_type: EntityType::parse(&entity_type)?,
                id,
            })),
            _ => Ok(None),
        }
    }

    /// The short reference [`ItemRef::parse_short`] reads, in its one spelling (`D_12`, `T80_7`).
    pub fn short(&self) -> String {
        let prefix = match self.entity_type {
            EntityType::Lead => "L".to_string(),
            EntityType::Deal => "D".to_string(),
            EntityType::Contact => "C".to_string(),
            EntityType::Company => "CO".to_string(),
            EntityType::Dynamic(type_id) => format!("T{type_id:x}"),
        };
        format!("{prefix}_{}", self.id)
    }
}

impl fmt::Display for ItemRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.entity_type, self.id)
    }
}

/// One stay of an item in a stage, which a chain of robots belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The id of the event that recorded the entry (item added, or stage changed).
    pub id: i64,
    /// When it happened.
    pub at: Millis,
}

/// A stored item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Which item.
    pub item_ref: ItemRef,
    /// Its pipeline, for types with stages.
    pub category_id: Option<i64>,
    /// Its stage, for types with stages.
    pub stage_id: Option<String>,
    /// Its stage's semantics, "P" in progress, "S" success, "F" failure; derived from the stage,
    /// so `None` until the stage is known (an item a plugin creates, before its run commits).
    pub stage_semantic: Option<String>,
    /// Whether its stage is its pipeline's first (where new items land); derived from the stage
    /// like `stage_semantic`, so `false` until the stage is known.
    pub in_first_stage: bool,
    /// The settable fields, values in canonical JSON types.
    pub fields: Map<String, Value>,
    /// Who created it.
    pub created_by: i64,
    /// When it was created.
    pub created_at: Millis,
    /// When it last changed.
    pub updated_at: Millis,
}

impl Item {
    /// The item as Bitrix24's REST API shows it: every value a string, system fields included.
    pub fn to_rest(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("ID".into(), Value::String(self.item_ref.id.to_string()));
        for spec in self.item_ref.entity_type.fields() {
            let value = self.fields.get(spec.name).cloned().unwrap_or(Value::Null);
            out.insert(spec.name.into(), spec.kind.to_rest(spec.name, &value));
        }
        if let Some(category) = self.category_id {
            out.insert("CATEGORY_ID".into(), Value::String(category.to_string()));
        }
        if let Some(stage) = &self.stage_id {
            out.insert(
                self.item_ref.entity_type.stage_field().into(),
                Value::String(stage.clone()),
            );
        }
        if let Some(semantic) = &self.stage_semantic {
            let (field, closes) = match self.item_ref.entity_type {
                EntityType::Lead => ("STATUS_SEMANTIC_ID", false),
                _ => ("STAGE_SEMANTIC_ID", true),
            };
            out.insert(field.into(), Value::String(semantic.clone()));
            if closes {
                let closed = if semantic == "P" { "N" } else { "Y" };
                out.insert("CLOSED".into(), Value::String(closed.into()));
            }
        }
        for flag in self.item_ref.entity_type.repeat_flags() {
            out.insert(flag.name.into(), self.flag(flag.name));
        }
        if self.item_ref.entity_type.shows_is_new() {
            out.insert(
                IS_NEW_FIELD.into(),
                Value::from(if self.in_first_stage { "Y" } else { "N" }),
            );
        }
        out.insert("CREATED_BY_ID".into(), Value::String(self.created_by.to_string()));
        out.insert("DATE_CREATE".into(), Value::String(rest_datetime(self.created_at)));
        out.insert("DATE_MODIFY".into(), Value::String(rest_datetime(self.updated_at)));
        for (name, value) in userfield::rest_values(&self.fields) {
            out.insert(name.clone(), value);
        }
        out
    }

    /// The item's values by REST field name in canonical types, its system fields (ID, stage,
    /// pipeline, author) included: what robot conditions and templates read.
    pub fn values(&self) -> Map<String, Value> {
        let mut values = self.fields.clone();
        values.insert("ID".into(), Value::from(self.item_ref.id));
        values.insert("CATEGORY_ID".into(), Value::from(self.category_id));
        values.insert(
            self.item_ref.entity_type.stage_field().into(),
            Value::from(self.stage_id.clone()),
        );
        values.insert("CREATED_BY_ID".into(), Value::from(self.created_by));
        for flag in self.item_ref.entity_type.repeat_flags() {
            values.insert(flag.name.into(), self.flag(flag.name));
        }
        if self.item_ref.entity_type.shows_is_new() {
            values.insert(
                IS_NEW_FIELD.into(),
                Value::from(if self.in_first_stage { "Y" } else { "N" }),
            );
        }
        values
    }

    /// A host flag's value, "N" when it was never set.
    fn flag(&self, name: &str) -> Value {
        self.fields.get(name).cloned().unwrap_or_else(|| Value::from("N"))
    }

    /// [`Item::to_rest`] with only the selected fields, as Bitrix24's `select`: empty or `*`
    /// selects the standard fields, `UF_*` every custom field, names select themselves, and ID
    /// is always kept.
    pub fn to_rest_selected(&self, select: &[String]) -> Map<String, Value> {
        let all_standard = select.is_empty() || select.iter().any(|s| s == "*");
        let all_custom = select.iter().any(|s| s == "UF_*");
        let mut row = self.to_rest();
        row.retain(|k, _| {
            let custom = k.starts_with("UF_");
            k == "ID" || (all_standard && !custom) || (all_custom && custom) || select.iter().any(|s| s == k)
        });
        row
    }
}

/// A whole number with thousands separators, as people write amounts: 1234567 as "1,234,567".
pub fn with_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Accepts "2024-05-01", "2024-05-01T10:00:00" and RFC 3339 with an offset; naive times are UTC.
pub fn parse_datetime(text: &str) -> Option<i64> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp_millis());
    }
    if let Ok(at) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Some(at.and_utc().timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc().timestamp_millis())
}

/// A display name (of a pipeline, stage or department): trimmed, 1 to 255 characters.
pub fn checked_name<'a>(field: &str, name: &'a str) -> Result<&'a str, CrmError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err(CrmError::Invalid(format!(
            "Field '{field}' is required: 1 to 255 characters"
        )));
    }
    Ok(name)
}

/// Formats a time as Bitrix24 does in REST responses ("2024-05-01T10:00:00+00:00").
pub fn rest_datetime(at: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S+00:00")
        .to_string()
}

/// How a field's values are checked on the way in and shown on the way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Text.
    String,
    /// Whole number; numeric strings are accepted.
    Integer,
    /// Decimal number (money, probability); numeric strings are accepted.
    Double,
    /// "Y" or "N" (Bitrix24's char flag); booleans are accepted.
    Flag,
    /// A moment (BEGINDATE, CLOSEDATE): a date or a date and time, kept as UTC ISO text so text
    /// order is time order.
    DateTime,
    /// A list of typed entries (PHONE, EMAIL), written as changes; see [`multifields`].
    Multi,
}

impl FieldKind {
    pub(crate) fn canonical(self, name: &str, value: &Value) -> Result<Value, CrmError> {
        let wrong = || CrmError::Invalid(format!("field {name}: expected {self:?}, got {value}"));
        match (self, value) {
            (Self::Multi, _) => multifields::changes(name, value),
            (_, Value::Null) => Ok(Value::Null),
            (Self::String, Value::String(_)) => Ok(value.clone()),
            (Self::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
            (Self::Integer, Value::Number(n)) => n.as_i64().map(Value::from).ok_or_else(wrong),
            (Self::Integer, Value::String(s)) => s.trim().parse::<i64>().map(Value::from).map_err(|_| wrong()),
            (Self::Double, Value::Number(n)) => n.as_f64().map(Value::from).ok_or_else(wrong),
            (Self::Double, Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Value::from)
                .ok_or_else(wrong),
            (Self::Flag, Value::Bool(b)) => Ok(Value::from(if *b { "Y" } else { "N" })),
            (Self::Flag, Value::String(s)) if s == "Y" || s == "N" => Ok(value.clone()),
            (Self::DateTime, Value::String(s)) if s.trim().is_empty() => Ok(Value::Null),
            (Self::DateTime, Value::String(s)) => parse_datetime(s.trim())
                .map(|at| Value::String(rest_datetime(at)))
                .ok_or_else(wrong),
            _ => Err(wrong()),
        }
    }

    fn to_rest(self, name: &str, value: &Value) -> Value {
        match (self, value) {
            (Self::Multi, _) => multifields::to_rest(name, value),
            (_, Value::Null) => Value::Null,
            (Self::Double, Value::Number(n)) => Value::String(format!("{:.2}", n.as_f64().unwrap_or(0.0))),
            (_, Value::String(_)) => value.clone(),
            (_, other) => Value::String(other.to_string()),
        }
    }

    /// Bitrix24's name for the type in `*.fields` answers.
    pub fn rest_type(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Double => "double",
            Self::Flag => "char",
            Self::DateTime => "date",
            Self::Multi => "crm_multifield",
        }
    }
}

/// One settable field of an entity type.
#[derive(Debug)]
pub struct FieldSpec {
    /// Bitrix24's field name.
    pub name: &'static str,
    /// Its value type.
    pub kind: FieldKind,
    /// Its title for `*.fields`.
    pub title: &'static str,
}

const fn field(name: &'static str, kind: FieldKind, title: &'static str) -> FieldSpec {
    FieldSpec { name, kind, title }
}

const DEAL_FIELDS: &[FieldSpec] = &[
    field("TITLE", FieldKind::String, "Name"),
    field("TYPE_ID", FieldKind::String, "Type"),
    field("PROBABILITY", FieldKind::Integer, "Probability"),
    field("CURRENCY_ID", FieldKind::String, "Currency"),
    field("OPPORTUNITY", FieldKind::Double, "Amount"),
    field("COMPANY_ID", FieldKind::Integer, "Company"),
    field("CONTACT_ID", FieldKind::Integer, "Contact"),
    field("BEGINDATE", FieldKind::DateTime, "Start date"),
    field("CLOSEDATE", FieldKind::DateTime, "Expected close date"),
    field("ASSIGNED_BY_ID", FieldKind::Integer, "Responsible person"),
    field("SOURCE_ID", FieldKind::String, "Source"),
    field("COMMENTS", FieldKind::String, "Comment"),
    field("OPENED", FieldKind::Flag, "Available to everyone"),
    field("LEAD_ID", FieldKind::Integer, "Lead"),
    field("ORIGIN_ID", FieldKind::String, "Item ID in data source"),
];

const LEAD_FIELDS: &[FieldSpec] = &[
    field("TITLE", FieldKind::String, "Lead name"),
    field("NAME", FieldKind::String, "First name"),
    field("LAST_NAME", FieldKind::String, "Last name"),
    field("COMPANY_TITLE", FieldKind::String, "Company name"),
    field("PHONE", FieldKind::Multi, "Phone"),
    field("EMAIL", FieldKind::Multi, "E-mail"),
    field("CONTACT_ID", FieldKind::Integer, "Contact"),
    field("COMPANY_ID", FieldKind::Integer, "Company"),
    field("CURRENCY_ID", FieldKind::String, "Currency"),
    field("OPPORTUNITY", FieldKind::Double, "Amount"),
    field("ASSIGNED_BY_ID", FieldKind::Integer, "Responsible person"),
    field("SOURCE_ID", FieldKind::String, "Source"),
    field("COMMENTS", FieldKind::String, "Comment"),
];

const CONTACT_FIELDS: &[FieldSpec] = &[
    field("NAME", FieldKind::String, "First name"),
    field("LAST_NAME", FieldKind::String, "Last name"),
    field("PHONE", FieldKind::Multi, "Phone"),
    field("EMAIL", FieldKind::Multi, "E-mail"),
    field("COMPANY_ID", FieldKind::Integer, "Company"),
    field("ASSIGNED_BY_ID", FieldKind::Integer, "Responsible person"),
    field("COMMENTS", FieldKind::String, "Comment"),
    field("LEAD_ID", FieldKind::Integer, "Lead"),
];

const COMPANY_FIELDS: &[FieldSpec] = &[
    field("TITLE", FieldKind::String, "Company name"),
    field("PHONE", FieldKind::Multi, "Phone"),
    field("EMAIL", FieldKind::Multi, "E-mail"),
    field("ASSIGNED_BY_ID", FieldKind::Integer, "Responsible person"),
    field("COMMENTS", FieldKind::String, "Comment"),
    field("LEAD_ID", FieldKind::Integer, "Lead"),
];

const SPA_FIELDS: &[FieldSpec] = &[
    field("TITLE", FieldKind::String, "Name"),
    field("XML_ID", FieldKind::String, "External ID"),
    field("CURRENCY_ID", FieldKind::String, "Currency"),
    field("OPPORTUNITY", FieldKind::Double, "Amount"),
    field("COMPANY_ID", FieldKind::Integer, "Company"),
    field("CONTACT_ID", FieldKind::Integer, "Contact"),
    field("BEGINDATE", FieldKind::DateTime, "Start date"),
    field("CLOSEDATE", FieldKind::DateTime, "End date"),
    field("ASSIGNED_BY_ID", FieldKind::Integer, "Responsible person"),
    field("SOURCE_ID", FieldKind::String, "Source"),
    field("SOURCE_DESCRIPTION", FieldKind::String, "Source information"),
    field("OPENED", FieldKind::Flag, "Available to everyone"),
];

/// Fields an integration sends, split into the stage/pipeline it asks for and the rest, checked.
#[derive(Debug, Default, Clone)]
pub struct FieldChanges {
    /// The requested stage, if the stage field was given.
    pub stage_id: Option<String>,
    /// The requested pipeline, if CATEGORY_ID was given.
    pub category_id: Option<i64>,
    /// The other fields, values canonical.
    pub fields: Map<String, Value>,
}

impl FieldChanges {
    /// An item's fields after these changes: multi-fields merged entry by entry, the rest
    /// replaced.
    pub fn applied_to(&self, fields: &Map<String, Value>) -> Result<Map<String, Value>, CrmError> {
        let mut out = fields.clone();
        for (name, value) in &self.fields {
            let value = if multifields::is_multifield(name) {
                multifields::merge(name, fields.get(name).unwrap_or(&Value::Null), value)?
            } else {
                value.clone()
            };
            out.insert(name.clone(), value);
        }
        Ok(out)
    }
}

/// Whether fields are checked for a new item or for changes to an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// A new item: every mandatory custom field needs a value.
    Create,
    /// Changes: a mandatory custom field cannot be cleared.
    Update,
}

/// Checks fields sent for an item of `entity_type` with the custom fields `custom`: unknown and
/// read-only fields, wrong types and missing mandatory values are refused, so nothing
/// half-valid is ever written.
pub fn check_fields(
    entity_type: EntityType,
    custom: &[UserField],
    input: &Map<String, Value>,
    write: Write,
) -> Result<FieldChanges, CrmError> {
    let mut changes = FieldChanges::default();
    for (name, value) in input {
        if let Some(field) = custom.iter().find(|f| &f.field_name == name) {
            changes.fields.insert(name.clone(), field.canonical(value)?);
            continue;
        }
        if name == entity_type.stage_field() && entity_type.has_stages() {
            let stage = value
                .as_str()
                .ok_or_else(|| CrmError::Invalid(format!("field {name}: expected a stage id string")))?;
            changes.stage_id = Some(stage.to_string());
        } else if name == "CATEGORY_ID" && entity_type.has_categories() {
            let id = FieldKind::Integer.canonical(name, value)?;
            changes.category_id = id.as_i64();
        } else if let Some(spec) = entity_type.fields().iter().find(|f| f.name == name) {
            changes.fields.insert(name.clone(), spec.kind.canonical(name, value)?);
        } else if READ_ONLY.contains(&name.as_str()) {
            return Err(CrmError::Invalid(format!("field {name} is read-only")));
        } else {
            return Err(CrmError::Invalid(format!("unknown field {name} for {entity_type}")));
        }
    }
    for field in custom.iter().filter(|f| f.mandatory) {
        let value = changes.fields.get(&field.field_name);
        let missing = match write {
            Write::Create => value.is_none_or(Value::is_null),
            Write::Update => value.is_some_and(Value::is_null),
        };
        if missing {
            return Err(CrmError::Invalid(format!("field {} is mandatory", field.field_name)));
        }
    }
    Ok(changes)
}

const READ_ONLY: &[&str] = &[
    "ID",
    "DATE_CREATE",
    "DATE_MODIFY",
    "CREATED_BY_ID",
    "STAGE_SEMANTIC_ID",
    "STATUS_SEMANTIC_ID",
    "CLOSED",
    REPEAT_FIELD,
    REPEATED_APPROACH_FIELD,
    IS_NEW_FIELD,
];

/// The field that marks a repeat lead or a repeat deal (Bitrix24's name), set by the host and
/// read-only to everyone else.
pub const REPEAT_FIELD: &str = "IS_RETURN_CUSTOMER";

/// The deal field that marks a repeat inquiry: a deal from a repeat lead whose client has no won
/// deal (Bitrix24's name).
pub const REPEATED_APPROACH_FIELD: &str = "IS_REPEATED_APPROACH";

/// The deal field that says the deal is in its pipeline's first stage, derived from the stage
/// whenever the deal is read (Bitrix24's name).
pub const IS_NEW_FIELD: &str = "IS_NEW";

/// A read-only Y/N field the host keeps on an item, with its title.
#[derive(Debug, Clone, Copy)]
pub struct HostFlag {
    /// Its REST name.
    pub name: &'static str,
    /// Its title in `crm.*.fields`.
    pub title: &'static str,
}

impl EntityType {
    /// The repeat-client flags the host stores in this type's fields ("N" when never set).
    pub fn repeat_flags(self) -> &'static [HostFlag] {
        match self {
            Self::Lead => &[HostFlag {
                name: REPEAT_FIELD,
                title: "Repeat lead",
            }],
            Self::Deal => &[
                HostFlag {
                    name: REPEAT_FIELD,
                    title: "Repeat deal",
                },
                HostFlag {
                    name: REPEATED_APPROACH_FIELD,
                    title: "Repeat inquiry",
                },
            ],
            _ => &[],
        }
    }

    /// Whether items of this type show [`IS_NEW_FIELD`].
    pub fn shows_is_new(self) -> bool {
        self == Self::Deal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn numeric_strings_become_numbers_and_stage_is_split_out() {
        let c = check_fields(
            EntityType::Deal,
            &[],
            &input(json!({"TITLE": "A", "OPPORTUNITY": "12.5", "STAGE_ID": "WON", "OPENED": true})),
            Write::Create,
        )
        .unwrap();
        assert_eq!(c.stage_id.as_deref(), Some("WON"));
        assert_eq!(c.fields["OPPORTUNITY"], json!(12.5));
        assert_eq!(c.fields["OPENED"], json!("Y"));
    }

    #[test]
    fn unknown_read_only_and_mistyped_fields_are_refused() {
        for bad in [
            json!({"NOPE": 1}),
            json!({"ID": 4}),
            json!({"OPPORTUNITY": "lots"}),
            json!({"STAGE_ID": 3}),
        ] {
            let err = check_fields(EntityType::Deal, &[], &input(bad.clone()), Write::Update).unwrap_err();
            assert!(matches!(err, CrmError::Invalid(_)), "{bad} gave {err:?}");
        }
    }
}
