//! `crm.automation.trigger*`: integrations and applications firing triggers. An inbound
//! webhook calls `crm.automation.trigger {target: "DEAL_57", code}`; an application registers
//! its codes with `crm.automation.trigger.add` and fires them with `.execute`.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::directory::require_admin;
use super::{Answer, AppState, commit_and_wake, unknown_method};
use crate::api::{ApiError, params};
use crate::crm::Happening;
use crate::model::{EntityType, ItemRef};
use crate::rules::{Engine, triggers};

/// Answers one `crm.automation.trigger*` call.
pub(super) async fn dispatch(
    app: &AppState,
    user: i64,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    match method {
        "crm.automation.trigger" => {
            let target = params::optional_str(p, "target")?.ok_or_else(|| ApiError::invalid("Target is not set."))?;
            let item = parse_target(&target)?;
            let code = params::optional_str(p, "code")?.ok_or_else(|| ApiError::invalid("Code is not set."))?;
            fire(app, item, Happening::Webhook(code)).await
        }
        "crm.automation.trigger.execute" => {
            let code = params::optional_str(p, "CODE")?.ok_or_else(|| ApiError::invalid("CODE is not set."))?;
            let item = ItemRef {
                entity_type: EntityType::from_type_id(params::id(p, "OWNER_TYPE_ID")?)?,
                id: params::id(p, "OWNER_ID")?,
            };
            fire(app, item, Happening::App(code)).await
        }
        "crm.automation.trigger.add" => {
            require_admin(app, user).await?;
            let code = params::optional_str(p, "CODE")?.ok_or_else(|| ApiError::invalid("CODE is not set."))?;
            let name = params::optional_str(p, "NAME")?.ok_or_else(|| ApiError::invalid("NAME is not set."))?;
            let mut tx = app.store.write().await?;
            triggers::register_app_trigger(&mut tx, &code, &name, app.clock.now()).await?;
            tx.commit().await?;
            Ok(json!(true).into())
        }
        "crm.automation.trigger.list" => {
            let mut conn = app.store.pool().acquire().await?;
            let listed: Vec<Value> = triggers::app_triggers(&mut conn)
                .await?
                .into_iter()
                .map(|(code, name)| json!({"CODE": code, "NAME": name}))
                .collect();
            Ok(Value::Array(listed).into())
        }
        "crm.automation.trigger.delete" => {
            require_admin(app, user).await?;
            let code = params::optional_str(p, "CODE")?.ok_or_else(|| ApiError::invalid("CODE is not set."))?;
            let mut tx = app.store.write().await?;
            triggers::delete_app_trigger(&mut tx, &code).await?;
            tx.commit().await?;
            Ok(json!(true).into())
        }
        _ => Err(unknown_method()),
    }
}

/// Lets the item's triggers react; answers whether one moved it, as Bitrix24's `true`.
async fn fire(app: &AppState, item: ItemRef, happening: Happening) -> Result<Answer, ApiError> {
    let mut tx = app.store.write().await?;
    crate::crm::get(&mut tx, item)
        .await
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "NOT_FOUND", "Target is not found."))?;
    let moved = triggers::react(&mut tx, &Engine, item, &happening, app.clock.now()).await?;
    commit_and_wake(app, tx, moved.is_some_and(|moved| moved.robots_scheduled > 0)).await?;
    Ok(json!(true).into())
}

/// Bitrix24's `TYPENAME_ID` target: `DEAL_57`, `LEAD_25`, `CONTACT_3`, `COMPANY_4`,
/// `DYNAMIC_128_5`.
fn parse_target(target: &str) -> Result<ItemRef, ApiError> {
    let invalid = || ApiError::invalid("Incorrect target format.");
    let (type_name, id) = target.rsplit_once('_').ok_or_else(invalid)?;
    let id: i64 = id.parse().ok().filter(|id| *id > 0).ok_or_else(invalid)?;
    let entity_type =
        EntityType::parse(&type_name.to_ascii_lowercase()).map_err(|_| ApiError::invalid("Target is not found."))?;
    Ok(ItemRef { entity_type, id })
}
