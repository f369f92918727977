//! Robot runs: a filtered list with failed runs a click away, and a run's detail with Retry.

use axum::extract::{Path, Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Section};
use super::{PageError, Viewer, pipelines};
use crate::api::{ApiError, AppState};
use crate::clock::Millis;
use crate::model::{parse_datetime, rest_datetime};
use crate::queue::{self, RunFilter, RunRecord, RunStatus};
use crate::rules;

/// The list's filter form; empty fields filter nothing.
#[derive(Debug, Default, Deserialize)]
pub struct RunsQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    plugin: String,
    #[serde(default)]
    robot: String,
    #[serde(default)]
    entity_type: String,
    #[serde(default)]
    item: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

fn given(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

impl RunsQuery {
    fn filter(&self) -> Result<RunFilter, ApiError> {
        let moment = |text: &str, what: &str| -> Result<Option<Millis>, ApiError> {
            given(text)
                .map(|t| {
                    parse_datetime(&t)
                        .ok_or_else(|| ApiError::invalid(format!("{what} must be a date like 2026-12-01")))
                })
                .transpose()
        };
        Ok(RunFilter {
            status: given(&self.status)
                .map(|s| s.parse::<RunStatus>())
                .transpose()
                .map_err(|e| ApiError::invalid(e.to_string()))?,
            plugin_id: given(&self.plugin),
            robot_id: given(&self.robot),
            entity_type: given(&self.entity_type),
            item_id: given(&self.item)
                .map(|i| i.parse().map_err(|_| ApiError::invalid("item must be an item id")))
                .transpose()?,
            due_from: moment(&self.from, "from")?,
            due_to: moment(&self.to, "to")?,
            limit: Some(200),
        })
    }
}

/// `GET /runs?status=failed&plugin=&robot=&entity_type=&item=&from=&to=`.
pub async fn list(
    viewer: Viewer,
    State(app): State<AppState>,
    Query(asked): Query<RunsQuery>,
) -> Result<Markup, PageError> {
    viewer.require_admin()?;
    let filter = asked.filter()?;
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let all = pipelines::visible(&mut conn, &viewer.access).await?;
    let runs = queue::list(&mut conn, &filter).await?;
    let robots = rules::list(&mut conn, None, None).await?;
    let plugins = app.runtime.plugins();
    let mut plugin_ids: Vec<&str> = plugins.iter().map(|p| p.manifest.id.as_str()).collect();
    plugin_ids.dedup();
    let statuses = [
        RunStatus::Failed,
        RunStatus::Pending,
        RunStatus::Waiting,
        RunStatus::Running,
        RunStatus::Parked,
        RunStatus::Succeeded,
        RunStatus::Skipped,
        RunStatus::Cancelled,
    ];
    let body = html! {
        div.page-head { h1 { "Runs" } }
        nav.quick aria-label="Quick filters" {
            a href="/runs" aria-current=[asked.status.is_empty().then_some("page")] { "All" }
            a.failed href="/runs?status=failed" aria-current=[(asked.status == "failed").then_some("page")] { "Failed" }
        }
        form.filters method="get" {
            label { "Status" select name="status" {
                option value="" { "Any" }
                @for s in statuses { option value=(s.as_str()) selected[asked.status == s.as_str()] { (s.as_str()) } }
            } }
            label { "Plugin" select name="plugin" {
                option value="" { "Any" }
                @for id in &plugin_ids { option value=(id) selected[asked.plugin == *id] { (id) } }
            } }
            label { "Robot" select name="robot" {
                option value="" { "Any" }
                @for r in &robots { option value=(r.id) selected[asked.robot == r.id] { (r.name) " (" (r.entity_type) " " (r.stage_id) ")" } }
            } }
            label { "Entity type" input name="entity_type" value=(asked.entity_type) placeholder="deal"; }
            label { "Item id" input name="item" value=(asked.item) inputmode="numeric"; }
            label { "Due from" input type="date" name="from" value=(asked.from); }
            label { "Due before" input type="date" name="to" value=(asked.to); }
            button type="submit" { "Filter" }
        }
        @if runs.is_empty() {
            p.muted { "No runs match." }
        } @else {
            table.list.runs {
                thead { tr { th { "Status" } th { "Robot" } th { "Item" } th { "Due" } th { "Duration" } th { "Error" } } }
                tbody {
                    @for run in &runs {
                        tr {
                            td { (status_badge(run.status)) }
                            td { a href=(format!("/runs/{}", run.id)) { (robot_name(&robots, run)) } div.muted { (run.plugin_id) } }
                            td { a href=(format!("/items/{}/{}", run.entity_type, run.item_id)) { (run.entity_type) " " (run.item_id) } }
                            td { (rest_datetime(run.due_at)) }
                            td { (duration(run)) }
                            td.error-cell { (run.error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&viewer, "Runs", Section::Runs, &all, &[], body))
}

/// `GET /runs/{id}`.
pub async fn detail(viewer: Viewer, State(app): State<AppState>, Path(id): Path<String>) -> Result<Markup, PageError> {
    viewer.require_admin()?;
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let all = pipelines::visible(&mut conn, &viewer.access).await?;
    let run = queue::get(&mut conn, &id).await?;
    let robot = rules::get(&mut conn, &run.robot_id).await.ok();
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let body = html! {
        div.page-head {
            h1 { "Run of " (robot.as_ref().map(|r| r.name.as_str()).unwrap_or(&run.robot_id)) }
            p { (status_badge(run.status)) " " code { (run.id) } }
        }
        @if run.status == RunStatus::Failed {
            div.run-error role="alert" {
                div { strong { "Error: " } (run.error.as_deref().unwrap_or("unknown")) }
                button.primary type="button" data-retry=(run.id) { "Retry" }
            }
        }
        dl.facts {
            dt { "Item" } dd { a href=(format!("/items/{}/{}", run.entity_type, run.item_id)) { (run.entity_type) " " (run.item_id) } }
            dt { "Stage" } dd { (run.stage_id) }
            dt { "Plugin" } dd { (run.plugin_id) " " (run.plugin_version.as_deref().unwrap_or("")) }
            dt { "Attempt" } dd { (run.attempt) }
            dt { "Due" } dd { (rest_datetime(run.due_at)) }
            dt { "Started" } dd { (run.started_at.map(rest_datetime).unwrap_or_default()) }
            dt { "Finished" } dd { (run.finished_at.map(rest_datetime).unwrap_or_default()) }
            dt { "Duration" } dd { (duration(&run)) }
            dt { "Fuel" } dd { (run.fuel_used.map(|f| f.to_string()).unwrap_or_default()) }
        }
        @if let Some(robot) = &robot {
            h2 { "Config" }
            p.muted { "As the robot has it; templates are resolved when the run starts (Test mode shows them resolved)." }
            pre { (pretty(&robot.config)) }
        }
        h2 { "Logs" }
        @if run.logs.is_empty() { p.muted { "No log lines." } }
        ol.logs { @for line in &run.logs { li class=(format!("log-{}", line.level)) { span.level { (line.level) } " " (line.message) } } }
        h2 { "Return values" }
        pre { (run.return_values.as_ref().map(pretty).unwrap_or_else(|| "none".into())) }
    };
    Ok(layout::page(&viewer, "Run", Section::Runs, &all, &[], body))
}

fn robot_name(robots: &[rules::Robot], run: &RunRecord) -> String {
    robots
        .iter()
        .find(|r| r.id == run.robot_id)
        .map(|r| r.name.clone())
        .unwrap_or_else(|| run.robot_id.clone())
}

/// A run's status as a coloured label.
pub fn status_badge(status: RunStatus) -> Markup {
    html! { span class=(format!("status status-{}", status.as_str())) { (status.as_str()) } }
}

fn duration(run: &RunRecord) -> String {
    run.duration_us
        .map(|us| format!("{:.2} ms", us as f64 / 1000.0))
        .unwrap_or_default()
}
