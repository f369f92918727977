//! A plugin's manifest as the host keeps it, checked when the plugin is installed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PluginError;
use super::bindings::stagewright::action::types as wit;

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
            jsonschema::validator_for(&value).map_err(|e| bad(format!("{name} is not a valid JSON Schema: {e}")))?;
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
        let validator = jsonschema::validator_for(&self.config_schema).map_err(|e| e.to_string())?;
        let errors: Vec<String> = validator
            .iter_errors(config)
            .filter(|e| {
                let at = config.pointer(e.instance_path().as_str());
                !at.and_then(Value::as_str).is_some_and(|s| s.contains("{="))
            })
            .map(|e| {
                let path = e.instance_path().as_str().to_string();
                if path.is_empty() {
                    e.to_string()
                } else {
                    format!("{path}: {e}")
                }
            })
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

    /// Whether the plugin may read items of `entity_type`.
    pub fn may_read(&self, entity_type: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| matches!(c, Capability::Read(t) | Capability::Write(t) if names(t, entity_type)))
    }

    /// Whether the plugin may change items of `entity_type`.
    pub fn may_write(&self, entity_type: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| matches!(c, Capability::Write(t) if names(t, entity_type)))
    }
}

/// Whether a capability's target covers an entity type: itself, or `dynamic_*` for every smart
/// process.
fn names(target: &str, entity_type: &str) -> bool {
    target == entity_type || (target == ANY_SMART_PROCESS && entity_type.starts_with("dynamic_"))
}

/// The capability target that covers every smart process.
const ANY_SMART_PROCESS: &str = "dynamic_*";

/// The capability target for employees' tasks, beside the CRM's entity types.
pub const TASKS: &str = "task";

/// The capability target for the repeat-lead exception list (written by "add to exceptions").
pub const EXCEPTIONS: &str = "exceptions";

/// The capability target for the company directory and its absence calendar.
pub const USERS: &str = "user";

fn check_entity(name: &str) -> Result<(), PluginError> {
    if [ANY_SMART_PROCESS, TASKS, EXCEPTIONS, USERS].contains(&name) {
        return Ok(());
    }
    crate::model::EntityType::parse(name)
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
