//! `user.*` and `department.*` in Bitrix24's shapes. Anyone may read the directory; changing it
//! takes an administrator's token.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{Answer, AppState, PAGE_SIZE, unknown_method};
use crate::api::{ApiError, params};
use crate::directory::{self, Department, DepartmentChanges, User, UserChanges};

/// Answers one `user.*` or `department.*` call made by `user`.
pub(super) async fn dispatch(
    app: &AppState,
    user: i64,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    match method {
        "user.current" => user_current(app, user).await,
        "user.get" => user_get(app, p).await,
        "user.add" => user_add(app, user, p).await,
        "user.update" => user_update(app, user, p).await,
        "department.get" => department_get(app, p).await,
        "department.add" => department_add(app, user, p).await,
        "department.update" => department_update(app, user, p).await,
        "department.delete" => department_delete(app, user, p).await,
        _ => Err(unknown_method()),
    }
}

pub(super) async fn require_admin(app: &AppState, user: i64) -> Result<(), ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    if directory::user(&mut conn, user).await?.is_admin {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "ACCESS_DENIED", "Access denied!"))
    }
}

fn user_json(user: &User) -> Value {
    json!({
        "ID": user.id.to_string(),
        "ACTIVE": user.active,
        "NAME": user.name,
        "LAST_NAME": user.last_name,
        "EMAIL": user.email,
        "WORK_POSITION": user.work_position,
        "PERSONAL_MOBILE": user.personal_mobile.clone().unwrap_or_default(),
        "UF_DEPARTMENT": user.departments,
        "IS_ONLINE": "N",
        "USER_TYPE": "employee",
    })
}

async fn user_current(app: &AppState, user: i64) -> Result<Answer, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    Ok(user_json(&directory::user(&mut conn, user).await?).into())
}

/// The filter of a `user.get` or `department.get`: Bitrix24 takes it as top-level parameters or
/// inside `FILTER`; paging and sorting parameters are not part of it.
fn directory_filter(p: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
    let mut filter = params::object(p, "FILTER")?;
    for (key, value) in p {
        let paging = ["FILTER", "start", "sort", "order", "ADMIN_MODE"];
        if !paging.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            filter.insert(key.to_ascii_uppercase(), value.clone());
        }
    }
    Ok(filter)
}

