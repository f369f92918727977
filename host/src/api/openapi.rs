//! The admin API's OpenAPI document, served at `GET /api/v1/openapi.json` for client generators
//! and admin tools. Assembled from the handlers' own annotations in `admin`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, config};
use crate::rules::condition::ConditionRule;

/// The document: every `/api/v1` operation, its parameters, bodies and errors.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stagewright admin API",
        description = "Plugins, robots, triggers and run history of a Stagewright host. CRM data is under /rest, in Bitrix24's REST dialect, and not described here. Every operation takes the admin token as `Authorization: Bearer <token>`; errors are `{\"error\", \"error_description\"}`."
    ),
    paths(
        admin::list_plugins,
        admin::install_plugin,
        admin::inspect_plugin,
        admin::list_robots,
        admin::add_robot,
        admin::update_robot,
        admin::delete_robot,
        admin::reorder_robots,
        admin::simulate,
        admin::list_triggers,
        admin::add_trigger,
        admin::delete_trigger,
        admin::list_runs,
        admin::get_run,
        admin::set_password,
        admin::list_roles,
        admin::add_role,
        admin::update_role,
        admin::delete_role,
        admin::roles_of,
        admin::set_roles_of,
        admin::retry_run,
        admin::timeline,
        admin::outbox,
        admin::create_webhook,
        admin::get_calendar,
        admin::put_calendar,
        admin::get_repeat_sales,
        admin::put_repeat_sales,
        admin::pipeline_report,
        admin::list_return_rules,
        admin::add_return_rule,
        admin::put_return_rule,
        admin::delete_return_rule,
        admin::list_returns,
        admin::list_segments,
        admin::add_segment,
        admin::put_segment,
        admin::delete_segment,
        admin::list_segment_runs,
        admin::advance_clock,
        admin::list_exceptions,
        admin::add_exception,
        admin::delete_exception,
        admin::list_absences,
        admin::add_absence,
        admin::delete_absence,
        config::export,
        config::import,
    ),
    // A condition group holds rules that may be groups again; the cycle is cut at the rules
    // list, so the rule's schema is registered here.
    components(schemas(ConditionRule)),
    modifiers(&AdminToken),
    tags(
        (name = "configuration", description = "The host's configuration as one file, to keep in git and move between servers"),
        (name = "plugins", description = "Action plugins: WebAssembly components"),
        (name = "robots", description = "Automation rules on stages, their calendar and test mode"),
        (name = "repeat sales", description = "Repeat marking, pipeline reports, repeat-deal rules and reactivation policies"),
        (name = "triggers", description = "What moves items into stages"),
        (name = "runs", description = "Robot run history, the item timeline and the email outbox"),
        (name = "webhooks", description = "Inbound-webhook tokens for the REST API"),
        (name = "exceptions", description = "Phones and emails that never make a lead a repeat lead"),
        (name = "absences", description = "The directory's absence calendar: who is away when"),
        (name = "users", description = "Signing in to the board and access permissions: passwords and roles"),
    )
)]
pub struct AdminApi;

/// Declares the bearer token the operations name in their `security`.
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/openapi.json`: the document; public, like any API reference.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(AdminApi::openapi())
}
