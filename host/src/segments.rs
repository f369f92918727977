//! Repeat-sales segments, as Bitrix24's newer repeat-sales feature has them: groups of clients
//! worth a new deal (a win about a year, half a year or a month ago; a last deal lost long ago;
//! no activity for a long time). Once a day, on the host's clock, the scheduler's workers run
//! every enabled segment ([`run_day`]) and make one deal for each client in it.
//!
//! A **client** is the company of a deal, or its contact when it has no company. A client's
//! **last deal** is the closed deal that entered its final stage last. Every segment leaves out
//! clients with an open deal, so a client gets at most one segment deal a day (segments are
//! tried in order), and none while the last one is in work. A segment never makes two deals for
//! one client and one last deal, nor two within its own period.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::Millis;
use crate::crm::{self, Automation, json_field};
use crate::directory::AUTOMATION_USER;
use crate::model::{CrmError, EntityType, FieldKind, ItemRef, Write, check_fields};
use crate::returns::{self, ReturnResponsible};
use crate::rules::calendar;
use crate::store::{self, Backend, Conn, Store, Tx};

const DAY_MS: i64 = 86_400_000;

/// How many of a segment's deals are made in one transaction.
const DEALS_PER_TRANSACTION: usize = 200;

/// Which clients a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// The last deal was won about `days` ago: at least `days`, at most `days` + `window_days`.
    WonAgo,
    /// The last deal was lost more than `days` ago.
    LostAgo,
    /// Nothing happened to the client or its deals (no change, no activity) for `days`.
    Inactive,
}

/// A repeat-sales segment and the deal it makes for each client in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// Its id, given by the host (an id in a new segment is ignored).
    #[serde(default)]
    #[schema(read_only)]
    pub id: i64,
    /// Its name, shown to admins and put before the deal's title.
    pub name: String,
    /// Which clients it holds.
    pub kind: SegmentKind,
    /// Its period in days: how long ago the win, the loss, or the last activity. A client gets at
    /// most one deal from it per period.
    pub days: u32,
    /// `won_ago`: how many days past `days` a win still counts (7 when left out), so a client
    /// missed on one day (the host was down) is found the next.
    #[serde(default)]
    pub window_days: Option<u32>,
    /// Whether the daily job runs it (on when left out).
    #[serde(default = "on")]
    pub enabled: bool,
    /// The pipeline of its deals; the client's last deal's when left out.
    #[serde(default)]
    pub category_id: Option<i64>,
    /// The stage of its deals; that pipeline's first when left out.
    #[serde(default)]
    pub target_stage_id: Option<String>,
    /// Who is responsible for its deals; the last deal's responsible person when left out.
    #[serde(default)]
    pub responsible: ReturnResponsible,
    /// Its deals' title, `{=Document:FIELD}` templates of the last deal allowed; "name: the last
    /// deal's title" when left out.
    #[serde(default)]
    pub title: Option<String>,
    /// Notify the responsible person of each deal it makes.
    #[serde(default)]
    pub notify_manager: bool,
}

fn on() -> bool {
    true
}

/// One day's run of the daily job.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SegmentRun {
    /// The day, counted from 1970-01-01 in the business calendar's time zone.
    pub day: i64,
    /// When it started, ms since the epoch.
    pub started_at: Millis,
    /// When it finished; none while it runs (or if its host stopped during it).
    pub finished_at: Option<Millis>,
    /// How many deals it made.
    pub deals_created: i64,
}

/// A client found in a segment, with its last deal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    client: ItemRef,
    last_deal: i64,
}

impl Segment {
    fn window_days(&self) -> u32 {
        self.window_days.unwrap_or(7)
    }

    /// Checks the segment against the pipelines as they are.
    async fn check(&self, conn: &mut Conn) -> Result<(), CrmError> {
        if self.name.trim().is_empty() {
            return Err(CrmError::Invalid("a segment needs a name".into()));
        }
        if self.days == 0 {
            return Err(CrmError::Invalid("days must be at least 1".into()));
        }
        if self.window_days.is_some() && self.kind != SegmentKind::WonAgo {
            return Err(CrmError::Invalid("window_days is for won_ago segments".into()));
        }
        match (self.category_id, &self.target_stage_id) {
            (Some(category), stage) => {
                returns::target_stage(conn, EntityType::Deal, category, stage.as_deref()).await?;
            }
            (None, Some(_)) => {
                return Err(CrmError::Invalid("target_stage_id needs its category_id".into()));
            }
            (None, None) => {}
        }
        returns::check_responsible(&self.responsible)?;
        returns::check_title(self.title.as_deref())
    }

