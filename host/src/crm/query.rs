//! Filtered, ordered, paged item lists with Bitrix24's filter operators, translated to SQL so the
//! database's indexes do the work.

use crate::model::{CrmError, EntityType, FieldKind, Item, parse_datetime};
use crate::store::{self, Arg, Backend, Conn};
use serde_json::{Map, Value};

use super::userfields::userfields;
use crate::model::IS_NEW_FIELD;
use crate::model::userfield::UserField;

use super::{ITEM_COLUMNS, in_first_stage_sql, item_from_row, stage_semantic_sql};

/// Which rows of a listing to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// How many matching rows to skip.
    pub start: i64,
    /// How many to return at most.
    pub limit: i64,
    /// Whether to count every match too. Bitrix24's `start=-1` does not: clients walking a
    /// large list by `>ID` need no total, and counting would cost a scan per page.
    pub count: bool,
}

impl Page {
    /// The first `limit` rows, counted.
    pub fn first(limit: i64) -> Self {
        Self {
            start: 0,
            limit,
            count: true,
        }
    }
}

/// What a `*.list` call asks for.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Bitrix24 filter: `{"FIELD": v, ">=FIELD": v, "@FIELD": [..], "%FIELD": "text"}`.
    pub filter: Map<String, Value>,
    /// Bitrix24 order: `{"FIELD": "ASC" | "DESC"}`; ties are broken by id.
    pub order: Map<String, Value>,
    /// Which of the matching items.
    pub page: Page,
}

/// One page of the items matching a filter, and how many match in all when the page asks.
pub async fn list(
    conn: &mut Conn,
    entity_type: EntityType,
    query: &ListQuery,
) -> Result<(Vec<Item>, Option<i64>), CrmError> {
    let fields = TypeFields::load(conn, entity_type).await?;
    let schema = fields.schema();
    let conditions = Group::parse(&schema, &query.filter, 0)?;
    let total = if query.page.count {
        let mut count = Sql::new("SELECT COUNT(*) FROM items WHERE ");
        push_where(&mut count, entity_type, &conditions);
        Some(count.query().fetch_one(&mut *conn).await?.try_get(0usize)?)
    } else {
        None
    };
    let items = select_page(conn, &schema, &conditions, query).await?;
    Ok((items, total))
}

async fn select_page(
    conn: &mut Conn,
    schema: &Schema<'_>,
    conditions: &Group,
    query: &ListQuery,
) -> Result<Vec<Item>, CrmError> {
    let entity_type = schema.entity_type;
    let mut order = Vec::new();
    for (field, direction) in &query.order {
        let column = schema.column(field)?;
        if matches!(column.kind, ColumnKind::Multi) {
            return Err(CrmError::Invalid(format!(
                "{field} holds several values; lists cannot order by it"
            )));
        }
        let column = column.sql;
        let direction = match direction.as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("ASC") => "ASC",
            Some("DESC") => "DESC",
            _ => return Err(CrmError::Invalid(format!("order of {field} must be ASC or DESC"))),
        };
        order.push(format!("{column} {direction}"));
    }
    // Ties are broken by id, unless the order already is by id: a second, contrary `id` term
    // keeps SQLite from walking an index in order (a stage's newest items by `ID DESC`).
    if !query.order.keys().any(|field| field == "ID") {
        order.push("id ASC".into());
    }
    let mut select = Sql::new(&format!("SELECT {ITEM_COLUMNS} FROM items WHERE "));
    push_where(&mut select, entity_type, conditions);
    select.push(" ORDER BY ").push(&order.join(", "));
    select.push(" LIMIT ").bind(Bound::Int(query.page.limit));
    select.push(" OFFSET ").bind(Bound::Int(query.page.start));
    let rows = select.query().fetch_all(&mut *conn).await?;
    rows.iter().map(|row| item_from_row(row, entity_type)).collect()
}

/// How many items match a filter, and the sum of a number field over them: a board column's
/// count and amount.
pub async fn total(
    conn: &mut Conn,
    entity_type: EntityType,
    filter: &Map<String, Value>,
    sum_of: &str,
) -> Result<(i64, f64), CrmError> {
    let fields = TypeFields::load(conn, entity_type).await?;
    let schema = fields.schema();
    let conditions = Group::parse(&schema, filter, 0)?;
    let summed = schema.column(sum_of)?.sql;
    let mut sql = Sql::new(&format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM({summed}), 0) AS DOUBLE PRECISION) FROM items WHERE "
    ));
    push_where(&mut sql, entity_type, &conditions);
    let row = sql.query().fetch_one(&mut *conn).await?;
    Ok((row.try_get(0usize)?, row.try_get(1usize)?))
}

