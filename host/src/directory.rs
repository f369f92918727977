//! The company directory: users, the tree of departments with their heads, and the absence
//! calendar. Robots assign items, tasks and activities to users (passing over those away, where
//! asked) and notify them or their heads of department, so the directory is part of the CRM's
//! data, kept in the same store.

use crate::store;

use crate::clock::Millis;
use crate::model::{CrmError, checked_name};
use crate::store::{Backend, Conn, Store, Tx};

/// User 0: the automation itself, which robots act as. It is not listed and cannot be changed.
pub const AUTOMATION_USER: i64 = 0;

/// A user of the CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: i64,
    /// First name.
    pub name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail address, unique among users.
    pub email: Option<String>,
    /// Job title.
    pub work_position: String,
    /// Mobile phone number (Bitrix24's PERSONAL_MOBILE), for text messages.
    pub personal_mobile: Option<String>,
    /// Whether the user may still act and be assigned work.
    pub active: bool,
    /// Whether the user administers the CRM (pipelines, users, plugins).
    pub is_admin: bool,
    /// The departments the user belongs to, in id order.
    pub departments: Vec<i64>,
}

/// What a user add or update sets; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// First name.
    pub name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Job title.
    pub work_position: Option<String>,
    /// Mobile phone number; empty clears it.
    pub personal_mobile: Option<String>,
    /// Active or dismissed.
    pub active: Option<bool>,
    /// The departments, replacing the current ones.
    pub departments: Option<Vec<i64>>,
}

/// A department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its position among its siblings.
    pub sort: i64,
    /// The department it is part of; `None` for the company itself.
    pub parent_id: Option<i64>,
    /// Its head, who robots notify "the head of the responsible person's department".
    pub head_id: Option<i64>,
}

/// What a department add or update sets; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct DepartmentChanges {
    /// Its name.
    pub name: Option<String>,
    /// Its position among its siblings.
    pub sort: Option<i64>,
    /// The department it is part of.
    pub parent_id: Option<i64>,
    /// Its head.
    pub head_id: Option<i64>,
}

/// The columns [`user_from_row`] reads: the user's, and its departments' ids joined by commas,
/// so a user is one statement however many departments it is in.
fn user_columns(backend: Backend) -> String {
    let joined = match backend {
        Backend::Sqlite => "group_concat(department_id)",
        Backend::Postgres => "string_agg(department_id::text, ',')",
    };
    format!(
        "users.*, (SELECT {joined} FROM user_departments WHERE user_departments.user_id = users.id) AS department_ids"
    )
}

fn user_from_row(row: &store::Row) -> Result<User, CrmError> {
    let joined: Option<String> = row.try_get("department_ids")?;
    let mut departments = joined
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|id| !id.is_empty())
        .map(|id| {
            id.parse::<i64>()
                .map_err(|e| CrmError::Invalid(format!("department id {id}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    departments.sort_unstable();
    Ok(User {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        last_name: row.try_get("last_name")?,
        email: row.try_get("email")?,
        work_position: row.try_get("work_position")?,
        personal_mobile: row.try_get("personal_mobile")?,
        active: row.try_get::<i64, _>("active")? != 0,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        departments,
    })
}

/// One user.
pub async fn user(conn: &mut Conn, id: i64) -> Result<User, CrmError> {
    let sql = format!(
        "SELECT {} FROM users WHERE id = $1 AND id <> $2",
        user_columns(conn.backend())
    );
    let row = store::query(&sql)
        .bind(id)
        .bind(AUTOMATION_USER)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("user {id}")))?;
    user_from_row(&row)
}

/// A user work can be given to: one that exists and is active.
pub async fn active_user(conn: &mut Conn, id: i64) -> Result<User, CrmError> {
    let user = user(conn, id)
        .await
        .map_err(|_| CrmError::Invalid(format!("user {id} does not exist")))?;
    if user.active {
        Ok(user)
    } else {
        Err(CrmError::Invalid(format!("user {id} is not active")))
    }
}

/// Whom a user answers to, as Bitrix24's "supervisor" in robots: the head of the user's first
/// department, or, where the user heads it (or it has no head), of the nearest department above
/// with a head who is someone else.
pub async fn supervisor_of(conn: &mut Conn, user_id: i64) -> Result<User, CrmError> {
    let user = active_user(conn, user_id).await?;
    let mut next = user.departments.first().copied();
    while let Some(id) = next {
        let department = department(conn, id).await?;
        if let Some(head) = department.head_id.filter(|head| *head != user_id) {
            return active_user(conn, head).await;
        }
        next = department.parent_id;
    }
    Err(CrmError::Invalid(format!(
        "user {user_id} has no supervisor: no department above them has a head"
    )))
}

/// Every user but the automation, in id order.
pub async fn users(conn: &mut Conn) -> Result<Vec<User>, CrmError> {
    let sql = format!(
        "SELECT {} FROM users WHERE id <> $1 ORDER BY id",
        user_columns(conn.backend())
    );
    let rows = store::query(&sql).bind(AUTOMATION_USER).fetch_all(&mut *conn).await?;
    rows.iter().map(user_from_row).collect()
}

/// Every user's full name by id, in one query: what a board shows on its cards and in its filter
/// ([`users`] also reads each user's departments).
pub async fn full_names(conn: &mut Conn) -> Result<Vec<(i64, String)>, CrmError> {
    let rows = store::query("SELECT id, name, last_name FROM users WHERE id <> $1 ORDER BY id")
        .bind(AUTOMATION_USER)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            let (name, last_name): (String, String) = (row.try_get("name")?, row.try_get("last_name")?);
            Ok((row.try_get("id")?, format!("{name} {last_name}").trim().to_string()))
        })
        .collect()
}

