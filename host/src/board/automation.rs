//! A pipeline's "Automation rules" tab: each stage's triggers and robots in order, with their
//! timing and condition in words. Adding, editing, reordering and deleting happen in
//! `assets/automation.js`, through the admin API's robot and trigger endpoints.

use axum::extract::{Path, State};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::layout::{self, Section};
use super::pipelines;
use super::{PageError, Viewer};
use crate::api::{ApiError, AppState};
use crate::crm;
use crate::model::EntityType;
use crate::model::userfield::UserField;
use crate::permissions::RuleAccess;
use crate::rules::triggers::{self, Trigger};
use crate::rules::{self, Robot};
use crate::runtime::Plugin;

/// `GET /automation/{entity}/{category}`.
pub async fn page(
    viewer: Viewer,
    State(app): State<AppState>,
    Path((entity, category)): Path<(String, i64)>,
) -> Result<Markup, PageError> {
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let all = pipelines::visible(&mut conn, &viewer.access).await?;
    let pipeline = pipelines::find(&all, &entity, category)?;
    let rules_access = viewer.access.automation(pipeline.entity_type);
    if rules_access == RuleAccess::None {
        return Err(PageError::Forbidden);
    }
    let can_edit = rules_access == RuleAccess::Update;
    let entity_name = pipeline.entity_type.to_string();
    let stages = crm::stages(&mut conn, pipeline.entity_type, category).await?;
    let robots = rules::list(&mut conn, Some(&entity_name), None).await?;
    let triggers = triggers::list(&mut conn, Some(&entity_name), None).await?;
    let (fields, dates) = rules::robot_fields(&mut conn, pipeline.entity_type).await?;
    let plugins = app.runtime.plugins();
    let custom = crm::userfields::userfields(&mut conn, pipeline.entity_type).await?;
    let title = |field: &str| field_title(pipeline.entity_type, &custom, field);
    let plugin_name = |id: &str| {
        plugins
            .iter()
            .find(|p| p.manifest.id == id)
            .map(|p| p.manifest.name.clone())
            .unwrap_or_else(|| format!("{id} (not installed)"))
    };
    let setup = json!({
        "entity_type": entity_name,
        "can_edit": can_edit,
        "stages": stages.iter().map(|s| json!({"id": s.status_id, "name": s.name})).collect::<Vec<_>>(),
        "robots": robots,
        "triggers": triggers,
        "plugins": catalogue(&plugins),
        "fields": field_choices(&fields, &title),
        "date_fields": dates,
    });
    let body = html! {
        (layout::pipeline_tabs(&viewer, &all, &pipeline, Section::Automation))
        @if !can_edit {
            p.notice { "You can read these automation rules; changing them needs the Update permission." }
        }
        div.automation #automation data-can-edit=(can_edit) {
            @for (position, stage) in stages.iter().enumerate() {
                section.stage-rules data-stage=(stage.status_id) aria-label=(stage.name)
                    style=(format!("--stage-color: {}", pipelines::stage_color(stage, position))) {
                    header.column-head { h2 { (stage.name) } }
                    div.rules-block {
                        h3 { "Triggers" }
                        @let stage_triggers: Vec<_> = triggers.iter().filter(|t| t.stage_id == stage.status_id).collect();
                        @if stage_triggers.is_empty() && !can_edit { p.muted.none { "No triggers" } }
                        ul.triggers {
                            @for trigger in stage_triggers {
                                (trigger_card(trigger, &title, can_edit))
                            }
                        }
                        @if can_edit {
                            button.add type="button" data-add-trigger=(stage.status_id) { "+ Add trigger" }
                        }
                    }
                    div.rules-block {
                        h3 { "Robots" }
                        @let stage_robots: Vec<_> = robots.iter().filter(|r| r.stage_id == stage.status_id).collect();
                        @if stage_robots.is_empty() && !can_edit { p.muted.none { "No robots" } }
                        ol.robots data-stage=(stage.status_id) {
                            @for robot in stage_robots {
                                (robot_card(robot, &plugin_name(&robot.plugin_id), &title, can_edit))
                            }
                        }
                        @if can_edit {
                            button.add type="button" data-add-robot=(stage.status_id) { "+ Add robot" }
                        }
                    }
                }
            }
        }
        (layout::json_block("automation-setup", &setup))
    };
    let title = format!("{}: automation rules", pipeline.name);
    Ok(layout::page(
        &viewer,
        &title,
        Section::Automation,
        &all,
        &["automation.js"],
        body,
    ))
}

