//! A pipeline as a kanban board: stages as columns with counts and amounts, items as cards.
//! Each column shows 50 cards and loads more on demand, so a pipeline of 100,000 deals opens at
//! once. Dragging a card calls the item's REST update method (see `assets/kanban.js`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::layout::{self, Section};
use super::pipelines::{self, Pipeline};
use super::{PageError, Viewer};
use crate::api::{ApiError, AppState};
use crate::clock::Millis;
use crate::crm::{self, ListQuery, Page, Stage};
use crate::directory;
use crate::model::{EntityType, Item, with_thousands};
use crate::permissions::Access;
use crate::store::Conn;

/// Cards per column and per "load more".
pub const CARDS_PER_PAGE: i64 = 50;

/// The board's search and filter, from its query string.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct BoardFilter {
    /// Text the title contains.
    #[serde(default)]
    q: String,
    /// Only items of this responsible person.
    #[serde(default, deserialize_with = "optional_id")]
    responsible: Option<i64>,
    /// Where a "load more" starts.
    #[serde(default)]
    offset: i64,
}

/// An empty form field means "no filter".
fn optional_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.trim().parse().map(Some).map_err(serde::de::Error::custom)
}

/// `GET /`: the deals board, or the first board the viewer may read.
pub async fn home(viewer: Viewer, State(app): State<AppState>) -> Result<Redirect, PageError> {
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let visible = pipelines::visible(&mut conn, &viewer.access).await?;
    let first = visible
        .iter()
        .find(|p| p.entity_type == EntityType::Deal)
        .or(visible.first())
        .ok_or(PageError::Forbidden)?;
    Ok(Redirect::to(&format!("/board/{}", first.path())))
}

/// `GET /board/{entity}/{category}`.
pub async fn page(
    viewer: Viewer,
    State(app): State<AppState>,
    Path((entity, category)): Path<(String, i64)>,
    Query(filter): Query<BoardFilter>,
) -> Result<Markup, PageError> {
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let all = pipelines::visible(&mut conn, &viewer.access).await?;
    let pipeline = pipelines::find(&all, &entity, category)?;
    let stages = crm::stages(&mut conn, pipeline.entity_type, category).await?;
    let users = user_names(&mut conn).await?;
    let now = app.clock.now();
    let mut columns = Vec::with_capacity(stages.len());
    let board = Board {
        pipeline: &pipeline,
        access: &viewer.access,
        users: &users,
        now,
    };
    for (position, stage) in stages.iter().enumerate() {
        let color = pipelines::stage_color(stage, position);
        columns.push(board.column(&mut conn, stage, &color, &filter).await?);
    }
    let (method, stage_field) = pipeline.update_call();
    let body = html! {
        (layout::pipeline_tabs(&viewer, &all, &pipeline, Section::Board))
        form.board-filter method="get" role="search" {
            label { span.visually-hidden { "Search by title" }
                input type="search" name="q" value=(filter.q) placeholder="Search by title" aria-label="Search by title"; }
            label { span.visually-hidden { "Responsible person" }
                select name="responsible" aria-label="Responsible person" {
                    option value="" { "Any responsible person" }
                    @for (id, name) in sorted(&users) {
                        option value=(id) selected[filter.responsible == Some(id)] { (name) }
                    }
                }
            }
            button type="submit" { "Filter" }
            @if !filter.q.is_empty() || filter.responsible.is_some() {
                a href=(format!("/board/{}", pipeline.path())) { "Clear" }
            }
        }
        div.kanban #kanban
            data-entity-type=(pipeline.entity_type)
            data-type-id=(pipeline.entity_type.type_id())
            data-update-method=(method)
            data-stage-field=(stage_field)
            data-stamp-url=(format!("/board/{}/stamp", pipeline.path())) {
            @for column in &columns { (column) }
        }
    };
    Ok(layout::page(
        &viewer,
        &pipeline.name,
        Section::Board,
        &all,
        &["kanban.js"],
        body,
    ))
}

