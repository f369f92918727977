//! Access permissions, as Bitrix24's CRM roles have them: a role says, per entity type, which
//! items its users may read, add, update and delete (none, their own, their department's, or
//! all), and whether they may read or change the type's automation rules.
//!
//! A user has the union of their roles' permissions, or those of role 1 ("Employee") while they
//! have none. Administrators (users marked admin, and admin tokens) may do everything. A
//! webhook acts as its user. The REST methods, the admin API's robot and trigger endpoints and
//! the board all ask the same [`Access`], so what a page hides the API refuses too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::directory::{self, User};
use crate::model::{CrmError, EntityType, Item, checked_name};
use crate::store::{self, Conn, Store, Tx};

/// The role every user without a role of their own has; it cannot be deleted.
pub const DEFAULT_ROLE: i64 = 1;

/// The key of a role's permissions that covers every smart process without an entry of its own.
pub const EVERY_SMART_PROCESS: &str = "dynamic";

/// Which items an item permission reaches, from nothing to everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// No item.
    #[default]
    None,
    /// Items the user is responsible for.
    Own,
    /// Items someone in one of the user's departments is responsible for.
    Department,
    /// Every item.
    All,
}

/// What a user may do with an entity type's automation rules (robots and triggers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleAccess {
    /// Neither see nor change them.
    #[default]
    None,
    /// See them.
    Read,
    /// See and change them.
    Update,
}

/// One entity type's permissions in a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypePermissions {
    /// Reading items (get, list, the board).
    #[serde(default)]
    pub read: Scope,
    /// Adding items.
    #[serde(default)]
    pub add: Scope,
    /// Changing items, moving them between stages included.
    #[serde(default)]
    pub update: Scope,
    /// Deleting items.
    #[serde(default)]
    pub delete: Scope,
    /// The type's automation rules.
    #[serde(default)]
    pub automation: RuleAccess,
}

impl TypePermissions {
    fn union(self, other: Self) -> Self {
        Self {
            read: self.read.max(other.read),
            add: self.add.max(other.add),
            update: self.update.max(other.update),
            delete: self.delete.max(other.delete),
            automation: self.automation.max(other.automation),
        }
    }

    fn scope(&self, action: ItemAction) -> Scope {
        match action {
            ItemAction::Read => self.read,
            ItemAction::Add => self.add,
            ItemAction::Update => self.update,
            ItemAction::Delete => self.delete,
        }
    }
}

/// What is done to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemAction {
    /// Reading it.
    Read,
    /// Adding it.
    Add,
    /// Changing it.
    Update,
    /// Deleting it.
    Delete,
}

impl ItemAction {
    fn verb(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Add => "add",
            Self::Update => "change",
            Self::Delete => "delete",
        }
    }
}

/// A role as stored and shown by the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Role {
    /// Its id.
    pub id: i64,
    /// Its name ("Sales manager").
    pub name: String,
    /// By entity type ("lead", "deal", "contact", "company", "dynamic_128", or "dynamic" for
    /// every smart process without an entry); a type left out is "none" throughout.
    pub permissions: BTreeMap<String, TypePermissions>,
}

/// A role as the admin API receives it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// Its name, unique.
    pub name: String,
    /// By entity type, as [`Role::permissions`].
    #[serde(default)]
    pub permissions: BTreeMap<String, TypePermissions>,
}

/// A refusal: the caller's roles do not allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

fn check_keys(permissions: &BTreeMap<String, TypePermissions>) -> Result<(), CrmError> {
    for key in permissions.keys() {
        if key != EVERY_SMART_PROCESS {
            EntityType::parse(key).map_err(|_| {
                CrmError::Invalid(format!(
                    "{key} is no entity type (lead, deal, contact, company, dynamic_N or dynamic)"
                ))
            })?;
        }
    }
    Ok(())
}

fn role_from_row(row: &store::Row) -> Result<Role, CrmError> {
    let permissions: String = row.try_get("permissions")?;
    Ok(Role {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        permissions: serde_json::from_str(&permissions)
            .map_err(|e| CrmError::Invalid(format!("stored role permissions are corrupt: {e}")))?,
    })
}

