//! `booking.v1.resource.*` and `booking.v1.booking.*`: resources and their bookings
//! ([`crate::booking`]) in the shapes of Bitrix24's booking REST API (`fields` in camelCase,
//! times as `{"timestamp": seconds}`).

use serde_json::{Map, Value, json};

use super::{Answer, AppState, unknown_method};
use crate::api::{ApiError, params};
use crate::booking::{self, Booking, NewBooking, Resource};

/// Answers one `booking.v1.*` call.
pub(super) async fn dispatch(
    app: &AppState,
    user: i64,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    let now = app.clock.now();
    match method {
        "booking.v1.resource.add" => {
            let fields = params::object(p, "fields")?;
            let name = params::optional_str(&fields, "name")?.unwrap_or_default();
            let description = params::optional_str(&fields, "description")?.unwrap_or_default();
            let mut tx = app.store.write().await?;
            let added = booking::add_resource(&mut tx, &name, &description, now).await?;
            tx.commit().await?;
            Ok(json!({"id": added.id}).into())
        }
        "booking.v1.resource.get" => {
            let mut conn = app.store.pool().acquire().await?;
            let found = booking::resource(&mut conn, params::id(p, "id")?).await?;
            Ok(json!({"resource": resource_json(&found)}).into())
        }
        "booking.v1.resource.list" => {
            let mut conn = app.store.pool().acquire().await?;
            let all: Vec<Value> = booking::resources(&mut conn).await?.iter().map(resource_json).collect();
            Ok(json!({"resource": all}).into())
        }
        "booking.v1.booking.add" => {
            let fields = params::object(p, "fields")?;
            let resources = params::optional_ids(&fields, "resourceIds")?.unwrap_or_default();
            let [resource_id] = resources[..] else {
                return Err(ApiError::invalid("resourceIds must name one resource"));
            };
            let period = params::object(&fields, "datePeriod")?;
            let new = NewBooking {
                resource_id,
                name: params::optional_str(&fields, "name")?.unwrap_or_default(),
                starts_at: moment(&period, "from")?,
                ends_at: moment(&period, "to")?,
                user_id: Some(user),
                item: None,
                run_id: None,
            };
            let mut tx = app.store.write().await?;
            let id = booking::book(&mut tx, None, &new, now)
                .await
                .map_err(crate::model::CrmError::from)?;
            tx.commit().await?;
            Ok(json!({"id": id}).into())
        }
        "booking.v1.booking.get" => {
            let mut conn = app.store.pool().acquire().await?;
            let found = booking::get(&mut conn, params::id(p, "id")?).await?;
            Ok(json!({"booking": booking_json(&found)}).into())
        }
        "booking.v1.booking.list" => {
            let filter = params::object(p, "filter")?;
            let resource = params::optional_ids(&filter, "resourceId")?.and_then(|ids| ids.first().copied());
            let mut conn = app.store.pool().acquire().await?;
            let all: Vec<Value> = booking::list(&mut conn, resource)
                .await?
                .iter()
                .map(booking_json)
                .collect();
            Ok(json!({"booking": all}).into())
        }
        "booking.v1.booking.delete" => {
            let mut tx = app.store.write().await?;
            booking::cancel(&mut tx, params::id(p, "id")?, now).await?;
            tx.commit().await?;
            Ok(json!(true).into())
        }
        _ => Err(unknown_method()),
    }
}

/// `{"timestamp": seconds}` under `name`, in milliseconds.
fn moment(period: &Map<String, Value>, name: &str) -> Result<i64, ApiError> {
    let at = params::object(period, name)?;
    let seconds = params::optional_int(&at, "timestamp")?
        .ok_or_else(|| ApiError::invalid(format!("datePeriod.{name}.timestamp is required")))?;
    Ok(seconds.saturating_mul(1000))
}

fn resource_json(resource: &Resource) -> Value {
    json!({"id": resource.id, "name": resource.name, "description": resource.description})
}

fn booking_json(booking: &Booking) -> Value {
    json!({
        "id": booking.id,
        "resourceIds": [booking.resource_id],
        "name": booking.name,
        "datePeriod": {"from": {"timestamp": booking.starts_at / 1000}, "to": {"timestamp": booking.ends_at / 1000}},
        "userId": booking.user_id,
        "crmItem": booking.item.map(|item| item.short()),
        "isCancelled": booking.cancelled_at.is_some(),
    })
}
