//! Built-in action "cancel-booking": frees the booking named in a field of the item (Bitrix24's
//! "Cancel booking"), the one "book-resource" wrote there, and clears the field.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, id_from, json};

/// The robot's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The item's field that holds the booking's id.
    booking_field: String,
}

/// Cancels the item's booking.
pub struct CancelBooking;

impl Action for CancelBooking {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "cancel-booking",
            "Cancel booking",
            env!("CARGO_PKG_VERSION"),
            "Frees the booking named in a field of the item, and clears the field.",
        )
        .write_every_item_type()
        .capability(Capability::Write("booking".into()))
        .config_schema(json!({
            "type": "object",
            "required": ["booking_field"],
            "additionalProperties": false,
            "properties": {
                "booking_field": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$", "title": "Booking field", "description": "The item's field that holds the booking's id, as Book a resource wrote it."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {
                "booking_id": {"type": ["integer", "null"], "title": "Booking", "description": "The booking the field named; null when it named none."},
                "cancelled": {"type": "boolean", "title": "Cancelled", "description": "Whether it was still booked."}
            }
        }))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let named = ctx
            .field(&config.booking_field)
            .filter(|v| !v.is_null() && v.as_str() != Some(""));
        let Some(value) = named else {
            ctx.log(Level::Info, &format!("{} names no booking", config.booking_field));
            return Ok(json!({"booking_id": null, "cancelled": false}));
        };
        let booking_id = id_from(value, &config.booking_field)?;
        let cancelled = ctx.cancel_booking(booking_id)?;
        let item = &ctx.item().ref_;
        ctx.update(item, &json!({ config.booking_field.clone(): "" }))?;
        ctx.log(Level::Info, &format!("booking {booking_id} cancelled: {cancelled}"));
        Ok(json!({"booking_id": booking_id, "cancelled": cancelled}))
    }
}

stagewright_sdk::export_action!(CancelBooking);