/// SQL text with `$N` placeholders (which both backends accept) and the values they stand for.
struct Sql {
    text: String,
    values: Vec<Bound>,
}

impl Sql {
    fn new(text: &str) -> Self {
        Self {
            text: text.to_string(),
            values: Vec::new(),
        }
    }

    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, value: Bound) -> &mut Self {
        if let Bound::Null = value {
            self.text.push_str("NULL");
        } else {
            self.values.push(value);
            self.text.push_str(&format!("${}", self.values.len()));
        }
        self
    }

    fn query(&self) -> store::Query<'_> {
        let args = self
            .values
            .iter()
            .map(|value| match value {
                Bound::Null => Arg::Text(None),
                Bound::Int(i) => Arg::Int(Some(*i)),
                Bound::Real(f) => Arg::Real(Some(*f)),
                Bound::Text(t) => Arg::Text(Some(t.clone())),
            })
            .collect();
        store::Query::with_args(&self.text, args)
    }
}

fn push_where(builder: &mut Sql, entity_type: EntityType, conditions: &Group) {
    builder
        .push("entity_type = ")
        .bind(Bound::Text(entity_type.to_string()));
    if !conditions.members.is_empty() {
        builder.push(" AND ");
        conditions.push_sql(builder);
    }
}

/// How deep filter groups may nest; deeper is refused rather than risking the stack.
const MAX_FILTER_DEPTH: usize = 8;

/// Conditions joined by AND, or by OR when the filter says `"logic": "OR"`. A key whose value
/// is an object (Bitrix24 uses `"0"`, `"1"`, ...) is a nested group.
struct Group {
    any: bool,
    members: Vec<Member>,
}

enum Member {
    Condition(Condition),
    Group(Group),
}

impl Group {
    fn parse(schema: &Schema, filter: &Map<String, Value>, depth: usize) -> Result<Self, CrmError> {
        if depth > MAX_FILTER_DEPTH {
            return Err(CrmError::Invalid(format!(
                "filter groups nest deeper than {MAX_FILTER_DEPTH} levels"
            )));
        }
        let mut group = Self {
            any: false,
            members: Vec::new(),
        };
        for (key, value) in filter {
            match value {
                _ if key.eq_ignore_ascii_case("logic") => {
                    group.any = match value.as_str().map(str::to_ascii_uppercase).as_deref() {
                        Some("OR") => true,
                        Some("AND") => false,
                        _ => {
                            return Err(CrmError::Invalid(format!(
                                "filter logic must be AND or OR, not {value}"
                            )));
                        }
                    }
                }
                Value::Object(inner) => group
                    .members
                    .push(Member::Group(Self::parse(schema, inner, depth + 1)?)),
                _ => group
                    .members
                    .push(Member::Condition(Condition::parse(schema, key, value)?)),
            }
        }
        Ok(group)
    }

    fn push_sql(&self, b: &mut Sql) {
        if self.members.is_empty() {
            b.push("1 = 1");
            return;
        }
        b.push("(");
        for (i, member) in self.members.iter().enumerate() {
            if i > 0 {
                b.push(if self.any { " OR " } else { " AND " });
            }
            match member {
                Member::Condition(condition) => condition.push_sql(b),
                Member::Group(group) => group.push_sql(b),
            }
        }
        b.push(")");
    }
}

/// A field as SQL, and how to read filter values for it.
struct Column {
    sql: String,
    kind: ColumnKind,
}

enum ColumnKind {
    Field(FieldKind),
    DateTime,
    Custom(UserField),
    /// A multi-field (PHONE, EMAIL): only "has an entry equal to" (`=`, `@`) can be asked.
    Multi,
}

/// An entity type's custom fields, loaded once per list, count or sum.
struct TypeFields {
    backend: Backend,
    entity_type: EntityType,
    custom: Vec<UserField>,
}

impl TypeFields {
    async fn load(conn: &mut Conn, entity_type: EntityType) -> Result<Self, CrmError> {
        Ok(Self {
            backend: conn.backend(),
            entity_type,
            custom: userfields(conn, entity_type).await?,
        })
    }

