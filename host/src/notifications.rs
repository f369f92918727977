//! Notifications to employees, as Bitrix24's `im.notify.*` keep them: a line of text for one
//! user, from a robot or an integration, listed newest first and counted unread until read.

use crate::store;

use crate::clock::Millis;
use crate::directory;
use crate::model::CrmError;
use crate::store::{Conn, Store, Tx};

/// The sequence notification ids come from.
pub const SEQUENCE: &str = "notification";

/// Longest notification text kept, in bytes.
const MAX_MESSAGE_BYTES: usize = 20_000;

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Its id.
    pub id: i64,
    /// Who it is for.
    pub user_id: i64,
    /// Who sent it (0 for the automation).
    pub author_id: i64,
    /// Where it came from: "crm" for robots, "rest" for integrations.
    pub module: String,
    /// The sender's tag, for grouping.
    pub tag: Option<String>,
    /// The text.
    pub message: String,
    /// Whether the user has read it.
    pub read: bool,
    /// The robot run that sent it, if one did.
    pub run_id: Option<String>,
    /// When it was sent.
    pub created_at: Millis,
}

/// A notification to write; the id is the one reserved with [`SEQUENCE`] when there is one.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// A reserved id, or `None` to take the next.
    pub id: Option<i64>,
    /// Who it is for; must be an active user.
    pub user_id: i64,
    /// Who sends it.
    pub author_id: i64,
    /// "crm" or "rest".
    pub module: String,
    /// The sender's tag.
    pub tag: Option<String>,
    /// The text.
    pub message: String,
    /// The robot run sending it.
    pub run_id: Option<String>,
}

/// Refuses what cannot be delivered: an unknown or dismissed user, or no text.
pub async fn check(conn: &mut Conn, user_id: i64, message: &str) -> Result<(), CrmError> {
    if message.trim().is_empty() {
        return Err(CrmError::Invalid("the notification text is empty".into()));
    }
    if message.len() > MAX_MESSAGE_BYTES {
        return Err(CrmError::Invalid(format!(
            "the notification text is over {MAX_MESSAGE_BYTES} bytes"
        )));
    }
    directory::active_user(conn, user_id).await.map(|_| ())
}

/// Writes a notification; returns its id.
pub async fn add(tx: &mut Tx, new: &NewNotification, now: Millis) -> Result<i64, CrmError> {
    check(tx, new.user_id, &new.message).await?;
    let id = match new.id {
        Some(id) => id,
        None => Store::next_id(tx, SEQUENCE).await?,
    };
    store::query(
        "INSERT INTO notifications (id, user_id, author_id, module, tag, message, is_read, run_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)",
    )
    .bind(id)
    .bind(new.user_id)
    .bind(new.author_id)
    .bind(&new.module)
    .bind(&new.tag)
    .bind(&new.message)
    .bind(&new.run_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

fn from_row(row: &store::Row) -> Result<Notification, CrmError> {
    Ok(Notification {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        author_id: row.try_get("author_id")?,
        module: row.try_get("module")?,
        tag: row.try_get("tag")?,
        message: row.try_get("message")?,
        read: row.try_get::<i64, _>("is_read")? != 0,
        run_id: row.try_get("run_id")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A page of a user's notifications.
#[derive(Debug, Clone)]
pub struct Page {
    /// Newest first.
    pub notifications: Vec<Notification>,
    /// All the user's notifications.
    pub total: i64,
    /// Those not read yet.
    pub unread: i64,
}

/// A user's notifications older than `before_id` (all when `None`), newest first, at most `limit`.
pub async fn list(conn: &mut Conn, user_id: i64, before_id: Option<i64>, limit: i64) -> Result<Page, CrmError> {
    let rows = store::query("SELECT * FROM notifications WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3")
        .bind(user_id)
        .bind(before_id.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let counts = store::query(
        "SELECT COUNT(*) AS total,
                (SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND is_read = 0) AS unread
         FROM notifications WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Page {
        notifications: rows.iter().map(from_row).collect::<Result<_, _>>()?,
        total: counts.try_get("total")?,
        unread: counts.try_get("unread")?,
    })
}

/// Marks a user's notifications read: the one with `id`, or with `up_to` set every one up to
/// and including it. Returns how many changed.
pub async fn mark_read(tx: &mut Tx, user_id: i64, id: i64, up_to: bool) -> Result<u64, CrmError> {
    let sql = if up_to {
        "UPDATE notifications SET is_read = 1 WHERE user_id = $1 AND id <= $2 AND is_read = 0"
    } else {
        "UPDATE notifications SET is_read = 1 WHERE user_id = $1 AND id = $2 AND is_read = 0"
    };
    let done = store::query(sql).bind(user_id).bind(id).execute(&mut *tx).await?;
    Ok(done.rows_affected())
}