/// Adds a user; an e-mail address is required and must be free.
pub async fn add_user(tx: &mut Tx, changes: &UserChanges) -> Result<User, CrmError> {
    let email = changes
        .email
        .as_deref()
        .ok_or_else(|| CrmError::Invalid("EMAIL is required".into()))?;
    let id = Store::next_id(tx, "user").await?;
    store::query("INSERT INTO users (id, name, email) VALUES ($1, '', $2)")
        .bind(id)
        .bind(checked_email(tx, id, email).await?)
        .execute(&mut *tx)
        .await?;
    update_user(tx, id, changes).await
}

/// Changes a user's details or departments.
pub async fn update_user(tx: &mut Tx, id: i64, changes: &UserChanges) -> Result<User, CrmError> {
    let current = user(tx, id).await?;
    let email = match changes.email.as_deref() {
        Some(email) => Some(checked_email(tx, id, email).await?),
        None => current.email.as_deref(),
    };
    store::query(
        "UPDATE users SET name = $1, last_name = $2, email = $3, work_position = $4, active = $5, personal_mobile = $7
         WHERE id = $6",
    )
    .bind(changes.name.as_deref().unwrap_or(&current.name).trim())
    .bind(changes.last_name.as_deref().unwrap_or(&current.last_name).trim())
    .bind(email)
    .bind(
        changes
            .work_position
            .as_deref()
            .unwrap_or(&current.work_position)
            .trim(),
    )
    .bind(i64::from(changes.active.unwrap_or(current.active)))
    .bind(id)
    .bind(match &changes.personal_mobile {
        Some(number) if number.trim().is_empty() => None,
        Some(number) => Some(crate::sms::check_number(number)?),
        None => current.personal_mobile.clone(),
    })
    .execute(&mut *tx)
    .await?;
    if let Some(departments) = &changes.departments {
        set_departments(tx, id, departments).await?;
    }
    user(tx, id).await
}

