//! A pipeline's report over a period (seed 000, "Repeat Sales Analytics"): how many items entered
//! each stage, how many were won and lost, conversion by responsible person, and the share of
//! repeat deals. Counted from the stage history, so a stage entered twice by one item counts once
//! and deleted items still count in the totals.

use serde::Serialize;

use super::{json_field, stages};
use crate::clock::Millis;
use crate::model::{CrmError, EntityType, FieldKind, REPEAT_FIELD};
use crate::store::{self, Conn};

/// What to report on: one pipeline of one type, entries at `from` or later and before `to`.
#[derive(Debug, Clone, Copy)]
pub struct Period {
    /// The entity type.
    pub entity_type: EntityType,
    /// The pipeline (0 for leads).
    pub category_id: i64,
    /// The first moment counted.
    pub from: Millis,
    /// The first moment not counted.
    pub to: Millis,
}

/// One stage's line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StageLine {
    /// The stage.
    pub stage_id: String,
    /// Its name.
    pub name: String,
    /// "P", "S" or "F".
    pub semantics: String,
    /// Items that entered it in the period.
    pub entered: i64,
    /// Items in it now.
    pub now: i64,
}

/// One responsible person's line: what was closed in the period among the items they are
/// responsible for now.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ResponsibleLine {
    /// The user.
    pub user_id: i64,
    /// Items that entered a success stage.
    pub won: i64,
    /// Items that entered a failure stage.
    pub lost: i64,
    /// `won / (won + lost)`, 0 when nothing was closed.
    pub conversion: f64,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PipelineReport {
    /// Items created in the pipeline in the period.
    pub created: i64,
    /// Items that came in from another pipeline in the period.
    pub moved_in: i64,
    /// Each stage, in the pipeline's order.
    pub stages: Vec<StageLine>,
    /// Items that entered a success stage in the period.
    pub won: i64,
    /// Items that entered a failure stage in the period.
    pub lost: i64,
    /// `won / (won + lost)`, 0 when nothing was closed.
    pub conversion: f64,
    /// By responsible person, most won first.
    pub by_responsible: Vec<ResponsibleLine>,
    /// Of the deals created in the period, those that are repeat deals (`IS_RETURN_CUSTOMER`).
    pub repeat_deals: i64,
    /// `repeat_deals / created`, 0 when nothing was created; for deals only.
    pub repeat_share: f64,
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// The stage history rows of the period, as SQL conditions on `h` with binds $1 to $4.
const IN_PERIOD: &str = "h.entity_type = $1 AND h.category_id = $2 AND h.created_at >= $3 AND h.created_at < $4";

/// Reports on `period`.
pub async fn report(conn: &mut Conn, period: Period) -> Result<PipelineReport, CrmError> {
    let pipeline = stages(conn, period.entity_type, period.category_id).await?;
    if pipeline.is_empty() {
        return Err(CrmError::NotFound(format!(
            "pipeline {} of {}",
            period.category_id, period.entity_type
        )));
    }
    if period.to <= period.from {
        return Err(CrmError::Invalid("the period's end must come after its start".into()));
    }
    let entered = counts(
        conn,
        period,
        &format!(
            "SELECT h.stage_id, COUNT(DISTINCT h.owner_id) FROM stage_history h WHERE {IN_PERIOD} GROUP BY h.stage_id"
        ),
    )
    .await?;
    let now = in_stages_now(conn, period).await?;
    let by_kind = counts(
        conn,
        period,
        &format!("SELECT CAST(h.type_id AS TEXT), COUNT(DISTINCT h.owner_id) FROM stage_history h WHERE {IN_PERIOD} GROUP BY h.type_id"),
    )
    .await?;
    let closed = counts(
        conn,
        period,
        &format!(
            "SELECT h.semantics, COUNT(DISTINCT h.owner_id) FROM stage_history h WHERE {IN_PERIOD} GROUP BY h.semantics"
        ),
    )
    .await?;
    let count_of = |lines: &[(String, i64)], key: &str| lines.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n);
    let stages = pipeline
        .into_iter()
        .map(|stage| StageLine {
            entered: count_of(&entered, &stage.status_id),
            now: count_of(&now, &stage.status_id),
            stage_id: stage.status_id,
            name: stage.name,
            semantics: stage.semantics,
        })
        .collect();
    let (won, lost) = (count_of(&closed, "S"), count_of(&closed, "F"));
    let created = count_of(&by_kind, "1");
    let repeat_deals = if period.entity_type == EntityType::Deal {
        repeat_deals(conn, period).await?
    } else {
        0
    };
    Ok(PipelineReport {
        created,
        moved_in: count_of(&by_kind, "5"),
        stages,
        won,
        lost,
        conversion: ratio(won, won + lost),
        by_responsible: by_responsible(conn, period).await?,
        repeat_deals,
        repeat_share: ratio(repeat_deals, created),
    })
}