    fn schema(&self) -> Schema<'_> {
        Schema {
            backend: self.backend,
            entity_type: self.entity_type,
            custom: &self.custom,
        }
    }
}

/// What a list's filter and order may name: the type's standard fields and its custom fields.
struct Schema<'a> {
    backend: Backend,
    entity_type: EntityType,
    custom: &'a [UserField],
}

impl Schema<'_> {
    fn column(&self, field: &str) -> Result<Column, CrmError> {
        if let Some(custom) = self.custom.iter().find(|f| f.field_name == field) {
            if custom.multiple {
                return Err(CrmError::Invalid(format!(
                    "{field} holds several values; lists cannot filter or order by it"
                )));
            }
            return Ok(Column {
                sql: json_field(self.backend, field, custom.user_type.filter_kind()),
                kind: ColumnKind::Custom(custom.clone()),
            });
        }
        standard_column(self.backend, self.entity_type, field)
    }
}

/// The amount, which the database keeps as the `opportunity` column (migration 0037), so a
/// stage's deals above an amount are counted from an index alone.
const AMOUNT_FIELD: &str = "OPPORTUNITY";

fn standard_column(backend: Backend, entity_type: EntityType, field: &str) -> Result<Column, CrmError> {
    let system = |sql: &str, kind| Ok(Column { sql: sql.into(), kind });
    match field {
        "ID" => system("id", ColumnKind::Field(FieldKind::Integer)),
        "CATEGORY_ID" => system("category_id", ColumnKind::Field(FieldKind::Integer)),
        "CREATED_BY_ID" => system("created_by", ColumnKind::Field(FieldKind::Integer)),
        "DATE_CREATE" => system("created_at", ColumnKind::DateTime),
        "DATE_MODIFY" => system("updated_at", ColumnKind::DateTime),
        "STAGE_SEMANTIC_ID" | "STATUS_SEMANTIC_ID" if entity_type.has_stages() => {
            system(stage_semantic_sql!(), ColumnKind::Field(FieldKind::String))
        }
        IS_NEW_FIELD if entity_type.shows_is_new() => system(in_first_stage_sql!(), ColumnKind::Field(FieldKind::Flag)),
        f if entity_type.repeat_flags().iter().any(|flag| flag.name == f) => Ok(Column {
            sql: format!("COALESCE({}, 'N')", json_field(backend, f, FieldKind::Flag)),
            kind: ColumnKind::Field(FieldKind::Flag),
        }),
        f if f == entity_type.stage_field() && entity_type.has_stages() => {
            system("stage_id", ColumnKind::Field(FieldKind::String))
        }
        AMOUNT_FIELD if entity_type.fields().iter().any(|spec| spec.name == AMOUNT_FIELD) => {
            system("opportunity", ColumnKind::Field(FieldKind::Double))
        }
        f => entity_type
            .fields()
            .iter()
            .find(|spec| spec.name == f)
            .map(|spec| match spec.kind {
                FieldKind::Multi => Column {
                    sql: multifield_match(backend, spec.name),
                    kind: ColumnKind::Multi,
                },
                kind => Column {
                    sql: json_field(backend, spec.name, kind),
                    kind: ColumnKind::Field(kind),
                },
            })
            .ok_or_else(|| CrmError::Invalid(format!("unknown field {f} in filter or order"))),
    }
}

/// The start of a condition that one of a multi-field's entries has a value in a list; the
/// caller appends `IN (...)` and the closing parenthesis.
fn multifield_match(backend: Backend, name: &str) -> String {
    let (entries, value) = multifield_entries(backend, name);
    format!("EXISTS (SELECT 1 FROM {entries} WHERE {value}")
}

/// A multi-field's entries of the item in `items` as a row source, and the SQL of one entry's
/// value, for conditions on "one of the entries".
pub(crate) fn multifield_entries(backend: Backend, name: &str) -> (String, &'static str) {
    match backend {
        Backend::Sqlite => (
            format!("json_each(items.fields, '$.{name}')"),
            "json_extract(json_each.value, '$.VALUE')",
        ),
        Backend::Postgres => (
            format!(
                "jsonb_array_elements(CASE jsonb_typeof(items.fields::jsonb -> '{name}') \
                 WHEN 'array' THEN items.fields::jsonb -> '{name}' ELSE '[]'::jsonb END) AS entry"
            ),
            "(entry ->> 'VALUE')",
        ),
    }
}