    /// The clients in this segment at `now` that it has not made a deal for, by client.
    async fn scan(&self, conn: &mut Conn, now: Millis) -> Result<Vec<Candidate>, CrmError> {
        let period = i64::from(self.days) * DAY_MS;
        let since = match self.kind {
            SegmentKind::WonAgo => now - period - i64::from(self.window_days()) * DAY_MS,
            SegmentKind::LostAgo | SegmentKind::Inactive => 0,
        };
        let rows = store::query(&scan_sql(conn.backend(), self.kind))
            .bind(now - period)
            .bind(since)
            .bind(self.id)
            .fetch_all(&mut *conn)
            .await?;
        rows.iter()
            .map(|row| {
                let client_type: String = row.try_get("client_type")?;
                Ok(Candidate {
                    client: ItemRef {
                        entity_type: EntityType::parse(&client_type)?,
                        id: row.try_get("client_id")?,
                    },
                    last_deal: row.try_get("deal_id")?,
                })
            })
            .collect()
    }
}

/// The query finding a segment's clients: `$1` is the period's end (now less the period), `$2`
/// the earliest a `won_ago` win counts, `$3` the segment. One pass over the deals, each with its
/// client, semantics, when it entered its stage (its stage history) and when it or its
/// activities last changed; then one row per client, its last deal first.
fn scan_sql(backend: Backend, kind: SegmentKind) -> String {
    let company = json_field(backend, "COMPANY_ID", FieldKind::Integer);
    let contact = json_field(backend, "CONTACT_ID", FieldKind::Integer);
    let whose = "PARTITION BY client_type, client_id";
    let in_segment = match kind {
        SegmentKind::WonAgo => "c.semantics = 'S' AND c.moved_at <= $1",
        SegmentKind::LostAgo => "c.semantics = 'F' AND c.moved_at <= $1",
        SegmentKind::Inactive => "c.touched_at <= $1 AND c.activity_at <= $1 AND k.updated_at <= $1",
    };
    format!(
        "WITH deals AS (
           SELECT CASE WHEN COALESCE({company}, 0) > 0 THEN 'company' ELSE 'contact' END AS client_type,
                  CAST(CASE WHEN COALESCE({company}, 0) > 0 THEN {company} ELSE {contact} END AS BIGINT) AS client_id,
                  i.id AS deal_id, s.semantics, i.updated_at AS touched_at,
                  COALESCE((SELECT MAX(h.created_at) FROM stage_history h
                            WHERE h.entity_type = 'deal' AND h.owner_id = i.id), i.created_at) AS moved_at,
                  COALESCE((SELECT MAX(a.updated_at) FROM activities a
                            WHERE a.owner_type = 'deal' AND a.owner_id = i.id), 0) AS activity_at
           FROM items i JOIN stages s ON s.entity_type = 'deal' AND s.status_id = i.stage_id
           WHERE i.entity_type = 'deal' AND (COALESCE({company}, 0) > 0 OR COALESCE({contact}, 0) > 0)
         ), clients AS (
           SELECT d.client_type, d.client_id, d.deal_id, d.semantics, d.moved_at,
                  ROW_NUMBER() OVER ({whose} ORDER BY d.moved_at DESC, d.deal_id DESC) AS latest,
                  SUM(CASE WHEN d.semantics = 'P' THEN 1 ELSE 0 END) OVER ({whose}) AS open_deals,
                  MAX(d.touched_at) OVER ({whose}) AS touched_at,
                  MAX(d.activity_at) OVER ({whose}) AS activity_at
           FROM deals d
         )
         SELECT c.client_type, c.client_id, c.deal_id FROM clients c
         JOIN items k ON k.entity_type = c.client_type AND k.id = c.client_id
         WHERE c.latest = 1 AND c.open_deals = 0 AND c.moved_at > $2 AND {in_segment}
           AND NOT EXISTS (SELECT 1 FROM segment_deals g WHERE g.segment_id = $3
               AND g.client_type = c.client_type AND g.client_id = c.client_id
               AND (g.anchor_id = c.deal_id OR g.created_at > $1))
         ORDER BY c.client_type, c.client_id"
    )
}

/// Checks and saves a segment; answers it with its id.
pub async fn add(tx: &mut Tx, mut segment: Segment, now: Millis) -> Result<Segment, CrmError> {
    segment.check(tx).await?;
    segment.id =
        store::query_scalar("INSERT INTO repeat_sale_segments (segment, created_at) VALUES ($1, $2) RETURNING id")
            .bind(returns::stored_without_id(&segment)?)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
    Ok(segment)
}

