//! The configuration page: what a configuration file of this server holds, a download of it, and
//! importing one, which shows what it would change before anything changes
//! (`assets/configuration.js`, through `/api/v1/config` and `/api/v1/config/import`).

use axum::extract::State;
use maud::{Markup, html};

use super::layout::{self, Section};
use super::pipelines;
use super::{PageError, Viewer};
use crate::api::{ApiError, AppState};
use crate::config;

/// `GET /configuration`.
pub async fn page(viewer: Viewer, State(app): State<AppState>) -> Result<Markup, PageError> {
    viewer.require_admin()?;
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let all = pipelines::visible(&mut conn, &viewer.access).await?;
    let file = config::export(&mut conn, false).await?;
    let count = |n: Option<usize>| n.unwrap_or_default();
    let held = [
        (
            count(file.smart_processes.as_ref().map(Vec::len)),
            "smart process",
            "smart processes",
        ),
        (count(file.pipelines.as_ref().map(Vec::len)), "pipeline", "pipelines"),
        (
            file.pipelines.iter().flatten().map(|p| p.stages.len()).sum(),
            "stage",
            "stages",
        ),
        (
            count(file.custom_fields.as_ref().map(Vec::len)),
            "custom field",
            "custom fields",
        ),
        (
            count(file.plugins.as_ref().map(Vec::len)),
            "plugin version",
            "plugin versions",
        ),
        (count(file.robots.as_ref().map(Vec::len)), "robot", "robots"),
        (count(file.triggers.as_ref().map(Vec::len)), "trigger", "triggers"),
        (
            count(file.return_rules.as_ref().map(Vec::len)),
            "return rule",
            "return rules",
        ),
        (count(file.segments.as_ref().map(Vec::len)), "segment", "segments"),
    ];
    let body = html! {
        div.page-head {
            h1 { "Configuration" }
            p.muted { "This server's automation as one file: keep it in git, review changes to it, move it to another server." }
        }
        section.config-section aria-labelledby="export-title" {
            h2 #export-title { "Export" }
            p #config-summary {
                "The file holds "
                @for (i, (n, one, many)) in held.iter().enumerate() {
                    @if i > 0 { ", " }
                    strong { (n) } " " (if *n == 1 { one } else { many })
                }
                ", the business calendar and the repeat-sales mode."
            }
            a.button #config-download href="/api/v1/config" download="stagewright-config.json" { "Download the configuration" }
        }
        section.config-section aria-labelledby="import-title" {
            h2 #import-title { "Import" }
            p.muted { "Robots, triggers, return rules and segments the file leaves out are deleted; pipelines, stages and fields are only added and changed. Nothing changes until you confirm." }
            label { "Configuration file (.json)" input #config-file type="file" accept=".json,application/json"; }
            div #config-review hidden {}
        }
    };
    Ok(layout::page(
        &viewer,
        "Configuration",
        Section::Configuration,
        &all,
        &["configuration.js"],
        body,
    ))
}