/// Whether a record (in its REST shape) matches every filter entry: equal values compared as
/// text (a flag as Y or N), or for a list field (UF_DEPARTMENT) containing the value. A field
/// outside `known` is refused; a known field the record lacks (a root's PARENT) does not match.
fn matches(record: &Value, filter: &Map<String, Value>, known: &[&str]) -> Result<bool, ApiError> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "Y".into(),
        Value::Bool(false) => "N".into(),
        other => other.to_string(),
    };
    for (key, wanted) in filter {
        if !known.contains(&key.as_str()) {
            return Err(ApiError::invalid(format!("unknown filter field {key}")));
        }
        let wanted: Vec<String> = match wanted {
            Value::Array(list) => list.iter().map(text).collect(),
            one => vec![text(one)],
        };
        let hit = match record.get(key) {
            None => false,
            Some(Value::Array(list)) => list.iter().any(|v| wanted.contains(&text(v))),
            Some(one) => wanted.contains(&text(one)),
        };
        if !hit {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Pages a filtered directory listing 50 at a time, as Bitrix24 does.
fn page(records: Vec<Value>, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let page = params::page(p, PAGE_SIZE)?;
    let total = page.count.then_some(records.len() as i64);
    let rows: Vec<Value> = records
        .into_iter()
        .skip(usize::try_from(page.start).unwrap_or(usize::MAX))
        .take(PAGE_SIZE as usize)
        .collect();
    Ok(Answer::page(Value::Array(rows), total, page))
}

async fn user_get(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let filter = directory_filter(p)?;
    let mut conn = app.store.pool().acquire().await?;
    let mut records = Vec::new();
    for user in directory::users(&mut conn).await? {
        let record = user_json(&user);
        if matches(
            &record,
            &filter,
            &[
                "ID",
                "ACTIVE",
                "NAME",
                "LAST_NAME",
                "EMAIL",
                "WORK_POSITION",
                "UF_DEPARTMENT",
            ],
        )? {
            records.push(record);
        }
    }
    page(records, p)
}

fn id_list(fields: &Map<String, Value>, name: &str) -> Result<Option<Vec<i64>>, ApiError> {
    let invalid = || ApiError::invalid(format!("{name} must be a list of department ids"));
    let one = |v: &Value| match v {
        Value::Number(n) => n.as_i64().ok_or_else(invalid),
        Value::String(s) => s.trim().parse().map_err(|_| invalid()),
        _ => Err(invalid()),
    };
    match params::get(fields, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(list)) => list.iter().map(one).collect::<Result<_, _>>().map(Some),
        Some(single) => Ok(Some(vec![one(single)?])),
    }
}

/// `user.update` and `department.update` take the ID beside the fields, not around them.
fn id_and_fields(p: &Map<String, Value>) -> Result<(i64, Map<String, Value>), ApiError> {
    let id = params::id(p, "ID")?;
    let fields = p
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("ID"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok((id, fields))
}

const USER_FIELDS: &[&str] = &[
    "EMAIL",
    "NAME",
    "LAST_NAME",
    "WORK_POSITION",
    "PERSONAL_MOBILE",
    "ACTIVE",
    "UF_DEPARTMENT",
];

fn user_changes(fields: &Map<String, Value>) -> Result<UserChanges, ApiError> {
    Ok(UserChanges {
        name: params::optional_str(fields, "NAME")?,
        last_name: params::optional_str(fields, "LAST_NAME")?,
        email: params::optional_str(fields, "EMAIL")?,
        work_position: params::optional_str(fields, "WORK_POSITION")?,
        personal_mobile: params::optional_str(fields, "PERSONAL_MOBILE")?,
        active: params::optional_flag(fields, "ACTIVE")?,
        departments: id_list(fields, "UF_DEPARTMENT")?,
    })
}

async fn user_add(app: &AppState, user: i64, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    require_admin(app, user).await?;
    params::only(p, USER_FIELDS)?;
    let changes = user_changes(p)?;
    let mut tx = app.store.write().await?;
    let added = directory::add_user(&mut tx, &changes).await?;
    tx.commit().await?;
    Ok(json!(added.id).into())
}

async fn user_update(app: &AppState, user: i64, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    require_admin(app, user).await?;
    let (id, fields) = id_and_fields(p)?;
    params::only(&fields, USER_FIELDS)?;
    let changes = user_changes(&fields)?;
    let mut tx = app.store.write().await?;
    directory::update_user(&mut tx, id, &changes).await?;
    tx.commit().await?;
    Ok(json!(true).into())
}

fn department_json(department: &Department) -> Value {
    let mut record = json!({
        "ID": department.id.to_string(),
        "NAME": department.name,
        "SORT": department.sort,
    });
    if let Some(parent) = department.parent_id {
        record["PARENT"] = json!(parent.to_string());
    }
    if let Some(head) = department.head_id {
        record["UF_HEAD"] = json!(head.to_string());
    }
    record
}

async fn department_get(app: &AppState, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let filter = directory_filter(p)?;
    let mut conn = app.store.pool().acquire().await?;
    let mut records = Vec::new();
    for department in directory::departments(&mut conn).await? {
        let record = department_json(&department);
        if matches(&record, &filter, &["ID", "NAME", "SORT", "PARENT", "UF_HEAD"])? {
            records.push(record);
        }
    }
    page(records, p)
}

fn department_changes(fields: &Map<String, Value>) -> Result<DepartmentChanges, ApiError> {
    params::only(fields, &["NAME", "SORT", "PARENT", "UF_HEAD"])?;
    Ok(DepartmentChanges {
        name: params::optional_str(fields, "NAME")?,
        sort: params::optional_int(fields, "SORT")?,
        parent_id: params::optional_int(fields, "PARENT")?,
        head_id: params::optional_int(fields, "UF_HEAD")?,
    })
}

async fn department_add(app: &AppState, user: i64, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    require_admin(app, user).await?;
    let changes = department_changes(p)?;
    let mut tx = app.store.write().await?;
    let added = directory::add_department(&mut tx, &changes).await?;
    tx.commit().await?;
    Ok(json!(added.id).into())
}

async fn department_update(app: &AppState, user: i64, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    require_admin(app, user).await?;
    let (id, fields) = id_and_fields(p)?;
    let changes = department_changes(&fields)?;
    let mut tx = app.store.write().await?;
    directory::update_department(&mut tx, id, &changes).await?;
    tx.commit().await?;
    Ok(json!(true).into())
}

async fn department_delete(app: &AppState, user: i64, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    require_admin(app, user).await?;
    let id = params::id(p, "ID")?;
    let mut tx = app.store.write().await?;
    directory::delete_department(&mut tx, id).await?;
    tx.commit().await?;
    Ok(json!(true).into())
}
