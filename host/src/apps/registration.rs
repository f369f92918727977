//! An app robot's registration as `bizproc.robot.add` sends it, checked, and what the catalogue
//! makes of it: a manifest whose config schema comes from `PROPERTIES`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{AppError, plugin_id};
use crate::rest_fields;
use crate::runtime::{Capability, Manifest};

/// The config key of how long a run waits for the app's answer, in seconds; Bitrix24 sends it
/// to the handler as `timeout_duration`. No property may take the name.
pub const TIMEOUT_KEY: &str = "timeout_duration";

/// How long a run waits for the app's answer unless its robot says otherwise: a day.
const DEFAULT_TIMEOUT_SECONDS: u64 = 86_400;

/// The longest wait a robot may ask for: thirty days.
const MAX_TIMEOUT_SECONDS: u64 = 30 * 86_400;

/// An app robot, as registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// `CODE`: letters, digits, dots, dashes and underscores.
    pub code: String,
    /// `HANDLER`: the http or https URL runs are posted to.
    pub handler: String,
    /// `AUTH_USER_ID`: the user the handler is told it acts for.
    pub auth_user_id: i64,
    /// `USE_SUBSCRIPTION`: whether a run waits for `bizproc.event.send`.
    pub use_subscription: bool,
    /// `NAME`, in English when it came localized.
    pub name: String,
    /// `DESCRIPTION`, likewise.
    pub description: String,
    /// `PROPERTIES`: what an admin sets on the robot, in the order the app gave them.
    pub properties: Vec<Property>,
    /// `RETURN_PROPERTIES`: what the app answers with.
    pub return_properties: Vec<Property>,
}

/// One parameter of an app robot (Bitrix24's "PROPERTY" object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Property {
    /// Its key: a letter, then letters, digits and underscores.
    pub key: String,
    /// `Name`.
    pub name: String,
    /// `Description`.
    pub description: String,
    /// `Type`.
    pub kind: PropertyType,
    /// `Options` of a `select`: (value, title), in order.
    pub options: Vec<(String, String)>,
    /// `Required`.
    pub required: bool,
    /// `Multiple`.
    pub multiple: bool,
    /// `Default`.
    pub default: Option<Value>,
}

/// A property's `Type`, Bitrix24's basic ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PropertyType {
    /// Yes or no, sent as `Y`/`N`.
    Bool,
    /// A date, `YYYY-MM-DD`.
    Date,
    /// A date and time.
    Datetime,
    /// A number.
    Double,
    /// An integer.
    Int,
    /// One of `Options`.
    Select,
    /// A line of text.
    String,
    /// Longer text.
    Text,
    /// A user, sent as `user_<id>`.
    User,
}

impl PropertyType {
    const NAMES: &'static str = "bool, date, datetime, double, int, select, string, text, user";

    fn parse(key: &str, text: &str) -> Result<Self, AppError> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "bool" => Self::Bool,
            "date" => Self::Date,
            "datetime" => Self::Datetime,
            "double" => Self::Double,
            "int" => Self::Int,
            "select" => Self::Select,
            "string" => Self::String,
            "text" => Self::Text,
            "user" => Self::User,
            other => {
                return Err(AppError::Invalid(format!(
                    "Wrong property type {other} of {key}! Types are {}",
                    Self::NAMES
                )));
            }
        })
    }

    /// The JSON Schema of one value.
    fn schema(self) -> Value {
        match self {
            Self::Bool => json!({"type": "boolean"}),
            Self::Date => json!({"type": "string", "format": "date"}),
            Self::Datetime => json!({"type": "string", "format": "date-time"}),
            Self::Double => json!({"type": "number"}),
            Self::Int => json!({"type": "integer"}),
            Self::User => json!({"type": "integer", "minimum": 1}),
            Self::Select | Self::String | Self::Text => json!({"type": "string"}),
        }
    }

    /// One value as the handler gets it.
    fn form_value(self, value: &Value) -> String {
        match (self, value) {
            (Self::Bool, Value::Bool(yes)) => if *yes { "Y" } else { "N" }.into(),
            (Self::User, Value::Number(id)) => format!("user_{id}"),
            (_, Value::Number(n)) => match n.as_f64() {
                Some(whole) if n.is_f64() && whole.fract() == 0.0 && whole.abs() < 1e15 => format!("{whole:.0}"),
                _ => n.to_string(),
            },
            (_, Value::String(text)) => text.clone(),
            (_, Value::Null) => String::new(),
            (_, other) => other.to_string(),
        }
    }
}

