use crate::bindings::stagewright::action::types as wit;
use serde_json::Value;

/// Something a plugin asks to be allowed to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capability {
    /// Read items of an entity type ("deal", "dynamic_1032"; "dynamic_*" for every smart
    /// process); "user" reads the company directory and its absence calendar (hosts from 0.1.3).
    Read(String),
    /// Create, change, move or delete items of an entity type; implies read. "task" names
    /// employees' tasks, "exceptions" the repeat-lead exception list (hosts from 0.1.3).
    Write(String),
    /// Queue email.
    Email,
    /// Notify users.
    Notify,
    /// Outbound HTTP to a host.
    Http(String),
}

/// The capability targets that cover every CRM item.
const EVERY_ITEM_TYPE: [&str; 5] = ["lead", "deal", "contact", "company", "dynamic_*"];

/// What a plugin is and needs; see the `manifest` record in the WIT contract.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Stable id robots refer to ("change-stage").
    pub id: String,
    /// Name for admin screens.
    pub name: String,
    /// The plugin's semver version.
    pub version: String,
    /// One or two sentences for admin screens.
    pub description: String,
    /// JSON Schema of the config.
    pub config_schema: Value,
    /// JSON Schema of the return values.
    pub returns_schema: Value,
    /// What the plugin needs.
    pub capabilities: Vec<Capability>,
}

impl Manifest {
    /// A manifest with empty schemas and no capabilities, to fill in with the builder methods.
    pub fn new(id: &str, name: &str, version: &str, description: &str) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            version: version.into(),
            description: description.into(),
            config_schema: serde_json::json!({"type": "object"}),
            returns_schema: serde_json::json!({"type": "object"}),
            capabilities: Vec::new(),
        }
    }

    /// Sets the config's JSON Schema.
    pub fn config_schema(mut self, schema: Value) -> Self {
        self.config_schema = schema;
        self
    }

    /// Sets the return values' JSON Schema.
    pub fn returns_schema(mut self, schema: Value) -> Self {
        self.returns_schema = schema;
        self
    }

    /// Asks for one more capability.
    pub fn capability(mut self, capability: Capability) -> Self {
        self.capabilities.push(capability);
        self
    }

    /// Asks to write (and so read) leads, deals, contacts, companies and every smart process: for
    /// actions that work on whatever item their robot runs for.
    pub fn write_every_item_type(self) -> Self {
        EVERY_ITEM_TYPE.into_iter().fold(self, |manifest, entity_type| {
            manifest.capability(Capability::Write(entity_type.into()))
        })
    }

    /// Asks to read leads, deals, contacts, companies and every smart process: for actions that
    /// look at whatever item their robot runs for without changing it.
    pub fn read_every_item_type(self) -> Self {
        EVERY_ITEM_TYPE.into_iter().fold(self, |manifest, entity_type| {
            manifest.capability(Capability::Read(entity_type.into()))
        })
    }

    pub(crate) fn into_wit(self) -> wit::Manifest {
        wit::Manifest {
            id: self.id,
            name: self.name,
            version: self.version,
            description: self.description,
            config_schema: self.config_schema.to_string(),
            returns_schema: self.returns_schema.to_string(),
            capabilities: self.capabilities.into_iter().map(Capability::into_wit).collect(),
        }
    }
}

impl Capability {
    fn into_wit(self) -> wit::Capability {
        match self {
            Self::Read(t) => wit::Capability::Read(t),
            Self::Write(t) => wit::Capability::Write(t),
            Self::Email => wit::Capability::Email,
            Self::Notify => wit::Capability::Notify,
            Self::Http(h) => wit::Capability::Http(h),
        }
    }
}
