//! Built-in action "book-resource": books a resource (a room, equipment, a person) for the item
//! at a time taken from a date field or a delay after the robot runs (Bitrix24's "Book a
//! resource"), and writes the booking's id to a field of the item, where "cancel-booking" finds
//! it. A resource booked then already is refused with the booking in the way.

use serde::Deserialize;
use stagewright_sdk::time::{Span, iso8601_utc};
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, id_from, json};

/// The robot's configuration; `start`, `title` and `user_id` may hold templates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The resource.
    resource_id: Value,
    /// When the booking starts: a date and time, often `{=Document:UF_CRM_VISIT}`.
    #[serde(default)]
    start: Option<String>,
    /// Or this long after the robot runs.
    #[serde(default)]
    start_after: Option<Span>,
    /// How long it lasts, in minutes.
    #[serde(default = "hour")]
    duration_minutes: u32,
    /// Who it is for: the item's responsible when left out.
    #[serde(default)]
    user_id: Option<Value>,
    /// Its name: the item's title when left out.
    #[serde(default)]
    title: Option<String>,
    /// The item's field that gets the booking's id.
    #[serde(default)]
    booking_field: Option<String>,
}

fn hour() -> u32 {
    60
}

/// Books the resource.
pub struct BookResource;

impl Action for BookResource {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "book-resource",
            "Book a resource",
            env!("CARGO_PKG_VERSION"),
            "Books a room, equipment or a person for the item at a date from one of its fields or after a delay, and writes the booking to a field of the item.",
        )
        .write_every_item_type()
        .capability(Capability::Write("booking".into()))
        .config_schema(json!({
            "type": "object",
            "required": ["resource_id"],
            "additionalProperties": false,
            "properties": {
                "resource_id": {"type": ["integer", "string"], "title": "Resource", "description": "The resource's id (booking.v1.resource.list)."},
                "start": {"type": "string", "title": "Start", "description": "A date and time, usually a field of the item: {=Document:UF_CRM_VISIT}. Leave empty to use the delay."},
                "start_after": Span::schema("Or start after", "This long after the robot runs, when Start is empty."),
                "duration_minutes": {"type": "integer", "minimum": 1, "maximum": 43200, "default": 60, "title": "Length (minutes)"},
                "user_id": {"type": ["integer", "string"], "title": "For", "description": "The employee the booking is for; the item's responsible when left empty."},
                "title": {"type": "string", "title": "Name", "description": "The booking's name; the item's title when left empty."},
                "booking_field": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$", "title": "Booking field", "description": "The item's field that gets the booking's id (a custom field such as UF_CRM_BOOKING), for Cancel booking."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {
                "booking_id": {"type": "integer", "title": "Booking"},
                "start": {"type": "string", "title": "Start"}
            }
        }))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let resource = id_from(&config.resource_id, "resource_id")?;
        let start = match (
            config.start.as_deref().map(str::trim).filter(|s| !s.is_empty()),
            &config.start_after,
        ) {
            (Some(_), Some(_)) => {
                return Err(ActionError::InvalidConfig("set start or start_after, not both".into()));
            }
            (Some(start), None) => start.to_string(),
            (None, Some(after)) => iso8601_utc(ctx.now_ms().saturating_add(after.ms()?)),
            (None, None) => iso8601_utc(ctx.now_ms()),
        };
        let user = match &config.user_id {
            Some(id) => id_from(id, "user_id")?,
            None => ctx.responsible()?,
        };
        let title = match config.title.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(title) => title.to_string(),
            None => ctx
                .field("TITLE")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        };
        let item = &ctx.item().ref_;
        let booking_id = ctx.book(
            resource,
            (&start, config.duration_minutes),
            Some(user),
            &title,
            Some(item),
        )?;
        if let Some(field) = &config.booking_field {
            ctx.update(item, &json!({ field: booking_id }))?;
        }
        ctx.log(
            Level::Info,
            &format!("booked resource {resource} from {start}: booking {booking_id}"),
        );
        Ok(json!({"booking_id": booking_id, "start": start}))
    }
}

stagewright_sdk::export_action!(BookResource);
