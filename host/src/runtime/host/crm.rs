//! The host side of the `crm` interface: items, comments, activities, tasks and the repeat-lead
//! exception list, read through the run's staged writes and written as staged changes.

use serde_json::{Map, Value};

use super::super::bindings::stagewright::action::crm::{self as wit_crm, CrmError as WitCrmError};
use super::super::bindings::stagewright::action::types::{Item as WitItem, ItemRef as WitRef};
use super::super::grants::{Access, EXCEPTIONS, TASKS};
use super::super::run_state::RunState;
use super::{
    CallError, CrmCallError, Refusal, id_of, parse_object, read_error, selected_wit_item, to_wit_item, to_wit_ref,
};
use crate::changeset::{self, StagedChange};
use crate::crm as ops;
use crate::crm::activities::{self, ActivityChanges};
use crate::crm::repeat::{self, Comparable, NewExceptions};
use crate::directory::AUTOMATION_USER;
use crate::model::{EntityType, FieldChanges, Item, ItemRef, Write, check_fields};
use crate::rules::Engine;
use crate::tasks::{self, TaskChanges};

impl RunState {
    /// `access` to the entity type a plugin named, typed.
    fn entity(&mut self, access: Access, name: &str) -> Result<EntityType, CrmCallError> {
        Ok(self.allow(|grants| grants.entity(access, name))?)
    }

    /// The item a plugin referred to, with `access` to its type.
    fn item_ref(&mut self, access: Access, r: &WitRef) -> Result<ItemRef, CrmCallError> {
        Ok(ItemRef {
            entity_type: self.entity(access, &r.entity_type)?,
            id: id_of(r)?,
        })
    }

    /// An item as this run sees it: with its own staged writes.
    async fn read(&mut self, item_ref: ItemRef) -> Result<Item, CrmCallError> {
        match self.overlay.get(&item_ref) {
            Some(Some(item)) => Ok(item.clone()),
            Some(None) => Err(WitCrmError::NotFound(to_wit_ref(item_ref)).into()),
            None => {
                let mut conn = self.db.read().await?;
                ops::get(&mut conn, item_ref).await.map_err(|e| read_error(e, item_ref))
            }
        }
    }

    async fn writable(&mut self, r: &WitRef) -> Result<Item, CrmCallError> {
        let item_ref = self.item_ref(Access::Write, r)?;
        self.read(item_ref).await
    }

    /// Checks fields a plugin sends against the type's standard and custom fields.
    async fn check_fields(
        &mut self,
        entity_type: EntityType,
        fields: &str,
        write: Write,
    ) -> Result<FieldChanges, CrmCallError> {
        let input = parse_object("fields", fields)?;
        let mut conn = self.db.read().await?;
        let custom = ops::userfields::userfields(&mut conn, entity_type).await?;
        check_fields(entity_type, &custom, &input, write).map_err(|e| CallError::invalid(e.to_string()))
    }

    pub(super) async fn next_id<E: Refusal>(&mut self, sequence: &str) -> Result<i64, CallError<E>> {
        Ok(self.db.reserve_id(sequence).await?)
    }

    /// Stages an update: a new stage must be in the item's pipeline, or in the new one when
    /// `CATEGORY_ID` changes too; a new pipeline without a stage means its first stage.
    async fn stage_update(&mut self, mut item: Item, changes: FieldChanges) -> Result<(), CrmCallError> {
        let entity_type = item.item_ref.entity_type;
        let category = changes.category_id.or(item.category_id);
        let new_pipeline = changes.category_id.is_some() && category != item.category_id;
        let stage = match &changes.stage_id {
            Some(stage_id) => {
                let mut conn = self.db.read().await?;
                let stage = ops::stage(&mut conn, entity_type, stage_id).await;
                Some(stage.map_err(|e| read_error(e, item.item_ref))?)
            }
            None if new_pipeline => {
                let mut conn = self.db.read().await?;
                let stages = ops::stages(&mut conn, entity_type, category.unwrap_or_default()).await;
                stages
                    .map_err(|e| CallError::invalid(e.to_string()))?
                    .into_iter()
                    .next()
            }
            None => None,
        };
        if new_pipeline && stage.is_none() {
            return Err(CallError::invalid(format!(
                "pipeline {} of {entity_type} has no stages",
                category.unwrap_or_default()
            )));
        }
        if let Some(stage) = stage {
            if Some(stage.category_id) != category {
                return Err(CallError::invalid(format!(
                    "stage {} is not in the item's pipeline",
                    stage.status_id
                )));
            }
            item.category_id = category;
            item.in_first_stage = false;
            item.stage_semantic = Some(stage.semantics);
            item.stage_id = Some(stage.status_id);
        }
        item.fields = changes
            .applied_to(&item.fields)
            .map_err(|e| CallError::invalid(e.to_string()))?;
        let item_ref = item.item_ref;
        self.overlay.insert(item_ref, Some(item));
        self.staged.push(StagedChange::Update { item_ref, changes });
        Ok(())
    }

