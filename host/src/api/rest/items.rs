//! `crm.item.*`: Bitrix24's universal item methods, for every entity type by its entityTypeId
//! (deals, leads, contacts, companies and smart processes alike), with camelCase field names
//! (`assignedById`, `stageId`, `ufCrm_TOWN`) and typed values. Items are the same items the
//! `crm.deal.*`-style methods see; only the names and value shapes differ.

use serde_json::{Map, Value, json};

use super::{
    Answer, AppState, PAGE_SIZE, add_item, delete_item, fields_description, readable_item, unknown_method, update_item,
};
use crate::api::{ApiError, params};
use crate::crm::userfields;
use crate::crm::{self, ListQuery, split_filter_key, types};
use crate::model::userfield::{self, UserField};
use crate::model::{EntityType, Item, ItemRef, rest_datetime};
use crate::permissions::Access;
use crate::store::Conn;

/// Answers one `crm.item.*` call.
pub(super) async fn dispatch(
    app: &AppState,
    access: &Access,
    method: &str,
    p: &Map<String, Value>,
) -> Result<Answer, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    let entity_type = EntityType::from_type_id(params::id(p, "entityTypeId")?)?;
    types::require(&mut conn, entity_type).await?;
    let names = Names::of(&mut conn, entity_type, p).await?;
    drop(conn);
    match method {
        "crm.item.add" => {
            let fields = names.to_standard_keys(&params::object(p, "fields")?)?;
            let created = add_item(app, access, entity_type, &fields).await?;
            written_answer(app, &names, created).await
        }
        "crm.item.get" => {
            let mut conn = app.store.pool().acquire().await?;
            let item = readable_item(&mut conn, access, item_ref(entity_type, p)?).await?;
            Ok(json!({"item": names.item_json(&item, &[])?}).into())
        }
        "crm.item.update" => {
            let item_ref = item_ref(entity_type, p)?;
            let fields = names.to_standard_keys(&params::object(p, "fields")?)?;
            update_item(app, access, item_ref, &fields).await?;
            written_answer(app, &names, item_ref).await
        }
        "crm.item.delete" => {
            delete_item(app, access, item_ref(entity_type, p)?).await?;
            Ok(json!([]).into())
        }
        "crm.item.list" => list(app, access, &names, p).await,
        "crm.item.fields" => {
            let described = fields_description(entity_type, &names.custom);
            let fields: Map<String, Value> = described
                .as_object()
                .into_iter()
                .flatten()
                .map(|(upper, description)| {
                    let mut description = description.clone();
                    description["upperName"] = json!(upper);
                    (names.outward(upper), description)
                })
                .collect();
            Ok(json!({"fields": fields}).into())
        }
        _ => Err(unknown_method()),
    }
}

fn item_ref(entity_type: EntityType, p: &Map<String, Value>) -> Result<ItemRef, ApiError> {
    Ok(ItemRef {
        entity_type,
        id: params::id(p, "id")?,
    })
}

/// The item a caller just added or changed, as Bitrix24 answers those calls (whether or not the
/// caller's role lets them read it later).
async fn written_answer(app: &AppState, names: &Names, item_ref: ItemRef) -> Result<Answer, ApiError> {
    let mut conn = app.store.pool().acquire().await?;
    let item = crm::get(&mut conn, item_ref).await?;
    Ok(json!({"item": names.item_json(&item, &[])?}).into())
}

async fn list(app: &AppState, access: &Access, names: &Names, p: &Map<String, Value>) -> Result<Answer, ApiError> {
    let page = params::page(p, PAGE_SIZE)?;
    let asked = names.filter_to_standard(&params::object(p, "filter")?)?;
    let query = ListQuery {
        filter: access.readable(names.entity_type, asked)?,
        order: names.to_standard_keys(&params::object(p, "order")?)?,
        page,
    };
    let select = params::strings(p, "select")?;
    let mut conn = app.store.pool().acquire().await?;
    let (items, total) = crm::list(&mut conn, names.entity_type, &query).await?;
    let rows = items
        .iter()
        .map(|item| names.item_json(item, &select).map(Value::Object))
        .collect::<Result<_, _>>()?;
    Ok(Answer::page(json!({"items": Value::Array(rows)}), total, page))
}

/// The field names of one entity type in both spellings: the standard upper-case names the
/// rest of Stagewright uses (`ASSIGNED_BY_ID`, `UF_CRM_TOWN`) and crm.item's camelCase.
struct Names {
    entity_type: EntityType,
    custom: Vec<UserField>,
    /// Every readable field's standard name.
    standard: Vec<String>,
    /// Whether custom fields are shown under their original names (`useOriginalUfNames=Y`).
    original_uf_names: bool,
}

