//! The plugins page: each installed plugin with its versions, description, capabilities in
//! words and the robots that use it; uploading a new one shows what it asks for first
//! (`assets/plugins.js`, through `/api/v1/plugins/inspect` and `/api/v1/plugins`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use maud::{Markup, html};

use super::layout::{self, Section};
use super::pipelines;
use super::{PageError, Viewer};
use crate::api::{ApiError, AppState};
use crate::rules;
use crate::runtime::Plugin;

/// `GET /plugins`.
pub async fn page(viewer: Viewer, State(app): State<AppState>) -> Result<Markup, PageError> {
    viewer.require_admin()?;
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let all = pipelines::visible(&mut conn, &viewer.access).await?;
    let robots = rules::list(&mut conn, None, None).await?;
    let mut by_id: BTreeMap<String, Vec<Arc<Plugin>>> = BTreeMap::new();
    for plugin in app.runtime.plugins() {
        by_id.entry(plugin.manifest.id.clone()).or_default().push(plugin);
    }
    let body = html! {
        div.page-head {
            h1 { "Plugins" }
            p.muted { "Each robot runs one of these actions, a sandboxed WebAssembly component that can touch only what it was granted." }
        }
        section.upload aria-labelledby="upload-title" {
            h2 #upload-title { "Install a plugin" }
            label { "Component (.wasm)" input #plugin-file type="file" accept=".wasm,application/wasm"; }
            div #plugin-review hidden {}
        }
        table.list {
            thead { tr { th { "Plugin" } th { "Versions" } th { "Capabilities" } th { "Used by" } } }
            tbody {
                @for (id, versions) in &by_id {
                    @let newest = versions.last().expect("a plugin has a version");
                    @let users: Vec<_> = robots.iter().filter(|r| &r.plugin_id == id).collect();
                    tr data-plugin=(id) {
                        td {
                            strong { (newest.manifest.name) }
                            div.muted { code { (id) } @if newest.builtin { " · built in" } @if newest.app().is_some() { " · a Bitrix24 app's robot" } }
                            p { (newest.manifest.description) }
                        }
                        td { @for v in versions { span.badge { (v.manifest.version) } " " } }
                        td {
                            @if newest.manifest.capabilities.is_empty() { span.muted { "nothing" } }
                            ul.plain { @for c in &newest.manifest.capabilities { li { (c.in_words()) } } }
                        }
                        td {
                            @if users.is_empty() { span.muted { "no robots" } }
                            ul.plain {
                                @for robot in &users {
                                    li { a href=(format!("/automation/{}/{}", robot.entity_type, robot.category_id)) { (robot.name) } " (" (robot.stage_id) ")" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &viewer,
        "Plugins",
        Section::Plugins,
        &all,
        &["plugins.js"],
        body,
    ))
}