impl Registration {
    /// A registration from `bizproc.robot.add`'s parameters; `user_id` is the caller, the
    /// handler's user unless `AUTH_USER_ID` names another.
    pub fn from_params(p: &Map<String, Value>, user_id: i64) -> Result<Self, AppError> {
        if p.is_empty() {
            return Err(AppError::Invalid("Empty data!".into()));
        }
        let code = rest_fields::optional_str(p, "CODE")?.unwrap_or_default();
        if code.is_empty() {
            return Err(AppError::Invalid("Empty activity code!".into()));
        }
        let valid_code = code.len() <= 128
            && code
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !valid_code {
            return Err(AppError::Invalid("Wrong activity code!".into()));
        }
        let handler = rest_fields::optional_str(p, "HANDLER")?.ok_or(AppError::WrongHandler)?;
        let mut registration = Self {
            code,
            handler: String::new(),
            auth_user_id: user_id,
            use_subscription: false,
            name: String::new(),
            description: String::new(),
            properties: Vec::new(),
            return_properties: Vec::new(),
        };
        registration.apply(p)?;
        registration.handler = checked_handler(&handler)?;
        if registration.name.is_empty() {
            return Err(AppError::Invalid("Empty activity NAME!".into()));
        }
        if rest_fields::get(p, "USE_SUBSCRIPTION").is_none() {
            registration.use_subscription = !registration.return_properties.is_empty();
        }
        Ok(registration)
    }

    /// This registration with the fields `bizproc.robot.update`'s `FIELDS` names changed.
    pub fn updated(mut self, fields: &Map<String, Value>) -> Result<Self, AppError> {
        if fields.is_empty() {
            return Err(AppError::Invalid("Empty data!".into()));
        }
        self.apply(fields)?;
        if self.name.is_empty() {
            return Err(AppError::Invalid("Empty activity NAME!".into()));
        }
        Ok(self)
    }

    /// Sets every field `p` names but the code.
    fn apply(&mut self, p: &Map<String, Value>) -> Result<(), AppError> {
        if let Some(handler) = rest_fields::optional_str(p, "HANDLER")? {
            self.handler = checked_handler(&handler)?;
        }
        if let Some(user) = rest_fields::optional_int(p, "AUTH_USER_ID")? {
            self.auth_user_id = user;
        }
        if let Some(subscribe) = rest_fields::optional_flag(p, "USE_SUBSCRIPTION")? {
            self.use_subscription = subscribe;
        }
        if let Some(name) = rest_fields::get(p, "NAME") {
            self.name = localized(name);
        }
        if let Some(description) = rest_fields::get(p, "DESCRIPTION") {
            self.description = localized(description);
        }
        if let Some(properties) = rest_fields::get(p, "PROPERTIES") {
            self.properties = properties_of(properties)?;
        }
        if let Some(properties) = rest_fields::get(p, "RETURN_PROPERTIES") {
            self.return_properties = properties_of(properties)?;
        }
        Ok(())
    }

