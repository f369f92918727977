//! Built-in action "create-from-source": from a lead, creates the contact, company and deal it
//! stands for, linked to each other and to the lead, and completes the lead: its contact and
//! company fields point at what was made and it moves to the "Good lead" status, CONVERTED
//! (Bitrix24's lead conversion); from a deal,
//! creates a copy in a chosen pipeline and stage linked to its parent by ORIGIN_ID — the building
//! block of repeat deals and of reactivating lost ones.

use serde::Deserialize;
use serde_json::Map;
use stagewright_sdk::{Action, ActionError, Capability, Context, Level, Manifest, Value, json};

/// Deal fields a copy carries over; the stage, dates and ids are the copy's own.
const COPIED_DEAL_FIELDS: &[&str] = &[
    "TITLE",
    "TYPE_ID",
    "CURRENCY_ID",
    "OPPORTUNITY",
    "COMPANY_ID",
    "CONTACT_ID",
    "ASSIGNED_BY_ID",
    "SOURCE_ID",
    "COMMENTS",
    "LEAD_ID",
];

/// The robot's configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The new deal's pipeline: from a lead the default one, for a copy the parent's, when left out.
    #[serde(default)]
    category_id: Option<i64>,
    /// The new deal's stage; the pipeline's first when left out.
    #[serde(default)]
    stage_id: Option<String>,
    /// The new deal's title; the source's when left out. Templates allowed.
    #[serde(default)]
    title: Option<String>,
    /// From a lead: also create a contact from its name, phone and email (default true).
    #[serde(default = "yes")]
    create_contact: bool,
    /// From a lead: also create a company from its company name, if it has one (default true).
    #[serde(default = "yes")]
    create_company: bool,
    /// From a lead: move it to CONVERTED afterwards, as a conversion does (default true); off, it
    /// stays in its status, where later robots of the stage can use what this one returned.
    #[serde(default = "yes")]
    complete_lead: bool,
}

fn yes() -> bool {
    true
}

/// Creates items from the current one.
pub struct CreateFromSource;

/// A multi-field's entries without their ids, as a new item takes them.
fn entries(fields: &Value, name: &str) -> Option<Value> {
    let entries: Vec<Value> = fields
        .get(name)?
        .as_array()?
        .iter()
        .map(|e| json!({"VALUE": e.get("VALUE"), "VALUE_TYPE": e.get("VALUE_TYPE")}))
        .collect();
    (!entries.is_empty()).then(|| Value::from(entries))
}

/// The lead's phones and emails, onto the contact (or, with no contact, the company) made from it.
fn copy_multi_fields(lead: &Value, fields: &mut Value) {
    for multi in ["PHONE", "EMAIL"] {
        if let Some(values) = entries(lead, multi) {
            fields[multi] = values;
        }
    }
}

fn deal_placement(config: &Config, deal: &mut Map<String, Value>) {
    if let Some(category) = config.category_id {
        deal.insert("CATEGORY_ID".into(), json!(category));
    }
    if let Some(stage) = &config.stage_id {
        deal.insert("STAGE_ID".into(), json!(stage));
    }
    if let Some(title) = &config.title {
        deal.insert("TITLE".into(), json!(title));
    }
}

