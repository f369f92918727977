//! A plugin's manifest as the host keeps it, checked when the plugin is installed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PluginError;
use super::bindings::stagewright::action::types as wit;
use super::grants::Target;
use crate::json_schema::JsonSchema;

/// What a plugin is and needs, as returned by its `describe` export.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Manifest {
    /// Stable id robots refer to.
    pub id: String,
    /// Name for admin screens.
    pub name: String,
    /// The plugin's semver version.
    pub version: String,
    /// Description for admin screens.
    pub description: String,
    /// JSON Schema of the robot config.
    #[schema(value_type = Object)]
    pub config_schema: Value,
    /// JSON Schema of the return values.
    #[schema(value_type = Object)]
    pub returns_schema: Value,
    /// The capabilities the plugin asked for and was granted by installing it.
    pub capabilities: Vec<Capability>,
}

/// One capability, as stored and shown by the admin API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(tag = "kind", content = "target", rename_all = "lowercase")]
pub enum Capability {
    /// Read items of an entity type.
    Read(String),
    /// Write items of an entity type (implies read).
    Write(String),
    /// Queue email.
    Email,
    /// Notify users.
    Notify,
    /// Outbound HTTP to a host.
    Http(String),
}

impl Capability {
    /// The capability as an admin reads it: "reads deals", "sends email", "calls
    /// api.example.com over HTTP".
    pub fn in_words(&self) -> String {
        match self {
            Capability::Read(target) => format!("reads {}", target_in_words(target)),
            Capability::Write(target) => format!("writes {}", target_in_words(target)),
            Capability::Email => "sends email".into(),
            Capability::Notify => "notifies users".into(),
            Capability::Http(host) if host == "*" => "calls any public host over HTTP".into(),
            Capability::Http(host) => format!("calls {host} over HTTP"),
        }
    }
}

fn target_in_words(target: &str) -> String {
    match Target::parse(target) {
        Ok(Target::Entity(crate::model::EntityType::Dynamic(id))) => format!("items of smart process {id}"),
        Ok(Target::Entity(crate::model::EntityType::Company)) => "companies".into(),
        Ok(Target::Entity(entity_type)) => format!("{entity_type}s"),
        Ok(Target::AnySmartProcess) => "items of every smart process".into(),
        Ok(Target::Tasks) => "tasks".into(),
        Ok(Target::Exceptions) => "the repeat-lead exception list".into(),
        Ok(Target::Users) => "the company directory".into(),
        Ok(Target::Sms) => "text messages".into(),
        Ok(Target::Feed) => "the Activity Stream".into(),
        Ok(Target::Booking) => "resources' bookings".into(),
        Err(_) => target.to_string(),
    }
}

impl Manifest {
    /// Checks what `describe` returned: id shape, semver version, JSON schemas, known entity types.
    pub(super) fn from_wit(m: wit::Manifest) -> Result<Self, PluginError> {
        let bad = |why: String| PluginError::BadManifest(why);
        let id_ok = !m.id.is_empty()
            && m.id.len() <= 64
            && m.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !m.id.starts_with('-');
        if !id_ok {
            return Err(bad(format!(
                "id '{}' must be 1-64 lowercase letters, digits and dashes",
                m.id
            )));
        }
        semver::Version::parse(&m.version).map_err(|e| bad(format!("version '{}' is not semver: {e}", m.version)))?;
        let schema = |name: &str, text: &str| -> Result<Value, PluginError> {
            let value: Value = serde_json::from_str(text).map_err(|e| bad(format!("{name} is not JSON: {e}")))?;
            if !value.is_object() {
                return Err(bad(format!("{name} must be a JSON Schema object")));
            }
            JsonSchema::compile(&value).map_err(|e| bad(format!("{name} is not a valid JSON Schema: {e}")))?;
            Ok(value)
        };
        let capabilities = m
            .capabilities
            .into_iter()
            .map(|c| match c {
                wit::Capability::Read(t) => check_entity(&t).map(|_| Capability::Read(t)),
                wit::Capability::Write(t) => check_entity(&t).map(|_| Capability::Write(t)),
                wit::Capability::Email => Ok(Capability::Email),
                wit::Capability::Notify => Ok(Capability::Notify),
                wit::Capability::Http(h) => check_http_host(&h).map(|_| Capability::Http(h.to_ascii_lowercase())),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            config_schema: schema("config-schema", &m.config_schema)?,
            returns_schema: schema("returns-schema", &m.returns_schema)?,
            id: m.id,
            name: m.name,
            version: m.version,
            description: m.description,
            capabilities,
        })
    }

