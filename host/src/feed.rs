//! The Activity Stream: posts in the company feed that every employee reads and comments on, as
//! Bitrix24's news feed keeps them (`log.blogpost.*`, `log.blogcomment.*`). A robot's post is
//! about the item it ran for: the post names it, and the item's timeline shows the post.

use serde_json::json;

use crate::clock::Millis;
use crate::crm::{self, Page};
use crate::directory;
use crate::model::{CrmError, ItemRef, checked_name};
use crate::store::{self, Conn, Store, Tx};

/// The sequence post ids come from; a robot reserves one before its run commits.
pub const SEQUENCE: &str = "feed_post";

/// The longest post or comment, in characters.
pub const MAX_MESSAGE_CHARS: usize = 20_000;

/// A post to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPost {
    /// Who it is from: an active user.
    pub author_id: i64,
    /// Its title; empty for none.
    pub title: String,
    /// Its text.
    pub message: String,
    /// The item it is about.
    pub item: Option<ItemRef>,
    /// The robot run that wrote it.
    pub run_id: Option<String>,
}

/// A post as the feed shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    /// Its id.
    pub id: i64,
    /// Who it is from.
    pub author_id: i64,
    /// Its title.
    pub title: String,
    /// Its text.
    pub message: String,
    /// The item it is about.
    pub item: Option<ItemRef>,
    /// How many comments it has.
    pub comments: i64,
    /// When it was published.
    pub created_at: Millis,
}

/// A comment on a post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Its id.
    pub id: i64,
    /// The post.
    pub post_id: i64,
    /// Who wrote it.
    pub author_id: i64,
    /// Its text.
    pub message: String,
    /// When it was written.
    pub created_at: Millis,
}

/// A post's or comment's text, checked: not empty, at most [`MAX_MESSAGE_CHARS`].
pub fn checked_message(text: &str) -> Result<&str, CrmError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CrmError::Invalid("POST_MESSAGE is empty".into()));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(CrmError::Invalid(format!(
            "the message is longer than {MAX_MESSAGE_CHARS} characters"
        )));
    }
    Ok(text)
}

/// Publishes a post under a reserved id or the next; a post about an item is an event on the
/// item's timeline.
pub async fn add_post(tx: &mut Tx, id: Option<i64>, post: &NewPost, now: Millis) -> Result<i64, CrmError> {
    directory::active_user(tx, post.author_id).await?;
    let title = match post.title.trim() {
        "" => "",
        title => checked_name("POST_TITLE", title)?,
    };
    let message = checked_message(&post.message)?;
    if let Some(item) = post.item {
        crm::get(tx, item).await?;
    }
    let id = match id {
        Some(id) => id,
        None => Store::next_id(tx, SEQUENCE).await?,
    };
    store::query(
        "INSERT INTO feed_posts (id, author_id, title, message, entity_type, item_id, run_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(post.author_id)
    .bind(title)
    .bind(message)
    .bind(post.item.map(|i| i.entity_type.to_string()))
    .bind(post.item.map(|i| i.id))
    .bind(post.run_id.as_deref())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if let Some(item) = post.item {
        let payload = json!({"post_id": id, "title": title, "message": message, "author_id": post.author_id});
        crm::record_event(tx, item, "feed_post", payload, now).await?;
    }
    Ok(id)
}

fn post_from_row(row: &store::Row) -> Result<Post, CrmError> {
    let item = ItemRef::from_columns(row.try_get("entity_type")?, row.try_get("item_id")?)?;
    Ok(Post {
        id: row.try_get("id")?,
        author_id: row.try_get("author_id")?,
        title: row.try_get("title")?,
        message: row.try_get("message")?,
        item,
        comments: row.try_get("comments")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Posts, newest first: one by id, or a page of all.
pub async fn posts(conn: &mut Conn, id: Option<i64>, page: Page) -> Result<Vec<Post>, CrmError> {
    let rows = store::query(
        "SELECT p.*, (SELECT COUNT(*) FROM feed_comments c WHERE c.post_id = p.id) AS comments
         FROM feed_posts p WHERE ($1 IS NULL OR p.id = $1) ORDER BY p.created_at DESC, p.id DESC LIMIT $2 OFFSET $3",
    )
    .bind(id)
    .bind(page.limit)
    .bind(page.start)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(post_from_row).collect()
}

/// Comments on a post, oldest first.
pub async fn comments(conn: &mut Conn, post_id: i64) -> Result<Vec<Comment>, CrmError> {
    let rows = store::query("SELECT * FROM feed_comments WHERE post_id = $1 ORDER BY id")
        .bind(post_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Comment {
                id: row.try_get("id")?,
                post_id: row.try_get("post_id")?,
                author_id: row.try_get("author_id")?,
                message: row.try_get("message")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// Adds an employee's comment to a post; returns its id.
pub async fn add_comment(tx: &mut Tx, post_id: i64, author_id: i64, text: &str, now: Millis) -> Result<i64, CrmError> {
    let exists: Option<i64> = store::query_scalar("SELECT id FROM feed_posts WHERE id = $1")
        .bind(post_id)
        .fetch_optional(&mut *tx)
        .await?;
    exists.ok_or_else(|| CrmError::NotFound(format!("post {post_id}")))?;
    let message = checked_message(text)?;
    Ok(store::query_scalar(
        "INSERT INTO feed_comments (post_id, author_id, message, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(post_id)
    .bind(author_id)
    .bind(message)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?)
}
