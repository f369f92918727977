//! A custom field's definition and its values (`UF_CRM_*`): what type it has, how a value a client
//! sends becomes the canonical stored form, and how REST shows it. The fields themselves are kept
//! by `crm::userfields`.

use serde_json::{Map, Value, json};

use super::{CrmError, FieldKind, ItemRef, parse_datetime, rest_datetime};

/// What every custom field name starts with.
pub const PREFIX: &str = "UF_CRM_";

/// The value types a custom field can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserType {
    /// Text.
    String,
    /// Whole number.
    Integer,
    /// Decimal number.
    Double,
    /// Yes (1) or no (0).
    Boolean,
    /// A day, `2024-05-01`.
    Date,
    /// A moment, kept in UTC.
    Datetime,
    /// One of the field's list items, by item id.
    Enumeration,
    /// A user, by id.
    Employee,
    /// An amount and a currency, `100.00|EUR`.
    Money,
    /// An http(s) address.
    Url,
    /// A CRM item, `D_12` (deal 12), `L_`, `C_`, `CO_`.
    Crm,
}

impl UserType {
    /// Bitrix24's USER_TYPE_ID.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Double => "double",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::Enumeration => "enumeration",
            Self::Employee => "employee",
            Self::Money => "money",
            Self::Url => "url",
            Self::Crm => "crm",
        }
    }

    /// Parses a USER_TYPE_ID.
    pub fn parse(name: &str) -> Result<Self, CrmError> {
        const ALL: [UserType; 11] = [
            UserType::String,
            UserType::Integer,
            UserType::Double,
            UserType::Boolean,
            UserType::Date,
            UserType::Datetime,
            UserType::Enumeration,
            UserType::Employee,
            UserType::Money,
            UserType::Url,
            UserType::Crm,
        ];
        ALL.into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| CrmError::Invalid(format!("USER_TYPE_ID '{name}' is not supported")))
    }

    /// How list filters compare the stored value.
    pub fn filter_kind(self) -> FieldKind {
        match self {
            Self::Integer | Self::Boolean | Self::Enumeration | Self::Employee => FieldKind::Integer,
            Self::Double => FieldKind::Double,
            _ => FieldKind::String,
        }
    }
}

/// One item of an enumeration field's list.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ListItem {
    /// Its id, which items store as the field's value.
    pub id: i64,
    /// Its text.
    pub value: String,
    /// Its position.
    pub sort: i64,
    /// Whether it is preselected.
    pub def: bool,
    /// An external code.
    pub xml_id: Option<String>,
}

/// A custom field of an entity type.
#[derive(Debug, Clone, PartialEq)]
pub struct UserField {
    /// Its id, as `crm.*.userfield.get` takes it.
    pub id: i64,
    /// Its name, `UF_CRM_...`.
    pub field_name: String,
    /// Its value type.
    pub user_type: UserType,
    /// Whether it holds a list of values.
    pub multiple: bool,
    /// Whether every item must have a value.
    pub mandatory: bool,
    /// Its position in forms and `*.fields`.
    pub sort: i64,
    /// An external code.
    pub xml_id: Option<String>,
    /// Its label.
    pub label: String,
    /// Type-specific settings, kept as given.
    pub settings: Value,
    /// The list of an enumeration field.
    pub list: Vec<ListItem>,
}

