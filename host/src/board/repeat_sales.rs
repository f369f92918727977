//! Repeat sales (seed 000's "Repeat Sales Analytics", seed 002's reactivation): the repeat-sales
//! mode, the return rules (repeat deals and reactivation policies), the segments, and a pipeline's report over
//! a period (items per stage, won and lost, conversion by responsible person, the share of repeat
//! deals). The mode, the rules and the segments are saved through the admin API (`assets/repeat_sales.js`); the
//! report is the admin API's `reports/pipeline`, read through the same function.

use axum::extract::{Query, State};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Section};
use super::pipelines::{self, Pipeline};
use super::{PageError, Viewer};
use crate::api::{ApiError, AppState};
use crate::crm::pipeline_report::{self, Period, PipelineReport};
use crate::crm::{self, Category, Stage, repeat_sales};
use crate::directory;
use crate::model::{EntityType, parse_datetime};
use crate::returns::{self, ReturnKind, ReturnResponsible, ReturnRule};
use crate::segments::{self, Segment, SegmentKind, SegmentRun};

const DAY_MS: i64 = 86_400_000;

/// The report form: a pipeline ("deal/0"; the first deal pipeline when left out) and a period
/// of whole days (the last 30 when left out).
#[derive(Debug, Default, Deserialize)]
pub struct ReportForm {
    #[serde(default)]
    pipeline: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// A day as the date inputs show it.
fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|at| at.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn percent(ratio: f64) -> String {
    format!("{:.0} %", ratio * 100.0)
}

/// `GET /repeat-sales?pipeline=deal/0&from=2026-11-01&to=2026-11-30` (`to` included).
pub async fn page(
    viewer: Viewer,
    State(app): State<AppState>,
    Query(form): Query<ReportForm>,
) -> Result<Markup, PageError> {
    viewer.require_admin()?;
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let all = pipelines::visible(&mut conn, &viewer.access).await?;
    let staged: Vec<&Pipeline> = all.iter().filter(|p| p.entity_type.has_stages()).collect();
    let current = staged
        .iter()
        .find(|p| p.path() == form.pipeline)
        .or_else(|| staged.iter().find(|p| p.entity_type == EntityType::Deal))
        .or_else(|| staged.first())
        .copied();
    let today = app.clock.now() / DAY_MS * DAY_MS;
    let date = |text: &str, default: i64| -> Result<i64, ApiError> {
        match text.trim() {
            "" => Ok(default),
            given => parse_datetime(given)
                .map(|at| at / DAY_MS * DAY_MS)
                .ok_or_else(|| ApiError::invalid(format!("'{given}' is not a date like 2026-12-01"))),
        }
    };
    let (from, last) = (date(&form.from, today - 29 * DAY_MS)?, date(&form.to, today)?);
    let report = match current {
        Some(pipeline) => {
            let period = Period {
                entity_type: pipeline.entity_type,
                category_id: pipeline.category_id,
                from,
                to: last + DAY_MS,
            };
            Some(pipeline_report::report(&mut conn, period).await?)
        }
        None => None,
    };
    let mode = repeat_sales::load(&mut conn).await?;
    let rules = returns::rules(&mut conn).await?;
    let segments = segments::list(&mut conn).await?;
    let runs = segments::runs(&mut conn).await?;
    let stages: Vec<Stage> = crm::all_stages(&mut conn)
        .await?
        .into_iter()
        .filter(|s| matches!(s.entity_type, EntityType::Deal | EntityType::Lead))
        .collect();
    let deal_pipelines = crm::categories(&mut conn, EntityType::Deal).await?;
    let users = directory::users(&mut conn).await?;
    let user_name = |id: i64| {
        users
            .iter()
            .find(|u| u.id == id)
            .map(|u| format!("{} {}", u.name, u.last_name).trim().to_string())
            .unwrap_or_else(|| format!("user {id}"))
    };
    let body = html! {
        div.page-head {
            h1 { "Repeat sales" }
            p.muted { "A deal for a client who already has a won deal is a repeat deal; a lead from a known phone, email or client is a repeat lead. The report counts what entered each stage in the period, from the stage history." }
        }
        form.mode-form data-repeat-sales {
            label.check {
                input type="checkbox" name="enabled" checked[mode.enabled];
                "Mark new leads and deals as repeat ones"
            }
            label.check {
                input type="checkbox" name="simple_crm" checked[mode.simple_crm];
                "Simple CRM: turn repeat leads into repeat deals at once"
            }
            button.primary type="submit" { "Save" }
        }
        (rules_view(&rules, &stages, &deal_pipelines, &user_name))
        (segments_view(&segments, &runs, &deal_pipelines, &user_name))
        h2 { "Report" }
        form.filters method="get" {
            label { "Pipeline" select name="pipeline" {
                @for p in &staged { option value=(p.path()) selected[Some(*p) == current] { (p.name) } }
            } }
            label { "From" input type="date" name="from" value=(day(from)); }
            label { "To" input type="date" name="to" value=(day(last)); }
            button type="submit" { "Show" }
        }
        @match (&report, current) {
            (Some(report), Some(pipeline)) => (report_view(report, pipeline, &user_name)),
            _ => p.muted { "There is no pipeline to report on." },
        }
    };
    Ok(layout::page(
        &viewer,
        "Repeat sales",
        Section::RepeatSales,
        &all,
        &["repeat_sales.js"],
        body,
    ))
}

fn report_view(report: &PipelineReport, pipeline: &Pipeline, user_name: &dyn Fn(i64) -> String) -> Markup {
    let is_deal = pipeline.entity_type == EntityType::Deal;
    html! {
        dl.figures {
            div { dt { "Created" } dd { (report.created) } }
            div { dt { "Moved in" } dd { (report.moved_in) } }
            div { dt { "Won" } dd { (report.won) } }
            div { dt { "Lost" } dd { (report.lost) } }
            div { dt { "Conversion" } dd { (percent(report.conversion)) } }
            @if is_deal {
                div { dt { "Repeat deals" } dd { (report.repeat_deals) " (" (percent(report.repeat_share)) ")" } }
            }
        }
        h2 { "Stages" }
        table.list.report {
            thead { tr { th { "Stage" } th.number { "Entered in the period" } th.number { "There now" } } }
            tbody {
                @for stage in &report.stages {
                    tr {
                        th scope="row" {
                            span class=(format!("semantic semantic-{}", stage.semantics.to_lowercase())) {}
                            (stage.name)
                        }
                        td.number { (stage.entered) }
                        td.number { (stage.now) }
                    }
                }
            }
        }
        h2 { "By responsible person" }
        @if report.by_responsible.is_empty() {
            p.muted { "Nothing was won or lost in the period." }
        } @else {
            table.list.report {
                thead { tr { th { "Responsible" } th.number { "Won" } th.number { "Lost" } th.number { "Conversion" } } }
                tbody {
                    @for line in &report.by_responsible {
                        tr {
                            th scope="row" { (user_name(line.user_id)) }
                            td.number { (line.won) }
                            td.number { (line.lost) }
                            td.number { (percent(line.conversion)) }
                        }
                    }
                }
            }
        }
    }
}

/// A stage's name as a rule names it: "Deals · Deal lost", "Leads · Junk lead".
fn stage_label(stages: &[Stage], entity_type: &str, status_id: &str) -> String {
    let kind = if entity_type == "lead" { "Leads" } else { "Deals" };
    let name = stages
        .iter()
        .find(|s| s.entity_type.to_string() == entity_type && s.status_id == status_id)
        .map_or(status_id, |s| s.name.as_str());
    format!("{kind} · {name}")
}

/// A deal pipeline's name, or "pipeline 7" when it is gone.
fn pipeline_name(pipelines: &[Category], id: i64) -> String {
    pipelines
        .iter()
        .find(|p| p.id == id)
        .map_or_else(|| format!("pipeline {id}"), |p| p.name.clone())
}

/// Who a rule or segment makes responsible, in words.
fn responsible_words(responsible: &ReturnResponsible, user_name: &dyn Fn(i64) -> String) -> String {
    match responsible {
        ReturnResponsible::Same => "the same person".into(),
        ReturnResponsible::User { user_id } => user_name(*user_id),
        ReturnResponsible::Head => "the head of department".into(),
        ReturnResponsible::Distribution { users } => format!(
            "in turn: {}",
            users.iter().map(|u| user_name(*u)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Which clients a segment holds, in words: "last deal won 365–379 days ago".
fn segment_words(segment: &Segment) -> String {
    match segment.kind {
        SegmentKind::WonAgo => format!(
            "last deal won {}–{} days ago",
            segment.days,
            segment.days + segment.window_days.unwrap_or(7)
        ),
        SegmentKind::LostAgo => format!("last deal lost over {} days ago", segment.days),
        SegmentKind::Inactive => format!("no activity for {} days", segment.days),
    }
}

/// The repeat-sales segments, each with an on/off switch and Delete, the last daily run, and the
/// form that adds one.
fn segments_view(
    segments: &[Segment],
    runs: &[SegmentRun],
    pipelines: &[Category],
    user_name: &dyn Fn(i64) -> String,
) -> Markup {
    let pipeline_name = |id: i64| pipeline_name(pipelines, id);
    html! {
        h2 { "Segments" }
        p.muted { "Once a day, each switched-on segment makes one deal for every client in it who has no open deal. A client gets one deal per segment and period." }
        @if let Some(run) = runs.first() {
            p.muted.last-run {
                "Last run " (day(run.day * DAY_MS)) ": "
                @match run.finished_at { Some(_) => { (run.deals_created) " deals made." }, None => "under way." }
            }
        }
        @if segments.is_empty() {
            p.muted.no-segments { "No segments yet." }
        } @else {
            table.list.report.segments {
                thead { tr { th { "Segment" } th { "Deals go to" } th { "Responsible" } th { "On" } th {} } }
                tbody {
                    @for segment in segments {
                        tr data-segment-row=(segment.id) {
                            th scope="row" { (segment.name) div.muted { (segment_words(segment)) } }
                            td { @match segment.category_id { Some(id) => (pipeline_name(id)), None => "the last deal's pipeline" } }
                            td {
                                (responsible_words(&segment.responsible, user_name))
                                @if segment.notify_manager { div.muted { "notified" } }
                            }
                            td {
                                input type="checkbox" aria-label=(format!("{} on", segment.name)) checked[segment.enabled]
                                    data-toggle-segment=(serde_json::to_string(segment).unwrap_or_default());
                            }
                            td { button.danger type="button" data-delete-segment=(segment.id) { "Delete" } }
                        }
                    }
                }
            }
        }
        form.role-form.new-role data-new-segment {
            h2 { "New segment" }
            label { "Name" input type="text" name="name" required placeholder="Bought a year ago"; }
            label { "Clients whose" select name="kind" {
                option value="won_ago" { "last deal was won … days ago" }
                option value="lost_ago" { "last deal was lost over … days ago" }
                option value="inactive" { "had no activity for … days" }
            } }
            label { "days" input type="number" name="days" min="1" value="365" required; }
            label { "window, days" input type="number" name="window_days" min="0" placeholder="7"; }
            label { "into pipeline" select name="category_id" {
                option value="" { "the last deal's" }
                @for p in pipelines { option value=(p.id) { (p.name) } }
            } }
            label { "responsible" select name="responsible" {
                option value="same" { "the same person" }
                option value="head" { "the head of department" }
            } }
            label.check { input type="checkbox" name="notify"; "Notify the responsible person" }
            button.primary type="submit" { "Add segment" }
        }
    }
}

/// The return rules, each with Delete, and the form that adds one.
fn rules_view(
    rules: &[ReturnRule],
    stages: &[Stage],
    pipelines: &[Category],
    user_name: &dyn Fn(i64) -> String,
) -> Markup {
    let pipeline_name = |id: i64| pipeline_name(pipelines, id);
    // A won deal can bring a repeat deal; a lost deal or lead can come back.
    let closed: Vec<&Stage> = stages
        .iter()
        .filter(|s| s.semantics == "F" || (s.semantics == "S" && s.entity_type == EntityType::Deal))
        .collect();
    html! {
        h2 { "Return rules" }
        p.muted { "A rule on a won stage makes a repeat deal for the client; a rule on a lost stage brings the deal or lead back in work. Leaving the stage before the return is due cancels it." }
        @if rules.is_empty() {
            p.muted.no-rules { "No return rules yet." }
        } @else {
            table.list.report.return-rules {
                thead { tr { th { "When" } th { "Comes back" } th { "Responsible" } th.number { "Limit" } th {} } }
                tbody {
                    @for rule in rules {
                        tr data-rule=(rule.id) {
                            th scope="row" {
                                (match rule.kind { ReturnKind::RepeatDeal => "Repeat deal", ReturnKind::Reactivation => "Reactivation" })
                                div.muted {
                                    (stage_label(stages, &rule.entity_type, &rule.stage_id)) ", "
                                    @match (&rule.after_days, &rule.date_field) {
                                        (Some(days), _) => { "after " (days) " days" },
                                        (None, Some(field)) => { "on " (field) },
                                        _ => {},
                                    }
                                }
                            }
                            td {
                                (match rule.mode { returns::ReturnMode::Copy => "as a copy", returns::ReturnMode::Transfer => "moved" })
                                @if let Some(category) = rule.category_id { " into " (pipeline_name(category)) }
                                @if let Some(stage) = &rule.target_stage_id { ", " (stage) }
                            }
                            td {
                                (responsible_words(&rule.responsible, user_name))
                                @if rule.notify_manager || rule.notify_supervisor { div.muted { "notified" } }
                            }
                            td.number { @match rule.max_count { Some(n) => (n), None => "none" } }
                            td { button.danger type="button" data-delete-rule=(rule.id) { "Delete" } }
                        }
                    }
                }
            }
        }
        form.role-form.new-role data-new-rule {
            h2 { "New return rule" }
            label { "When an item enters" select name="stage" required {
                @for stage in &closed {
                    option value=(format!("{}|{}", stage.entity_type, stage.status_id)) data-semantics=(stage.semantics) {
                        (stage_label(stages, &stage.entity_type.to_string(), &stage.status_id))
                        @if stage.entity_type == EntityType::Deal && stage.category_id != 0 { " (" (pipeline_name(stage.category_id)) ")" }
                    }
                }
            } }
            label { "after days" input type="number" name="after_days" min="0" value="30" required; }
            label { "it comes back" select name="mode" {
                option value="copy" { "as a copy" }
                option value="transfer" { "moved" }
            } }
            label { "into pipeline" select name="category_id" {
                option value="" { "its own" }
                @for p in pipelines { option value=(p.id) { (p.name) } }
            } }
            label { "responsible" select name="responsible" {
                option value="same" { "the same person" }
                option value="head" { "the head of department" }
            } }
            label { "at most" input type="number" name="max_count" min="1" placeholder="no limit"; }
            label.check { input type="checkbox" name="notify"; "Notify the manager and supervisor" }
            button.primary type="submit" { "Add rule" }
        }
    }
}