/// A field of the items' JSON `fields` column as an SQL expression of the field's type.
pub(crate) fn json_field(backend: Backend, name: &str, kind: FieldKind) -> String {
    match (backend, kind) {
        (Backend::Sqlite, _) => format!("json_extract(fields, '$.{name}')"),
        (Backend::Postgres, FieldKind::Integer | FieldKind::Double) => {
            format!("((fields::jsonb ->> '{name}')::double precision)")
        }
        (Backend::Postgres, FieldKind::String | FieldKind::Flag | FieldKind::DateTime | FieldKind::Multi) => {
            format!("(fields::jsonb ->> '{name}')")
        }
    }
}

/// SQL selecting the ids of a type's items whose responsible person is one of `users`, for
/// narrowing what refers to items (their stage history) to the items a caller may read.
pub(crate) fn ids_assigned_to(backend: Backend, entity_type: EntityType, users: &[i64]) -> String {
    let users: Vec<String> = users.iter().map(i64::to_string).collect();
    format!(
        "SELECT id FROM items WHERE entity_type = '{entity_type}' AND {} IN ({})",
        json_field(backend, "ASSIGNED_BY_ID", FieldKind::Integer),
        if users.is_empty() {
            "NULL".to_string()
        } else {
            users.join(", ")
        }
    )
}

/// A filter value ready to bind.
#[derive(Debug, Clone)]
enum Bound {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<Value> for Bound {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Number(n) if n.is_i64() => Self::Int(n.as_i64().unwrap_or_default()),
            Value::Number(n) => Self::Real(n.as_f64().unwrap_or_default()),
            Value::String(s) => Self::Text(s),
            other => Self::Text(other.to_string()),
        }
    }
}

impl ColumnKind {
    fn bound(&self, field: &str, value: &Value) -> Result<Bound, CrmError> {
        match self {
            Self::Custom(custom) => Ok(Bound::from(custom.canonical(value)?)),
            Self::Multi => Err(CrmError::Invalid(format!(
                "{field} can only be filtered by equal values"
            ))),
            Self::DateTime => match value {
                Value::String(s) => parse_datetime(s)
                    .map(Bound::Int)
                    .ok_or_else(|| CrmError::Invalid(format!("field {field}: '{s}' is not a date"))),
                Value::Null => Ok(Bound::Null),
                other => Err(CrmError::Invalid(format!("field {field}: {other} is not a date"))),
            },
            Self::Field(kind) => Ok(Bound::from(kind.canonical(field, value)?)),
        }
    }
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
    NotLike,
}