fn from_lead(ctx: &Context, config: &Config, lead: &Value) -> Result<Value, ActionError> {
    let lead_id = ctx.item().ref_.id;
    let responsible = lead.get("ASSIGNED_BY_ID").cloned().unwrap_or(Value::Null);
    let text = |name: &str| {
        lead.get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let makes_contact = config.create_contact && (text("NAME").is_some() || text("LAST_NAME").is_some());
    let company = match text("COMPANY_TITLE").filter(|_| config.create_company) {
        Some(title) => {
            let mut fields = json!({"TITLE": title, "ASSIGNED_BY_ID": responsible, "LEAD_ID": lead_id});
            if !makes_contact {
                copy_multi_fields(lead, &mut fields);
            }
            Some(ctx.create("company", &fields)?.id)
        }
        None => None,
    };
    let contact = if makes_contact {
        let mut fields = json!({
            "NAME": text("NAME").unwrap_or_default(),
            "LAST_NAME": text("LAST_NAME").unwrap_or_default(),
            "ASSIGNED_BY_ID": responsible,
            "COMPANY_ID": company,
            "LEAD_ID": lead_id,
        });
        copy_multi_fields(lead, &mut fields);
        Some(ctx.create("contact", &fields)?.id)
    } else {
        None
    };
    let mut deal = Map::new();
    for name in ["TITLE", "CURRENCY_ID", "OPPORTUNITY", "SOURCE_ID", "COMMENTS"] {
        if let Some(value) = lead.get(name).filter(|v| !v.is_null()) {
            deal.insert(name.into(), value.clone());
        }
    }
    deal.insert("ASSIGNED_BY_ID".into(), responsible);
    deal.insert("CONTACT_ID".into(), json!(contact));
    deal.insert("COMPANY_ID".into(), json!(company));
    deal.insert("LEAD_ID".into(), json!(lead_id));
    deal_placement(config, &mut deal);
    let deal_id = ctx.create("deal", &Value::Object(deal))?.id;
    mark_converted(ctx, contact, company, config.complete_lead)?;
    ctx.log(Level::Info, &format!("lead {lead_id} became deal {deal_id}"));
    Ok(json!({"deal_id": deal_id, "contact_id": contact, "company_id": company}))
}

/// Bitrix24's fixed success status of leads, which a converted lead ends in.
const CONVERTED: &str = "CONVERTED";

/// Links the lead to the contact and company made from it and, when `complete`, moves it to
/// CONVERTED, as a conversion by hand does; its robots on that status run next.
fn mark_converted(
    ctx: &Context,
    contact: Option<u64>,
    company: Option<u64>,
    complete: bool,
) -> Result<(), ActionError> {
    let mut fields = Map::new();
    if let Some(contact) = contact {
        fields.insert("CONTACT_ID".into(), json!(contact));
    }
    if let Some(company) = company {
        fields.insert("COMPANY_ID".into(), json!(company));
    }
    if complete && ctx.item().stage_id.as_deref() != Some(CONVERTED) {
        fields.insert("STATUS_ID".into(), json!(CONVERTED));
    }
    if fields.is_empty() {
        return Ok(());
    }
    ctx.update(&ctx.item().ref_, &Value::Object(fields))
}

fn from_deal(ctx: &Context, config: &Config, parent: &Value) -> Result<Value, ActionError> {
    let parent_id = ctx.item().ref_.id;
    let mut deal = Map::new();
    let custom = parent
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.starts_with("UF_CRM_"));
    let standard = COPIED_DEAL_FIELDS
        .iter()
        .filter_map(|name| parent.get(*name).map(|v| (*name, v)));
    for (name, value) in standard.chain(custom.map(|(n, v)| (n.as_str(), v))) {
        if !value.is_null() {
            deal.insert(name.into(), value.clone());
        }
    }
    deal.insert("ORIGIN_ID".into(), json!(parent_id.to_string()));
    if let Some(category) = ctx.item().category_id {
        deal.insert("CATEGORY_ID".into(), json!(category));
    }
    deal_placement(config, &mut deal);
    let lands_in = deal.get("STAGE_ID").and_then(Value::as_str);
    let same_pipeline = deal.get("CATEGORY_ID").and_then(Value::as_u64) == ctx.item().category_id;
    if same_pipeline && (lands_in.is_none() || lands_in == ctx.item().stage_id.as_deref()) {
        return Err(ActionError::InvalidConfig(
            "the copy would enter the stage this robot runs in and be copied again; set stage_id to another stage"
                .into(),
        ));
    }
    let deal_id = ctx.create("deal", &Value::Object(deal))?.id;
    ctx.log(Level::Info, &format!("deal {parent_id} was copied to deal {deal_id}"));
    Ok(json!({"deal_id": deal_id}))
}

impl Action for CreateFromSource {
    type Config = Config;

    fn manifest() -> Manifest {
        Manifest::new(
            "create-from-source",
            "Create using source",
            env!("CARGO_PKG_VERSION"),
            "From a lead, creates its contact, company and deal and moves the lead to CONVERTED; from a deal, a copy in a chosen pipeline and stage.",
        )
        .config_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "category_id": {"type": "integer", "title": "Pipeline", "description": "The new deal's pipeline; from a lead the default one, for a copy the parent's, when left out."},
                "stage_id": {"type": "string", "title": "Stage", "description": "The new deal's stage (C2:NEW); the pipeline's first when left out."},
                "title": {"type": "string", "minLength": 1, "title": "Title", "description": "The new deal's title; the source's when left out. Templates allowed."},
                "create_contact": {"type": "boolean", "title": "Create contact", "description": "From a lead: a contact from its name, phone and email (default yes)."},
                "create_company": {"type": "boolean", "title": "Create company", "description": "From a lead: a company from its company name, if any (default yes)."},
                "complete_lead": {"type": "boolean", "title": "Complete the lead", "description": "From a lead: move it to CONVERTED afterwards (default yes); off, it stays in its status, where later robots of the stage can use the return values."}
            }
        }))
        .returns_schema(json!({
            "type": "object",
            "properties": {
                "deal_id": {"type": "integer", "title": "New deal"},
                "contact_id": {"type": ["integer", "null"], "title": "New contact"},
                "company_id": {"type": ["integer", "null"], "title": "New company"}
            }
        }))
        .capability(Capability::Write("lead".into()))
        .capability(Capability::Write("deal".into()))
        .capability(Capability::Write("contact".into()))
        .capability(Capability::Write("company".into()))
    }

    fn run(ctx: &Context, config: Config) -> Result<Value, ActionError> {
        let source: Value = serde_json::from_str(&ctx.item().fields)
            .map_err(|e| ActionError::Failed(format!("the item's fields are not JSON: {e}")))?;
        match ctx.item().ref_.entity_type.as_str() {
            "lead" => from_lead(ctx, &config, &source),
            "deal" => from_deal(ctx, &config, &source),
            other => Err(ActionError::InvalidConfig(format!(
                "create-from-source works on leads and deals, not {other}"
            ))),
        }
    }
}

stagewright_sdk::export_action!(CreateFromSource);
