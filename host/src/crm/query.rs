//! Filtered, ordered, paged item lists with Bitrix24's filter operators, translated to SQL so the
//! database's indexes do the work.

use serde_json::{Map, Value};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::model::{CrmError, EntityType, FieldKind, Item};

use super::item_from_row;

/// What a `*.list` call asks for.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    /// Bitrix24 filter: `{"FIELD": v, ">=FIELD": v, "@FIELD": [..], "%FIELD": "text"}`.
    pub filter: Map<String, Value>,
    /// Bitrix24 order: `{"FIELD": "ASC" | "DESC"}`; ties are broken by id.
    pub order: Map<String, Value>,
    /// How many matching items to skip.
    pub start: i64,
    /// How many to return at most.
    pub limit: i64,
}

/// One item of the result page and the number of items matching in all.
pub async fn list(
    conn: &mut SqliteConnection,
    entity_type: EntityType,
    query: &ListQuery,
) -> Result<(Vec<Item>, i64), CrmError> {
    let conditions = query
        .filter
        .iter()
        .map(|(key, value)| Condition::parse(entity_type, key, value))
        .collect::<Result<Vec<_>, _>>()?;
    let mut order = Vec::new();
    for (field, direction) in &query.order {
        let column = column(entity_type, field)?.sql;
        let direction = match direction.as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("ASC") => "ASC",
            Some("DESC") => "DESC",
            _ => return Err(CrmError::Invalid(format!("order of {field} must be ASC or DESC"))),
        };
        order.push(format!("{column} {direction}"));
    }
    order.push("id ASC".into());

    let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM items WHERE ");
    push_where(&mut count, entity_type, &conditions);
    let total: i64 = count.build_query_scalar().fetch_one(&mut *conn).await?;

    let mut select = QueryBuilder::<Sqlite>::new("SELECT * FROM items WHERE ");
    push_where(&mut select, entity_type, &conditions);
    select.push(" ORDER BY ").push(order.join(", "));
    select
        .push(" LIMIT ")
        .push_bind(query.limit)
        .push(" OFFSET ")
        .push_bind(query.start);
    let rows = select.build().fetch_all(&mut *conn).await?;
    let items = rows
        .iter()
        .map(|row| item_from_row(row, entity_type))
        .collect::<Result<_, _>>()?;
    Ok((items, total))
}

fn push_where(builder: &mut QueryBuilder<'_, Sqlite>, entity_type: EntityType, conditions: &[Condition]) {
    builder.push("entity_type = ").push_bind(entity_type.as_str());
    for condition in conditions {
        builder.push(" AND ");
        condition.push_sql(builder);
    }
}

/// A field as SQL, and how to read filter values for it.
struct Column {
    sql: String,
    kind: ColumnKind,
}

#[derive(Clone, Copy)]
enum ColumnKind {
    Field(FieldKind),
    DateTime,
}

fn column(entity_type: EntityType, field: &str) -> Result<Column, CrmError> {
    let system = |sql: &str, kind| Ok(Column { sql: sql.into(), kind });
    match field {
        "ID" => system("id", ColumnKind::Field(FieldKind::Integer)),
        "CATEGORY_ID" => system("category_id", ColumnKind::Field(FieldKind::Integer)),
        "CREATED_BY_ID" => system("created_by", ColumnKind::Field(FieldKind::Integer)),
        "DATE_CREATE" => system("created_at", ColumnKind::DateTime),
        "DATE_MODIFY" => system("updated_at", ColumnKind::DateTime),
        f if f == entity_type.stage_field() && entity_type.has_stages() => {
            system("stage_id", ColumnKind::Field(FieldKind::String))
        }
        f => entity_type
            .fields()
            .iter()
            .find(|spec| spec.name == f)
            .map(|spec| Column {
                sql: format!("json_extract(fields, '$.{}')", spec.name),
                kind: ColumnKind::Field(spec.kind),
            })
            .ok_or_else(|| CrmError::Invalid(format!("unknown field {f} in filter or order"))),
    }
}

/// A filter value ready to bind.
#[derive(Debug, Clone)]
enum Bound {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl ColumnKind {
    fn bound(self, field: &str, value: &Value) -> Result<Bound, CrmError> {
        match self {
            Self::DateTime => match value {
                Value::String(s) => parse_datetime(s)
                    .map(Bound::Int)
                    .ok_or_else(|| CrmError::Invalid(format!("field {field}: '{s}' is not a date"))),
                Value::Null => Ok(Bound::Null),
                other => Err(CrmError::Invalid(format!("field {field}: {other} is not a date"))),
            },
            Self::Field(kind) => Ok(match kind.canonical(field, value)? {
                Value::Null => Bound::Null,
                Value::Number(n) if n.is_i64() => Bound::Int(n.as_i64().unwrap_or_default()),
                Value::Number(n) => Bound::Real(n.as_f64().unwrap_or_default()),
                Value::String(s) => Bound::Text(s),
                other => Bound::Text(other.to_string()),
            }),
        }
    }
}

/// Accepts "2024-05-01", "2024-05-01T10:00:00" and RFC 3339 with an offset; naive times are UTC.
fn parse_datetime(text: &str) -> Option<i64> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(at.timestamp_millis());
    }
    if let Ok(at) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Some(at.and_utc().timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc().timestamp_millis())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Eq,
    NotEq,
    Gt,
    Ge,
    Lt,
    Le,
    In,
    NotIn,
    Contains,
    NotContains,
    Like,
}

