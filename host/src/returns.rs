//! Client returns: repeat-deal rules (seed 000, "Repeat Deals": some days after a win, a new deal
//! for the client) and reactivation policies (seed 002: a lost deal or lead comes back after a
//! period set per loss reason, copied or transferred, a limited number of times). Both are
//! [`ReturnRule`]s on a stage. Entering that stage schedules a return ([`on_entered`]). Leaving it
//! before the return is due cancels the return. The scheduler's workers carry out due returns
//! ([`run_due`]) on the host's clock, so the manual clock drives them in tests.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::crm::repeat_sales::client_id;
use crate::crm::{self, Automation, Stage};
use crate::directory::{self, AUTOMATION_USER};
use crate::model::{CrmError, EntityType, Item, ItemRef, Write, check_fields};
use crate::notifications::{self, NewNotification};
use crate::rules::template::{self, Reference};
use crate::store::{self, Conn, Store, Tx};

const DAY_MS: i64 = 86_400_000;

/// What a rule brings back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnKind {
    /// A new deal for the client of a won deal (on a success stage, always a copy).
    RepeatDeal,
    /// A lost deal or lead back in work (on a failure stage).
    Reactivation,
}

impl ReturnKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::RepeatDeal => "repeat_deal",
            Self::Reactivation => "reactivation",
        }
    }
}

/// How the item comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnMode {
    /// A new item in the target pipeline and stage, naming the old one in `ORIGIN_ID`.
    #[default]
    Copy,
    /// The item itself moves to the target pipeline and stage.
    Transfer,
}

/// Who is responsible for the item that comes back.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ReturnResponsible {
    /// The item's responsible person.
    #[default]
    Same,
    /// A chosen user.
    User {
        /// The user.
        user_id: i64,
    },
    /// The head of the responsible person's department (their supervisor).
    Head,
    /// One of these users in turn.
    Distribution {
        /// The users, at least one.
        users: Vec<i64>,
    },
}

/// A repeat-deal rule or a reactivation policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRule {
    /// Its id, given by the host (an id in a new rule is ignored).
    #[serde(default)]
    #[schema(read_only)]
    pub id: i64,
    /// What it brings back.
    pub kind: ReturnKind,
    /// "deal" or "lead".
    pub entity_type: String,
    /// The stage whose entry starts the wait: a success stage for a repeat deal, a failure stage
    /// (the loss reason: `LOSE`, `APOLOGY`, a custom one) for a reactivation.
    pub stage_id: String,
    /// Days from entering the stage to the return.
    #[serde(default)]
    pub after_days: Option<u32>,
    /// Or: a date or date-time field of the item the manager sets (`UF_CRM_RETURN_ON`).
    #[serde(default)]
    pub date_field: Option<String>,
    /// Copy (the default) or transfer.
    #[serde(default)]
    pub mode: ReturnMode,
    /// The pipeline to come back in (deals); the item's own when left out.
    #[serde(default)]
    pub category_id: Option<i64>,
    /// The stage to come back in; that pipeline's first when left out.
    #[serde(default)]
    pub target_stage_id: Option<String>,
    /// How many times one chain (an item and the copies made from it) may come back by
    /// reactivation; unlimited when left out.
    #[serde(default)]
    pub max_count: Option<u32>,
    /// Who is responsible for it; the same person when left out.
    #[serde(default)]
    pub responsible: ReturnResponsible,
    /// A copy's title, `{=Document:FIELD}` templates allowed; the item's title when left out.
    #[serde(default)]
    pub title: Option<String>,
    /// Notify the responsible person when the item comes back.
    #[serde(default)]
    pub notify_manager: bool,
    /// Notify their supervisor too.
    #[serde(default)]
    pub notify_supervisor: bool,
    /// Repeat deals: when a deal of the same client is lost while this rule's return is
    /// pending, move the return this many days later.
    #[serde(default)]
    pub postpone_on_loss_days: Option<u32>,
}