/// Every role, by id.
pub async fn roles(conn: &mut Conn) -> Result<Vec<Role>, CrmError> {
    let rows = store::query("SELECT * FROM roles ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(role_from_row).collect()
}

/// One role.
pub async fn role(conn: &mut Conn, id: i64) -> Result<Role, CrmError> {
    let row = store::query("SELECT * FROM roles WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref()
        .map(role_from_row)
        .unwrap_or_else(|| Err(CrmError::NotFound(format!("role {id}"))))
}

/// Adds a role.
pub async fn add_role(tx: &mut Tx, new: &NewRole, now: Millis) -> Result<Role, CrmError> {
    check_keys(&new.permissions)?;
    let id = Store::next_id(tx, "role").await?;
    store::query("INSERT INTO roles (id, name, permissions, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(unique_name(tx, &new.name, None).await?)
        .bind(serde_json::to_string(&new.permissions).expect("permissions serialize"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    role(tx, id).await
}

/// Renames a role and replaces its permissions.
pub async fn update_role(tx: &mut Tx, id: i64, new: &NewRole) -> Result<Role, CrmError> {
    check_keys(&new.permissions)?;
    role(tx, id).await?;
    store::query("UPDATE roles SET name = $1, permissions = $2 WHERE id = $3")
        .bind(unique_name(tx, &new.name, Some(id)).await?)
        .bind(serde_json::to_string(&new.permissions).expect("permissions serialize"))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    role(tx, id).await
}

async fn unique_name(tx: &mut Tx, name: &str, own_id: Option<i64>) -> Result<String, CrmError> {
    let name = checked_name("name", name.trim())?.to_string();
    let taken: Option<i64> = store::query_scalar("SELECT id FROM roles WHERE name = $1")
        .bind(&name)
        .fetch_optional(&mut *tx)
        .await?;
    match taken {
        Some(other) if Some(other) != own_id => Err(CrmError::Invalid(format!("a role named {name} exists"))),
        _ => Ok(name),
    }
}

/// Deletes a role; its users keep their other roles (or fall back to the default role).
pub async fn delete_role(tx: &mut Tx, id: i64) -> Result<bool, CrmError> {
    if id == DEFAULT_ROLE {
        return Err(CrmError::Invalid(
            "role 1 is every role-less user's; change its permissions instead".into(),
        ));
    }
    store::query("DELETE FROM user_roles WHERE role_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let deleted = store::query("DELETE FROM roles WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// The roles a user has been given (none means the default role).
pub async fn roles_of(conn: &mut Conn, user_id: i64) -> Result<Vec<i64>, CrmError> {
    Ok(
        store::query_scalar("SELECT role_id FROM user_roles WHERE user_id = $1 ORDER BY role_id")
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// Gives a user exactly these roles.
pub async fn set_roles_of(tx: &mut Tx, user_id: i64, role_ids: &[i64]) -> Result<Vec<i64>, CrmError> {
    directory::user(tx, user_id).await?;
    for id in role_ids {
        role(tx, *id).await?;
    }
    store::query("DELETE FROM user_roles WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    for id in role_ids {
        store::query("INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    roles_of(tx, user_id).await
}

/// What one caller may do: computed once per request from their roles and departments.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    /// The caller.
    pub user_id: i64,
    /// Whether they may do everything.
    pub is_admin: bool,
    by_type: BTreeMap<String, TypePermissions>,
    /// The users who share a department with the caller, the caller included.
    colleagues: Vec<i64>,
}

impl Access {
    /// An administrator's access: everything.
    pub fn everything(user_id: i64) -> Self {
        Self {
            user_id,
            is_admin: true,
            by_type: BTreeMap::new(),
            colleagues: vec![user_id],
        }
    }

    /// The access of `user_id`: everything for an administrator (`is_admin`, or the user is
    /// marked admin), else the union of their roles.
    pub async fn of(conn: &mut Conn, user_id: i64, is_admin: bool) -> Result<Self, CrmError> {
        let user = directory::user(conn, user_id).await?;
        Self::of_user(conn, &user, is_admin).await
    }

    /// [`Access::of`] for a user already read.
    pub async fn of_user(conn: &mut Conn, user: &User, is_admin: bool) -> Result<Self, CrmError> {
        let user_id = user.id;
        if is_admin || user.is_admin {
            return Ok(Self::everything(user_id));
        }
        let mut ids = roles_of(conn, user_id).await?;
        if ids.is_empty() {
            ids.push(DEFAULT_ROLE);
        }
        let mut by_type: BTreeMap<String, TypePermissions> = BTreeMap::new();
        for id in ids {
            let Ok(role) = role(conn, id).await else { continue };
            for (key, permissions) in role.permissions {
                let merged = by_type.get(&key).copied().unwrap_or_default().union(permissions);
                by_type.insert(key, merged);
            }
        }
        let colleagues = if user.departments.is_empty() {
            vec![user_id]
        } else {
            let sql = format!(
                "SELECT DISTINCT user_id FROM user_departments WHERE department_id IN ({}) ORDER BY user_id",
                store::placeholders(1, user.departments.len())
            );
            let mut query = store::query_scalar(&sql);
            for department in &user.departments {
                query = query.bind(department);
            }
            let mut found: Vec<i64> = query.fetch_all(&mut *conn).await?;
            if !found.contains(&user_id) {
                found.push(user_id);
            }
            found
        };
        Ok(Self {
            user_id,
            is_admin: false,
            by_type,
            colleagues,
        })
    }

    fn permissions(&self, entity_type: EntityType) -> TypePermissions {
        if self.is_admin {
            return TypePermissions {
                read: Scope::All,
                add: Scope::All,
                update: Scope::All,
                delete: Scope::All,
                automation: RuleAccess::Update,
            };
        }
        let own = self.by_type.get(&entity_type.to_string()).copied();
        let fallback = || match entity_type {
            EntityType::Dynamic(_) => self.by_type.get(EVERY_SMART_PROCESS).copied(),
            _ => None,
        };
        own.or_else(fallback).unwrap_or_default()
    }

    /// How far an action on a type's items reaches.
    pub fn scope(&self, entity_type: EntityType, action: ItemAction) -> Scope {
        self.permissions(entity_type).scope(action)
    }

    /// What the caller may do with a type's automation rules.
    pub fn automation(&self, entity_type: EntityType) -> RuleAccess {
        self.permissions(entity_type).automation
    }

    /// Refuses an action on an item whose responsible person is `responsible`.
    pub fn check_item(
        &self,
        entity_type: EntityType,
        action: ItemAction,
        responsible: Option<i64>,
    ) -> Result<(), Denied> {
        let allowed = match self.scope(entity_type, action) {
            Scope::None => false,
            Scope::Own => responsible == Some(self.user_id),
            Scope::Department => responsible.is_some_and(|r| self.colleagues.contains(&r)),
            Scope::All => true,
        };
        if allowed {
            Ok(())
        } else {
            Err(Denied(format!(
                "Access denied: your role does not let you {} this {entity_type}",
                action.verb()
            )))
        }
    }

    /// Refuses an action on a stored item, by its responsible person.
    pub fn check_stored(&self, item: &Item, action: ItemAction) -> Result<(), Denied> {
        let responsible = item.fields.get("ASSIGNED_BY_ID").and_then(Value::as_i64);
        self.check_item(item.item_ref.entity_type, action, responsible)
    }

    /// Whose items of a type the caller may read: `None` everyone's, else those whose responsible
    /// person is one of these.
    pub fn readable_responsibles(&self, entity_type: EntityType) -> Result<Option<Vec<i64>>, Denied> {
        match self.scope(entity_type, ItemAction::Read) {
            Scope::All => Ok(None),
            Scope::None => Err(Denied(format!(
                "Access denied: your role does not let you read {entity_type} items"
            ))),
            Scope::Own => Ok(Some(vec![self.user_id])),
            Scope::Department => Ok(Some(self.colleagues.clone())),
        }
    }

    /// `filter` narrowed to the items the caller may read: Bitrix24's filter with the caller's
    /// scope added as a group of its own, so the caller's own OR cannot widen it.
    pub fn readable(&self, entity_type: EntityType, filter: Map<String, Value>) -> Result<Map<String, Value>, Denied> {
        let Some(responsibles) = self.readable_responsibles(entity_type)? else {
            return Ok(filter);
        };
        Ok(Map::from_iter([
            ("asked".to_string(), Value::Object(filter)),
            ("allowed".to_string(), json!({"@ASSIGNED_BY_ID": responsibles})),
        ]))
    }

    /// Refuses what the automation rules of a type need beyond the caller's access.
    pub fn check_automation(&self, entity_type: EntityType, needed: RuleAccess) -> Result<(), Denied> {
        if self.automation(entity_type) >= needed {
            Ok(())
        } else {
            let what = if needed == RuleAccess::Update { "change" } else { "see" };
            Err(Denied(format!(
                "Access denied: your role does not let you {what} the automation rules of {entity_type}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(by_type: &[(&str, TypePermissions)]) -> Access {
        Access {
            user_id: 7,
            is_admin: false,
            by_type: by_type.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            colleagues: vec![7, 8],
        }
    }

    #[test]
    fn scopes_reach_own_department_or_all_items() {
        let each = |scope| TypePermissions {
            update: scope,
            ..TypePermissions::default()
        };
        let deal = EntityType::Deal;
        let check = |scope, responsible| {
            access(&[("deal", each(scope))])
                .check_item(deal, ItemAction::Update, responsible)
                .is_ok()
        };
        assert_eq!(
            [
                check(Scope::None, Some(7)),
                check(Scope::Own, Some(7)),
                check(Scope::Own, Some(8))
            ],
            [false, true, false]
        );
        assert_eq!(
            [
                check(Scope::Department, Some(8)),
                check(Scope::Department, Some(9)),
                check(Scope::All, Some(9))
            ],
            [true, false, true]
        );
        assert!(
            !check(Scope::Own, None),
            "an item without a responsible is no one's own"
        );
    }

    #[test]
    fn smart_processes_fall_back_to_the_every_smart_process_entry_and_admins_may_do_everything() {
        let read = TypePermissions {
            read: Scope::All,
            ..TypePermissions::default()
        };
        let a = access(&[("dynamic", read), ("dynamic_130", TypePermissions::default())]);
        assert_eq!(a.scope(EntityType::Dynamic(128), ItemAction::Read), Scope::All);
        assert_eq!(a.scope(EntityType::Dynamic(130), ItemAction::Read), Scope::None);
        assert_eq!(a.scope(EntityType::Lead, ItemAction::Read), Scope::None);
        let admin = Access::everything(1);
        assert_eq!(admin.automation(EntityType::Lead), RuleAccess::Update);
        assert!(admin.readable(EntityType::Deal, Map::new()).unwrap().is_empty());
    }
}
