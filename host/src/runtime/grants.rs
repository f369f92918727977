//! The one answer to "may this plugin do that": what an installed plugin's manifest grants,
//! worked out once per run and asked by every host call and every outbound request.
//!
//! A plugin asks for capabilities in its manifest (`read("deal")`, `write("dynamic_*")`,
//! `email`, `notify`, `http("api.example.com")`); installing it grants them. A host call asks
//! [`Grants`] before it does anything, and gets the typed thing it may touch or a [`Denial`]
//! whose text the run record shows.

use std::fmt;

use super::manifest::{Capability, Manifest};
use crate::model::EntityType;

/// The capability target for employees' tasks, beside the CRM's entity types.
pub const TASKS: &str = "task";

/// The capability target for the repeat-lead exception list (written by "add to exceptions").
pub const EXCEPTIONS: &str = "exceptions";

/// The capability target for text messages (write("sms")).
pub const SMS: &str = "sms";

/// The capability target for the Activity Stream (write("feed")).
pub const FEED: &str = "feed";

/// The capability target for resources' bookings (write("booking")).
pub const BOOKING: &str = "booking";

/// The capability target for the company directory and its absence calendar.
pub const USERS: &str = "user";

/// The capability target that covers every smart process, including those defined later.
pub const ANY_SMART_PROCESS: &str = "dynamic_*";

/// Reading or changing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Get and list.
    Read,
    /// Create, update, move, delete (implies read).
    Write,
}

/// What a `read(...)` or `write(...)` capability names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Items of one entity type.
    Entity(EntityType),
    /// Items of every smart process.
    AnySmartProcess,
    /// Employees' tasks.
    Tasks,
    /// The repeat-lead exception list.
    Exceptions,
    /// The company directory.
    Users,
    /// Text messages through the host's SMS gateway.
    Sms,
    /// Posts in the Activity Stream.
    Feed,
    /// Resources' bookings.
    Booking,
}

impl Target {
    /// Parses a capability target as the contract spells it: an entity type ("deal",
    /// "dynamic_1032", or the 0.1.0 contract's "spa:1032"), "dynamic_*", "task", "exceptions",
    /// "user", "sms", "feed" or "booking".
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            ANY_SMART_PROCESS => Ok(Self::AnySmartProcess),
            TASKS => Ok(Self::Tasks),
            EXCEPTIONS => Ok(Self::Exceptions),
            USERS => Ok(Self::Users),
            SMS => Ok(Self::Sms),
            FEED => Ok(Self::Feed),
            BOOKING => Ok(Self::Booking),
            other => EntityType::parse(other).map(Self::Entity).map_err(|e| e.to_string()),
        }
    }

    fn covers(self, wanted: Target) -> bool {
        self == wanted
            || matches!(
                (self, wanted),
                (Self::AnySmartProcess, Self::Entity(EntityType::Dynamic(_)))
            )
    }
}

/// Why a host call was refused: the capability it needed, in the contract's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// `read(...)` or `write(...)` of this target, as the plugin named it.
    Access(Access, String),
    /// The `email` capability.
    Email,
    /// The `notify` capability.
    Notify,
    /// `http(...)` for this host.
    Http(String),
}

impl Denial {
    /// The capability that was missing, as the WIT error names it ("write:deal", "notify").
    pub fn capability(&self) -> String {
        match self {
            Self::Access(Access::Read, target) => format!("read:{target}"),
            Self::Access(Access::Write, target) => format!("write:{target}"),
            Self::Email => "email".into(),
            Self::Notify => "notify".into(),
            Self::Http(host) => format!("http:{host}"),
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(host) => write!(f, "denied: {host} is not among the hosts granted to the plugin"),
            other => write!(
                f,
                "denied: {} is not among the plugin's capabilities",
                other.capability()
            ),
        }
    }
}

/// What one installed plugin may do.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    read: Vec<Target>,
    write: Vec<Target>,
    email: bool,
    notify: bool,
    http: Vec<String>,
}

impl Grants {
    /// The grants of a manifest checked at install time. A target that no longer parses grants
    /// nothing.
    pub fn of(manifest: &Manifest) -> Self {
        let mut grants = Self::default();
        for capability in &manifest.capabilities {
            match capability {
                Capability::Read(name) => grants.read.extend(Target::parse(name)),
                Capability::Write(name) => grants.write.extend(Target::parse(name)),
                Capability::Email => grants.email = true,
                Capability::Notify => grants.notify = true,
                Capability::Http(host) => grants.http.push(host.to_ascii_lowercase()),
            }
        }
        grants
    }

    /// Whether the plugin may send requests out of the host.
    pub fn reaches_outside(&self) -> bool {
        !self.http.is_empty()
    }

    /// Whether `access` to `target` is granted; write implies read.
    pub fn allows(&self, access: Access, target: Target) -> bool {
        let covered = |targets: &[Target]| targets.iter().any(|t| t.covers(target));
        covered(&self.write) || (access == Access::Read && covered(&self.read))
    }

    /// `access` to a named target ("task", "exceptions", "user", an entity type).
    pub fn check(&self, access: Access, name: &str) -> Result<Target, Denial> {
        let denied = || Denial::Access(access, name.to_string());
        let target = Target::parse(name).map_err(|_| denied())?;
        self.allows(access, target).then_some(target).ok_or_else(denied)
    }

    /// `access` to items of the entity type the plugin named, which it gets back typed. A name
    /// of no entity type is denied: no grant covers it.
    pub fn entity(&self, access: Access, name: &str) -> Result<EntityType, Denial> {
        match self.check(access, name)? {
            Target::Entity(entity_type) => Ok(entity_type),
            _ => Err(Denial::Access(access, name.to_string())),
        }
    }