    /// Checks a robot's config against the plugin's config schema. A value holding a template
    /// (`{=Document:OPPORTUNITY}`) is only known when the robot runs, so a schema error at a
    /// string with a template is let through; the plugin sees the resolved value.
    pub fn check_config(&self, config: &Value) -> Result<(), String> {
        let schema = JsonSchema::compile(&self.config_schema).map_err(|e| e.to_string())?;
        let errors: Vec<String> = schema
            .violations(config)
            .iter()
            .filter(|v| {
                let at = config.pointer(&v.path);
                !at.and_then(Value::as_str).is_some_and(|s| s.contains("{="))
            })
            .map(ToString::to_string)
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "config does not match plugin {}'s schema: {}",
                self.id,
                errors.join("; ")
            ))
        }
    }
}

fn check_entity(name: &str) -> Result<(), PluginError> {
    Target::parse(name)
        .map(|_| ())
        .map_err(|e| PluginError::BadManifest(format!("capability names {e}")))
}

/// An HTTP grant names a host (`api.example.com`, an IP address), every subdomain of a domain
/// (`*.example.com`), or any public host (`*`); never a URL, a port or a path.
fn check_http_host(pattern: &str) -> Result<(), PluginError> {
    let host = pattern.strip_prefix("*.").unwrap_or(pattern);
    let is_name = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty() && label.len() <= 63 && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if pattern == "*" || is_name || pattern.parse::<std::net::IpAddr>().is_ok() {
        Ok(())
    } else {
        Err(PluginError::BadManifest(format!(
            "http capability '{pattern}' must be a host name, '*.domain' or '*'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(capabilities: Vec<wit::Capability>) -> wit::Manifest {
        wit::Manifest {
            id: "forms".into(),
            name: "Forms".into(),
            version: "1.0.0".into(),
            description: String::new(),
            config_schema: "{}".into(),
            returns_schema: "{}".into(),
            capabilities,
        }
    }

    #[test]
    fn every_documented_entity_type_and_capability_target_form_loads() {
        let targets = [
            "lead",
            "deal",
            "contact",
            "company",
            "dynamic_1032",
            "spa:1032",
            "dynamic_*",
            "task",
            "exceptions",
            "user",
        ];
        for target in targets {
            let read = manifest(vec![wit::Capability::Read(target.into())]);
            assert!(Manifest::from_wit(read).is_ok(), "read({target})");
            let write = manifest(vec![wit::Capability::Write(target.into())]);
            assert!(Manifest::from_wit(write).is_ok(), "write({target})");
        }
        for host in ["api.example.com", "*.example.com", "*", "203.0.113.7"] {
            assert!(
                Manifest::from_wit(manifest(vec![wit::Capability::Http(host.into())])).is_ok(),
                "http({host})"
            );
        }
        let plain = manifest(vec![wit::Capability::Email, wit::Capability::Notify]);
        assert!(Manifest::from_wit(plain).is_ok());
    }

    #[test]
    fn capabilities_read_as_plain_words() {
        let words: Vec<String> = [
            Capability::Read("deal".into()),
            Capability::Write("company".into()),
            Capability::Write("dynamic_*".into()),
            Capability::Read("spa:1032".into()),
            Capability::Write("task".into()),
            Capability::Email,
            Capability::Notify,
            Capability::Http("api.example.com".into()),
        ]
        .iter()
        .map(Capability::in_words)
        .collect();
        assert_eq!(
            words,
            [
                "reads deals",
                "writes companies",
                "writes items of every smart process",
                "reads items of smart process 1032",
                "writes tasks",
                "sends email",
                "notifies users",
                "calls api.example.com over HTTP"
            ]
        );
    }

    #[test]
    fn an_unknown_target_or_host_pattern_is_refused() {
        for target in ["invoice", "dynamic_", "spa:x", "dynamic_1"] {
            let m = manifest(vec![wit::Capability::Read(target.into())]);
            assert!(
                matches!(Manifest::from_wit(m), Err(PluginError::BadManifest(_))),
                "{target}"
            );
        }
        let url = manifest(vec![wit::Capability::Http("https://api.example.com/x".into())]);
        assert!(matches!(Manifest::from_wit(url), Err(PluginError::BadManifest(_))));
    }
}