async fn set_departments(tx: &mut Tx, user_id: i64, departments: &[i64]) -> Result<(), CrmError> {
    store::query("DELETE FROM user_departments WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    for &department_id in departments {
        department(tx, department_id).await?;
        store::query("INSERT INTO user_departments (user_id, department_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(user_id)
            .bind(department_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// An address with one `@` and no spaces that no other user has.
async fn checked_email<'a>(tx: &mut Tx, user_id: i64, email: &'a str) -> Result<&'a str, CrmError> {
    let email = email.trim();
    let well_formed = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'))
        && !email.contains(char::is_whitespace);
    if !well_formed {
        return Err(CrmError::Invalid(format!("EMAIL '{email}' is not an e-mail address")));
    }
    let taken: Option<i64> = store::query_scalar("SELECT id FROM users WHERE email = $1 AND id <> $2")
        .bind(email)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
    match taken {
        Some(other) => Err(CrmError::Invalid(format!("EMAIL {email} belongs to user {other}"))),
        None => Ok(email),
    }
}

fn department_from_row(row: &store::Row) -> Result<Department, CrmError> {
    Ok(Department {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        sort: row.try_get("sort")?,
        parent_id: row.try_get("parent_id")?,
        head_id: row.try_get("head_id")?,
    })
}

/// One department.
pub async fn department(conn: &mut Conn, id: i64) -> Result<Department, CrmError> {
    let row = store::query("SELECT * FROM departments WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CrmError::NotFound(format!("department {id}")))?;
    department_from_row(&row)
}

/// Every department, parents before children's siblings, by sort then id.
pub async fn departments(conn: &mut Conn) -> Result<Vec<Department>, CrmError> {
    let rows = store::query("SELECT * FROM departments ORDER BY sort, id")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(department_from_row).collect()
}

/// Adds a department under an existing one.
pub async fn add_department(tx: &mut Tx, changes: &DepartmentChanges) -> Result<Department, CrmError> {
    let name = changes
        .name
        .as_deref()
        .ok_or_else(|| CrmError::Invalid("NAME is required".into()))?;
    let parent = changes
        .parent_id
        .ok_or_else(|| CrmError::Invalid("PARENT is required: the company is the only root".into()))?;
    department(tx, parent).await?;
    let id = Store::next_id(tx, "department").await?;
    store::query("INSERT INTO departments (id, name, sort, parent_id) VALUES ($1, $2, 500, $3)")
        .bind(id)
        .bind(checked_name("NAME", name)?)
        .bind(parent)
        .execute(&mut *tx)
        .await?;
    update_department(tx, id, changes).await
}

/// Renames, re-sorts, moves a department or changes its head; a department cannot move under
/// itself or one of its own sub-departments.
pub async fn update_department(tx: &mut Tx, id: i64, changes: &DepartmentChanges) -> Result<Department, CrmError> {
    let current = department(tx, id).await?;
    if let Some(parent) = changes.parent_id {
        if current.parent_id.is_none() && parent != id {
            return Err(CrmError::Invalid("the company department stays the root".into()));
        }
        check_not_below(tx, id, parent).await?;
    }
    if let Some(head) = changes.head_id {
        user(tx, head).await?;
    }
    let name = changes
        .name
        .as_deref()
        .map(|name| checked_name("NAME", name))
        .transpose()?;
    store::query("UPDATE departments SET name = $1, sort = $2, parent_id = $3, head_id = $4 WHERE id = $5")
        .bind(name.unwrap_or(&current.name))
        .bind(changes.sort.unwrap_or(current.sort))
        .bind(changes.parent_id.or(current.parent_id))
        .bind(changes.head_id.or(current.head_id))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    department(tx, id).await
}

/// Refuses a new parent that is the department itself or lies below it.
async fn check_not_below(tx: &mut Tx, id: i64, new_parent: i64) -> Result<(), CrmError> {
    let mut cursor = Some(new_parent);
    while let Some(at) = cursor {
        if at == id {
            return Err(CrmError::Invalid(format!(
                "department {id} cannot be moved under itself or its own sub-department"
            )));
        }
        cursor = department(tx, at).await?.parent_id;
    }
    Ok(())
}

/// Deletes a department with no sub-departments; its members stay users, without it.
pub async fn delete_department(tx: &mut Tx, id: i64) -> Result<(), CrmError> {
    let doomed = department(tx, id).await?;
    if doomed.parent_id.is_none() {
        return Err(CrmError::Invalid("the company department cannot be deleted".into()));
    }
    let children: i64 = store::query_scalar("SELECT COUNT(*) FROM departments WHERE parent_id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    if children > 0 {
        return Err(CrmError::Invalid(format!(
            "department {id} has {children} sub-departments; delete or move them first"
        )));
    }
    for statement in [
        "DELETE FROM user_departments WHERE department_id = $1",
        "DELETE FROM departments WHERE id = $1",
    ] {
        store::query(statement).bind(id).execute(&mut *tx).await?;
    }
    Ok(())
}

/// What a token opens: the Bitrix24-style REST API as its user, or the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An inbound-webhook token, used in `/rest/{user}/{token}/`.
    Webhook,
    /// An admin API token, sent as `Authorization: Bearer`.
    Admin,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Admin => "admin",
        }
    }

    /// Webhook tokens are as long as Bitrix24's; admin tokens longer, since they open more.
    fn length(self) -> usize {
        match self {
            Self::Webhook => 16,
            Self::Admin => 32,
        }
    }
}

/// The scopes a webhook token can carry, as Bitrix24 names them; a method needs its family's.
pub const SCOPES: &[&str] = &["crm", "task", "user", "department", "im", "bizproc", "log", "booking"];

/// Every scope, for tokens that may call everything (the first administrator's).
pub fn all_scopes() -> Vec<String> {
    SCOPES.iter().map(|s| s.to_string()).collect()
}

/// Who a token acts as and what it may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    /// The user the token acts as, read with the token.
    pub user: User,
    /// The scopes of [`SCOPES`] it carries.
    pub scopes: Vec<String>,
}