/// One scheduled, done or dropped return.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Return {
    /// Its id.
    pub id: i64,
    /// The rule.
    pub rule_id: i64,
    /// What it brings back.
    pub kind: ReturnKind,
    /// "deal" or "lead".
    pub entity_type: String,
    /// The item whose stay started it.
    pub item_id: i64,
    /// Its chain: the id of the first item of the line the item was copied in (the item's own
    /// when it is no copy), by which a policy counts returns.
    pub chain_id: i64,
    /// When it is (or was) due, ms since the epoch.
    pub due_at: Millis,
    /// "pending", "done", "skipped" (the limit was reached, or nothing to do) or "cancelled"
    /// (the item left the stage first, or was deleted).
    pub status: String,
    /// The item that came back: the copy, or the item itself.
    pub result_id: Option<i64>,
    /// Why it was skipped or cancelled.
    pub reason: Option<String>,
}

/// Deal fields a copy carries over; the stage, dates and ids are the copy's own.
const COPIED_FIELDS: &[&str] = &[
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
    "NAME",
    "LAST_NAME",
    "PHONE",
    "EMAIL",
    "COMPANY_TITLE",
];

impl ReturnRule {
    fn entity(&self) -> Result<EntityType, CrmError> {
        match EntityType::parse(&self.entity_type)? {
            t @ (EntityType::Deal | EntityType::Lead) => Ok(t),
            other => Err(CrmError::Invalid(format!(
                "returns are for deals and leads, not {other}"
            ))),
        }
    }

    /// Checks the rule against the pipelines and fields as they are.
    async fn check(&self, conn: &mut Conn) -> Result<(), CrmError> {
        let entity_type = self.entity()?;
        let stage = crm::stage(conn, entity_type, &self.stage_id).await?;
        let wanted = match self.kind {
            ReturnKind::RepeatDeal if entity_type != EntityType::Deal => {
                return Err(CrmError::Invalid("repeat-deal rules are for deals".into()));
            }
            ReturnKind::RepeatDeal if self.mode != ReturnMode::Copy => {
                return Err(CrmError::Invalid(
                    "a repeat deal is always a new deal: mode must be copy".into(),
                ));
            }
            ReturnKind::RepeatDeal => "S",
            ReturnKind::Reactivation => "F",
        };
        if stage.semantics != wanted {
            let what = if wanted == "S" { "success" } else { "failure" };
            return Err(CrmError::Invalid(format!(
                "stage {} is not a {what} stage",
                self.stage_id
            )));
        }
        match (&self.after_days, &self.date_field) {
            (Some(_), None) => {}
            (None, Some(field)) => {
                let (_, dates) = crate::rules::robot_fields(conn, entity_type).await?;
                if !dates.contains(field) {
                    return Err(CrmError::Invalid(format!(
                        "{field} is not a date field of {entity_type}"
                    )));
                }
            }
            _ => return Err(CrmError::Invalid("give after_days or date_field, one of them".into())),
        }
        self.target(conn, entity_type, stage.category_id).await?;
        check_responsible(&self.responsible)?;
        check_title(self.title.as_deref())
    }

    /// The stage the item comes back in, for an item now in pipeline `category_id`.
    async fn target(&self, conn: &mut Conn, entity_type: EntityType, category_id: i64) -> Result<Stage, CrmError> {
        let category = self.category_id.unwrap_or(category_id);
        target_stage(conn, entity_type, category, self.target_stage_id.as_deref()).await
    }
}

/// The in-progress stage `stage_id` of pipeline `category`, or that pipeline's first stage: where
/// an item comes back (or a segment's deal is made) in work.
pub(crate) async fn target_stage(
    conn: &mut Conn,
    entity_type: EntityType,
    category: i64,
    stage_id: Option<&str>,
) -> Result<Stage, CrmError> {
    let stage = match stage_id {
        Some(id) => crm::stage(conn, entity_type, id).await?,
        None => crm::stages(conn, entity_type, category)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| CrmError::NotFound(format!("pipeline {category} of {entity_type}")))?,
    };
    if stage.category_id != category {
        return Err(CrmError::Invalid(format!(
            "stage {} is not in pipeline {category}",
            stage.status_id
        )));
    }
    if stage.semantics != "P" {
        return Err(CrmError::Invalid(format!(
            "an item comes back in work: stage {} is closed",
            stage.status_id
        )));
    }
    Ok(stage)
}

