//! Test mode: which robots would run if an item entered a stage at a given moment, when, and
//! with which resolved config (the simulate API, `assets/testmode.js`); on a server started
//! with `--manual-clock`, controls that move time forward and show what came due.

use axum::extract::State;
use maud::{Markup, html};

use super::layout::{self, Section};
use super::{PageError, Viewer, pipelines};
use crate::api::{ApiError, AppState};
use crate::crm;
use crate::model::rest_datetime;

/// `GET /test`.
pub async fn page(viewer: Viewer, State(app): State<AppState>) -> Result<Markup, PageError> {
    viewer.require_admin()?;
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let all = pipelines::visible(&mut conn, &viewer.access).await?;
    let mut stage_options = Vec::new();
    for p in &all {
        for s in crm::stages(&mut conn, p.entity_type, p.category_id).await? {
            stage_options.push((
                p.entity_type.to_string(),
                format!("{} › {}", p.name, s.name),
                s.status_id,
            ));
        }
    }
    let now = app.clock.now();
    let body = html! {
        div.page-head {
            h1 { "Test mode" }
            p.muted { "See which robots would run if an item entered a stage, when, and with what settings. Nothing is written." }
        }
        form #simulate.filters {
            label { "Stage" select name="stage" required {
                @for (entity, label, stage) in &stage_options { option value=(format!("{entity}/{stage}")) { (label) } }
            } }
            label { "Item id" input name="item_id" inputmode="numeric" required; }
            label { "Moment (empty: now)" input type="datetime-local" name="at"; }
            button.primary type="submit" { "Simulate" }
        }
        div #simulation {}
        section.clock aria-labelledby="clock-title" {
            h2 #clock-title { "Clock" }
            p { "The server's time: " strong #clock-now data-now=(now) { (rest_datetime(now)) } }
            @if app.clock.is_manual() {
                p.muted { "This server runs on a manual clock: move it forward to make robots come due." }
                div.clock-buttons {
                    button type="button" data-advance="3600000" { "+1 hour" }
                    button type="button" data-advance="86400000" { "+1 day" }
                    button type="button" data-advance="604800000" { "+7 days" }
                    button type="button" data-advance="2592000000" { "+30 days" }
                }
                div #came-due {}
            } @else {
                p.muted { "Start the server with --manual-clock to move time here." }
            }
        }
    };
    Ok(layout::page(
        &viewer,
        "Test mode",
        Section::Test,
        &all,
        &["testmode.js"],
        body,
    ))
}