    /// The phones and emails of an item, or, when it has none, of its contact and company.
    async fn client_values(&mut self, item_ref: ItemRef) -> Result<Vec<Comparable>, CrmCallError> {
        let item = self.read(item_ref).await?;
        let own = repeat::values_of(&item.fields);
        if !own.is_empty() {
            return Ok(own);
        }
        let mut values = Vec::new();
        for (field, entity_type) in [("CONTACT_ID", EntityType::Contact), ("COMPANY_ID", EntityType::Company)] {
            let Some(id) = item.fields.get(field).and_then(Value::as_i64) else {
                continue;
            };
            self.entity(Access::Read, &entity_type.to_string())?;
            let client = self.read(ItemRef { entity_type, id }).await?;
            for value in repeat::values_of(&client.fields) {
                if !values.contains(&value) {
                    values.push(value);
                }
            }
        }
        Ok(values)
    }

    /// Applies a change after the run's earlier ones the way the scheduler will, in a transaction
    /// that is rolled back, so the plugin hears about a dismissed responsible or a missing
    /// binding at its call (and may bind to an item it created itself).
    pub(super) async fn dry_run<E: Refusal>(&mut self, change: &StagedChange) -> Result<(), CallError<E>> {
        let mut tx = self.db.check().await?;
        let mut checked = changeset::apply(&mut tx, &Engine, &self.staged, self.now).await;
        if checked.is_ok() {
            checked = change.apply(&mut tx, &Engine, self.now).await;
        }
        tx.undo().await?;
        Ok(checked?)
    }
}

impl wit_crm::Host for RunState {
    fn convert_crm_error(&mut self, err: CrmCallError) -> wasmtime::Result<WitCrmError> {
        err.settle()
    }

    async fn get(&mut self, r: WitRef) -> Result<WitItem, CrmCallError> {
        let item_ref = self.item_ref(Access::Read, &r)?;
        Ok(to_wit_item(&self.read(item_ref).await?))
    }

    async fn list(
        &mut self,
        entity_type: String,
        filter: String,
        order: String,
        select: String,
        limit: u32,
    ) -> Result<Vec<WitItem>, CrmCallError> {
        let et = self.entity(Access::Read, &entity_type)?;
        let select: Vec<String> = match serde_json::from_str(&select) {
            Ok(Value::Array(names)) => names.iter().filter_map(|n| n.as_str().map(str::to_string)).collect(),
            Ok(Value::Object(map)) if map.is_empty() => Vec::new(),
            _ => return Err(CallError::invalid("select must be a JSON array of field names")),
        };
        let query = ops::ListQuery {
            filter: parse_object("filter", &filter)?,
            order: parse_object("order", &order)?,
            page: ops::Page {
                start: 0,
                limit: i64::from(limit.min(self.limits.list_items)),
                count: false,
            },
        };
        let mut conn = self.db.read().await?;
        let (items, _) = ops::list(&mut conn, et, &query).await?;
        Ok(items
            .into_iter()
            .filter_map(|item| match self.overlay.get(&item.item_ref) {
                Some(staged) => staged.clone(),
                None => Some(item),
            })
            .map(|item| selected_wit_item(&item, &select))
            .collect())
    }

    async fn create(&mut self, entity_type: String, fields: String) -> Result<WitRef, CrmCallError> {
        let et = self.entity(Access::Write, &entity_type)?;
        let mut changes = self.check_fields(et, &fields, Write::Create).await?;
        if et.has_stages() && changes.category_id.is_none() {
            let mut conn = self.db.read().await?;
            changes.category_id = Some(ops::default_category(&mut conn, et).await?);
        }
        let id = self.next_id(&et.to_string()).await?;
        let item_ref = ItemRef { entity_type: et, id };
        let item = Item {
            item_ref,
            category_id: changes.category_id,
            stage_id: changes.stage_id.clone(),
            stage_semantic: None,
            in_first_stage: false,
            fields: changes
                .applied_to(&Map::new())
                .map_err(|e| CallError::invalid(e.to_string()))?,
            created_by: AUTOMATION_USER,
            created_at: self.now,
            updated_at: self.now,
        };
        self.overlay.insert(item_ref, Some(item));
        self.staged.push(StagedChange::Create { item_ref, changes });
        Ok(to_wit_ref(item_ref))
    }

