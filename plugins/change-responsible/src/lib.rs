//! Built-in action "change-responsible": gives the item to a user, or distributes items among a
//! list of users, in turn (the host keeps the robot's turn) or to the one with the fewest open
//! items, passing over users the absence calendar has away when asked to.

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, id_from, json};

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
    /// Pass over users absent (vacation, sick leave, business trip) at the run's time.
    #[serde(default)]
    skip_absent: bool,
}

/// Changes the item's responsible.
pub struct ChangeResponsible;

/// How the new responsible is chosen.
enum Choice {
    /// The one user given.
    One,
    /// In turn among the users.
    InTurn,
    /// The one with the fewest open items.
    LeastBusy,
}

/// The filter for items still being worked on, by entity type.
fn open_items(entity_type: &str) -> Value {
    match entity_type {
        "deal" => json!({"STAGE_SEMANTIC_ID": "P"}),
        "lead" => json!({"STATUS_SEMANTIC_ID": "P"}),
        _ => json!({}),
    }
}

/// The user with the fewest open items of the item's type (the first of them on a tie), leaving
/// out those in `away`; `None` when everyone is.
fn least_busy(ctx: &Context, users: &[u64], away: &[u64]) -> Result<Option<u64>, ActionError> {
    let item = &ctx.item().ref_;
    let mut best = None;
    for user in users.iter().filter(|u| !away.contains(u)) {
        let mut filter = open_items(&item.entity_type);
        filter["ASSIGNED_BY_ID"] = json!(user);
        filter["!ID"] = json!(item.id);
        let open = ctx
            .list(&item.entity_type, &filter, &json!({}), &json!(["ID"]), COUNT_CAP)?
            .len();
        if best.is_none_or(|(fewest, _)| open < fewest) {
            best = Some((open, *user));
        }
    }
    Ok(best.map(|(_, user)| user))
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
                "distribution": {"type": "string", "enum": ["round_robin", "least_busy"], "title": "Distribution", "description": "round_robin (in turn) when left out, or least_busy (fewest open items)."},
                "skip_absent": {"type": "boolean", "default": false, "title": "Skip absent employees", "description": "Pass over users on vacation, sick leave or a business trip at the time the robot runs; when everyone is away the item keeps its responsible."}
            },
            "oneOf": [{"required": ["user_id"]}, {"required": ["users"]}]
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {
                "user_id": {"type": "integer", "title": "New responsible", "description": "The item's responsible after the run."},
                "all_absent": {"type": "boolean", "title": "Everyone absent", "description": "Present (true) when every user to choose from was away, so the responsible was kept."}
            }
        }))
        .write_every_item_type()
        .capability(Capability::Read("user".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let users = config
            .users
            .iter()
            .map(|u| id_from(u, "users"))
            .collect::<Result<Vec<_>, _>>()?;
        let (choice, users) = match (&config.user_id, users.is_empty()) {
            (Some(user), true) => (Choice::One, vec![id_from(user, "user_id")?]),
            (None, false) => match config.distribution.as_deref().unwrap_or("round_robin") {
                "round_robin" => (Choice::InTurn, users),
                "least_busy" => (Choice::LeastBusy, users),
                other => {
                    return Err(ActionError::InvalidConfig(format!(
                        "distribution {other} is not round_robin or least_busy"
                    )));
                }
            },
            _ => return Err(ActionError::InvalidConfig("set either user_id or users".into())),
        };
        let away = if config.skip_absent {
            ctx.absent(&users)?
        } else {
            Vec::new()
        };
        let chosen = match choice {
            Choice::One => users.first().copied().filter(|user| !away.contains(user)),
            Choice::InTurn => ctx.next_in_turn(&users, &away)?,
            Choice::LeastBusy => least_busy(ctx, &users, &away)?,
        };
        let Some(user) = chosen else {
            let current = id_from(ctx.field("ASSIGNED_BY_ID").unwrap_or(&Value::Null), "ASSIGNED_BY_ID")?;
            let listed: Vec<String> = users.iter().map(u64::to_string).collect();
            let who = match listed.as_slice() {
                [one] => format!("user {one} is absent"),
                many => format!("users {} are all absent", many.join(", ")),
            };
            ctx.log(
                Level::Warn,
                &format!("{who}; the item keeps its responsible, user {current}"),
            );
            return Ok(json!({"user_id": current, "all_absent": true}));
        };
        ctx.update(&ctx.item().ref_, &json!({"ASSIGNED_BY_ID": user}))?;
        ctx.log(Level::Info, &format!("gave the item to user {user}"));
        Ok(json!({"user_id": user}))
    }
}

stagewright_sdk::export_action!(ChangeResponsible);
