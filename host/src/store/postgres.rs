//! PostgreSQL, through sqlx's own PostgreSQL driver: statements go over the connection's socket
//! from the calling task. The arguments are bound by reference and the rows decoded straight into
//! [`Value`]s; sqlx's Any driver copied both once more on the way (docs/decisions.md).

use std::sync::Arc;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Column, PgConnection, Postgres, Row as _, TypeInfo, ValueRef};

use super::StoreError;
use super::value::{Arg, Row, Value};

/// Runs one statement with its arguments; returns the rows, or (when `rows` is false) how many
/// rows it changed.
pub(super) async fn run(
    conn: &mut PgConnection,
    sql: &str,
    args: &[Arg],
    rows: bool,
) -> Result<(Vec<Row>, u64), StoreError> {
    let query = args.iter().fold(sqlx::query(sql), bind);
    if !rows {
        return Ok((Vec::new(), query.execute(conn).await?.rows_affected()));
    }
    let fetched = query.fetch_all(conn).await?;
    let Some(first) = fetched.first() else {
        return Ok((Vec::new(), 0));
    };
    let columns: Arc<[String]> = first.columns().iter().map(|c| c.name().to_string()).collect();
    let rows = fetched
        .iter()
        .map(|row| Ok(Row::new(columns.clone(), values_of(row)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let count = rows.len() as u64;
    Ok((rows, count))
}

fn bind<'q>(query: Query<'q, Postgres, PgArguments>, arg: &'q Arg) -> Query<'q, Postgres, PgArguments> {
    match arg {
        Arg::Int(i) => query.bind(*i),
        Arg::Real(f) => query.bind(*f),
        Arg::Text(s) => query.bind(s.as_deref()),
        Arg::Blob(b) => query.bind(b.as_deref()),
        Arg::Bool(b) => query.bind(*b),
    }
}

/// A row's values, by the PostgreSQL type of each column: the store's SQL uses integers, reals,
/// text, bytes and booleans only.
fn values_of(row: &PgRow) -> Result<Vec<Value>, StoreError> {
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(Value::Null);
            }
            Ok(match raw.type_info().name() {
                "BOOL" => Value::Bool(row.try_get(i)?),
                "INT2" => Value::Int(row.try_get::<i16, _>(i)?.into()),
                "INT4" => Value::Int(row.try_get::<i32, _>(i)?.into()),
                "INT8" => Value::Int(row.try_get(i)?),
                "FLOAT4" => Value::Real(row.try_get::<f32, _>(i)?.into()),
                "FLOAT8" => Value::Real(row.try_get(i)?),
                "BYTEA" => Value::Blob(row.try_get(i)?),
                "VOID" => Value::Null,
                _ => Value::Text(row.try_get(i)?),
            })
        })
        .collect()
}
