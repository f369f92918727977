//! `im.notify.*`: notifications to employees in Bitrix24's shapes. Integrations send them
//! (`personal.add` in the caller's name, `system.add` in no one's); each user lists and reads
//! their own.

use serde_json::{Map, Value, json};

use super::{Answer, AppState, unknown_method};
use crate::api::{ApiError, params};
use crate::directory::AUTOMATION_USER;
use crate::model::rest_datetime;
use crate::notifications::{self, NewNotification, Notification};

/// Most notifications one `im.notify.get` page holds, as in Bitrix24.
const MAX_PAGE: i64 = 50;

/// Answers one `im.notify.*` call made by `user`.
pub(super) async fn dispatch(
    app: &AppState,
    user: i64,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    match method {
        "im.notify.personal.add" => add(app, user, p).await,
        "im.notify.system.add" => add(app, AUTOMATION_USER, p).await,
        "im.notify.get" => get(app, user, p).await,
        "im.notify.read" => read(app, user, p).await,
        "im.notify.read.all" => read_all(app, user).await,
        _ => Err(unknown_method()),
    }
}

fn notification_json(n: &Notification) -> Value {
    json!({
        "id": n.id,
        "author_id": n.author_id,
        "date": rest_datetime(n.created_at),
        "notify_type": if n.author_id == AUTOMATION_USER { 4 } else { 2 },
        "notify_module": n.module,
        "notify_tag": n.tag.clone().unwrap_or_default(),
        "text": n.message,
        "notify_read": if n.read { "Y" } else { "N" },
    })
}

async fn add(app: &AppState, author: i64, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    params::only(p, &["USER_ID", "MESSAGE", "MESSAGE_OUT", "TAG", "SUB_TAG", "ATTACH"])?;
    let new = NewNotification {
        id: None,
        user_id: params::id(p, "USER_ID")?,
        author_id: author,
        module: "rest".into(),
        tag: params::optional_str(p, "TAG")?,
        message: params::optional_str(p, "MESSAGE")?.unwrap_or_default(),
        run_id: None,
    };
    let mut tx = app.store.write().await?;
    let id = notifications::add(&mut tx, &new, app.clock.now()).await?;
    tx.commit().await?;
    Ok(json!(id).into())
}

async fn get(app: &AppState, user: i64, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    params::only(p, &["LAST_ID", "LAST_TYPE", "LIMIT", "CONVERT_TEXT"])?;
    let limit = params::optional_int(p, "LIMIT")?.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
    let before = params::optional_int(p, "LAST_ID")?;
    let mut conn = app.store.pool().acquire().await?;
    let page = notifications::list(&mut conn, user, before, limit).await?;
    Ok(json!({
        "total_count": page.total,
        "total_unread_count": page.unread,
        "notifications": page.notifications.iter().map(notification_json).collect::<Vec<_>>(),
    })
    .into())
}

async fn read(app: &AppState, user: i64, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    params::only(p, &["ID", "ONLY_CURRENT"])?;
    let id = params::id(p, "ID")?;
    let only_current = params::optional_flag(p, "ONLY_CURRENT")?.unwrap_or(false);
    let mut tx = app.store.write().await?;
    notifications::mark_read(&mut tx, user, id, !only_current).await?;
    tx.commit().await?;
    Ok(json!(true).into())
}

async fn read_all(app: &AppState, user: i64) -> Result<Answer, ApiError> {
    let mut tx = app.store.write().await?;
    notifications::mark_read(&mut tx, user, i64::MAX, true).await?;
    tx.commit().await?;
    Ok(json!(true).into())
}