/// Prefixes in the order they must be tried: longer ones first.
const OPERATORS: &[(&str, Operator)] = &[
    ("!=%", Operator::NotLike),
    ("!%=", Operator::NotLike),
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

/// Splits a filter key into its operator prefix and field name: `">=OPPORTUNITY"` gives
/// `(">=", "OPPORTUNITY")`, a bare name gives `("", name)`.
pub(crate) fn split_filter_key(key: &str) -> (&str, &str) {
    OPERATORS
        .iter()
        .find(|(prefix, _)| key.starts_with(prefix))
        .map_or(("", key), |(prefix, _)| key.split_at(prefix.len()))
}

struct Condition {
    backend: Backend,
    column: String,
    operator: Operator,
    values: Vec<Bound>,
    /// Text that closes `column`, for multi-field matches (an `EXISTS (` to close).
    closing: &'static str,
}

impl Condition {
    fn parse(schema: &Schema, key: &str, value: &Value) -> Result<Self, CrmError> {
        let (prefix, field) = split_filter_key(key);
        let operator = OPERATORS
            .iter()
            .find(|(known, _)| *known == prefix)
            .map_or(Operator::Eq, |(_, op)| *op);
        let column = schema.column(field)?;
        if matches!(column.kind, ColumnKind::Multi) {
            return Self::multifield(schema.backend, field, column.sql, operator, value);
        }
        let values = match (operator, value) {
            (Operator::In | Operator::NotIn, Value::Array(list)) => list
                .iter()
                .map(|v| column.kind.bound(field, v))
                .collect::<Result<_, _>>()?,
            (Operator::In | Operator::NotIn, single) => vec![column.kind.bound(field, single)?],
            (Operator::Contains | Operator::NotContains | Operator::Like | Operator::NotLike, v) => {
                vec![Bound::Text(v.as_str().map_or_else(|| v.to_string(), str::to_string))]
            }
            (_, v) => vec![column.kind.bound(field, v)?],
        };
        Ok(Self {
            backend: schema.backend,
            column: column.sql,
            operator,
            values,
            closing: "",
        })
    }

    /// "One of the entries of a multi-field has this value (or one of these)".
    fn multifield(
        backend: Backend,
        field: &str,
        column: String,
        operator: Operator,
        value: &Value,
    ) -> Result<Self, CrmError> {
        if !matches!(operator, Operator::Eq | Operator::In) {
            return Err(CrmError::Invalid(format!(
                "{field} can only be filtered by equal values"
            )));
        }
        let text = |v: &Value| match v {
            Value::String(s) => Ok(Bound::Text(s.trim().to_string())),
            other => Err(CrmError::Invalid(format!("filter {field}: {other} is not text"))),
        };
        let values = match value {
            Value::Array(list) => list.iter().map(text).collect::<Result<_, _>>()?,
            one => vec![text(one)?],
        };
        Ok(Self {
            backend,
            column,
            operator: Operator::In,
            values,
            closing: ")",
        })
    }

    fn push_sql(&self, b: &mut Sql) {
        self.push_condition(b);
        b.push(self.closing);
    }

    fn push_condition(&self, b: &mut Sql) {
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
                b.push(&self.column).push(" != ").bind(value);
                b.push(")");
            }
            (Operator::In | Operator::NotIn, _) => self.push_in(b),
            (Operator::Contains | Operator::NotContains | Operator::Like | Operator::NotLike, _) => {
                self.push_like(b, value)
            }
            (Operator::Eq, _) => self.compare(b, " = ", value),
            (Operator::Gt, _) => self.compare(b, " > ", value),
            (Operator::Ge, _) => self.compare(b, " >= ", value),
            (Operator::Lt, _) => self.compare(b, " < ", value),
            (Operator::Le, _) => self.compare(b, " <= ", value),
        }
    }

    fn compare(&self, b: &mut Sql, operator: &str, value: Bound) {
        b.push(&self.column).push(operator).bind(value);
    }

    fn push_in(&self, b: &mut Sql) {
        if self.values.is_empty() {
            b.push(if self.operator == Operator::In {
                "1 = 0"
            } else {
                "1 = 1"
            });
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
            b.bind(value.clone());
        }
        b.push(")");
    }

    fn push_like(&self, b: &mut Sql, value: Bound) {
        let text = match value {
            Bound::Text(t) => t,
            other => format!("{other:?}"),
        };
        let pattern = match self.operator {
            Operator::Like | Operator::NotLike => text,
            _ => format!(
                "%{}%",
                text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
            ),
        };
        // Bitrix24's text match ignores case; SQLite's LIKE already does for ASCII.
        let negated = matches!(self.operator, Operator::NotContains | Operator::NotLike);
        let like = match (self.backend, negated) {
            (Backend::Sqlite, true) => " NOT LIKE ",
            (Backend::Sqlite, false) => " LIKE ",
            (Backend::Postgres, true) => " NOT ILIKE ",
            (Backend::Postgres, false) => " ILIKE ",
        };
        if negated {
            b.push("(").push(&self.column).push(" IS NULL OR ");
        }
        b.push(&self.column)
            .push(like)
            .bind(Bound::Text(pattern))
            .push(" ESCAPE '\\'");
        if negated {
            b.push(")");
        }
    }
}

/// How a column of a [`TableQuery`] reads filter values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    /// Whole numbers (ids, statuses).
    Int,
    /// Text.
    Text,
    /// A moment stored as milliseconds; filters take dates as REST writes them.
    Time,
    /// Y/N stored as 1/0.
    Flag,
}

/// A listing of a plain table (tasks, activities): filters with `=`, `!`, `<`, `<=`, `>`, `>=`
/// and `@` (in) over named columns, an order, a page and the total.
pub(crate) struct TableQuery<'a> {
    /// The table.
    pub table: &'a str,
    /// REST name, column and type of each filterable and orderable column.
    pub columns: &'a [(&'a str, &'a str, ColumnType)],
    /// A condition every row must meet besides the filter, already safe SQL.
    pub scope: &'a str,
    /// The filter, as the REST call gave it.
    pub filter: &'a Map<String, Value>,
    /// The order, as the REST call gave it; ties go by `id`.
    pub order: &'a Map<String, Value>,
    /// Which of the matching rows.
    pub page: Page,
}