/// `GET /board/{entity}/{category}/stage/{stage}?offset=50`: the next cards of a column.
pub async fn column_cards(
    viewer: Viewer,
    State(app): State<AppState>,
    Path((entity, category, stage)): Path<(String, i64, String)>,
    Query(filter): Query<BoardFilter>,
) -> Result<Markup, PageError> {
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let all = pipelines::visible(&mut conn, &viewer.access).await?;
    let pipeline = pipelines::find(&all, &entity, category)?;
    let stage = crm::stage(&mut conn, pipeline.entity_type, &stage).await?;
    let users = user_names(&mut conn).await?;
    let board = Board {
        pipeline: &pipeline,
        access: &viewer.access,
        users: &users,
        now: app.clock.now(),
    };
    let (items, total, _) = board.cards_page(&mut conn, &stage, &filter).await?;
    let entered = crm::entered_stage_at(&mut conn, pipeline.entity_type, &ids(&items)).await?;
    Ok(board.cards(&stage, &items, total, &filter, &entered))
}

/// `GET /board/{entity}/{category}/stamp`: changes whenever items of the pipeline's type do.
pub async fn stamp(
    _viewer: Viewer,
    State(app): State<AppState>,
    Path((entity, _category)): Path<(String, i64)>,
) -> Result<Response, PageError> {
    let mut conn = app.store.pool().acquire().await.map_err(ApiError::from)?;
    let entity_type = EntityType::parse(&entity)?;
    let (count, changed) = crm::type_stamp(&mut conn, entity_type).await?;
    Ok(Json(json!({"stamp": format!("{count}:{}", changed.unwrap_or(0))})).into_response())
}

async fn user_names(conn: &mut Conn) -> Result<HashMap<i64, String>, PageError> {
    Ok(directory::full_names(conn).await?.into_iter().collect())
}

fn sorted(users: &HashMap<i64, String>) -> Vec<(i64, &str)> {
    let mut all: Vec<_> = users.iter().map(|(id, name)| (*id, name.as_str())).collect();
    all.sort_by(|a, b| a.1.cmp(b.1));
    all
}

fn ids(items: &[Item]) -> Vec<i64> {
    items.iter().map(|i| i.item_ref.id).collect()
}

/// The filter of one column: its stage, the pipeline, and the board's search.
fn column_filter(pipeline: &Pipeline, stage: &Stage, filter: &BoardFilter) -> Map<String, Value> {
    let mut out = Map::new();
    // A stage id belongs to one pipeline, so the stage alone picks the column's items (and
    // lets the database sum amounts from the stage's index without reading the rows).
    out.insert(pipeline.entity_type.stage_field().into(), json!(stage.status_id));
    if !filter.q.trim().is_empty() {
        out.insert("%TITLE".into(), json!(filter.q.trim()));
    }
    if let Some(responsible) = filter.responsible {
        out.insert("ASSIGNED_BY_ID".into(), json!(responsible));
    }
    out
}

/// What every card of a board render shares.
struct Board<'a> {
    pipeline: &'a Pipeline,
    /// Cards and counts show only what the viewer may read, as `crm.*.list` would answer them.
    access: &'a Access,
    users: &'a HashMap<i64, String>,
    now: Millis,
}

