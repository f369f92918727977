//! A run's writes: staged while its plugin runs, applied in the transaction that ends the run,
//! through the same CRM operations the REST API uses, so a staged write sets off the same
//! automation as a REST call would.

use serde_json::{Value, json};

use crate::booking::{self, NewBooking};
use crate::clock::Millis;
use crate::crm::activities::{self, ActivityChanges};
use crate::crm::repeat::{self, NewExceptions};
use crate::crm::{self, Automation};
use crate::directory::AUTOMATION_USER;
use crate::feed::{self, NewPost};
use crate::mailer::{self, OutgoingEmail};
use crate::model::{CrmError, FieldChanges, ItemRef};
use crate::notifications::{self, NewNotification};
use crate::sms::{self, OutgoingSms};
use crate::store::Tx;
use crate::tasks::{self, TaskChanges};

/// A write a plugin made, applied when its run commits.
#[derive(Debug, Clone)]
pub enum StagedChange {
    /// A new item, with the id the plugin was told.
    Create {
        /// Its reference.
        item_ref: ItemRef,
        /// Its fields.
        changes: FieldChanges,
    },
    /// Changed fields and/or a stage move.
    Update {
        /// Which item.
        item_ref: ItemRef,
        /// The change.
        changes: FieldChanges,
    },
    /// A deleted item.
    Delete(ItemRef),
    /// A timeline comment.
    Comment {
        /// Which item.
        item_ref: ItemRef,
        /// The comment id the plugin was told.
        id: i64,
        /// Its text.
        text: String,
    },
    /// A scheduled activity.
    Activity {
        /// The activity id the plugin was told.
        id: i64,
        /// Its fields, owner included.
        changes: ActivityChanges,
    },
    /// A task for an employee.
    Task {
        /// The task id the plugin was told.
        id: i64,
        /// Its fields.
        changes: TaskChanges,
    },
    /// A notification to a user.
    Notification(NewNotification),
    /// An email for the outbox.
    Email(OutgoingEmail),
    /// A text message for the outbox.
    Sms(OutgoingSms),
    /// A resource booked.
    Booking {
        /// The booking id the plugin was told.
        id: i64,
        /// The booking.
        booking: NewBooking,
    },
    /// A booking cancelled.
    CancelBooking(i64),
    /// A post in the Activity Stream.
    FeedPost {
        /// The post id the plugin was told.
        id: i64,
        /// The post.
        post: NewPost,
    },
    /// Phones and emails for the repeat-lead exception list.
    Exceptions(NewExceptions),
    /// The item's open tasks completed: all, or those the robot `robot_id` created.
    CompleteTasks {
        /// The item.
        item: ItemRef,
        /// The robot whose tasks only.
        robot_id: Option<String>,
    },
}

impl StagedChange {
    /// Applies the change, in the automation user's name.
    pub async fn apply(&self, tx: &mut Tx, automation: &dyn Automation, now: Millis) -> Result<(), CrmError> {
        match self {
            StagedChange::Create { item_ref, changes } => {
                let (entity_type, id) = (item_ref.entity_type, Some(item_ref.id));
                crm::create(tx, automation, entity_type, id, changes.clone(), AUTOMATION_USER, now).await?;
            }
            StagedChange::Update { item_ref, changes } => {
                crm::update(tx, automation, *item_ref, changes.clone(), now).await?;
            }
            StagedChange::Delete(item_ref) => crm::delete(tx, automation, *item_ref, now).await?,
            StagedChange::Comment { item_ref, id, text } => {
                crm::add_comment(tx, automation, *item_ref, Some(*id), AUTOMATION_USER, text, now).await?;
            }
            StagedChange::Activity { id, changes } => {
                activities::add(tx, automation, Some(*id), changes, AUTOMATION_USER, now).await?;
            }
            StagedChange::Task { id, changes } => {
                tasks::add(tx, automation, Some(*id), changes, AUTOMATION_USER, now).await?;
            }
            StagedChange::Notification(notification) => {
                notifications::add(tx, notification, now).await?;
            }
            StagedChange::Email(email) => mailer::queue(tx, email, now).await?,
            StagedChange::Sms(message) => sms::queue(tx, message, now).await?,
            StagedChange::FeedPost { id, post } => {
                feed::add_post(tx, Some(*id), post, now).await?;
            }
            StagedChange::Booking { id, booking } => {
                booking::book(tx, Some(*id), booking, now).await?;
            }
            StagedChange::CancelBooking(id) => {
                booking::cancel(tx, *id, now).await?;
            }
            StagedChange::Exceptions(new) => {
                repeat::add(tx, new, now).await?;
            }
            StagedChange::CompleteTasks { item, robot_id } => {
                tasks::complete_open(tx, automation, *item, robot_id.as_deref(), now).await?;
            }
        }
        Ok(())
    }
}

