use crate::bindings::stagewright::action::{
    booking, crm, directory, email, feed, flow, log, notify, sms, types as wit,
};
use crate::{ActionError, Item, ItemRef};
use serde_json::{Value, json};
use std::cell::OnceCell;

/// One run's view of the world: the item it runs for, and the host's CRM and log.
pub struct Context {
    invocation: wit::Invocation,
    /// The item's fields, parsed on first use: many actions never read them.
    fields: OnceCell<Value>,
}

impl Context {
    pub(crate) fn new(invocation: wit::Invocation) -> Self {
        Self {
            invocation,
            fields: OnceCell::new(),
        }
    }

    /// The run's unique id, also the idempotency key for outside effects.
    pub fn run_id(&self) -> &str {
        &self.invocation.run_id
    }

    /// The item this run is for.
    pub fn item(&self) -> &Item {
        &self.invocation.item
    }

    /// A field of the item, by its Bitrix24 name ("TITLE"); `None` when absent.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields
            .get_or_init(|| serde_json::from_str(&self.invocation.item.fields).unwrap_or(Value::Null))
            .get(name)
    }

    /// The client's first value of a multi-field (`"PHONE"`, `"EMAIL"`): on the item itself
    /// (a lead, contact or company), else on its contact (`CONTACT_ID`), else on its company
    /// (`COMPANY_ID`); `None` when none has one. Reading the contact or company needs
    /// `Capability::Read` of `"contact"` and `"company"`.
    pub fn client_value(&self, field: &str) -> Result<Option<String>, ActionError> {
        if let Some(value) = first_value(self.field(field)) {
            return Ok(Some(value));
        }
        for (link, entity_type) in [("CONTACT_ID", "contact"), ("COMPANY_ID", "company")] {
            let Some(id) = self.field(link).and_then(|v| crate::id_from(v, link).ok()) else {
                continue;
            };
            let linked = self.get(&ItemRef {
                entity_type: entity_type.into(),
                id,
            })?;
            let fields: Value = serde_json::from_str(&linked.fields).unwrap_or(Value::Null);
            if let Some(value) = first_value(fields.get(field)) {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// The item's responsible (`ASSIGNED_BY_ID`).
    pub fn responsible(&self) -> Result<u64, ActionError> {
        self.field("ASSIGNED_BY_ID")
            .ok_or_else(|| ActionError::Failed("the item has no responsible".into()))
            .and_then(|id| crate::id_from(id, "the item's responsible"))
    }

    /// The attempt number, 1 for the first.
    pub fn attempt(&self) -> u32 {
        self.invocation.attempt
    }

    /// The scheduler's clock in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.invocation.now_ms
    }

    /// Return values of earlier robots of the same stage run, keyed by robot id.
    pub fn previous(&self) -> Value {
        serde_json::from_str(&self.invocation.previous).unwrap_or(Value::Null)
    }

    /// Reads an item (seeing this run's own staged writes).
    pub fn get(&self, item: &ItemRef) -> Result<Item, ActionError> {
        Ok(crm::get(item)?)
    }

    /// Creates an item; `fields` is a JSON object.
    pub fn create(&self, entity_type: &str, fields: &Value) -> Result<ItemRef, ActionError> {
        Ok(crm::create(entity_type, &fields.to_string())?)
    }

    /// Sets fields of an item; `fields` is a JSON object.
    pub fn update(&self, item: &ItemRef, fields: &Value) -> Result<(), ActionError> {
        Ok(crm::update(item, &fields.to_string())?)
    }

    /// Deletes an item.
    pub fn delete(&self, item: &ItemRef) -> Result<(), ActionError> {
        Ok(crm::delete(item)?)
    }

    /// Moves an item to a stage of its pipeline.
    pub fn move_to_stage(&self, item: &ItemRef, stage_id: &str) -> Result<(), ActionError> {
        Ok(crm::move_to_stage(item, stage_id)?)
    }

    /// Adds a timeline comment; returns its id.
    pub fn add_comment(&self, item: &ItemRef, text: &str) -> Result<u64, ActionError> {
        Ok(crm::add_comment(item, text)?)
    }

    /// Schedules a meeting, call or to-do on the item's timeline (fields as crm.activity.add:
    /// TYPE_ID, SUBJECT, DESCRIPTION, RESPONSIBLE_ID, START_TIME, END_TIME, DEADLINE); returns
    /// its id.
    pub fn add_activity(&self, item: &ItemRef, activity: &Value) -> Result<u64, ActionError> {
        Ok(crm::add_activity(item, &activity.to_string())?)
    }

    /// Creates an employee's task (fields as tasks.task.add: TITLE, DESCRIPTION, RESPONSIBLE_ID,
    /// CREATED_BY, DEADLINE, PRIORITY, UF_CRM_TASK); returns its id. Needs
    /// `Capability::Write("task")`.
    pub fn create_task(&self, task: &Value) -> Result<u64, ActionError> {
        Ok(crm::create_task(&task.to_string())?)
    }

    /// Puts the item's phones and emails (or, when it has none, those of its contact and
    /// company) on the repeat-lead exception list, so a new lead with one of them is not a
    /// repeat lead; returns how many were not listed yet. Staged like a write. Needs read access
    /// to the item's type (and to contacts and companies for linked clients) and
    /// `Capability::Write("exceptions")` (since 0.1.3).
    pub fn add_to_exceptions(&self, item: &ItemRef, comment: &str) -> Result<u32, ActionError> {
        Ok(crm::add_to_exceptions(item, comment)?)
    }

    /// Completes the item's open tasks, or only those the robot `robot_id` created (a robot id,
    /// `r_…`); returns how many. Staged like a write. Needs read access to the item's type and
    /// `Capability::Write("task")` (since 0.1.5).
    pub fn complete_tasks(&self, item: &ItemRef, robot_id: Option<&str>) -> Result<u32, ActionError> {
        Ok(crm::complete_tasks(item, robot_id)?)
    }

    /// Which of `users` are absent (vacation, sick leave, business trip) by the directory's
    /// absence calendar at this run's time ([`Context::now_ms`]), in the order given: for actions
    /// that hand out work. Needs `Capability::Read("user")` (since 0.1.3).
    pub fn absent(&self, users: &[u64]) -> Result<Vec<u64>, ActionError> {
        Ok(directory::absent(users)?)
    }

    /// The next of `users` in this robot's rotation, passing over `skipping` (the absent, say);
    /// `None` when every user is skipped. The host keeps whose turn it is per robot and takes
    /// the turn at once, so runs of one robot that run together get one user after another.
    /// Needs `Capability::Read("user")` (since 0.1.4).
    pub fn next_in_turn(&self, users: &[u64], skipping: &[u64]) -> Result<Option<u64>, ActionError> {
        Ok(directory::next_in_turn(users, skipping)?)
    }

    /// Notifies a user, or a user's supervisor; returns the notification's id and the id of
    /// the user it went to. Needs `Capability::Notify`.
    pub fn notify(&self, to: notify::Recipient, message: &str) -> Result<(u64, u64), ActionError> {
        Ok(notify::send(to, message)?)
    }

    /// Queues a text message for the host's SMS gateway, to a phone number or to an employee's
    /// mobile number; returns its outbox id. Needs `Capability::Write("sms")` (since 0.1.5).
    pub fn send_sms(&self, to: &sms::Recipient, text: &str) -> Result<String, ActionError> {
        Ok(sms::send(to, text)?)
    }

    /// Books `resource` for `minutes` from `start` (ISO 8601) for `user`, about `about` when
    /// given, named `title`; returns the booking's id. A clash with another booking fails with
    /// the booking in the way. Needs `Capability::Write("booking")` (since 0.1.5).
    pub fn book(
        &self,
        resource: u64,
        (start, minutes): (&str, u32),
        user: Option<u64>,
        title: &str,
        about: Option<&ItemRef>,
    ) -> Result<u64, ActionError> {
        Ok(booking::book(resource, start, minutes, user, title, about)?)
    }

    /// Cancels a booking; answers whether it was still booked. Needs
    /// `Capability::Write("booking")` (since 0.1.5).
    pub fn cancel_booking(&self, id: u64) -> Result<bool, ActionError> {
        Ok(booking::cancel(id)?)
    }

    /// Publishes a post in the Activity Stream from `author` (an active user), about `about`
    /// when given (the post names the item and shows on its timeline); returns the post's id.
    /// Needs `Capability::Write("feed")` (since 0.1.5).
    pub fn post_to_feed(
        &self,
        author: u64,
        title: &str,
        text: &str,
        about: Option<&ItemRef>,
    ) -> Result<u64, ActionError> {
        Ok(feed::post(author, title, text, about)?)
    }

    /// Queues an email for the host's mailer; returns its outbox id. Needs `Capability::Email`.
    pub fn send_email(&self, message: &email::Message) -> Result<String, ActionError> {
        Ok(email::queue(message)?)
    }

    /// Lists items with Bitrix24-style `filter`, `order` and `select` objects.
    pub fn list(
        &self,
        entity_type: &str,
        filter: &Value,
        order: &Value,
        select: &Value,
        limit: u32,
    ) -> Result<Vec<Item>, ActionError> {
        Ok(crm::list(
            entity_type,
            &filter.to_string(),
            &order.to_string(),
            &select.to_string(),
            limit,
        )?)
    }

    /// The first item (lowest id) of `entity_type` matching a Bitrix24-style `filter`, if any:
    /// what "find the item to edit" actions need.
    pub fn first(&self, entity_type: &str, filter: &Value) -> Result<Option<Item>, ActionError> {
        let found = self.list(entity_type, filter, &json!({"ID": "ASC"}), &json!([]), 1)?;
        Ok(found.into_iter().next())
    }

    /// Parks the stage's chain when this run succeeds: the robots after it wait until one of
    /// `wake_on` happens to the item or the clock reaches `until_ms`; the run then succeeds with
    /// `woke_by` among its return values (since 0.1.2).
    pub fn wait(&self, until_ms: u64, wake_on: &[flow::WakeOn]) {
        flow::wait(until_ms, wake_on);
    }

    /// Appends a line to the run record.
    pub fn log(&self, level: log::Level, message: &str) {
        log::write(level, message);
    }
}

/// The first non-empty value of a Bitrix24 multi-field (`[{"VALUE": "...", ...}]`).
fn first_value(field: Option<&Value>) -> Option<String> {
    field?
        .as_array()?
        .iter()
        .filter_map(|entry| entry.get("VALUE")?.as_str())
        .map(str::trim)
        .find(|value| !value.is_empty())
        .map(str::to_string)
}