impl TableQuery<'_> {
    fn column(&self, name: &str) -> Result<(&str, ColumnType), CrmError> {
        self.columns
            .iter()
            .find(|(rest, _, _)| rest.eq_ignore_ascii_case(name))
            .map(|(_, column, kind)| (*column, *kind))
            .ok_or_else(|| CrmError::Invalid(format!("unknown field {name} in filter or order")))
    }

    fn bound(name: &str, kind: ColumnType, value: &Value) -> Result<Bound, CrmError> {
        let text = match value {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => (if *b { "Y" } else { "N" }).to_string(),
            other => return Err(CrmError::Invalid(format!("filter {name}: {other} is not a value"))),
        };
        let wrong = || CrmError::Invalid(format!("filter {name}: '{text}' is not a {kind:?}"));
        match kind {
            ColumnType::Int => text.parse().map(Bound::Int).map_err(|_| wrong()),
            ColumnType::Text => Ok(Bound::Text(text)),
            ColumnType::Time => parse_datetime(&text).map(Bound::Int).ok_or_else(wrong),
            ColumnType::Flag => match text.as_str() {
                "Y" | "1" | "true" => Ok(Bound::Int(1)),
                "N" | "0" | "false" => Ok(Bound::Int(0)),
                _ => Err(wrong()),
            },
        }
    }

    fn push_where(&self, sql: &mut Sql) -> Result<(), CrmError> {
        sql.push(" WHERE ").push(self.scope);
        for (key, value) in self.filter {
            let (operator, name) = [
                ("<=", "<="),
                (">=", ">="),
                ("!=", "<>"),
                ("!", "<>"),
                ("<", "<"),
                (">", ">"),
                ("@", "IN"),
                ("=", "="),
            ]
            .iter()
            .find_map(|(prefix, op)| key.strip_prefix(prefix).map(|rest| (*op, rest)))
            .unwrap_or(("=", key));
            let (column, kind) = self.column(name)?;
            sql.push(" AND ").push(column);
            match (operator, value) {
                ("IN", Value::Array(values)) if values.is_empty() => {
                    sql.push(" IS NULL AND 1 = 0");
                }
                ("IN", Value::Array(values)) => {
                    sql.push(" IN (");
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            sql.push(", ");
                        }
                        sql.bind(Self::bound(name, kind, v)?);
                    }
                    sql.push(")");
                }
                (_, Value::Null) if operator == "=" => {
                    sql.push(" IS NULL");
                }
                (_, Value::Null) if operator == "<>" => {
                    sql.push(" IS NOT NULL");
                }
                ("IN", one) => {
                    sql.push(" = ").bind(Self::bound(name, kind, one)?);
                }
                (op, one) => {
                    sql.push(" ").push(op).push(" ").bind(Self::bound(name, kind, one)?);
                }
            }
        }
        Ok(())
    }

    /// The page of rows, and the number of rows matching in all when the page asks.
    pub(crate) async fn run(&self, conn: &mut Conn) -> Result<(Vec<store::Row>, Option<i64>), CrmError> {
        let total = if self.page.count {
            let mut count = Sql::new(&format!("SELECT COUNT(*) FROM {}", self.table));
            self.push_where(&mut count)?;
            Some(count.query().fetch_one(&mut *conn).await?.try_get(0usize)?)
        } else {
            None
        };
        let mut select = Sql::new(&format!("SELECT * FROM {}", self.table));
        self.push_where(&mut select)?;
        let mut order = Vec::new();
        for (name, direction) in self.order {
            let (column, _) = self.column(name)?;
            let direction = match direction.as_str().map(str::to_ascii_uppercase).as_deref() {
                Some("ASC") => "ASC",
                Some("DESC") => "DESC",
                _ => return Err(CrmError::Invalid(format!("order of {name} must be ASC or DESC"))),
            };
            order.push(format!("{column} {direction}"));
        }
        if !self.order.keys().any(|name| name.eq_ignore_ascii_case("ID")) {
            order.push("id ASC".into());
        }
        select.push(" ORDER BY ").push(&order.join(", "));
        select.push(" LIMIT ").bind(Bound::Int(self.page.limit));
        select.push(" OFFSET ").bind(Bound::Int(self.page.start));
        let rows = select.query().fetch_all(&mut *conn).await?;
        Ok((rows, total))
    }
}