/// Checks and replaces segment `id`; `None` when there is no such segment.
pub async fn replace(tx: &mut Tx, id: i64, mut segment: Segment) -> Result<Option<Segment>, CrmError> {
    segment.check(tx).await?;
    segment.id = id;
    let updated = store::query("UPDATE repeat_sale_segments SET segment = $1 WHERE id = $2")
        .bind(returns::stored_without_id(&segment)?)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok((updated.rows_affected() > 0).then_some(segment))
}

/// Stores a segment under its own id: replaces segment `id` when there is one, else adds it with
/// that id. What a configuration import uses.
pub async fn put(tx: &mut Tx, segment: Segment, now: Millis) -> Result<Segment, CrmError> {
    let id = segment.id;
    if let Some(replaced) = replace(tx, id, segment.clone()).await? {
        return Ok(replaced);
    }
    segment.check(tx).await?;
    store::query("INSERT INTO repeat_sale_segments (id, segment, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(returns::stored_without_id(&segment)?)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Store::ids_after_explicit_insert(tx, "repeat_sale_segments").await?;
    Ok(segment)
}

/// Every segment, in the order the daily job runs them.
pub async fn list(conn: &mut Conn) -> Result<Vec<Segment>, CrmError> {
    let rows = store::query("SELECT id, segment FROM repeat_sale_segments ORDER BY id")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            let text: String = row.try_get("segment")?;
            let mut segment: Segment = serde_json::from_str(&text)
                .map_err(|e| CrmError::Invalid(format!("stored segment is corrupt: {e}")))?;
            segment.id = row.try_get("id")?;
            Ok(segment)
        })
        .collect()
}

/// Deletes a segment; the deals it made stay. `false` when there is no such segment.
pub async fn delete(tx: &mut Tx, id: i64) -> Result<bool, CrmError> {
    let deleted = store::query("DELETE FROM repeat_sale_segments WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// The daily job's last 60 runs, newest first.
pub async fn runs(conn: &mut Conn) -> Result<Vec<SegmentRun>, CrmError> {
    let rows = store::query("SELECT * FROM segment_runs ORDER BY day DESC LIMIT 60")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(SegmentRun {
                day: row.try_get("day")?,
                started_at: row.try_get("started_at")?,
                finished_at: row.try_get("finished_at")?,
                deals_created: row.try_get("deals_created")?,
            })
        })
        .collect()
}

/// The day to run at `now`, when it has not run yet and a segment is enabled: a read, so idle
/// workers ask it cheaply.
pub async fn day_to_run(conn: &mut Conn, now: Millis) -> Result<Option<i64>, CrmError> {
    let any: Option<i64> = store::query_scalar("SELECT id FROM repeat_sale_segments LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    if any.is_none() {
        return Ok(None);
    }
    let offset = i64::from(calendar::load(conn).await?.utc_offset_minutes) * 60_000;
    let day = (now + offset).div_euclid(DAY_MS);
    let ran: Option<i64> = store::query_scalar("SELECT day FROM segment_runs WHERE day = $1")
        .bind(day)
        .fetch_optional(&mut *conn)
        .await?;
    if ran.is_some() || !list(conn).await?.iter().any(|s| s.enabled) {
        return Ok(None);
    }
    Ok(Some(day))
}

