//! Built-in action "add-feed-post": a post in the company's Activity Stream about the item
//! (Bitrix24's "Add message to Activity Stream"), from the item's responsible or a chosen
//! employee, that employees read and comment on (`log.blogpost.get`, `log.blogcomment.add`) and
//! that the item's timeline shows.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, id_from, json};

/// The robot's configuration; title and text may hold templates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The post's title; the item's title when left out.
    #[serde(default)]
    title: Option<String>,
    /// The post's text.
    text: String,
    /// Who it is from: the item's responsible when left out.
    #[serde(default)]
    author_id: Option<Value>,
}

/// Publishes one post.
pub struct AddFeedPost;

impl Action for AddFeedPost {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "add-feed-post",
            "Add message to Activity Stream",
            env!("CARGO_PKG_VERSION"),
            "Posts a message about the item in the company's Activity Stream, where employees read and comment on it.",
        )
        .read_every_item_type()
        .capability(Capability::Write("feed".into()))
        .config_schema(json!({
            "type": "object",
            "required": ["text"],
            "additionalProperties": false,
            "properties": {
                "title": {"type": "string", "maxLength": 255, "title": "Title", "description": "The item's title when left empty; templates allowed."},
                "text": {"type": "string", "minLength": 1, "maxLength": 20000, "title": "Message", "description": "What the post says; templates allowed ({=Document:OPPORTUNITY})."},
                "author_id": {"type": ["integer", "string"], "title": "Author", "description": "The employee the post is from; the item's responsible when left empty. Templates allowed."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"post_id": {"type": "integer", "title": "Post", "description": "The post's id, as log.blogpost.get shows it."}}
        }))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let author = match &config.author_id {
            Some(id) => id_from(id, "author_id")?,
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
        let post_id = ctx.post_to_feed(author, &title, &config.text, Some(item))?;
        ctx.log(Level::Info, &format!("posted {post_id} to the Activity Stream"));
        Ok(json!({"post_id": post_id}))
    }
}

stagewright_sdk::export_action!(AddFeedPost);
