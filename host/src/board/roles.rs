//! Access permissions (seed 004's "choose the role … select actions that this role can
//! perform"): each role's permissions per entity type, and each user's roles and password.
//! Saving goes through the admin API's roles and users endpoints (`assets/roles.js`).

use axum::extract::State;
use maud::{Markup, html};

use super::layout::{self, Section};
use super::{PageError, Viewer, pipelines};
use crate::api::{ApiError, AppState};
use crate::crm::types;
use crate::directory;
use crate::permissions::{self, DEFAULT_ROLE, EVERY_SMART_PROCESS, Role, RuleAccess, Scope, TypePermissions};

const SCOPES: [(Scope, &str); 4] = [
    (Scope::None, "none"),
    (Scope::Own, "own"),
    (Scope::Department, "department"),
    (Scope::All, "all"),
];
const RULES: [(RuleAccess, &str); 3] = [
    (RuleAccess::None, "none"),
    (RuleAccess::Read, "read"),
    (RuleAccess::Update, "update"),
];

/// `GET /roles`.
pub async fn page(viewer: Viewer, State(app): State<AppState>) -> Result<Markup, PageError> {
    viewer.require_admin()?;
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let all = pipelines::visible(&mut conn, &viewer.access).await?;
    let roles = permissions::roles(&mut conn).await?;
    let mut types: Vec<(String, String)> = [
        ("lead", "Leads"),
        ("deal", "Deals"),
        ("contact", "Contacts"),
        ("company", "Companies"),
    ]
    .iter()
    .map(|(k, t)| (k.to_string(), t.to_string()))
    .collect();
    for spa in types::list(&mut conn).await? {
        types.push((spa.entity_type.to_string(), spa.title));
    }
    types.push((EVERY_SMART_PROCESS.into(), "Every other smart process".into()));
    let users = directory::users(&mut conn).await?;
    let mut user_roles = Vec::with_capacity(users.len());
    for user in &users {
        user_roles.push(permissions::roles_of(&mut conn, user.id).await?);
    }
    let body = html! {
        div.page-head {
            h1 { "Access permissions" }
            p.muted { "A role says, per entity type, which items its users may read, add, update and delete (their own, their department's or all) and whether they may read or change the automation rules. A user without a role has the Employee role. Administrators may do everything." }
        }
        @for role in &roles { (role_form(role, &types)) }
        form.role-form.new-role data-new-role {
            h2 { "New role" }
            label { "Name" input name="name" required; }
            button.primary type="submit" { "Add role" }
        }
        h2 { "Users" }
        table.list.users {
            thead { tr { th { "User" } th { "Roles" } th { "Password" } } }
            tbody {
                @for (user, assigned) in users.iter().zip(&user_roles) {
                    tr data-user=(user.id) {
                        td {
                            strong { (user.name) " " (user.last_name) }
                            div.muted { (user.email.as_deref().unwrap_or("")) @if user.is_admin { " · administrator" } }
                        }
                        td {
                            @for role in &roles {
                                label.check { input type="checkbox" name="role" value=(role.id) checked[assigned.contains(&role.id)]; (role.name) }
                            }
                            button type="button" data-save-user-roles=(user.id) { "Save roles" }
                        }
                        td {
                            label { span.visually-hidden { "New password" }
                                input type="password" name="password" autocomplete="new-password" placeholder="New password" aria-label=(format!("New password for {}", user.name)); }
                            button type="button" data-set-password=(user.id) { "Set password" }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &viewer,
        "Access permissions",
        Section::Roles,
        &all,
        &["roles.js"],
        body,
    ))
}

fn role_form(role: &Role, types: &[(String, String)]) -> Markup {
    let permissions = |key: &str| role.permissions.get(key).copied().unwrap_or_default();
    html! {
        form.role-form data-role=(role.id) {
            div.role-head {
                label { "Role" input name="name" value=(role.name) required; }
                div.actions {
                    button.primary type="submit" { "Save" }
                    @if role.id != DEFAULT_ROLE { button.danger type="button" data-delete-role=(role.id) { "Delete" } }
                }
            }
            table.list.matrix {
                thead { tr { th { "Entity type" } th { "Read" } th { "Add" } th { "Update" } th { "Delete" } th { "Automation rules" } } }
                tbody {
                    @for (key, title) in types {
                        @let p: TypePermissions = permissions(key);
                        tr data-type=(key) {
                            th scope="row" { (title) }
                            @for (action, current) in [("read", p.read), ("add", p.add), ("update", p.update), ("delete", p.delete)] {
                                td { select name=(action) aria-label=(format!("{title}: {action}")) {
                                    @for (scope, word) in SCOPES { option value=(word) selected[scope == current] { (word) } }
                                } }
                            }
                            td { select name="automation" aria-label=(format!("{title}: automation rules")) {
                                @for (access, word) in RULES { option value=(word) selected[access == p.automation] { (word) } }
                            } }
                        }
                    }
                }
            }
        }
    }
}