/// Runs every enabled segment for `day`, unless another worker or host took the day first;
/// answers how many deals it made. Each segment finds its clients with one read, then makes their
/// deals a batch per transaction.
pub async fn run_day(store: &Store, automation: &dyn Automation, day: i64, now: Millis) -> Result<i64, CrmError> {
    let mut tx = store.write().await?;
    let taken = store::query("INSERT INTO segment_runs (day, started_at) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING")
        .bind(day)
        .bind(now)
        .execute(&mut tx)
        .await?;
    tx.commit().await?;
    if taken.rows_affected() == 0 {
        return Ok(0);
    }
    let mut made = 0;
    let segments = list(&mut store.pool().acquire().await?).await?;
    for segment in segments.iter().filter(|s| s.enabled) {
        let candidates = segment.scan(&mut store.pool().acquire().await?, now).await?;
        for batch in candidates.chunks(DEALS_PER_TRANSACTION) {
            let mut tx = store.write().await?;
            for candidate in batch {
                made += i64::from(make_deal(&mut tx, automation, segment, candidate, now).await?);
            }
            tx.commit().await?;
        }
    }
    let mut tx = store.write().await?;
    store::query("UPDATE segment_runs SET finished_at = $1, deals_created = $2 WHERE day = $3")
        .bind(now)
        .bind(made)
        .bind(day)
        .execute(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(made)
}

/// Makes `segment`'s deal for a client; `false` when it already has one (another host made it)
/// or none can be made now (the responsible cannot be found, the pipeline is gone): such a
/// client is tried again the next day.
async fn make_deal(
    tx: &mut Tx,
    automation: &dyn Automation,
    segment: &Segment,
    candidate: &Candidate,
    now: Millis,
) -> Result<bool, CrmError> {
    let marked = keyed(
        "INSERT INTO segment_deals (segment_id, client_type, client_id, anchor_id, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        segment,
        candidate,
    )
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if marked.rows_affected() == 0 {
        return Ok(false);
    }
    let deal = match new_deal(tx, automation, segment, candidate, now).await {
        Ok(deal) => deal,
        Err(CrmError::Invalid(_) | CrmError::NotFound(_)) => {
            keyed(&format!("DELETE FROM segment_deals WHERE {KEY}"), segment, candidate)
                .execute(&mut *tx)
                .await?;
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    keyed(
        &format!("UPDATE segment_deals SET deal_id = $5 WHERE {KEY}"),
        segment,
        candidate,
    )
    .bind(deal)
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

/// The condition naming one row of `segment_deals`, bound by [`keyed`].
const KEY: &str = "segment_id = $1 AND client_type = $2 AND client_id = $3 AND anchor_id = $4";

/// `sql` with a segment deal's key bound as `$1` to `$4`.
fn keyed<'q>(sql: &'q str, segment: &Segment, candidate: &Candidate) -> store::Query<'q> {
    store::query(sql)
        .bind(segment.id)
        .bind(candidate.client.entity_type)
        .bind(candidate.client.id)
        .bind(candidate.last_deal)
}

/// Creates the deal: the last deal's client and currency, `SOURCE_ID` `REPEAT_SALE`, `ORIGIN_ID`
/// naming the last deal; answers its id.
async fn new_deal(
    tx: &mut Tx,
    automation: &dyn Automation,
    segment: &Segment,
    candidate: &Candidate,
    now: Millis,
) -> Result<i64, CrmError> {
    let last = crm::get(
        tx,
        ItemRef {
            entity_type: EntityType::Deal,
            id: candidate.last_deal,
        },
    )
    .await?;
    let category = segment.category_id.or(last.category_id).unwrap_or_default();
    let stage = returns::target_stage(tx, EntityType::Deal, category, segment.target_stage_id.as_deref()).await?;
    let manager = last
        .fields
        .get("ASSIGNED_BY_ID")
        .and_then(Value::as_i64)
        .unwrap_or(AUTOMATION_USER);
    let turn = format!("segment-{}", segment.id);
    let responsible = returns::pick_responsible(tx, &segment.responsible, &turn, manager)
        .await?
        .map_err(CrmError::Invalid)?;
    let last_title = last.fields.get("TITLE").and_then(Value::as_str).unwrap_or_default();
    let title = match &segment.title {
        Some(title) => returns::title_for(title, &last).map_err(CrmError::Invalid)?,
        None => format!("{}: {last_title}", segment.name),
    };
    let mut fields = Map::new();
    for name in ["CONTACT_ID", "COMPANY_ID", "CURRENCY_ID"] {
        if let Some(value) = last.fields.get(name).filter(|v| !v.is_null()) {
            fields.insert(name.into(), value.clone());
        }
    }
    fields.extend([
        ("TITLE".to_string(), json!(title)),
        ("SOURCE_ID".to_string(), json!("REPEAT_SALE")),
        ("ORIGIN_ID".to_string(), json!(last.item_ref.id.to_string())),
        ("ASSIGNED_BY_ID".to_string(), json!(responsible)),
        ("CATEGORY_ID".to_string(), json!(stage.category_id)),
        ("STAGE_ID".to_string(), json!(stage.status_id)),
    ]);
    let custom = crm::userfields::userfields(tx, EntityType::Deal).await?;
    let changes = check_fields(EntityType::Deal, &custom, &fields, Write::Create)?;
    let written = crm::create(tx, automation, EntityType::Deal, None, changes, AUTOMATION_USER, now).await?;
    if segment.notify_manager {
        let what = format!(
            "A repeat sale for the client of {} \"{last_title}\" ({}) is {}.",
            last.item_ref, segment.name, written.item
        );
        returns::tell(tx, vec![responsible], &what, &turn, now).await?;
    }
    Ok(written.item.id)
}
