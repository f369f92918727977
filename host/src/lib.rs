//! Stagewright: a CRM automation host. It keeps CRM items in pipelines of stages, runs the
//! robots attached to a stage when an item enters it, and runs every robot action as a
//! sandboxed WebAssembly component.
//!
//! The modules follow the data flow: [`api`] takes HTTP requests, [`crm`] changes items in the
//! [`store`], writes events and tells the automation engine ([`rules::Engine`], through the one
//! seam [`crm::automation`]), [`rules`] schedules the robots of an entered stage as runs in the
//! [`queue`], the [`scheduler`] claims due runs, the [`runtime`] runs them in a sandbox, and the
//! run's staged writes ([`changeset`]) commit with its end. docs/architecture.md draws the map.

#![warn(missing_docs)]

/// Every program that runs the host (the binary, its tests and benchmarks) allocates with
/// mimalloc: glibc's malloc was a quarter of the scheduler's CPU in the PostgreSQL drain.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod api;
pub mod apps;
pub mod backup;
pub mod board;
pub mod booking;
pub mod changeset;
pub mod clock;
pub mod config;
pub mod crm;
pub mod directory;
pub mod feed;
pub mod json_schema;
pub mod kit;
pub mod mailer;
pub mod metrics;
pub mod model;
pub mod notifications;
pub mod outbox;
pub mod permissions;
pub mod queue;
pub mod rest_fields;
pub mod returns;
pub mod rules;
pub mod runtime;
pub mod scheduler;
pub mod segments;
pub mod server;
pub mod sessions;
pub mod settings;
pub mod sms;
pub mod store;
pub mod tasks;
pub mod timeline;
pub mod tls;

pub use server::{Server, Settings};
