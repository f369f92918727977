//! PostgreSQL, through sqlx: statements go over the connection's socket from the calling task.

use std::sync::Arc;

use sqlx::any::{AnyRow, AnyTypeInfoKind};
use sqlx::{AnyConnection, Column, Row as _};

use super::StoreError;
use super::value::{Arg, Row, Value};

/// Runs one statement with its arguments; returns the rows, or (when `rows` is false) how many
/// rows it changed.
pub(super) async fn run(
    conn: &mut AnyConnection,
    sql: &str,
    args: &[Arg],
    rows: bool,
) -> Result<(Vec<Row>, u64), StoreError> {
    let mut query = sqlx::query(sql);
    for arg in args {
        query = match arg.clone() {
            Arg::Int(i) => query.bind(i),
            Arg::Real(f) => query.bind(f),
            Arg::Text(s) => query.bind(s),
            Arg::Blob(b) => query.bind(b),
            Arg::Bool(b) => query.bind(b),
        };
    }
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

fn values_of(row: &AnyRow) -> Result<Vec<Value>, StoreError> {
    (0..row.len())
        .map(|i| {
            let kind = row.column(i).type_info().kind();
            Ok(match kind {
                AnyTypeInfoKind::Null => Value::Null,
                AnyTypeInfoKind::Bool => row.try_get::<Option<bool>, _>(i)?.map_or(Value::Null, Value::Bool),
                AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt => {
                    row.try_get::<Option<i64>, _>(i)?.map_or(Value::Null, Value::Int)
                }
                AnyTypeInfoKind::Real | AnyTypeInfoKind::Double => {
                    row.try_get::<Option<f64>, _>(i)?.map_or(Value::Null, Value::Real)
                }
                AnyTypeInfoKind::Text => row.try_get::<Option<String>, _>(i)?.map_or(Value::Null, Value::Text),
                AnyTypeInfoKind::Blob => row.try_get::<Option<Vec<u8>>, _>(i)?.map_or(Value::Null, Value::Blob),
            })
        })
        .collect()
}