/// Issues a new random token of `kind` for an active user, carrying `scopes` (each one of
/// [`SCOPES`]).
pub async fn issue_token(
    tx: &mut Tx,
    user_id: i64,
    kind: TokenKind,
    scopes: &[String],
    now: Millis,
) -> Result<String, CrmError> {
    if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
        return Err(CrmError::Invalid(format!(
            "unknown scope '{unknown}'; scopes are {}",
            SCOPES.join(", ")
        )));
    }
    if scopes.is_empty() {
        return Err(CrmError::Invalid("a token needs at least one scope".into()));
    }
    let holder = user(tx, user_id).await?;
    if !holder.active {
        return Err(CrmError::Invalid(format!("user {user_id} is not active")));
    }
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let token: String = (0..kind.length())
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect();
    store::query("INSERT INTO tokens (token, user_id, kind, created_at, scopes) VALUES ($1, $2, $3, $4, $5)")
        .bind(&token)
        .bind(user_id)
        .bind(kind.as_str())
        .bind(now)
        .bind(scopes.join(","))
        .execute(&mut *tx)
        .await?;
    Ok(token)
}

/// A user's oldest token of `kind`, if it has one.
pub async fn first_token(tx: &mut Tx, user_id: i64, kind: TokenKind) -> Result<Option<String>, CrmError> {
    Ok(
        store::query_scalar("SELECT token FROM tokens WHERE user_id = $1 AND kind = $2 ORDER BY created_at LIMIT 1")
            .bind(user_id)
            .bind(kind.as_str())
            .fetch_optional(&mut *tx)
            .await?,
    )
}

/// Who holds a token of `kind`, if the token exists and its user is active.
pub async fn token_holder(conn: &mut Conn, token: &str, kind: TokenKind) -> Result<Option<TokenHolder>, CrmError> {
    let sql = format!(
        "SELECT {}, tokens.scopes FROM tokens JOIN users ON users.id = tokens.user_id
         WHERE tokens.token = $1 AND tokens.kind = $2 AND users.active = 1",
        user_columns(conn.backend())
    );
    let row = store::query(&sql)
        .bind(token)
        .bind(kind.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let scopes: String = row.try_get("scopes")?;
    Ok(Some(TokenHolder {
        user: user_from_row(&row)?,
        scopes: scopes.split(',').map(str::to_string).collect(),
    }))
}

/// Why a user is away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AbsenceKind {
    /// Holiday.
    Vacation,
    /// Illness.
    SickLeave,
    /// Travelling for work.
    BusinessTrip,
    /// Anything else.
    Other,
}

impl AbsenceKind {
    const ALL: [Self; 4] = [Self::Vacation, Self::SickLeave, Self::BusinessTrip, Self::Other];

    fn as_str(self) -> &'static str {
        match self {
            Self::Vacation => "vacation",
            Self::SickLeave => "sick_leave",
            Self::BusinessTrip => "business_trip",
            Self::Other => "other",
        }
    }
}

/// A stretch of time a user is away, from the directory's absence calendar.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Absence {
    /// Its id.
    pub id: i64,
    /// Who is away.
    pub user_id: i64,
    /// From when (ms since the epoch).
    pub from: Millis,
    /// Until when, not included (ms since the epoch).
    pub to: Millis,
    /// Why.
    pub kind: AbsenceKind,
    /// A note.
    pub comment: String,
    /// When it was entered.
    pub created_at: Millis,
}

/// An absence to enter.
#[derive(Debug, Clone)]
pub struct NewAbsence {
    /// Who is away; an existing user.
    pub user_id: i64,
    /// From when.
    pub from: Millis,
    /// Until when, after `from`.
    pub to: Millis,
    /// Why.
    pub kind: AbsenceKind,
    /// A note.
    pub comment: String,
}