    /// The `email` capability.
    pub fn email(&self) -> Result<(), Denial> {
        self.email.then_some(()).ok_or(Denial::Email)
    }

    /// The `notify` capability.
    pub fn notify(&self) -> Result<(), Denial> {
        self.notify.then_some(()).ok_or(Denial::Notify)
    }

    /// Outbound HTTP to `host` (lower-case, no port): a granted name, a subdomain of a granted
    /// `*.domain` (not the domain itself), or anything under `*`.
    pub fn http(&self, host: &str) -> Result<(), Denial> {
        let granted = self.http.iter().any(|pattern| {
            pattern == "*"
                || pattern == host
                || pattern.strip_prefix("*.").is_some_and(|domain| {
                    host.strip_suffix(domain)
                        .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.'))
                })
        });
        granted.then_some(()).ok_or_else(|| Denial::Http(host.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(capabilities: Vec<Capability>) -> Grants {
        Grants::of(&Manifest {
            capabilities,
            ..Manifest::default()
        })
    }

    fn read(name: &str) -> Capability {
        Capability::Read(name.into())
    }

    fn write(name: &str) -> Capability {
        Capability::Write(name.into())
    }

    #[test]
    fn read_grants_reading_only() {
        let g = grants(vec![read("deal")]);
        assert_eq!(g.entity(Access::Read, "deal"), Ok(EntityType::Deal));
        assert_eq!(
            g.entity(Access::Write, "deal"),
            Err(Denial::Access(Access::Write, "deal".into()))
        );
        assert!(matches!(g.entity(Access::Read, "lead"), Err(Denial::Access(..))));
    }

    #[test]
    fn write_implies_read() {
        let g = grants(vec![write("contact")]);
        assert_eq!(g.entity(Access::Read, "contact"), Ok(EntityType::Contact));
        assert_eq!(g.entity(Access::Write, "contact"), Ok(EntityType::Contact));
    }

    #[test]
    fn any_smart_process_covers_every_smart_process_and_nothing_else() {
        let g = grants(vec![write(ANY_SMART_PROCESS)]);
        assert_eq!(g.entity(Access::Write, "dynamic_1032"), Ok(EntityType::Dynamic(1032)));
        assert_eq!(g.entity(Access::Read, "dynamic_128"), Ok(EntityType::Dynamic(128)));
        assert!(matches!(g.entity(Access::Read, "deal"), Err(Denial::Access(..))));
    }

    #[test]
    fn smart_processes_are_named_in_either_documented_form() {
        let g = grants(vec![read("spa:1032")]);
        assert_eq!(g.entity(Access::Read, "dynamic_1032"), Ok(EntityType::Dynamic(1032)));
        assert_eq!(g.entity(Access::Read, "spa:1032"), Ok(EntityType::Dynamic(1032)));
        let g = grants(vec![read("dynamic_1032")]);
        assert_eq!(g.entity(Access::Read, "spa:1032"), Ok(EntityType::Dynamic(1032)));
        assert!(matches!(
            g.entity(Access::Read, "dynamic_1036"),
            Err(Denial::Access(..))
        ));
    }

    #[test]
    fn an_unknown_entity_type_and_a_named_target_are_no_entity_types() {
        let g = grants(vec![read("deal"), write(TASKS)]);
        assert_eq!(
            g.entity(Access::Read, "invoice"),
            Err(Denial::Access(Access::Read, "invoice".into()))
        );
        assert_eq!(
            g.entity(Access::Read, TASKS),
            Err(Denial::Access(Access::Read, TASKS.into()))
        );
    }

    #[test]
    fn named_targets_are_checked_like_entity_types() {
        let g = grants(vec![write(TASKS), read(USERS)]);
        assert_eq!(g.check(Access::Write, TASKS), Ok(Target::Tasks));
        assert_eq!(g.check(Access::Read, USERS), Ok(Target::Users));
        assert_eq!(
            g.check(Access::Write, EXCEPTIONS),
            Err(Denial::Access(Access::Write, EXCEPTIONS.into()))
        );
        assert_eq!(
            g.check(Access::Write, USERS),
            Err(Denial::Access(Access::Write, USERS.into()))
        );
    }

    #[test]
    fn email_and_notify_are_granted_only_when_asked_for() {
        let none = grants(vec![]);
        assert_eq!(none.email(), Err(Denial::Email));
        assert_eq!(none.notify(), Err(Denial::Notify));
        let both = grants(vec![Capability::Email, Capability::Notify]);
        assert_eq!(both.email(), Ok(()));
        assert_eq!(both.notify(), Ok(()));
    }

    #[test]
    fn http_grants_match_hosts_and_subdomains_only() {
        let g = grants(vec![
            Capability::Http("api.example.com".into()),
            Capability::Http("*.hooks.example.org".into()),
        ]);
        assert_eq!(g.http("api.example.com"), Ok(()));
        assert_eq!(g.http("eu.hooks.example.org"), Ok(()));
        assert_eq!(
            g.http("hooks.example.org"),
            Err(Denial::Http("hooks.example.org".into()))
        );
        assert!(g.http("evilhooks.example.org").is_err());
        assert!(g.http("api.example.com.evil.net").is_err());
        assert_eq!(
            grants(vec![Capability::Http("*".into())]).http("anything.example"),
            Ok(())
        );
        assert!(grants(vec![]).http("api.example.com").is_err());
    }

    #[test]
    fn a_denial_says_which_capability_was_missing() {
        assert_eq!(
            Denial::Access(Access::Write, "deal".into()).to_string(),
            "denied: write:deal is not among the plugin's capabilities"
        );
        assert_eq!(Denial::Notify.capability(), "notify");
        assert_eq!(
            Denial::Http("x.example".into()).to_string(),
            "denied: x.example is not among the hosts granted to the plugin"
        );
    }
}
