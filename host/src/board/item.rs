//! An item's page: its main fields, a stage picker (the keyboard's way to move it), and its
//! timeline of changes, comments, runs and triggers.

use axum::extract::{Path, State};
use maud::{Markup, html};
use serde_json::Value;

use super::kanban::money;
use super::layout::{self, Section};
use super::{PageError, Viewer, pipelines};
use crate::api::{ApiError, AppState};
use crate::crm;
use crate::model::{EntityType, ItemRef, rest_datetime};
use crate::permissions::ItemAction;
use crate::timeline::{self, Entry};

/// `GET /items/{entity}/{id}`.
pub async fn page(
    viewer: Viewer,
    State(app): State<AppState>,
    Path((entity, id)): Path<(String, i64)>,
) -> Result<Markup, PageError> {
    let item_ref = ItemRef {
        entity_type: EntityType::parse(&entity)?,
        id,
    };
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let all = pipelines::visible(&mut conn, &viewer.access).await?;
    let item = crm::get(&mut conn, item_ref).await?;
    viewer
        .access
        .check_stored(&item, ItemAction::Read)
        .map_err(ApiError::from)?;
    let pipeline = item
        .category_id
        .and_then(|c| pipelines::find(&all, &entity, c).ok())
        .or_else(|| pipelines::find(&all, &entity, 0).ok());
    let stages = match &pipeline {
        Some(p) => crm::stages(&mut conn, p.entity_type, p.category_id).await?,
        None => Vec::new(),
    };
    let can_move = viewer.access.check_stored(&item, ItemAction::Update).is_ok();
    let comments = crm::comments(&mut conn, item_ref).await?;
    let entries = timeline::of(&mut conn, item_ref).await?;
    let title = item
        .fields
        .get("TITLE")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{item_ref}"));
    let field = |name: &str| item.fields.get(name).cloned().unwrap_or(Value::Null);
    let body = html! {
        div.page-head {
            @if let Some(p) = &pipeline { a href=(format!("/board/{}", p.path())) { "← " (p.name) } }
            h1 { (title) }
        }
        dl.facts {
            dt { "Id" } dd { (item_ref) }
            @if let Some(amount) = field("OPPORTUNITY").as_f64() { dt { "Amount" } dd { (money(amount, field("CURRENCY_ID").as_str())) } }
            dt { "Created" } dd { (rest_datetime(item.created_at)) }
            dt { "Modified" } dd { (rest_datetime(item.updated_at)) }
        }
        @if let Some(p) = pipeline.as_ref().filter(|_| can_move) {
            @let (method, stage_field) = p.update_call();
            form.move-item data-method=(method) data-stage-field=(stage_field) data-type-id=(p.entity_type.type_id()) data-id=(id) {
                label { "Stage"
                    select name="stage" {
                        @for s in &stages { option value=(s.status_id) selected[item.stage_id.as_deref() == Some(s.status_id.as_str())] { (s.name) } }
                    }
                }
                button.primary type="submit" { "Move" }
            }
        }
        h2 { "Comments" }
        @if comments.is_empty() { p.muted { "No comments." } }
        ul.comments { @for c in &comments { li { div.muted { (rest_datetime(c.created_at)) " · user " (c.author_id) } p { (c.text) } } } }
        h2 { "Timeline" }
        ol.timeline {
            @for entry in &entries { (timeline_entry(entry)) }
        }
    };
    Ok(layout::page(
        &viewer,
        &title,
        Section::Board,
        &all,
        &["kanban.js"],
        body,
    ))
}

fn timeline_entry(entry: &Entry) -> Markup {
    match entry {
        Entry::Event(event) => html! {
            li.event { time { (rest_datetime(event.at)) } " " strong { (event.kind.replace('_', " ")) } " " code.muted { (event.payload.to_string()) } }
        },
        Entry::Run(run) => html! {
            li.run {
                time { (rest_datetime(entry.at())) } " robot run "
                (super::runs::status_badge(run.status)) " "
                a href=(format!("/runs/{}", run.id)) { (run.plugin_id) }
                @if let Some(error) = &run.error { " " span.error { (error) } }
            }
        },
    }
}