/// Refuses a distribution among no one.
pub(crate) fn check_responsible(responsible: &ReturnResponsible) -> Result<(), CrmError> {
    match responsible {
        ReturnResponsible::Distribution { users } if users.is_empty() => {
            Err(CrmError::Invalid("a distribution needs at least one user".into()))
        }
        _ => Ok(()),
    }
}

/// Refuses a title template using anything but the source item's fields.
pub(crate) fn check_title(title: Option<&str>) -> Result<(), CrmError> {
    let Some(title) = title else {
        return Ok(());
    };
    let only_fields = template::references(&json!(title))
        .map_err(CrmError::Invalid)?
        .iter()
        .all(|r| matches!(r, Reference::Document(_)));
    if only_fields {
        Ok(())
    } else {
        Err(CrmError::Invalid(
            "a title may only use {=Document:FIELD} templates".into(),
        ))
    }
}

/// Checks and saves a rule; answers it with its id.
pub async fn add_rule(tx: &mut Tx, mut rule: ReturnRule, now: Millis) -> Result<ReturnRule, CrmError> {
    rule.check(tx).await?;
    let text = stored_without_id(&rule)?;
    rule.id = store::query_scalar(
        "INSERT INTO return_rules (entity_type, stage_id, rule, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(rule.entity()?)
    .bind(rule.stage_id.as_str())
    .bind(text)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    Ok(rule)
}

/// Checks and replaces rule `id`; `None` when there is no such rule. Pending returns keep their
/// due times and come back by the new settings; when the rule moved to another stage, they are
/// cancelled, as their items are not in its stage.
pub async fn replace_rule(
    tx: &mut Tx,
    id: i64,
    mut rule: ReturnRule,
    now: Millis,
) -> Result<Option<ReturnRule>, CrmError> {
    rule.check(tx).await?;
    rule.id = id;
    let moved = store::query(
        "UPDATE client_returns SET status = 'cancelled', reason = 'the rule moved to another stage', finished_at = $1
         WHERE rule_id = $2 AND status = 'pending'
         AND EXISTS (SELECT 1 FROM return_rules r WHERE r.id = $2 AND (r.entity_type <> $3 OR r.stage_id <> $4))",
    )
    .bind(now)
    .bind(id)
    .bind(rule.entity()?)
    .bind(rule.stage_id.as_str());
    moved.execute(&mut *tx).await?;
    let updated = store::query("UPDATE return_rules SET entity_type = $1, stage_id = $2, rule = $3 WHERE id = $4")
        .bind(rule.entity()?)
        .bind(rule.stage_id.as_str())
        .bind(stored_without_id(&rule)?)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok((updated.rows_affected() > 0).then_some(rule))
}

/// Stores a rule under its own id: replaces rule `id` when there is one, else adds it with that
/// id. What a configuration import uses to keep a file's rules as they are.
pub async fn put_rule(tx: &mut Tx, rule: ReturnRule, now: Millis) -> Result<ReturnRule, CrmError> {
    let id = rule.id;
    if let Some(replaced) = replace_rule(tx, id, rule.clone(), now).await? {
        return Ok(replaced);
    }
    rule.check(tx).await?;
    store::query("INSERT INTO return_rules (id, entity_type, stage_id, rule, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(rule.entity()?)
        .bind(rule.stage_id.as_str())
        .bind(stored_without_id(&rule)?)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Store::ids_after_explicit_insert(tx, "return_rules").await?;
    Ok(rule)
}

/// A rule or segment as stored: its JSON without the id, which is the row's.
pub(crate) fn stored_without_id<T: Serialize>(value: &T) -> Result<String, CrmError> {
    let mut stored = serde_json::to_value(value).map_err(|e| CrmError::Invalid(e.to_string()))?;
    if let Value::Object(fields) = &mut stored {
        fields.remove("id");
    }
    Ok(stored.to_string())
}

/// Every rule, oldest first.
pub async fn rules(conn: &mut Conn) -> Result<Vec<ReturnRule>, CrmError> {
    let rows = store::query("SELECT id, rule FROM return_rules ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(rule_from_row).collect()
}

fn rule_from_row(row: &store::Row) -> Result<ReturnRule, CrmError> {
    let text: String = row.try_get("rule")?;
    let mut rule: ReturnRule =
        serde_json::from_str(&text).map_err(|e| CrmError::Invalid(format!("stored return rule is corrupt: {e}")))?;
    rule.id = row.try_get("id")?;
    Ok(rule)
}

/// Deletes a rule and its pending returns; `false` when there is no such rule.
pub async fn delete_rule(tx: &mut Tx, id: i64) -> Result<bool, CrmError> {
    store::query("DELETE FROM client_returns WHERE rule_id = $1 AND status = 'pending'")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let deleted = store::query("DELETE FROM return_rules WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// The returns of an item (or of every item), newest first, at most 500.
pub async fn list(conn: &mut Conn, item: Option<ItemRef>) -> Result<Vec<Return>, CrmError> {
    let rows = match item {
        Some(item) => store::query(
            "SELECT * FROM client_returns WHERE entity_type = $1 AND item_id = $2 ORDER BY id DESC LIMIT 500",
        )
        .bind(item.entity_type)
        .bind(item.id),
        None => store::query("SELECT * FROM client_returns ORDER BY id DESC LIMIT 500"),
    }
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(return_from_row).collect()
}

fn return_from_row(row: &store::Row) -> Result<Return, CrmError> {
    let kind: String = row.try_get("kind")?;
    Ok(Return {
        id: row.try_get("id")?,
        rule_id: row.try_get("rule_id")?,
        kind: if kind == "repeat_deal" {
            ReturnKind::RepeatDeal
        } else {
            ReturnKind::Reactivation
        },
        entity_type: row.try_get("entity_type")?,
        item_id: row.try_get("item_id")?,
        chain_id: row.try_get("chain_id")?,
        due_at: row.try_get("due_at")?,
        status: row.try_get("status")?,
        result_id: row.try_get("result_id")?,
        reason: row.try_get("reason")?,
    })
}

/// An item entered `stage_id`: its pending returns are cancelled (it left their stage), the
/// rules on the new stage schedule theirs, and a lost deal postpones its client's pending
/// repeat deals where their rule says so.
pub async fn on_entered(tx: &mut Tx, item_ref: ItemRef, stage_id: &str, now: Millis) -> Result<(), CrmError> {
    if !matches!(item_ref.entity_type, EntityType::Deal | EntityType::Lead) || !any_rules(tx).await? {
        return Ok(());
    }
    cancel_pending(tx, item_ref, "the item left the stage", now).await?;
    let rows = store::query("SELECT id, rule FROM return_rules WHERE entity_type = $1 AND stage_id = $2")
        .bind(item_ref.entity_type)
        .bind(stage_id)
        .fetch_all(&mut *tx)
        .await?;
    let rules = rows.iter().map(rule_from_row).collect::<Result<Vec<_>, _>>()?;
    let item = crm::get(tx, item_ref).await?;
    for rule in &rules {
        schedule(tx, rule, &item, now).await?;
    }
    if item.stage_semantic.as_deref() == Some("F") {
        postpone_repeat_deals(tx, &item).await?;
    }
    Ok(())
}

/// An item was deleted: its pending returns are cancelled.
pub async fn on_deleted(tx: &mut Tx, item_ref: ItemRef, now: Millis) -> Result<(), CrmError> {
    if !any_rules(tx).await? {
        return Ok(());
    }
    cancel_pending(tx, item_ref, "the item was deleted", now).await
}

/// Whether there is any rule: without one there is no pending return either (deleting a rule
/// deletes its pending returns), so a write needs nothing more of this module.
async fn any_rules(conn: &mut Conn) -> Result<bool, CrmError> {
    let found: Option<i64> = store::query_scalar("SELECT id FROM return_rules LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    Ok(found.is_some())
}

async fn cancel_pending(tx: &mut Tx, item_ref: ItemRef, reason: &str, now: Millis) -> Result<(), CrmError> {
    store::query(
        "UPDATE client_returns SET status = 'cancelled', reason = $1, finished_at = $2
         WHERE entity_type = $3 AND item_id = $4 AND status = 'pending'",
    )
    .bind(reason)
    .bind(now)
    .bind(item_ref.entity_type)
    .bind(item_ref.id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Schedules `rule`'s return of `item`; an item whose return date field is empty gets none.
async fn schedule(tx: &mut Tx, rule: &ReturnRule, item: &Item, now: Millis) -> Result<(), CrmError> {
    let due = match (&rule.after_days, &rule.date_field) {
        (Some(days), _) => now + i64::from(*days) * DAY_MS,
        (None, Some(field)) => match item.fields.get(field).and_then(Value::as_str) {
            Some(text) => crate::model::parse_datetime(text)
                .ok_or_else(|| CrmError::Invalid(format!("{field} '{text}' is not a date")))?,
            None => return Ok(()),
        },
        (None, None) => return Ok(()),
    };
    let chain: Option<i64> = store::query_scalar(
        "SELECT chain_id FROM client_returns WHERE entity_type = $1 AND result_id = $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(item.item_ref.entity_type)
    .bind(item.item_ref.id)
    .fetch_optional(&mut *tx)
    .await?;
    store::query(
        "INSERT INTO client_returns (rule_id, kind, entity_type, item_id, chain_id, contact_id, company_id, due_at,
         status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)",
    )
    .bind(rule.id)
    .bind(rule.kind.as_str())
    .bind(item.item_ref.entity_type)
    .bind(item.item_ref.id)
    .bind(chain.unwrap_or(item.item_ref.id))
    .bind(client_id(&item.fields, "CONTACT_ID"))
    .bind(client_id(&item.fields, "COMPANY_ID"))
    .bind(due)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Moves the pending repeat deals of the lost deal's client later, by their rules' postponement.
async fn postpone_repeat_deals(tx: &mut Tx, lost: &Item) -> Result<(), CrmError> {
    let (contact, company) = (
        client_id(&lost.fields, "CONTACT_ID"),
        client_id(&lost.fields, "COMPANY_ID"),
    );
    if contact.is_none() && company.is_none() {
        return Ok(());
    }
    let rows = store::query(
        "SELECT r.id, r.rule, c.id AS return_id FROM client_returns c JOIN return_rules r ON r.id = c.rule_id
         WHERE c.status = 'pending' AND c.kind = 'repeat_deal' AND (c.contact_id = $1 OR c.company_id = $2)",
    )
    .bind(contact)
    .bind(company)
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        let Some(days) = rule_from_row(row)?.postpone_on_loss_days else {
            continue;
        };
        store::query("UPDATE client_returns SET due_at = due_at + $1 WHERE id = $2")
            .bind(i64::from(days) * DAY_MS)
            .bind(row.try_get::<i64, _>("return_id")?)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Whether a return is due at `now`: a read, so idle workers never queue for the writer.
pub async fn any_due(conn: &mut Conn, now: Millis) -> Result<bool, CrmError> {
    let due: Option<i64> =
        store::query_scalar("SELECT id FROM client_returns WHERE status = 'pending' AND due_at <= $1 LIMIT 1")
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(due.is_some())
}

/// Carries out up to `limit` due returns in `tx`; answers how many robots they scheduled.
pub async fn run_due(tx: &mut Tx, automation: &dyn Automation, now: Millis, limit: i64) -> Result<usize, CrmError> {
    let rows = store::query(
        "SELECT c.*, r.rule FROM client_returns c JOIN return_rules r ON r.id = c.rule_id
         WHERE c.status = 'pending' AND c.due_at <= $1 ORDER BY c.due_at, c.id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut scheduled = 0;
    for row in &rows {
        let due = return_from_row(row)?;
        let mut rule = rule_from_row(row)?;
        rule.id = due.rule_id;
        // Taken first, so that the item's own move (a transfer) does not cancel it, and so that
        // of two hosts only one carries it out.
        let taken = store::query(
            "UPDATE client_returns SET status = 'done', finished_at = $1 WHERE id = $2 AND status = 'pending'",
        )
        .bind(now)
        .bind(due.id)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() == 0 {
            continue;
        }
        let (status, result, reason) = match carry_out(tx, automation, &rule, &due, now).await {
            Ok(Outcome::Back { item, robots }) => {
                scheduled += robots;
                ("done", Some(item), None)
            }
            Ok(Outcome::Skipped(why)) => ("skipped", None, Some(why)),
            Err(CrmError::Invalid(why) | CrmError::NotFound(why)) => ("skipped", None, Some(why)),
            Err(e) => return Err(e),
        };
        store::query("UPDATE client_returns SET status = $1, result_id = $2, reason = $3 WHERE id = $4")
            .bind(status)
            .bind(result)
            .bind(reason)
            .bind(due.id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(scheduled)
}

enum Outcome {
    Back { item: i64, robots: usize },
    Skipped(String),
}

async fn carry_out(
    tx: &mut Tx,
    automation: &dyn Automation,
    rule: &ReturnRule,
    due: &Return,
    now: Millis,
) -> Result<Outcome, CrmError> {
    let entity_type = rule.entity()?;
    let source = crm::get(
        tx,
        ItemRef {
            entity_type,
            id: due.item_id,
        },
    )
    .await?;
    if let Some(max) = rule.max_count.filter(|_| rule.kind == ReturnKind::Reactivation) {
        let done: i64 = store::query_scalar(
            "SELECT COUNT(*) FROM client_returns WHERE chain_id = $1 AND entity_type = $2 AND kind = 'reactivation'
             AND status = 'done' AND id <> $3",
        )
        .bind(due.chain_id)
        .bind(entity_type)
        .bind(due.id)
        .fetch_one(&mut *tx)
        .await?;
        if done >= i64::from(max) {
            return Ok(Outcome::Skipped(format!(
                "it has come back {done} times, the most this policy allows"
            )));
        }
    }
    let target = rule
        .target(tx, entity_type, source.category_id.unwrap_or_default())
        .await?;
    let manager = source
        .fields
        .get("ASSIGNED_BY_ID")
        .and_then(Value::as_i64)
        .unwrap_or(AUTOMATION_USER);
    let turn = format!("return-rule-{}", rule.id);
    let responsible = match pick_responsible(tx, &rule.responsible, &turn, manager).await? {
        Ok(user) => user,
        Err(why) => return Ok(Outcome::Skipped(why)),
    };
    let mut fields = Map::new();
    if rule.mode == ReturnMode::Copy {
        let own = |name: &str| entity_type.fields().iter().any(|f| f.name == name);
        for name in COPIED_FIELDS.iter().filter(|name| own(name)) {
            if let Some(value) = source.fields.get(*name).filter(|v| !v.is_null()) {
                fields.insert((*name).into(), without_entry_ids(value));
            }
        }
        fields.insert("ORIGIN_ID".into(), json!(source.item_ref.id.to_string()));
        if rule.kind == ReturnKind::RepeatDeal {
            fields.insert("SOURCE_ID".into(), json!("REPEAT_SALE"));
        }
        if let Some(title) = &rule.title {
            let title = title_for(title, &source).map_err(CrmError::Invalid)?;
            fields.insert("TITLE".into(), Value::String(title));
        }
    }
    fields.insert("ASSIGNED_BY_ID".into(), json!(responsible));
    if entity_type == EntityType::Deal {
        fields.insert("CATEGORY_ID".into(), json!(target.category_id));
    }
    fields.insert(entity_type.stage_field().into(), json!(target.status_id));
    let custom = crm::userfields::userfields(tx, entity_type).await?;
    let written = match rule.mode {
        ReturnMode::Copy => {
            let changes = check_fields(entity_type, &custom, &fields, Write::Create)?;
            crm::create(tx, automation, entity_type, None, changes, AUTOMATION_USER, now).await?
        }
        ReturnMode::Transfer => {
            let changes = check_fields(entity_type, &custom, &fields, Write::Update)?;
            crm::update(tx, automation, source.item_ref, changes, now).await?
        }
    };
    notify(tx, rule, &source, written.item, responsible, now).await?;
    Ok(Outcome::Back {
        item: written.item.id,
        robots: written.robots_scheduled,
    })
}

/// A multi-field's entries without their ids, as a new item takes them; other values as they are.
pub(crate) fn without_entry_ids(value: &Value) -> Value {
    match value {
        Value::Array(entries) => entries
            .iter()
            .map(|entry| match entry {
                Value::Object(fields) => Value::Object(
                    fields
                        .iter()
                        .filter(|(k, _)| *k != "ID")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                other => other.clone(),
            })
            .collect(),
        other => other.clone(),
    }
}

/// Who takes an item made or brought back for `manager`'s client, or why no one can; `turn`
/// names the distribution's place in its round.
pub(crate) async fn pick_responsible(
    tx: &mut Tx,
    how: &ReturnResponsible,
    turn: &str,
    manager: i64,
) -> Result<Result<i64, String>, CrmError> {
    Ok(match how {
        ReturnResponsible::Same => Ok(manager),
        ReturnResponsible::User { user_id } => Ok(*user_id),
        ReturnResponsible::Head => match directory::supervisor_of(tx, manager).await {
            Ok(head) => Ok(head.id),
            Err(CrmError::Invalid(why) | CrmError::NotFound(why)) => Err(why),
            Err(e) => return Err(e),
        },
        ReturnResponsible::Distribution { users } => directory::take_turn(tx, turn, users, &[])
            .await?
            .ok_or_else(|| "none of the distribution's users can take it".to_string()),
    })
}

/// A title template filled in with the source item's fields.
pub(crate) fn title_for(title: &str, source: &Item) -> Result<String, String> {
    let config = json!(title);
    let fields = source.values();
    let values: std::collections::HashMap<Reference, Value> = template::references(&config)?
        .into_iter()
        .map(|reference| {
            let value = match &reference {
                Reference::Document(field) => fields.get(field).cloned().unwrap_or(Value::Null),
                _ => Value::Null,
            };
            (reference, value)
        })
        .collect();
    let resolved = template::resolve(&config, &values)?;
    Ok(resolved.as_str().unwrap_or(title).to_string())
}

/// Tells the responsible person, and their supervisor when the rule asks, that the item is back.
async fn notify(
    tx: &mut Tx,
    rule: &ReturnRule,
    source: &Item,
    back: ItemRef,
    responsible: i64,
    now: Millis,
) -> Result<(), CrmError> {
    let title = source.fields.get("TITLE").and_then(Value::as_str).unwrap_or_default();
    let what = match rule.kind {
        ReturnKind::RepeatDeal => format!(
            "A repeat deal for the client of {} \"{title}\" is {back}.",
            source.item_ref
        ),
        ReturnKind::Reactivation if back == source.item_ref => format!("{back} \"{title}\" is back in work."),
        ReturnKind::Reactivation => format!("{} \"{title}\" is back in work as {back}.", source.item_ref),
    };
    let mut recipients = Vec::new();
    if rule.notify_manager {
        recipients.push(responsible);
    }
    if rule.notify_supervisor
        && let Ok(head) = directory::supervisor_of(tx, responsible).await
    {
        recipients.push(head.id);
    }
    tell(tx, recipients, &what, &format!("return-{}", rule.id), now).await
}

/// Sends `what` to each of `recipients` (the automation user and those who cannot receive it
/// left out), tagged `tag`.
pub(crate) async fn tell(
    tx: &mut Tx,
    mut recipients: Vec<i64>,
    what: &str,
    tag: &str,
    now: Millis,
) -> Result<(), CrmError> {
    recipients.dedup();
    for user_id in recipients.into_iter().filter(|user| *user != AUTOMATION_USER) {
        if notifications::check(tx, user_id, what).await.is_err() {
            continue;
        }
        let message = NewNotification {
            id: None,
            user_id,
            author_id: AUTOMATION_USER,
            module: "crm".into(),
            tag: Some(tag.to_string()),
            message: what.to_string(),
            run_id: None,
        };
        notifications::add(tx, &message, now).await?;
    }
    Ok(())
}