    /// The catalogue's entry: plugin `app:<CODE>`, its config schema made from `PROPERTIES`
    /// (plus the wait's timeout when the robot waits for an answer), its returns schema from
    /// `RETURN_PROPERTIES`, and the one capability it has: calling its handler's host.
    pub fn manifest(&self) -> Manifest {
        let mut properties: Map<String, Value> = self.properties.iter().map(|p| (p.key.clone(), p.schema())).collect();
        let required: Vec<&str> = self
            .properties
            .iter()
            .filter(|p| p.required && p.default.is_none())
            .map(|p| p.key.as_str())
            .collect();
        if self.use_subscription {
            properties.insert(
                TIMEOUT_KEY.into(),
                json!({"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_SECONDS, "default": DEFAULT_TIMEOUT_SECONDS,
                       "title": "Wait for the app's answer (seconds)",
                       "description": "How long the robot waits for the app to send its result (bizproc.event.send); after that the robots after it go on without it."}),
            );
        }
        let mut returns: Map<String, Value> = self
            .return_properties
            .iter()
            .map(|p| (p.key.clone(), p.schema()))
            .collect();
        returns.insert(
            "woke_by".into(),
            json!({"enum": ["app", "timeout"], "title": "What ended the wait: the app's answer, or the timeout"}),
        );
        let host = http::Uri::try_from(self.handler.as_str())
            .ok()
            .and_then(|uri| uri.host().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        let description = if self.description.is_empty() {
            format!("A Bitrix24 app's robot; runs are posted to {}.", self.handler)
        } else {
            format!(
                "{} (A Bitrix24 app's robot; runs are posted to {}.)",
                self.description, self.handler
            )
        };
        Manifest {
            id: plugin_id(&self.code),
            name: self.name.clone(),
            version: "1.0.0".into(),
            description,
            config_schema: json!({"type": "object", "additionalProperties": false, "required": required, "properties": properties}),
            returns_schema: json!({"type": "object", "properties": returns}),
            capabilities: vec![Capability::Http(
                host.trim_start_matches('[').trim_end_matches(']').to_string(),
            )],
        }
    }

    /// How long a run of a robot with `config` waits for the answer, in milliseconds.
    pub fn timeout_ms(&self, config: &Map<String, Value>) -> i64 {
        let seconds = config
            .get(TIMEOUT_KEY)
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
            .clamp(1, MAX_TIMEOUT_SECONDS);
        i64::try_from(seconds * 1000).unwrap_or(i64::MAX)
    }

    /// The robot's resolved config as the handler's `properties[...]` fields, in Bitrix24's
    /// PHP-style keys (`properties[key]`, `properties[key][0]` for a multiple one), each
    /// property that has no value taking its default.
    pub fn form_properties(&self, config: &Map<String, Value>) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        for property in &self.properties {
            let Some(value) = config.get(&property.key).or(property.default.as_ref()) else {
                continue;
            };
            match value {
                Value::Array(values) => {
                    for (i, v) in values.iter().enumerate() {
                        fields.push((
                            format!("properties[{}][{i}]", property.key),
                            property.kind.form_value(v),
                        ));
                    }
                }
                single => fields.push((
                    format!("properties[{}]", property.key),
                    property.kind.form_value(single),
                )),
            }
        }
        fields
    }

    /// Of what an app sent with `bizproc.event.send`, the values its `RETURN_PROPERTIES` declare.
    pub fn return_values(&self, sent: &Map<String, Value>) -> Map<String, Value> {
        self.return_properties
            .iter()
            .filter_map(|p| sent.get(&p.key).map(|v| (p.key.clone(), v.clone())))
            .collect()
    }
}

impl Property {
    fn schema(&self) -> Value {
        let mut one = self.kind.schema();
        if self.kind == PropertyType::Select {
            one["enum"] = self
                .options
                .iter()
                .map(|(value, _)| Value::from(value.as_str()))
                .collect();
            one["x-enum-titles"] = self
                .options
                .iter()
                .map(|(_, title)| Value::from(title.as_str()))
                .collect();
        }
        let mut schema = if self.multiple {
            json!({"type": "array", "items": one})
        } else {
            one
        };
        schema["title"] = Value::from(self.name.as_str());
        if !self.description.is_empty() {
            schema["description"] = Value::from(self.description.as_str());
        }
        if let Some(default) = &self.default {
            schema["default"] = default.clone();
        }
        schema
    }
}

