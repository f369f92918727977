//! Resources and their bookings, as Bitrix24's booking module keeps them: rooms, equipment or
//! people, each with a calendar of bookings that may not overlap. A robot books a resource for
//! an item ("Book a resource") and frees it again ("Cancel booking").

use crate::clock::Millis;
use crate::model::{CrmError, ItemRef, checked_name, rest_datetime};
use crate::store::{self, Conn, Store, Tx};
use crate::{crm, directory};

/// The sequence booking ids come from; a robot reserves one before its run commits.
pub const SEQUENCE: &str = "booking";

/// The longest booking: thirty days.
const MAX_LENGTH_MS: Millis = 30 * 86_400_000;

/// A resource that can be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Its id.
    pub id: i64,
    /// Its name ("Meeting room 2").
    pub name: String,
    /// What it is.
    pub description: String,
}

/// A booking to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBooking {
    /// The resource.
    pub resource_id: i64,
    /// What it is for.
    pub name: String,
    /// When it starts.
    pub starts_at: Millis,
    /// When it ends, after the start.
    pub ends_at: Millis,
    /// The employee it is for.
    pub user_id: Option<i64>,
    /// The item it is for.
    pub item: Option<ItemRef>,
    /// The robot run that made it.
    pub run_id: Option<String>,
}

/// A booking as the calendar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// Its id.
    pub id: i64,
    /// The resource.
    pub resource_id: i64,
    /// What it is for.
    pub name: String,
    /// When it starts.
    pub starts_at: Millis,
    /// When it ends.
    pub ends_at: Millis,
    /// The employee it is for.
    pub user_id: Option<i64>,
    /// The item it is for.
    pub item: Option<ItemRef>,
    /// When it was cancelled, if it was.
    pub cancelled_at: Option<Millis>,
}

/// Why a booking cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    /// Another booking holds the resource then.
    #[error("resource {resource_id} is booked from {} to {} (booking {booking_id})", rest_datetime(*.starts_at), rest_datetime(*.ends_at))]
    Taken {
        /// The resource.
        resource_id: i64,
        /// The booking in the way.
        booking_id: i64,
        /// When it starts.
        starts_at: Millis,
        /// When it ends.
        ends_at: Millis,
    },
    /// The booking itself is wrong, or the database failed.
    #[error(transparent)]
    Crm(#[from] CrmError),
}

impl From<store::StoreError> for BookingError {
    fn from(e: store::StoreError) -> Self {
        Self::Crm(e.into())
    }
}

impl From<BookingError> for CrmError {
    fn from(e: BookingError) -> Self {
        match e {
            BookingError::Crm(e) => e,
            taken => CrmError::Invalid(taken.to_string()),
        }
    }
}

/// Adds a resource; returns it.
pub async fn add_resource(tx: &mut Tx, name: &str, description: &str, now: Millis) -> Result<Resource, CrmError> {
    let name = checked_name("name", name)?;
    let id: i64 = store::query_scalar(
        "INSERT INTO booking_resources (name, description, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(description.trim())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    resource(tx, id).await
}

/// One resource.
pub async fn resource(conn: &mut Conn, id: i64) -> Result<Resource, CrmError> {
    let row = store::query("SELECT * FROM booking_resources WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("resource {id}")))?;
    Ok(Resource {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
    })
}

/// Every resource, by id.
pub async fn resources(conn: &mut Conn) -> Result<Vec<Resource>, CrmError> {
    let ids: Vec<i64> = store::query_scalar("SELECT id FROM booking_resources ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    let mut all = Vec::with_capacity(ids.len());
    for id in ids {
        all.push(resource(conn, id).await?);
    }
    Ok(all)
}

/// Books a resource under a reserved id or the next, unless another booking holds it at any
/// moment of the period. The resource's row is locked first, so two bookings of one resource
/// are checked one after the other on every database.
pub async fn book(tx: &mut Tx, id: Option<i64>, booking: &NewBooking, now: Millis) -> Result<i64, BookingError> {
    if booking.ends_at <= booking.starts_at {
        return Err(CrmError::Invalid("a booking must end after it starts".into()).into());
    }
    if booking.ends_at - booking.starts_at > MAX_LENGTH_MS {
        return Err(CrmError::Invalid("a booking lasts at most 30 days".into()).into());
    }
    let locked = store::query("UPDATE booking_resources SET id = id WHERE id = $1")
        .bind(booking.resource_id)
        .execute(&mut *tx)
        .await?;
    if locked.rows_affected() == 0 {
        return Err(CrmError::NotFound(format!("resource {}", booking.resource_id)).into());
    }
    if let Some(user) = booking.user_id {
        directory::active_user(tx, user).await?;
    }
    if let Some(item) = booking.item {
        crm::get(tx, item).await?;
    }
    let clash = store::query(
        "SELECT id, starts_at, ends_at FROM bookings WHERE resource_id = $1 AND cancelled_at IS NULL
         AND starts_at < $3 AND ends_at > $2 ORDER BY starts_at LIMIT 1",
    )
    .bind(booking.resource_id)
    .bind(booking.starts_at)
    .bind(booking.ends_at)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = clash {
        return Err(BookingError::Taken {
            resource_id: booking.resource_id,
            booking_id: row.try_get("id")?,
            starts_at: row.try_get("starts_at")?,
            ends_at: row.try_get("ends_at")?,
        });
    }
    let id = match id {
        Some(id) => id,
        None => Store::next_id(tx, SEQUENCE).await?,
    };
    store::query(
        "INSERT INTO bookings (id, resource_id, name, starts_at, ends_at, user_id, entity_type, item_id, run_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(booking.resource_id)
    .bind(booking.name.trim())
    .bind(booking.starts_at)
    .bind(booking.ends_at)
    .bind(booking.user_id)
    .bind(booking.item.map(|i| i.entity_type.to_string()))
    .bind(booking.item.map(|i| i.id))
    .bind(booking.run_id.as_deref())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// Cancels a booking, freeing its resource; answers whether it was still booked.
pub async fn cancel(tx: &mut Tx, id: i64, now: Millis) -> Result<bool, CrmError> {
    get(tx, id).await?;
    let cancelled = store::query("UPDATE bookings SET cancelled_at = $1 WHERE id = $2 AND cancelled_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(cancelled.rows_affected() == 1)
}

fn booking_from_row(row: &store::Row) -> Result<Booking, CrmError> {
    let item = ItemRef::from_columns(row.try_get("entity_type")?, row.try_get("item_id")?)?;
    Ok(Booking {
        id: row.try_get("id")?,
        resource_id: row.try_get("resource_id")?,
        name: row.try_get("name")?,
        starts_at: row.try_get("starts_at")?,
        ends_at: row.try_get("ends_at")?,
        user_id: row.try_get("user_id")?,
        item,
        cancelled_at: row.try_get("cancelled_at")?,
    })
}

/// One booking.
pub async fn get(conn: &mut Conn, id: i64) -> Result<Booking, CrmError> {
    let row = store::query("SELECT * FROM bookings WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("booking {id}")))?;
    booking_from_row(&row)
}

/// A resource's bookings (or every resource's), cancelled ones too, by start.
pub async fn list(conn: &mut Conn, resource_id: Option<i64>) -> Result<Vec<Booking>, CrmError> {
    let rows = store::query("SELECT * FROM bookings WHERE ($1 IS NULL OR resource_id = $1) ORDER BY starts_at, id")
        .bind(resource_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(booking_from_row).collect()
}