impl UserField {
    /// Checks and normalizes a value sent for this field; `null` or an empty list clears it.
    pub fn canonical(&self, value: &Value) -> Result<Value, CrmError> {
        match value {
            Value::Null => Ok(Value::Null),
            Value::Array(values) if self.multiple => {
                let values = values
                    .iter()
                    .filter(|v| !v.is_null() && v.as_str() != Some(""))
                    .map(|v| self.canonical_one(v))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if values.is_empty() {
                    Value::Null
                } else {
                    Value::Array(values)
                })
            }
            Value::Array(_) => Err(self.wrong(value, "one value, not a list")),
            one if self.multiple => Ok(Value::Array(vec![self.canonical_one(one)?])),
            one if one.as_str() == Some("") => Ok(Value::Null),
            one => self.canonical_one(one),
        }
    }

    fn wrong(&self, value: &Value, expected: &str) -> CrmError {
        CrmError::Invalid(format!("field {}: expected {expected}, got {value}", self.field_name))
    }

    fn canonical_one(&self, value: &Value) -> Result<Value, CrmError> {
        let text = match value {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let wrong = |expected: &str| self.wrong(value, expected);
        match self.user_type {
            UserType::String => text.map(Value::String).ok_or_else(|| wrong("text")),
            UserType::Integer | UserType::Employee => {
                let n = text
                    .and_then(|t| t.parse::<i64>().ok())
                    .ok_or_else(|| wrong("an integer"))?;
                if self.user_type == UserType::Employee && n <= 0 {
                    return Err(wrong("a user id"));
                }
                Ok(Value::from(n))
            }
            UserType::Double => text
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|f| f.is_finite())
                .map(Value::from)
                .ok_or_else(|| wrong("a number")),
            UserType::Boolean => match (value, text.as_deref()) {
                (Value::Bool(b), _) => Ok(Value::from(i64::from(*b))),
                (_, Some("1" | "Y" | "true")) => Ok(Value::from(1)),
                (_, Some("0" | "N" | "false")) => Ok(Value::from(0)),
                _ => Err(wrong("1 or 0")),
            },
            UserType::Date => text
                .and_then(|t| chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d").ok())
                .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
                .ok_or_else(|| wrong("a date YYYY-MM-DD")),
            UserType::Datetime => text
                .as_deref()
                .and_then(parse_datetime)
                .map(|at| Value::String(rest_datetime(at)))
                .ok_or_else(|| wrong("a date and time")),
            UserType::Enumeration => {
                let id = text.and_then(|t| t.parse::<i64>().ok());
                id.filter(|id| self.list.iter().any(|item| item.id == *id))
                    .map(Value::from)
                    .ok_or_else(|| wrong("the id of one of the field's list items"))
            }
            UserType::Money => text.as_deref().and_then(money).ok_or_else(|| wrong("AMOUNT|CUR")),
            UserType::Url => text
                .filter(|t| (t.starts_with("http://") || t.starts_with("https://")) && !t.contains(char::is_whitespace))
                .map(Value::String)
                .ok_or_else(|| wrong("an http(s) URL")),
            UserType::Crm => text
                .as_deref()
                .and_then(crm_link)
                .ok_or_else(|| wrong("a CRM link like D_12")),
        }
    }

    /// The field as `crm.*.fields` describes it.
    pub fn description(&self) -> Value {
        json!({
            "type": self.user_type.as_str(),
            "isRequired": self.mandatory,
            "isReadOnly": false,
            "isImmutable": false,
            "isMultiple": self.multiple,
            "isDynamic": true,
            "title": self.field_name,
            "formLabel": self.label,
            "listLabel": self.label,
            "filterLabel": self.label,
        })
    }
}

/// `100|EUR`, `100.5|eur` → `100.50|EUR`.
fn money(text: &str) -> Option<Value> {
    let (amount, currency) = text.split_once('|')?;
    let amount: f64 = amount.trim().parse().ok().filter(|f: &f64| f.is_finite())?;
    let currency = currency.trim().to_ascii_uppercase();
    (currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()))
        .then(|| Value::String(format!("{amount:.2}|{currency}")))
}

/// A short item reference (`D_12`) or a bare id.
fn crm_link(text: &str) -> Option<Value> {
    let valid = if text.contains('_') {
        ItemRef::parse_short(text).is_ok()
    } else {
        text.parse::<i64>().is_ok_and(|id| id > 0)
    };
    valid.then(|| Value::String(text.to_string()))
}

/// The custom fields among an item's stored fields, as REST shows them: every value as text.
pub fn rest_values(fields: &Map<String, Value>) -> impl Iterator<Item = (&String, Value)> {
    fn text(value: &Value) -> Value {
        match value {
            Value::Array(values) => Value::Array(values.iter().map(text).collect()),
            Value::Null | Value::String(_) => value.clone(),
            other => Value::String(other.to_string()),
        }
    }
    fields
        .iter()
        .filter(|(name, _)| name.starts_with(PREFIX))
        .map(|(name, value)| (name, text(value)))
}
