//! Built-in action "create-repeat-lead": from a deal, makes a new lead for the deal's client, its
//! contact and company (Bitrix24's "Create repeat lead" robot), e.g. to start the next sale some
//! time after a win. The host marks a lead made for an existing client as a repeat lead
//! (`IS_RETURN_CUSTOMER` "Y").

use serde::Deserialize;
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, id_from, json};

/// The robot's configuration; strings may hold templates, resolved before the run.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The lead's title; "Repeat lead: " and the deal's title when left out.
    #[serde(default)]
    title: Option<String>,
    /// Who is responsible for the lead: a user id or a template; the deal's responsible when
    /// left out.
    #[serde(default)]
    responsible_id: Option<Value>,
    /// The lead's status; the first lead status when left out.
    #[serde(default)]
    status_id: Option<String>,
}

/// Makes a repeat lead for the deal's client.
pub struct CreateRepeatLead;

impl Action for CreateRepeatLead {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "create-repeat-lead",
            "Create repeat lead",
            env!("CARGO_PKG_VERSION"),
            "From a deal, creates a new lead for the deal's contact and company: a repeat lead.",
        )
        .config_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "title": {"type": "string", "minLength": 1, "title": "Title", "description": "The lead's title; \"Repeat lead: \" and the deal's title when left out. Templates allowed."},
                "responsible_id": {"type": ["integer", "string"], "title": "Responsible person", "description": "A user id or a template; the deal's responsible when left out."},
                "status_id": {"type": "string", "title": "Status", "description": "The lead's status; the first one when left out."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {"lead_id": {"type": "integer", "title": "New lead"}}
        }))
        .capability(Capability::Read("deal".into()))
        .capability(Capability::Write("lead".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let item = ctx.item();
        if item.ref_.entity_type != "deal" {
            return Err(ActionError::InvalidConfig(format!(
                "create-repeat-lead runs on deals, not on a {}",
                item.ref_.entity_type
            )));
        }
        let field = |name: &str| ctx.field(name).filter(|v| !v.is_null()).cloned();
        let client = |name: &str| field(name).filter(|v| id_from(v, name).is_ok());
        let (contact, company) = (client("CONTACT_ID"), client("COMPANY_ID"));
        if contact.is_none() && company.is_none() {
            return Err(ActionError::Failed(
                "the deal has no contact or company to make a repeat lead for".into(),
            ));
        }
        let title = config.title.unwrap_or_else(|| {
            let deal = field("TITLE").and_then(|t| t.as_str().map(str::to_string));
            format!(
                "Repeat lead: {}",
                deal.unwrap_or_else(|| format!("deal {}", item.ref_.id))
            )
        });
        let responsible = match &config.responsible_id {
            Some(value) => Some(json!(id_from(value, "responsible_id")?)),
            None => field("ASSIGNED_BY_ID"),
        };
        let mut lead = json!({
            "TITLE": title,
            "CONTACT_ID": contact,
            "COMPANY_ID": company,
            "ASSIGNED_BY_ID": responsible,
            "SOURCE_ID": "REPEAT_SALE",
        });
        if let Some(status) = &config.status_id {
            lead["STATUS_ID"] = json!(status);
        }
        if let Value::Object(fields) = &mut lead {
            fields.retain(|_, value| !value.is_null());
        }
        let lead_id = ctx.create("lead", &lead)?.id;
        ctx.log(Level::Info, &format!("repeat lead {lead_id} for deal {}", item.ref_.id));
        Ok(json!({"lead_id": lead_id}))
    }
}

stagewright_sdk::export_action!(CreateRepeatLead);