impl Board<'_> {
    /// The column's filter, narrowed to what the viewer may read.
    fn readable_filter(&self, stage: &Stage, filter: &BoardFilter) -> Result<Map<String, Value>, PageError> {
        let asked = column_filter(self.pipeline, stage, filter);
        Ok(self
            .access
            .readable(self.pipeline.entity_type, asked)
            .map_err(ApiError::from)?)
    }

    /// A column's cards from `filter.offset` on, and how many cards and how much amount the
    /// whole column holds.
    async fn cards_page(
        &self,
        conn: &mut Conn,
        stage: &Stage,
        filter: &BoardFilter,
    ) -> Result<(Vec<Item>, i64, f64), PageError> {
        let readable = self.readable_filter(stage, filter)?;
        let entity_type = self.pipeline.entity_type;
        let (total, amount) = crm::total(conn, entity_type, &readable, "OPPORTUNITY").await?;
        let query = ListQuery {
            filter: readable,
            order: Map::from_iter([("ID".to_string(), json!("DESC"))]),
            page: Page {
                start: filter.offset.max(0),
                limit: CARDS_PER_PAGE,
                count: false,
            },
        };
        Ok((crm::list(conn, entity_type, &query).await?.0, total, amount))
    }

    async fn column(
        &self,
        conn: &mut Conn,
        stage: &Stage,
        color: &str,
        filter: &BoardFilter,
    ) -> Result<Markup, PageError> {
        let first = BoardFilter {
            offset: 0,
            ..filter.clone()
        };
        let entity_type = self.pipeline.entity_type;
        let (items, total, amount) = self.cards_page(conn, stage, &first).await?;
        let entered = crm::entered_stage_at(conn, entity_type, &ids(&items)).await?;
        Ok(html! {
            section.column data-stage=(stage.status_id) aria-label=(stage.name) style=(format!("--stage-color: {color}")) {
                header.column-head {
                    h2 { (stage.name) }
                    span.count title="Items" { (total) }
                    span.amount title="Amount" { (money(amount, None)) }
                }
                div.cards data-dropzone {
                    (self.cards(stage, &items, total, &first, &entered))
                }
            }
        })
    }

    fn cards(
        &self,
        stage: &Stage,
        items: &[Item],
        total: i64,
        filter: &BoardFilter,
        entered: &HashMap<i64, Millis>,
    ) -> Markup {
        let shown_to = filter.offset.max(0) + items.len() as i64;
        let more = format!(
            "/board/{}/stage/{}?{}",
            self.pipeline.path(),
            stage.status_id,
            serde_urlencoded::to_string([
                ("q", filter.q.clone()),
                (
                    "responsible",
                    filter.responsible.map(|r| r.to_string()).unwrap_or_default()
                ),
                ("offset", shown_to.to_string()),
            ])
            .unwrap_or_default()
        );
        html! {
            @for item in items {
                (self.card(item, entered))
            }
            @if shown_to < total {
                button.more type="button" data-more=(more) { "Show " (CARDS_PER_PAGE.min(total - shown_to)) " more" }
            }
        }
    }

    fn card(&self, item: &Item, entered: &HashMap<i64, Millis>) -> Markup {
        let id = item.item_ref.id;
        let field = |name: &str| item.fields.get(name).cloned().unwrap_or(Value::Null);
        let title = field("TITLE").as_str().filter(|t| !t.is_empty()).map(str::to_string);
        let title = title.unwrap_or_else(|| format!("#{id}"));
        let amount = field("OPPORTUNITY").as_f64();
        let currency = field("CURRENCY_ID");
        let responsible = field("ASSIGNED_BY_ID").as_i64().and_then(|u| self.users.get(&u));
        let since = entered.get(&id).copied().unwrap_or(item.created_at);
        html! {
            article.card draggable="true" tabindex="0" data-id=(id) aria-label=(title)
                title="Drag to another stage, or press Shift+Arrow keys" {
                a.card-title href=(format!("/items/{}/{id}", self.pipeline.entity_type)) { (title) }
                @if let Some(amount) = amount {
                    div.card-amount { (money(amount, currency.as_str())) }
                }
                div.card-meta {
                    span.responsible { (responsible.map(String::as_str).unwrap_or("Nobody")) }
                    span.age title="In this stage" { (age(self.now - since)) }
                }
            }
        }
    }
}

/// 1234.5 as "1,234.50 USD"; whole amounts without decimals.
pub fn money(amount: f64, currency: Option<&str>) -> String {
    let grouped = with_thousands(amount.trunc() as i64);
    let sign = if amount < 0.0 && amount.trunc() == 0.0 { "-" } else { "" };
    let cents = (amount.abs().fract() * 100.0).round() as i64;
    let number = if cents == 0 {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{cents:02}")
    };
    match currency.filter(|c| !c.is_empty()) {
        Some(currency) => format!("{number} {currency}"),
        None => number,
    }
}

/// How long ago, roughly: "just now", "12 min", "5 h", "3 d".
pub fn age(ms: Millis) -> String {
    let minutes = ms / 60_000;
    match minutes {
        m if m < 1 => "just now".into(),
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} d", m / (24 * 60)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_ages_read_as_people_write_them() {
        assert_eq!(money(1234.5, Some("USD")), "1,234.50 USD");
        assert_eq!(money(1_000_000.0, None), "1,000,000");
        assert_eq!(money(-12.0, Some("")), "-12");
        assert_eq!(age(30_000), "just now");
        assert_eq!(age(12 * 60_000), "12 min");
        assert_eq!(age(5 * 3_600_000), "5 h");
        assert_eq!(age(3 * 86_400_000), "3 d");
    }
}
