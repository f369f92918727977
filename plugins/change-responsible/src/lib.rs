//! Built-in action "change-responsible": gives the item to a user, or distributes items among a
//! list of users, in turn (after whoever got the newest item of the list) or to the one with the
//! fewest open items.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Context, Level, Manifest, Value, id_from, json};

/// Most open items counted per user when looking for the least busy one.
const COUNT_CAP: u32 = 500;

/// The robot's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// One user to give the item to (a user id or template).
    #[serde(default)]
    user_id: Option<Value>,
    /// Users to distribute items among.
    #[serde(default)]
    users: Vec<Value>,
    /// round_robin (the default) or least_busy.
    #[serde(default)]
    distribution: Option<String>,
}

/// Changes the item's responsible.
pub struct ChangeResponsible;

/// The filter for items still being worked on, by entity type.
fn open_items(entity_type: &str) -> Value {
    match entity_type {
        "deal" => json!({"STAGE_SEMANTIC_ID": "P"}),
        "lead" => json!({"STATUS_SEMANTIC_ID": "P"}),
        _ => json!({}),
    }
}

/// The user after whoever got the newest other item among `users`; the first when none did.
fn next_in_turn(ctx: &Context, users: &[u64]) -> Result<u64, ActionError> {
    let item = &ctx.item().ref_;
    let newest = ctx.list(
        &item.entity_type,
        &json!({"@ASSIGNED_BY_ID": users, "!ID": item.id}),
        &json!({"ID": "DESC"}),
        &json!(["ASSIGNED_BY_ID"]),
        1,
    )?;
    let last = newest
        .first()
        .and_then(|found| serde_json::from_str::<Value>(&found.fields).ok())
        .and_then(|fields| {
            fields
                .get("ASSIGNED_BY_ID")
                .and_then(|id| id_from(id, "ASSIGNED_BY_ID").ok())
        });
    let next = match last.and_then(|last| users.iter().position(|u| *u == last)) {
        Some(i) => users[(i + 1) % users.len()],
        None => users[0],
    };
    Ok(next)
}

/// The user with the fewest open items of the item's type (the first of them on a tie).
fn least_busy(ctx: &Context, users: &[u64]) -> Result<u64, ActionError> {
    let item = &ctx.item().ref_;
    let mut best = (usize::MAX, users[0]);
    for user in users {
        let mut filter = open_items(&item.entity_type);
        filter["ASSIGNED_BY_ID"] = json!(user);
        filter["!ID"] = json!(item.id);
        let open = ctx
            .list(&item.entity_type, &filter, &json!({}), &json!(["ID"]), COUNT_CAP)?
            .len();
        if open < best.0 {
            best = (open, *user);
        }
    }
    Ok(best.1)
}

impl Action for ChangeResponsible {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "change-responsible",
            "Change responsible",
            env!("CARGO_PKG_VERSION"),
            "Gives the item to a user, or distributes items among users in turn or to the least busy.",
        )
        .config_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "user_id": {"type": ["integer", "string"], "title": "User", "description": "Give the item to this user (an id or template)."},
                "users": {"type": "array", "minItems": 1, "items": {"type": ["integer", "string"]}, "title": "Distribute among", "description": "Users to distribute items among."},
                "distribution": {"type": "string", "enum": ["round_robin", "least_busy"], "title": "Distribution", "description": "round_robin (in turn) when left out, or least_busy (fewest open items)."}
            },
            "oneOf": [{"required": ["user_id"]}, {"required": ["users"]}]
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"user_id": {"type": "integer", "title": "New responsible"}}
        }))
        .write_every_item_type()
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let users = config
            .users
            .iter()
            .map(|u| id_from(u, "users"))
            .collect::<Result<Vec<_>, _>>()?;
        let user = match (&config.user_id, users.is_empty()) {
            (Some(user), true) => id_from(user, "user_id")?,
            (None, false) => match config.distribution.as_deref().unwrap_or("round_robin") {
                "round_robin" => next_in_turn(ctx, &users)?,
                "least_busy" => least_busy(ctx, &users)?,
                other => {
                    return Err(ActionError::InvalidConfig(format!(
                        "distribution {other} is not round_robin or least_busy"
                    )));
                }
            },
            _ => return Err(ActionError::InvalidConfig("set either user_id or users".into())),
        };
        ctx.update(&ctx.item().ref_, &json!({"ASSIGNED_BY_ID": user}))?;
        ctx.log(Level::Info, &format!("gave the item to user {user}"));
        Ok(json!({"user_id": user}))
    }
}

stagewright_sdk::export_action!(ChangeResponsible);