impl StagedChange {
    /// The change as JSON, for a person reading what a run wrote: its `kind` ("create",
    /// "update", "delete", "comment", "activity", "task", "notification", "email",
    /// "exceptions") and what it says.
    pub fn describe(&self) -> Value {
        let item = |r: &ItemRef| json!({"entity_type": r.entity_type.to_string(), "id": r.id});
        match self {
            StagedChange::Create { item_ref, changes } => json!({
                "kind": "create", "item": item(item_ref), "category_id": changes.category_id,
                "stage_id": changes.stage_id, "fields": changes.fields,
            }),
            StagedChange::Update { item_ref, changes } => json!({
                "kind": "update", "item": item(item_ref), "stage_id": changes.stage_id, "fields": changes.fields,
            }),
            StagedChange::Delete(item_ref) => json!({"kind": "delete", "item": item(item_ref)}),
            StagedChange::Comment { item_ref, id, text } => {
                json!({"kind": "comment", "item": item(item_ref), "id": id, "text": text})
            }
            StagedChange::Activity { id, changes } => json!({
                "kind": "activity", "id": id, "item": changes.owner.as_ref().map(item),
                "type_id": changes.type_id, "subject": changes.subject, "responsible_id": changes.responsible_id,
            }),
            StagedChange::Task { id, changes } => json!({
                "kind": "task", "id": id, "title": changes.title,
                "responsible_id": changes.responsible_id, "created_by": changes.created_by,
            }),
            StagedChange::Notification(n) => {
                json!({"kind": "notification", "id": n.id, "user_id": n.user_id, "message": n.message})
            }
            StagedChange::Email(e) => {
                json!({"kind": "email", "id": e.id, "to": e.to, "subject": e.subject, "text": e.text})
            }
            StagedChange::Sms(m) => json!({"kind": "sms", "id": m.id, "to": m.to, "text": m.text}),
            StagedChange::Booking { id, booking } => json!({
                "kind": "booking", "id": id, "resource_id": booking.resource_id, "name": booking.name,
                "starts_at": booking.starts_at, "ends_at": booking.ends_at,
            }),
            StagedChange::CancelBooking(id) => json!({"kind": "cancel_booking", "id": id}),
            StagedChange::FeedPost { id, post } => json!({
                "kind": "feed_post", "id": id, "title": post.title, "text": post.message,
                "item": post.item.map(|i| i.short()),
            }),
            StagedChange::Exceptions(new) => json!({
                "kind": "exceptions", "values": new.values.iter().map(|(_, value)| value).collect::<Vec<_>>(), "comment": new.comment,
            }),
            StagedChange::CompleteTasks { item, robot_id } => json!({
                "kind": "complete_tasks", "item": item.short(), "robot_id": robot_id,
            }),
        }
    }
}

/// Applies a run's staged changes in order; the first that cannot be applied stops the rest.
pub async fn apply(
    tx: &mut Tx,
    automation: &dyn Automation,
    changes: &[StagedChange],
    now: Millis,
) -> Result<(), CrmError> {
    for change in changes {
        change.apply(tx, automation, now).await?;
    }
    Ok(())
}