/// Rows of (key, count) from `sql`, which binds the period as $1 to $4.
async fn counts(conn: &mut Conn, period: Period, sql: &str) -> Result<Vec<(String, i64)>, CrmError> {
    let rows = in_period(sql, period).fetch_all(&mut *conn).await?;
    pairs(&rows)
}

/// `sql` with the period bound as $1 to $4.
fn in_period(sql: &str, period: Period) -> store::Query<'_> {
    store::query(sql)
        .bind(period.entity_type)
        .bind(period.category_id)
        .bind(period.from)
        .bind(period.to)
}

/// How many of the pipeline's items are in each stage now.
async fn in_stages_now(conn: &mut Conn, period: Period) -> Result<Vec<(String, i64)>, CrmError> {
    let rows = store::query(
        "SELECT stage_id, COUNT(*) FROM items WHERE entity_type = $1 AND category_id = $2 GROUP BY stage_id",
    )
    .bind(period.entity_type)
    .bind(period.category_id)
    .fetch_all(&mut *conn)
    .await?;
    pairs(&rows)
}

fn pairs(rows: &[store::Row]) -> Result<Vec<(String, i64)>, CrmError> {
    rows.iter()
        .map(|row| Ok((row.try_get(0usize)?, row.try_get(1usize)?)))
        .collect()
}

/// Won and lost by the items' responsible person now.
async fn by_responsible(conn: &mut Conn, period: Period) -> Result<Vec<ResponsibleLine>, CrmError> {
    let responsible = json_field(conn.backend(), "ASSIGNED_BY_ID", FieldKind::Integer);
    let sql = format!(
        "SELECT CAST({responsible} AS BIGINT) AS user_id,
                COUNT(DISTINCT CASE WHEN h.semantics = 'S' THEN h.owner_id END) AS won,
                COUNT(DISTINCT CASE WHEN h.semantics = 'F' THEN h.owner_id END) AS lost
         FROM stage_history h JOIN items ON items.entity_type = h.entity_type AND items.id = h.owner_id
         WHERE {IN_PERIOD} AND h.semantics IN ('S', 'F')
         GROUP BY CAST({responsible} AS BIGINT)"
    );
    let rows = in_period(&sql, period).fetch_all(&mut *conn).await?;
    let mut lines = rows
        .iter()
        .map(|row| {
            let (won, lost): (i64, i64) = (row.try_get("won")?, row.try_get("lost")?);
            Ok(ResponsibleLine {
                user_id: row.try_get("user_id")?,
                won,
                lost,
                conversion: ratio(won, won + lost),
            })
        })
        .collect::<Result<Vec<_>, CrmError>>()?;
    lines.sort_by(|a, b| b.won.cmp(&a.won).then(a.user_id.cmp(&b.user_id)));
    Ok(lines)
}

/// Deals created in the period that are repeat deals.
async fn repeat_deals(conn: &mut Conn, period: Period) -> Result<i64, CrmError> {
    let flag = json_field(conn.backend(), REPEAT_FIELD, FieldKind::Flag);
    let sql = format!(
        "SELECT COUNT(DISTINCT h.owner_id) FROM stage_history h
         JOIN items ON items.entity_type = h.entity_type AND items.id = h.owner_id
         WHERE {IN_PERIOD} AND h.type_id = 1 AND {flag} = 'Y'"
    );
    let found = in_period(&sql, period).fetch_one(&mut *conn).await?;
    Ok(found.try_get(0usize)?)
}