/// A field's title for people: the standard field's, a custom field's label, or its name.
fn field_title(entity_type: EntityType, custom: &[UserField], field: &str) -> String {
    entity_type
        .fields()
        .iter()
        .find(|f| f.name == field)
        .map(|f| f.title.to_string())
        .or_else(|| {
            custom
                .iter()
                .find(|f| f.field_name == field && !f.label.is_empty())
                .map(|f| f.label.clone())
        })
        .unwrap_or_else(|| field.to_string())
}

fn robot_card(robot: &Robot, plugin_name: &str, title: &dyn Fn(&str) -> String, can_edit: bool) -> Markup {
    html! {
        li.robot draggable=[can_edit.then_some("true")] tabindex="0" data-robot=(robot.id) {
            div.robot-name { (robot.name) }
            div.robot-plugin { (plugin_name) }
            div.robot-when {
                @if robot.after_previous { "after the previous robot, " }
                (robot.timing.in_words(title))
                @if let Some(condition) = &robot.condition {
                    @if !condition.rules.is_empty() { ", if " (condition.in_words(title)) }
                }
            }
            @if can_edit {
                div.actions {
                    button type="button" data-edit-robot=(robot.id) aria-label=(format!("Edit {}", robot.name)) { "Edit" }
                    button.danger type="button" data-delete-robot=(robot.id) aria-label=(format!("Delete {}", robot.name)) { "Delete" }
                }
            }
        }
    }
}

fn trigger_card(trigger: &Trigger, title: &dyn Fn(&str) -> String, can_edit: bool) -> Markup {
    html! {
        li.trigger data-trigger=(trigger.id) {
            div.robot-name { (trigger.name) }
            div.robot-when {
                (trigger.trigger.in_words(title))
                @if let Some(condition) = &trigger.condition {
                    @if !condition.rules.is_empty() { ", if " (condition.in_words(title)) }
                }
                @if trigger.allow_backwards { " (may move back)" }
            }
            @if can_edit {
                div.actions {
                    button.danger type="button" data-delete-trigger=(trigger.id) aria-label=(format!("Delete {}", trigger.name)) { "Delete" }
                }
            }
        }
    }
}

/// The installed plugins as the robot editor offers them: the newest version of each.
fn catalogue(plugins: &[std::sync::Arc<Plugin>]) -> Vec<Value> {
    let mut newest: Vec<&Plugin> = Vec::new();
    for plugin in plugins {
        match newest.iter_mut().find(|p| p.manifest.id == plugin.manifest.id) {
            Some(seen) => *seen = plugin,
            None => newest.push(plugin),
        }
    }
    newest
        .iter()
        .map(|p| {
            json!({
                "id": p.manifest.id,
                "name": p.manifest.name,
                "version": p.manifest.version,
                "description": p.manifest.description,
                "config_schema": p.manifest.config_schema,
                "returns_schema": p.manifest.returns_schema,
                "capabilities": p.manifest.capabilities.iter().map(|c| c.in_words()).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// What the template picker and the condition editor offer: the item's fields with their
/// titles, and the fields of what its link fields point at.
fn field_choices(known: &[String], title: &dyn Fn(&str) -> String) -> Value {
    let own: Vec<Value> = known.iter().map(|f| json!({"field": f, "title": title(f)})).collect();
    let linked_of = |link: &str, of: EntityType| -> Vec<Value> {
        of.fields()
            .iter()
            .map(|f| json!({"field": format!("{link}.{}", f.name), "title": format!("{} › {}", title(link), f.title)}))
            .collect()
    };
    let mut linked = Vec::new();
    if known.iter().any(|f| f == "COMPANY_ID") {
        linked.extend(linked_of("COMPANY_ID", EntityType::Company));
    }
    if known.iter().any(|f| f == "CONTACT_ID") {
        linked.extend(linked_of("CONTACT_ID", EntityType::Contact));
    }
    for (link, owner) in [
        ("ASSIGNED_BY_ID", "Responsible person"),
        ("CREATED_BY_ID", "Created by"),
    ] {
        for (field, name) in [
            ("NAME", "first name"),
            ("LAST_NAME", "last name"),
            ("EMAIL", "e-mail"),
            ("WORK_POSITION", "position"),
        ] {
            linked.push(json!({"field": format!("{link}.{field}"), "title": format!("{owner} › {name}")}));
        }
    }
    json!({"own": own, "linked": linked})
}
