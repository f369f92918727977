//! The page every board screen sits in: the header with the navigation, and the shared assets.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Viewer;
use super::pipelines::Pipeline;
use crate::permissions::RuleAccess;

/// Which part of the navigation a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Pipelines' boards.
    Board,
    /// Pipelines' automation rules.
    Automation,
    /// Installed plugins.
    Plugins,
    /// Robot runs.
    Runs,
    /// Test mode.
    Test,
    /// Access permissions: roles and users.
    Roles,
    /// Repeat sales: the mode and the pipeline report.
    RepeatSales,
    /// The configuration file: export and import.
    Configuration,
}

/// A full page for a signed-in user. `scripts` are asset names to load after the page.
pub fn page(
    viewer: &Viewer,
    title: &str,
    section: Section,
    pipelines: &[Pipeline],
    scripts: &[&str],
    body: Markup,
) -> Markup {
    let nav = |target: Section, href: String, label: &str| {
        html! {
            a href=(href) aria-current=[(section == target).then_some("page")] { (label) }
        }
    };
    let first = pipelines.first().map(Pipeline::path).unwrap_or_else(|| "deal/0".into());
    let first_with_rules = pipelines
        .iter()
        .find(|p| viewer.access.automation(p.entity_type) >= RuleAccess::Read)
        .map(Pipeline::path);
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, Some(&viewer.csrf_token)))
            body {
                header.topbar {
                    a.brand href="/" { "Stagewright" }
                    nav aria-label="Main" {
                        (nav(Section::Board, format!("/board/{first}"), "Pipelines"))
                        @if let Some(rules) = &first_with_rules {
                            (nav(Section::Automation, format!("/automation/{rules}"), "Automation rules"))
                        }
                        @if viewer.is_admin {
                            (nav(Section::Plugins, "/plugins".into(), "Plugins"))
                            (nav(Section::Runs, "/runs".into(), "Runs"))
                            (nav(Section::Test, "/test".into(), "Test mode"))
                            (nav(Section::RepeatSales, "/repeat-sales".into(), "Repeat sales"))
                            (nav(Section::Roles, "/roles".into(), "Access permissions"))
                            (nav(Section::Configuration, "/configuration".into(), "Configuration"))
                        }
                    }
                    div.who {
                        span { (viewer.name) @if viewer.is_admin { " · admin" } }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf_token" value=(viewer.csrf_token);
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" { (body) }
                div #toast role="status" aria-live="polite" {}
                script src="/assets/app.js" {}
                @for script in scripts {
                    script src=(format!("/assets/{script}")) {}
                }
            }
        }
    }
}

/// Every page's `<head>`: the title, the stylesheet, and for a signed-in page the CSRF token its
/// scripts send back.
pub fn head(title: &str, csrf_token: Option<&str>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            @if let Some(token) = csrf_token { meta name="csrf-token" content=(token); }
            title { (title) " · Stagewright" }
            link rel="stylesheet" href="/assets/board.css";
        }
    }
}

/// The tabs between a pipeline's board and its automation rules, and the pipeline picker.
pub fn pipeline_tabs(viewer: &Viewer, pipelines: &[Pipeline], current: &Pipeline, section: Section) -> Markup {
    let base = match section {
        Section::Automation => "automation",
        _ => "board",
    };
    html! {
        div.pipeline-bar {
            label.pipeline-picker {
                span.visually-hidden { "Pipeline" }
                select data-navigate aria-label="Pipeline" {
                    @for p in pipelines {
                        option value=(format!("/{base}/{}", p.path())) selected[p == current] { (p.name) }
                    }
                }
            }
            @if viewer.access.automation(current.entity_type) >= RuleAccess::Read {
                nav.tabs aria-label="Pipeline views" {
                    a href=(format!("/board/{}", current.path())) aria-current=[(section == Section::Board).then_some("page")] { "Kanban" }
                    a href=(format!("/automation/{}", current.path())) aria-current=[(section == Section::Automation).then_some("page")] { "Automation rules" }
                }
            }
        }
    }
}

/// JSON handed to a page's script in a `<script type="application/json">` block; `</` is
/// escaped so no value can close the block.
pub fn json_block(id: &str, value: &serde_json::Value) -> Markup {
    let text = value.to_string().replace("</", "<\\/");
    html! { script type="application/json" id=(id) { (PreEscaped(text)) } }
}