/// An http or https URL with a host.
fn checked_handler(url: &str) -> Result<String, AppError> {
    let uri = http::Uri::try_from(url.trim()).map_err(|_| AppError::WrongHandler)?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return Err(AppError::UnsupportedProtocol),
        None => return Err(AppError::WrongHandler),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(AppError::WrongHandler);
    }
    Ok(url.trim().to_string())
}

/// A name or description, given as text or as `{"en": …, "de": …}`: the English one, else the
/// first.
fn localized(value: &Value) -> String {
    match value {
        Value::String(text) => text.trim().to_string(),
        Value::Object(by_language) => by_language
            .get("en")
            .or_else(|| by_language.values().next())
            .map(localized)
            .unwrap_or_default(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn properties_of(value: &Value) -> Result<Vec<Property>, AppError> {
    let wrong = || AppError::Invalid("Wrong properties array!".into());
    let map = match value {
        Value::Object(map) => map,
        Value::Array(empty) if empty.is_empty() => return Ok(Vec::new()),
        Value::String(empty) if empty.is_empty() => return Ok(Vec::new()),
        _ => return Err(wrong()),
    };
    map.iter()
        .map(|(key, description)| {
            let valid_key = key.starts_with(|c: char| c.is_ascii_alphabetic())
                && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid_key || key == TIMEOUT_KEY {
                return Err(AppError::Invalid(format!("Wrong property key {key}!")));
            }
            let Value::Object(fields) = description else {
                return Err(wrong());
            };
            property(key, fields)
        })
        .collect()
}

fn property(key: &str, fields: &Map<String, Value>) -> Result<Property, AppError> {
    let name = rest_fields::get(fields, "Name").map(localized).unwrap_or_default();
    if name.is_empty() {
        return Err(AppError::Invalid(format!("Empty property NAME {key}!")));
    }
    let kind = match rest_fields::optional_str(fields, "Type")? {
        Some(text) => PropertyType::parse(key, &text)?,
        None => PropertyType::String,
    };
    let options = match rest_fields::get(fields, "Options") {
        Some(Value::Object(options)) => options
            .iter()
            .map(|(value, title)| (value.clone(), localized(title)))
            .collect(),
        Some(Value::Array(options)) => options.iter().map(|o| (localized(o), localized(o))).collect(),
        _ => Vec::new(),
    };
    if kind == PropertyType::Select && options.is_empty() {
        return Err(AppError::Invalid(format!(
            "Property {key} of type select has no Options!"
        )));
    }
    let default = match rest_fields::get(fields, "Default") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.is_empty() => None,
        Some(value) => Some(typed_default(kind, value)),
    };
    Ok(Property {
        key: key.to_string(),
        name,
        description: rest_fields::get(fields, "Description")
            .map(localized)
            .unwrap_or_default(),
        kind,
        options,
        required: rest_fields::optional_flag(fields, "Required")?.unwrap_or(false),
        multiple: rest_fields::optional_flag(fields, "Multiple")?.unwrap_or(false),
        default,
    })
}

/// A default as the app wrote it (Bitrix24 apps send `"Y"`, `"10"`), as a value of the
/// property's schema where it reads as one; kept as text (a template, "Author") otherwise.
fn typed_default(kind: PropertyType, value: &Value) -> Value {
    let Value::String(text) = value else {
        return value.clone();
    };
    match kind {
        PropertyType::Bool if text == "Y" => Value::Bool(true),
        PropertyType::Bool if text == "N" => Value::Bool(false),
        PropertyType::Int | PropertyType::User => text.parse::<i64>().map_or(value.clone(), Value::from),
        PropertyType::Double => text.parse::<f64>().map_or(value.clone(), Value::from),
        _ => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(p: Value) -> Result<Registration, AppError> {
        Registration::from_params(p.as_object().unwrap(), 1)
    }

    #[test]
    fn properties_become_the_config_schema_of_the_catalogue_entry() {
        let r = registration(json!({
            "CODE": "send_doc", "HANDLER": "https://app.example.com/robot", "NAME": {"de": "Senden", "en": "Send document"},
            "PROPERTIES": {
                "docType": {"Name": "Document type", "Type": "select", "Required": "Y", "Default": "pdf", "Options": {"pdf": "PDF", "docx": "DOCX"}},
                "saveDoc": {"Name": "Save", "Type": "bool", "Default": "Y"},
                "who": {"Name": "To whom", "Type": "user", "Multiple": "Y"},
                "copies": {"Name": "Copies", "Type": "int", "Required": "Y"}
            },
            "RETURN_PROPERTIES": {"url": {"Name": "Link", "Type": "string"}}
        }))
        .unwrap();
        assert!(r.use_subscription, "return properties imply waiting for them");
        let m = r.manifest();
        assert_eq!((m.id.as_str(), m.name.as_str()), ("app:send_doc", "Send document"));
        assert_eq!(m.capabilities, [Capability::Http("app.example.com".into())]);
        let props = &m.config_schema["properties"];
        assert_eq!(props["docType"]["enum"], json!(["pdf", "docx"]));
        assert_eq!(props["docType"]["x-enum-titles"], json!(["PDF", "DOCX"]));
        assert_eq!(props["saveDoc"]["default"], true);
        assert_eq!(
            props["who"],
            json!({"type": "array", "items": {"type": "integer", "minimum": 1}, "title": "To whom"})
        );
        assert_eq!(
            m.config_schema["required"],
            json!(["copies"]),
            "a default fills a required property"
        );
        assert_eq!(props[TIMEOUT_KEY]["default"], DEFAULT_TIMEOUT_SECONDS);
        crate::json_schema::JsonSchema::compile(&m.config_schema).unwrap();

        let config = json!({"copies": 2, "who": [3, 4], "saveDoc": false});
        let form = r.form_properties(config.as_object().unwrap());
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            form,
            [
                ("properties[docType]", "pdf"),
                ("properties[saveDoc]", "N"),
                ("properties[who][0]", "user_3"),
                ("properties[who][1]", "user_4"),
                ("properties[copies]", "2")
            ]
        );
        let sent = json!({"url": "https://x/1", "other": 1});
        assert_eq!(
            Value::Object(r.return_values(sent.as_object().unwrap())),
            json!({"url": "https://x/1"})
        );
    }

    #[test]
    fn a_bad_registration_is_refused_with_bitrix24s_reason() {
        let base = json!({"CODE": "r1", "HANDLER": "https://app.example.com/h", "NAME": "R"});
        let with = |key: &str, value: Value| {
            let mut p = base.clone();
            p[key] = value;
            registration(p).unwrap_err().to_string()
        };
        assert_eq!(with("CODE", json!("")), "Empty activity code!");
        assert_eq!(with("CODE", json!("bad code")), "Wrong activity code!");
        assert_eq!(
            with("HANDLER", json!("ftp://app.example.com/h")),
            "Unsupported handler protocol"
        );
        assert_eq!(with("HANDLER", json!("not a url")), "Wrong handler URL");
        assert_eq!(with("NAME", json!("")), "Empty activity NAME!");
        assert_eq!(
            with("PROPERTIES", json!({"1x": {"Name": "X"}})),
            "Wrong property key 1x!"
        );
        assert_eq!(
            with("PROPERTIES", json!({"x": {"Type": "string"}})),
            "Empty property NAME x!"
        );
        assert_eq!(
            with("PROPERTIES", json!({TIMEOUT_KEY: {"Name": "T"}})),
            "Wrong property key timeout_duration!"
        );
        assert!(with("PROPERTIES", json!({"x": {"Name": "X", "Type": "file"}})).contains("Wrong property type file"));
        assert_eq!(with("PROPERTIES", json!("x")), "Wrong properties array!");
    }
}