/// Prefixes in the order they must be tried: longer ones first.
const OPERATORS: &[(&str, Operator)] = &[
    ("!@", Operator::NotIn),
    ("!%", Operator::NotContains),
    ("!=", Operator::NotEq),
    (">=", Operator::Ge),
    ("<=", Operator::Le),
    ("=%", Operator::Like),
    ("%=", Operator::Like),
    ("@", Operator::In),
    ("%", Operator::Contains),
    (">", Operator::Gt),
    ("<", Operator::Lt),
    ("=", Operator::Eq),
    ("!", Operator::NotEq),
];

struct Condition {
    column: String,
    operator: Operator,
    values: Vec<Bound>,
}

impl Condition {
    fn parse(entity_type: EntityType, key: &str, value: &Value) -> Result<Self, CrmError> {
        let (operator, field) = OPERATORS
            .iter()
            .find_map(|(prefix, op)| key.strip_prefix(prefix).map(|rest| (*op, rest)))
            .unwrap_or((Operator::Eq, key));
        let column = column(entity_type, field)?;
        let values = match (operator, value) {
            (Operator::In | Operator::NotIn, Value::Array(list)) => list
                .iter()
                .map(|v| column.kind.bound(field, v))
                .collect::<Result<_, _>>()?,
            (Operator::In | Operator::NotIn, single) => vec![column.kind.bound(field, single)?],
            (Operator::Contains | Operator::NotContains | Operator::Like, v) => {
                vec![Bound::Text(v.as_str().map_or_else(|| v.to_string(), str::to_string))]
            }
            (_, v) => vec![column.kind.bound(field, v)?],
        };
        Ok(Self {
            column: column.sql,
            operator,
            values,
        })
    }

    fn push_sql(&self, b: &mut QueryBuilder<'_, Sqlite>) {
        let value = self.values.first().cloned().unwrap_or(Bound::Null);
        match (self.operator, &value) {
            (Operator::Eq, Bound::Null) => {
                b.push(&self.column).push(" IS NULL");
            }
            (Operator::NotEq, Bound::Null) => {
                b.push(&self.column).push(" IS NOT NULL");
            }
            (Operator::NotEq, _) => {
                b.push("(").push(&self.column).push(" IS NULL OR ");
                push_bound(b.push(&self.column).push(" != "), value);
                b.push(")");
            }
            (Operator::In | Operator::NotIn, _) => self.push_in(b),
            (Operator::Contains | Operator::NotContains | Operator::Like, _) => self.push_like(b, value),
            (Operator::Eq, _) => push_bound(b.push(&self.column).push(" = "), value),
            (Operator::Gt, _) => push_bound(b.push(&self.column).push(" > "), value),
            (Operator::Ge, _) => push_bound(b.push(&self.column).push(" >= "), value),
            (Operator::Lt, _) => push_bound(b.push(&self.column).push(" < "), value),
            (Operator::Le, _) => push_bound(b.push(&self.column).push(" <= "), value),
        }
    }

    fn push_in(&self, b: &mut QueryBuilder<'_, Sqlite>) {
        if self.values.is_empty() {
            b.push(if self.operator == Operator::In { "0" } else { "1" });
            return;
        }
        b.push(&self.column).push(if self.operator == Operator::In {
            " IN ("
        } else {
            " NOT IN ("
        });
        for (i, value) in self.values.iter().enumerate() {
            if i > 0 {
                b.push(", ");
            }
            push_bound(b, value.clone());
        }
        b.push(")");
    }

    fn push_like(&self, b: &mut QueryBuilder<'_, Sqlite>, value: Bound) {
        let text = match value {
            Bound::Text(t) => t,
            other => format!("{other:?}"),
        };
        let pattern = match self.operator {
            Operator::Like => text,
            _ => format!(
                "%{}%",
                text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
            ),
        };
        if self.operator == Operator::NotContains {
            b.push("(").push(&self.column).push(" IS NULL OR ");
            b.push(&self.column)
                .push(" NOT LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        } else {
            b.push(&self.column)
                .push(" LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\'");
        }
    }
}

fn push_bound(b: &mut QueryBuilder<'_, Sqlite>, value: Bound) {
    match value {
        Bound::Null => b.push("NULL"),
        Bound::Int(i) => b.push_bind(i),
        Bound::Real(f) => b.push_bind(f),
        Bound::Text(t) => b.push_bind(t),
    };
}