fn absence_from_row(row: &store::Row) -> Result<Absence, CrmError> {
    let kind: String = row.try_get("kind")?;
    Ok(Absence {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        from: row.try_get("starts_at")?,
        to: row.try_get("ends_at")?,
        kind: AbsenceKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind)
            .ok_or_else(|| CrmError::Invalid(format!("stored absence kind '{kind}' is unknown")))?,
        comment: row.try_get("comment")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Absences, by start: of one user and/or those covering one moment when asked.
pub async fn absences(conn: &mut Conn, user_id: Option<i64>, at: Option<Millis>) -> Result<Vec<Absence>, CrmError> {
    let rows = store::query(
        "SELECT * FROM user_absences
         WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR (starts_at <= $2 AND ends_at > $2))
         ORDER BY starts_at, id",
    )
    .bind(user_id)
    .bind(at)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(absence_from_row).collect()
}

/// Enters an absence of an existing user, from before to after.
pub async fn add_absence(tx: &mut Tx, new: &NewAbsence, now: Millis) -> Result<Absence, CrmError> {
    if new.from >= new.to {
        return Err(CrmError::Invalid(format!(
            "an absence must end after it starts: from {} is not before to {}",
            new.from, new.to
        )));
    }
    user(tx, new.user_id)
        .await
        .map_err(|_| CrmError::Invalid(format!("user {} does not exist", new.user_id)))?;
    let row = store::query(
        "INSERT INTO user_absences (user_id, starts_at, ends_at, kind, comment, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
    )
    .bind(new.user_id)
    .bind(new.from)
    .bind(new.to)
    .bind(new.kind.as_str())
    .bind(new.comment.trim())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    absence_from_row(&row)
}

/// Deletes an absence; `false` when none has that id.
pub async fn delete_absence(tx: &mut Tx, id: i64) -> Result<bool, CrmError> {
    let deleted = store::query("DELETE FROM user_absences WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// Which of `users` are absent at `at`, in the order given.
pub async fn absent_at(conn: &mut Conn, users: &[i64], at: Millis) -> Result<Vec<i64>, CrmError> {
    let mut absent = Vec::new();
    for user_id in users {
        let away: Option<i64> = store::query_scalar(
            "SELECT id FROM user_absences WHERE user_id = $1 AND starts_at <= $2 AND ends_at > $2 LIMIT 1",
        )
        .bind(user_id)
        .bind(at)
        .fetch_optional(&mut *conn)
        .await?;
        if away.is_some() && !absent.contains(user_id) {
            absent.push(*user_id);
        }
    }
    Ok(absent)
}

/// Takes `robot_id`'s next turn among `users` inside `tx` (which should commit at once, so that
/// the next run of the robot sees it): the user after the one it was last given, passing over
/// `skipping`; `None`, and no turn taken, when every user is skipped.
pub async fn take_turn(tx: &mut Tx, robot_id: &str, users: &[i64], skipping: &[i64]) -> Result<Option<i64>, CrmError> {
    // The row exists before it is locked: two first turns must not both see "none yet".
    store::query(
        "INSERT INTO robot_turns (robot_id, last_user_id) VALUES ($1, NULL) ON CONFLICT (robot_id) DO NOTHING",
    )
    .bind(robot_id)
    .execute(&mut *tx)
    .await?;
    let lock = match tx.backend() {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    };
    let last: Option<i64> = store::query_scalar(&format!(
        "SELECT last_user_id FROM robot_turns WHERE robot_id = $1{lock}"
    ))
    .bind(robot_id)
    .fetch_one(&mut *tx)
    .await?;
    let Some(next) = next_in_turn(users, last, skipping) else {
        return Ok(None);
    };
    store::query("UPDATE robot_turns SET last_user_id = $2 WHERE robot_id = $1")
        .bind(robot_id)
        .bind(next)
        .execute(&mut *tx)
        .await?;
    Ok(Some(next))
}

/// The first user of `users` after `last` (from the start when `last` is none or not listed),
/// going round, that is not in `skipping`.
fn next_in_turn(users: &[i64], last: Option<i64>, skipping: &[i64]) -> Option<i64> {
    let start = last
        .and_then(|last| users.iter().position(|u| *u == last))
        .map_or(0, |i| i + 1);
    (0..users.len())
        .map(|n| users[(start + n) % users.len()])
        .find(|user| !skipping.contains(user))
}

#[cfg(test)]
mod tests {
    use super::next_in_turn;

    #[test]
    fn turns_go_round_the_list_past_the_skipped() {
        assert_eq!(next_in_turn(&[7, 8, 9], None, &[]), Some(7));
        assert_eq!(next_in_turn(&[7, 8, 9], Some(7), &[]), Some(8));
        assert_eq!(
            next_in_turn(&[7, 8, 9], Some(9), &[]),
            Some(7),
            "after the last comes the first"
        );
        assert_eq!(next_in_turn(&[7, 8, 9], Some(7), &[8]), Some(9));
        assert_eq!(
            next_in_turn(&[7, 8, 9], Some(4), &[7]),
            Some(8),
            "a user no longer listed starts over"
        );
        assert_eq!(next_in_turn(&[7, 8], Some(7), &[7, 8]), None);
        assert_eq!(next_in_turn(&[], None, &[]), None);
    }
}