impl Names {
    async fn of(conn: &mut Conn, entity_type: EntityType, p: &Map<String, Value>) -> Result<Self, ApiError> {
        let custom = userfields::userfields(conn, entity_type).await?;
        let described = fields_description(entity_type, &custom);
        let mut standard: Vec<String> = described
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect();
        if entity_type.has_stages() {
            let semantic = match entity_type {
                EntityType::Lead => "STATUS_SEMANTIC_ID",
                _ => "STAGE_SEMANTIC_ID",
            };
            standard.push(semantic.into());
        }
        if entity_type == EntityType::Deal {
            standard.push("CLOSED".into());
        }
        Ok(Self {
            entity_type,
            custom,
            standard,
            original_uf_names: params::optional_flag(p, "useOriginalUfNames")?.unwrap_or(false),
        })
    }

    /// A standard name as crm.item shows it.
    fn outward(&self, standard: &str) -> String {
        match standard {
            "CREATED_BY_ID" => "createdBy".into(),
            "DATE_CREATE" => "createdTime".into(),
            "DATE_MODIFY" => "updatedTime".into(),
            "STATUS_ID" => "stageId".into(),
            "STATUS_SEMANTIC_ID" => "stageSemanticId".into(),
            uf if uf.starts_with(userfield::PREFIX) && self.original_uf_names => uf.into(),
            uf if uf.starts_with(userfield::PREFIX) => format!("ufCrm_{}", &uf[userfield::PREFIX.len()..]),
            other => camel_case(other),
        }
    }

    /// The standard name of a field crm.item names in camelCase (or, for custom fields, by their
    /// original name).
    fn inward(&self, name: &str) -> Result<String, ApiError> {
        self.standard
            .iter()
            .find(|standard| {
                self.outward(standard) == name || (standard.starts_with(userfield::PREFIX) && *standard == name)
            })
            .cloned()
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "unknown field {name} for entityTypeId {}",
                    self.entity_type.type_id()
                ))
            })
    }

    /// `fields` or `order` with standard names as keys.
    fn to_standard_keys(&self, map: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
        map.iter()
            .map(|(name, value)| Ok((self.inward(name)?, value.clone())))
            .collect()
    }

    /// A filter with standard names, operators kept, nested groups and `logic` translated too.
    fn filter_to_standard(&self, filter: &Map<String, Value>) -> Result<Map<String, Value>, ApiError> {
        filter
            .iter()
            .map(|(key, value)| match value {
                _ if key.eq_ignore_ascii_case("logic") => Ok((key.clone(), value.clone())),
                Value::Object(group) => Ok((key.clone(), Value::Object(self.filter_to_standard(group)?))),
                _ => {
                    let (operator, name) = split_filter_key(key);
                    Ok((format!("{operator}{}", self.inward(name)?), value.clone()))
                }
            })
            .collect()
    }

    /// An item as crm.item shows it: camelCase names, typed values; `select` as Bitrix24 takes
    /// it (empty or `*` for every field, else the named ones, `id` always).
    fn item_json(&self, item: &Item, select: &[String]) -> Result<Map<String, Value>, ApiError> {
        let rest = item.to_rest();
        let mut out = Map::new();
        for standard in &self.standard {
            let value = match standard.as_str() {
                "ID" => json!(item.item_ref.id),
                "CATEGORY_ID" => json!(item.category_id),
                "CREATED_BY_ID" => json!(item.created_by),
                "DATE_CREATE" => json!(rest_datetime(item.created_at)),
                "DATE_MODIFY" => json!(rest_datetime(item.updated_at)),
                name if item.fields.contains_key(name) && !crate::model::multifields::is_multifield(name) => {
                    item.fields[name].clone()
                }
                name => rest.get(name).cloned().unwrap_or(Value::Null),
            };
            out.insert(self.outward(standard), value);
        }
        if select.is_empty() || select.iter().any(|s| s == "*") {
            return Ok(out);
        }
        let wanted = select
            .iter()
            .map(|name| self.inward(name).map(|standard| self.outward(&standard)))
            .collect::<Result<Vec<_>, _>>()?;
        out.retain(|name, _| name == "id" || wanted.contains(name));
        Ok(out)
    }
}

/// `ASSIGNED_BY_ID` → `assignedById`, as Bitrix24's crm.item spells standard fields.
fn camel_case(upper: &str) -> String {
    let mut out = String::with_capacity(upper.len());
    for (i, word) in upper.split('_').enumerate() {
        let lower = word.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&lower);
        } else {
            let mut chars = lower.chars();
            out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
            out.push_str(chars.as_str());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::camel_case;

    #[test]
    fn standard_names_become_bitrix_camel_case() {
        assert_eq!(camel_case("ASSIGNED_BY_ID"), "assignedById");
        assert_eq!(camel_case("TITLE"), "title");
        assert_eq!(camel_case("BEGINDATE"), "begindate");
        assert_eq!(camel_case("SOURCE_DESCRIPTION"), "sourceDescription");
    }
}
