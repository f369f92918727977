//! Repeat sales, as Bitrix24 marks them. A deal is a **repeat deal** (`IS_RETURN_CUSTOMER` "Y")
//! when its client (its contact or its company) already has a won deal. A deal that is not a
//! repeat deal but was converted from a repeat lead (`LEAD_ID` names a lead with
//! `IS_RETURN_CUSTOMER` "Y") is a **repeat inquiry** (`IS_REPEATED_APPROACH` "Y"). The flags are
//! worked out when the deal is created and again whenever its client or lead changes; a deal won
//! later does not re-mark deals created before it. The repeat-sales mode, a host setting, turns
//! this marking and repeat-lead marking off.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Automation;
use crate::clock::Millis;
use crate::directory::AUTOMATION_USER;
use crate::model::{
    CrmError, EntityType, FieldKind, ItemRef, REPEAT_FIELD, REPEATED_APPROACH_FIELD, Write, check_fields,
};
use crate::settings;
use crate::store::{self, Conn, Tx};

/// The repeat-sales mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepeatSales {
    /// Whether new leads and deals are marked as repeat ones (on unless turned off). Off, every
    /// new lead and deal gets "N", and a new lead is not linked to the client it matches.
    pub enabled: bool,
    /// Bitrix24's simple CRM, without leads: a repeat lead, once made, is converted at once into
    /// a deal for its client (in the default pipeline's first stage, `LEAD_ID` naming the lead),
    /// and the lead closes in its success status. Off when left out.
    #[serde(default)]
    pub simple_crm: bool,
}

impl Default for RepeatSales {
    fn default() -> Self {
        Self {
            enabled: true,
            simple_crm: false,
        }
    }
}

/// The mode's name among the host's settings.
const SETTING: &str = "repeat_sales";

/// The repeat-sales mode in force.
pub async fn load(conn: &mut Conn) -> Result<RepeatSales, CrmError> {
    settings::load(conn, SETTING).await
}

/// Sets the repeat-sales mode; items already marked keep their flags.
pub async fn save(tx: &mut Tx, mode: &RepeatSales) -> Result<(), CrmError> {
    settings::save(tx, SETTING, mode).await
}

/// Lead fields the deal converted from a repeat lead takes over.
const CONVERTED_FIELDS: &[&str] = &[
    "TITLE",
    "OPPORTUNITY",
    "CURRENCY_ID",
    "CONTACT_ID",
    "COMPANY_ID",
    "ASSIGNED_BY_ID",
    "SOURCE_ID",
    "COMMENTS",
];

/// In simple-CRM mode, converts the lead just made, when it is a repeat lead, into a repeat deal
/// and closes the lead; answers the robots this scheduled.
pub(crate) async fn convert_in_simple_crm(
    tx: &mut Tx,
    automation: &dyn Automation,
    lead: &Map<String, Value>,
    lead_ref: ItemRef,
    now: Millis,
) -> Result<usize, CrmError> {
    let mode = load(tx).await?;
    if !mode.enabled || !mode.simple_crm || lead.get(REPEAT_FIELD).and_then(Value::as_str) != Some("Y") {
        return Ok(0);
    }
    let mut fields: Map<String, Value> = CONVERTED_FIELDS
        .iter()
        .filter_map(|name| Some(((*name).to_string(), lead.get(*name).filter(|v| !v.is_null())?.clone())))
        .collect();
    fields.insert("LEAD_ID".into(), json!(lead_ref.id));
    let custom = super::userfields::userfields(tx, EntityType::Deal).await?;
    let changes = check_fields(EntityType::Deal, &custom, &fields, Write::Create)?;
    let deal = Box::pin(super::create(
        tx,
        automation,
        EntityType::Deal,
        None,
        changes,
        AUTOMATION_USER,
        now,
    ))
    .await?;
    let category = super::default_category(tx, EntityType::Lead).await?;
    let converted = super::stages(tx, EntityType::Lead, category)
        .await?
        .into_iter()
        .find(|stage| stage.semantics == "S")
        .ok_or_else(|| CrmError::NotFound("a success status of leads".into()))?;
    let close = Map::from_iter([("STATUS_ID".to_string(), json!(converted.status_id))]);
    let custom = super::userfields::userfields(tx, EntityType::Lead).await?;
    let changes = check_fields(EntityType::Lead, &custom, &close, Write::Update)?;
    let closed = Box::pin(super::update(tx, automation, lead_ref, changes, now)).await?;
    Ok(deal.robots_scheduled + closed.robots_scheduled)
}

/// The deal fields whose change re-marks a deal.
pub(crate) fn is_marking_field(name: &str) -> bool {
    matches!(name, "CONTACT_ID" | "COMPANY_ID" | "LEAD_ID")
}

/// Sets a deal's repeat flags in `fields` (as stored): `deal` is its id once it exists, so that
/// the deal does not count as its own client's won deal.
pub(crate) async fn mark_deal(tx: &mut Tx, deal: Option<i64>, fields: &mut Map<String, Value>) -> Result<(), CrmError> {
    let (repeat, approach) = if load(tx).await?.enabled {
        let repeat = client_has_won_deal(tx, deal, fields).await?;
        let approach = !repeat && from_repeat_lead(tx, fields).await?;
        (repeat, approach)
    } else {
        (false, false)
    };
    for (name, on) in [(REPEAT_FIELD, repeat), (REPEATED_APPROACH_FIELD, approach)] {
        fields.insert(name.into(), Value::from(if on { "Y" } else { "N" }));
    }
    Ok(())
}

/// The id an item's `CONTACT_ID`, `COMPANY_ID` or `LEAD_ID` names, when it names one.
pub(crate) fn client_id(fields: &Map<String, Value>, field: &str) -> Option<i64> {
    fields.get(field).and_then(Value::as_i64).filter(|id| *id > 0)
}

/// Whether another deal of the same contact or company is in a success stage: one indexed
/// lookup per client field (`items_contact`, `items_company`), unordered, so that a client with
/// no win costs an index probe, not a walk of every deal.
async fn client_has_won_deal(tx: &mut Tx, deal: Option<i64>, fields: &Map<String, Value>) -> Result<bool, CrmError> {
    for field in ["CONTACT_ID", "COMPANY_ID"] {
        let Some(id) = client_id(fields, field) else {
            continue;
        };
        let sql = format!(
            "SELECT items.id FROM items JOIN stages s ON s.entity_type = items.entity_type AND s.status_id = items.stage_id
             WHERE items.entity_type = 'deal' AND {} = $1 AND items.id <> $2 AND s.semantics = 'S' LIMIT 1",
            super::json_field(tx.backend(), field, FieldKind::Integer)
        );
        let won: Option<i64> = store::query_scalar(&sql)
            .bind(id)
            .bind(deal.unwrap_or_default())
            .fetch_optional(&mut *tx)
            .await?;
        if won.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the deal's `LEAD_ID` names a repeat lead.
async fn from_repeat_lead(tx: &mut Tx, fields: &Map<String, Value>) -> Result<bool, CrmError> {
    let Some(lead) = client_id(fields, "LEAD_ID") else {
        return Ok(false);
    };
    let lead = ItemRef {
        entity_type: EntityType::Lead,
        id: lead,
    };
    match super::get(tx, lead).await {
        Ok(lead) => Ok(lead.fields.get(REPEAT_FIELD).and_then(Value::as_str) == Some("Y")),
        Err(CrmError::NotFound(_)) => Ok(false),
        Err(e) => Err(e),
    }
}