    async fn update(&mut self, r: WitRef, fields: String) -> Result<(), CrmCallError> {
        let item = self.writable(&r).await?;
        let changes = self
            .check_fields(item.item_ref.entity_type, &fields, Write::Update)
            .await?;
        self.stage_update(item, changes).await
    }

    async fn delete(&mut self, r: WitRef) -> Result<(), CrmCallError> {
        let item = self.writable(&r).await?;
        self.overlay.insert(item.item_ref, None);
        self.staged.push(StagedChange::Delete(item.item_ref));
        Ok(())
    }

    async fn move_to_stage(&mut self, r: WitRef, stage_id: String) -> Result<(), CrmCallError> {
        let item = self.writable(&r).await?;
        let changes = FieldChanges {
            stage_id: Some(stage_id),
            ..FieldChanges::default()
        };
        self.stage_update(item, changes).await
    }

    async fn add_comment(&mut self, r: WitRef, text: String) -> Result<u64, CrmCallError> {
        let item = self.writable(&r).await?;
        if text.trim().is_empty() {
            return Err(CallError::invalid("comment text is empty"));
        }
        let id = self.next_id(ops::COMMENT_SEQUENCE).await?;
        self.staged.push(StagedChange::Comment {
            item_ref: item.item_ref,
            id,
            text,
        });
        Ok(id as u64)
    }

    async fn add_activity(&mut self, r: WitRef, activity: String) -> Result<u64, CrmCallError> {
        let item = self.writable(&r).await?;
        let fields = parse_object("activity", &activity)?;
        if fields.keys().any(|k| k.starts_with("OWNER_")) {
            return Err(CallError::invalid(
                "an activity belongs to the item it is added to; leave out OWNER_TYPE_ID and OWNER_ID",
            ));
        }
        let changes = ActivityChanges {
            owner: Some(item.item_ref),
            ..ActivityChanges::from_rest(&fields)?
        };
        let id = self.next_id(activities::SEQUENCE).await?;
        let change = StagedChange::Activity { id, changes };
        self.dry_run(&change).await?;
        self.staged.push(change);
        Ok(id as u64)
    }

    async fn create_task(&mut self, task: String) -> Result<u64, CrmCallError> {
        self.allow(|g| g.check(Access::Write, TASKS))?;
        let fields = parse_object("task", &task)?;
        let changes = TaskChanges::from_rest(&fields)?;
        if changes.created_by.is_none() {
            return Err(CallError::invalid(
                "CREATED_BY is required: tasks are created in an employee's name",
            ));
        }
        let changes = TaskChanges {
            robot_id: self.robot_id.clone(),
            ..changes
        };
        let id = self.next_id(tasks::SEQUENCE).await?;
        let change = StagedChange::Task { id, changes };
        self.dry_run(&change).await?;
        self.staged.push(change);
        Ok(id as u64)
    }

    async fn complete_tasks(&mut self, r: WitRef, robot_id: Option<String>) -> Result<u32, CrmCallError> {
        self.allow(|g| g.check(Access::Write, TASKS))?;
        let item = self.item_ref(Access::Read, &r)?;
        self.read(item).await?;
        let mut tx = self.db.check().await?;
        let open = match changeset::apply(&mut tx, &Engine, &self.staged, self.now).await {
            Ok(()) => tasks::open_of(&mut tx, item, robot_id.as_deref()).await,
            Err(e) => Err(e),
        };
        tx.undo().await?;
        let open = open?;
        if !open.is_empty() {
            self.staged.push(StagedChange::CompleteTasks { item, robot_id });
        }
        Ok(u32::try_from(open.len()).unwrap_or(u32::MAX))
    }

    async fn add_to_exceptions(&mut self, r: WitRef, comment: String) -> Result<u32, CrmCallError> {
        self.allow(|g| g.check(Access::Write, EXCEPTIONS))?;
        let item_ref = self.item_ref(Access::Read, &r)?;
        let mut values = self.client_values(item_ref).await?;
        let mut conn = self.db.read().await?;
        let listed = repeat::listed(&mut conn, &values).await?;
        drop(conn);
        let staged: Vec<&Comparable> = self
            .staged
            .iter()
            .filter_map(|c| match c {
                StagedChange::Exceptions(new) => Some(&new.values),
                _ => None,
            })
            .flatten()
            .collect();
        values.retain(|v| !listed.contains(v) && !staged.contains(&v));
        let added = values.len() as u32;
        if !values.is_empty() {
            self.staged.push(StagedChange::Exceptions(NewExceptions {
                values,
                comment,
                added_by: AUTOMATION_USER,
                run_id: self.run_id.clone(),
                item: Some(item_ref),
            }));
        }
        Ok(added)
    }
}
