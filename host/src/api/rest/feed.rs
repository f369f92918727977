//! `log.blogpost.add`, `log.blogpost.get` and `log.blogcomment.add`: the Activity Stream
//! ([`crate::feed`]) in Bitrix24's shapes. Every employee reads every post, as with Bitrix24's
//! default recipients (`UA`, all employees).

use serde_json::{Map, Value, json};

use super::{Answer, AppState, PAGE_SIZE, commit_and_wake, unknown_method};
use crate::api::{ApiError, params};
use crate::feed::{self, NewPost, Post};
use crate::model::rest_datetime;

/// Answers one `log.*` call.
pub(super) async fn dispatch(
    app: &AppState,
    user: i64,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    let now = app.clock.now();
    match method {
        "log.blogpost.add" => {
            let post = NewPost {
                author_id: params::optional_int(p, "USER_ID")?.unwrap_or(user),
                title: params::optional_str(p, "POST_TITLE")?.unwrap_or_default(),
                message: params::optional_str(p, "POST_MESSAGE")?
                    .ok_or_else(|| ApiError::invalid("POST_MESSAGE is not defined or invalid."))?,
                item: None,
                run_id: None,
            };
            let mut tx = app.store.write().await?;
            let id = feed::add_post(&mut tx, None, &post, now).await?;
            tx.commit().await?;
            Ok(json!(id).into())
        }
        "log.blogpost.get" => {
            let page = params::page(p, PAGE_SIZE)?;
            let id = params::optional_int(p, "POST_ID")?;
            let mut conn = app.store.pool().acquire().await?;
            let mut rows = Vec::new();
            for post in feed::posts(&mut conn, id, page).await? {
                let mut row = post_json(&post);
                if id.is_some() {
                    row["COMMENTS"] = feed::comments(&mut conn, post.id)
                        .await?
                        .iter()
                        .map(comment_json)
                        .collect();
                }
                rows.push(row);
            }
            Ok(Value::Array(rows).into())
        }
        "log.blogcomment.add" => {
            let post_id = params::id(p, "POST_ID")?;
            let text =
                params::optional_str(p, "TEXT")?.ok_or_else(|| ApiError::invalid("TEXT is not defined or invalid."))?;
            let mut tx = app.store.write().await?;
            let id = feed::add_comment(&mut tx, post_id, user, &text, now).await?;
            commit_and_wake(app, tx, false).await?;
            Ok(json!(id).into())
        }
        _ => Err(unknown_method()),
    }
}

/// A post as `log.blogpost.get` answers it, with the item it is about (`CRM_ITEM`, `D_12`)
/// beside Bitrix24's fields; asked for by `POST_ID`, a post has its comments too (`COMMENTS`).
fn post_json(post: &Post) -> Value {
    json!({
        "ID": post.id.to_string(),
        "BLOG_ID": "1",
        "PUBLISH_STATUS": "P",
        "TITLE": post.title,
        "AUTHOR_ID": post.author_id.to_string(),
        "ENABLE_COMMENTS": "Y",
        "NUM_COMMENTS": post.comments.to_string(),
        "MICRO": if post.title.is_empty() { "Y" } else { "N" },
        "DETAIL_TEXT": post.message,
        "DATE_PUBLISH": rest_datetime(post.created_at),
        "CRM_ITEM": post.item.map(|item| item.short()),
    })
}

fn comment_json(comment: &feed::Comment) -> Value {
    json!({
        "ID": comment.id.to_string(),
        "POST_ID": comment.post_id.to_string(),
        "AUTHOR_ID": comment.author_id.to_string(),
        "POST_TEXT": comment.message,
        "DATE_CREATE": rest_datetime(comment.created_at),
    })
}
