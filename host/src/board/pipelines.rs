//! The pipelines the board shows: leads, each deal pipeline, and each smart process's pipelines.

use crate::crm::{self, Stage, types};
use crate::model::{CrmError, EntityType};
use crate::permissions::{Access, ItemAction, Scope};
use crate::store::Conn;

/// One pipeline of an entity type with stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// Its entity type.
    pub entity_type: EntityType,
    /// Its id within the type.
    pub category_id: i64,
    /// "Leads", "Deals: Sales", "Projects".
    pub name: String,
}

impl Pipeline {
    /// Its part of a board URL: "deal/0", "dynamic_128/4".
    pub fn path(&self) -> String {
        format!("{}/{}", self.entity_type, self.category_id)
    }

    /// The REST method that moves one of its items, and the stage field that method takes: the
    /// board moves a card with the very call an integration would make.
    pub fn update_call(&self) -> (String, &'static str) {
        match self.entity_type {
            EntityType::Dynamic(_) => ("crm.item.update".into(), "stageId"),
            other => (format!("crm.{other}.update"), other.stage_field()),
        }
    }
}

/// A stage's colour: its own, or one of Bitrix24's defaults by its place (blues for stages in
/// progress, green for success, red for failure), so neighbouring columns are told apart.
pub fn stage_color(stage: &Stage, position: usize) -> String {
    const IN_PROGRESS: [&str; 6] = ["#39a8ef", "#2fc6f6", "#55d0e0", "#47e4c2", "#ffa900", "#e89b06"];
    match (stage.color.as_deref(), stage.semantics.as_str()) {
        (Some(own), _) => own.to_string(),
        (None, "S") => "#7bd500".into(),
        (None, "F") => "#ff5752".into(),
        (None, _) => IN_PROGRESS[position % IN_PROGRESS.len()].into(),
    }
}

/// Every pipeline, leads first, then deals, then smart processes.
async fn all(conn: &mut Conn) -> Result<Vec<Pipeline>, CrmError> {
    let mut out = vec![Pipeline {
        entity_type: EntityType::Lead,
        category_id: 0,
        name: "Leads".into(),
    }];
    let deal_pipelines = crm::categories(conn, EntityType::Deal).await?;
    let several = deal_pipelines.len() > 1;
    for category in deal_pipelines {
        let name = if several {
            format!("Deals: {}", category.name)
        } else {
            "Deals".into()
        };
        out.push(Pipeline {
            entity_type: EntityType::Deal,
            category_id: category.id,
            name,
        });
    }
    for spa in types::list(conn).await? {
        let categories = crm::categories(conn, spa.entity_type).await?;
        let several = categories.len() > 1;
        for category in categories {
            let name = if several {
                format!("{}: {}", spa.title, category.name)
            } else {
                spa.title.clone()
            };
            out.push(Pipeline {
                entity_type: spa.entity_type,
                category_id: category.id,
                name,
            });
        }
    }
    Ok(out)
}

/// The pipelines whose items the viewer may read: [`all`] as the navigation offers them.
pub async fn visible(conn: &mut Conn, access: &Access) -> Result<Vec<Pipeline>, CrmError> {
    Ok(all(conn)
        .await?
        .into_iter()
        .filter(|p| access.scope(p.entity_type, ItemAction::Read) != Scope::None)
        .collect())
}

/// The pipeline a URL names, among `all`.
pub fn find(all: &[Pipeline], entity: &str, category: i64) -> Result<Pipeline, CrmError> {
    let entity_type = EntityType::parse(entity)?;
    all.iter()
        .find(|p| p.entity_type == entity_type && p.category_id == category)
        .cloned()
        .ok_or_else(|| CrmError::NotFound(format!("pipeline {category} of {entity_type}")))
}
