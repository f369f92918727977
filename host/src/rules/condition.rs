//! A robot's condition: field comparisons combined with AND/OR, checked against the item when
//! the robot is about to run (after its delay), so a robot scheduled days ago sees today's item.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{CrmError, Item, with_thousands};

/// Rules combined by one logic; a rule may itself be a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionGroup {
    /// How the rules combine.
    #[serde(default)]
    pub logic: Logic,
    /// The rules; an empty group holds.
    #[schema(no_recursion)]
    pub rules: Vec<ConditionRule>,
}

/// AND or OR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Logic {
    /// Every rule holds.
    #[default]
    And,
    /// At least one rule holds.
    Or,
}

/// One comparison, or a nested group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ConditionRule {
    /// A nested group.
    Group(ConditionGroup),
    /// A field compared with a value.
    Compare(Comparison),
}

/// `field op value`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// The item field (its REST name: OPPORTUNITY, STAGE_ID, UF_CRM_TOWN).
    pub field: String,
    /// The comparison.
    pub op: Operator,
    /// What to compare with; a list for `in`/`!in`; unused for `empty`/`!empty`.
    #[serde(default)]
    pub value: Value,
}

/// Bitrix24's condition operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Operator {
    /// Equal.
    #[serde(rename = "=")]
    Eq,
    /// Not equal.
    #[serde(rename = "!=")]
    NotEq,
    /// Greater.
    #[serde(rename = ">")]
    Gt,
    /// Greater or equal.
    #[serde(rename = ">=")]
    Ge,
    /// Less.
    #[serde(rename = "<")]
    Lt,
    /// Less or equal.
    #[serde(rename = "<=")]
    Le,
    /// One of a list.
    #[serde(rename = "in")]
    In,
    /// None of a list.
    #[serde(rename = "!in")]
    NotIn,
    /// Text contains (ignoring case), or a list holds.
    #[serde(rename = "contain")]
    Contain,
    /// The opposite of `contain`.
    #[serde(rename = "!contain")]
    NotContain,
    /// No value (missing, null, empty text or list).
    #[serde(rename = "empty")]
    Empty,
    /// Some value.
    #[serde(rename = "!empty")]
    NotEmpty,
}

impl Operator {
    /// The operator as the automation tab writes it.
    fn in_words(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::NotEq => "≠",
            Self::Gt => ">",
            Self::Ge => "≥",
            Self::Lt => "<",
            Self::Le => "≤",
            Self::In => "is one of",
            Self::NotIn => "is none of",
            Self::Contain => "contains",
            Self::NotContain => "does not contain",
            Self::Empty => "is empty",
            Self::NotEmpty => "is not empty",
        }
    }
}

impl ConditionGroup {
    /// The condition as an admin reads it, each field named by `title`: "Amount > 1,000 and
    /// (Source = WEB or Source = CALL)"; an empty group reads "always".
    pub fn in_words(&self, title: &dyn Fn(&str) -> String) -> String {
        if self.rules.is_empty() {
            return "always".into();
        }
        let joint = match self.logic {
            Logic::And => " and ",
            Logic::Or => " or ",
        };
        let parts: Vec<String> = self
            .rules
            .iter()
            .map(|rule| match rule {
                ConditionRule::Group(group) if group.rules.len() > 1 => format!("({})", group.in_words(title)),
                ConditionRule::Group(group) => group.in_words(title),
                ConditionRule::Compare(c) => c.in_words(title),
            })
            .collect();
        parts.join(joint)
    }
}

impl Comparison {
    fn in_words(&self, title: &dyn Fn(&str) -> String) -> String {
        let (field, op) = (title(&self.field), self.op.in_words());
        match self.op {
            Operator::Empty | Operator::NotEmpty => format!("{field} {op}"),
            _ => format!("{field} {op} {}", value_in_words(&self.value)),
        }
    }
}

/// A condition's value as people write it: numbers with thousands separators, lists by commas.
fn value_in_words(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => with_thousands(f as i64),
            _ => n.to_string(),
        },
        Value::Array(items) => items.iter().map(value_in_words).collect::<Vec<_>>().join(", "),
        Value::Null => "nothing".into(),
        other => other.to_string(),
    }
}

impl ConditionGroup {
    /// Checks the condition when a robot is saved: every field is one `known` names, and lists
    /// are given where the operator needs one.
    pub fn check(&self, known: &[String]) -> Result<(), CrmError> {
        for rule in &self.rules {
            match rule {
                ConditionRule::Group(group) => group.check(known)?,
                ConditionRule::Compare(c) => {
                    if !known.contains(&c.field) {
                        return Err(CrmError::Invalid(format!(
                            "condition field {} is not a field of this entity type",
                            c.field
                        )));
                    }
                    if matches!(c.op, Operator::In | Operator::NotIn) && !c.value.is_array() {
                        return Err(CrmError::Invalid(format!(
                            "condition on {}: in and !in take a list",
                            c.field
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the item meets the condition; when it does not, the first failing comparison,
    /// for the run record.
    pub fn holds(&self, item: &Item) -> Result<(), String> {
        self.holds_on(&item.values())
    }

    fn holds_on(&self, values: &Map<String, Value>) -> Result<(), String> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let mut failures = Vec::new();
        for rule in &self.rules {
            let outcome = match rule {
                ConditionRule::Group(group) => group.holds_on(values),
                ConditionRule::Compare(c) => c.holds_on(values),
            };
            match (outcome, self.logic) {
                (Ok(()), Logic::Or) => return Ok(()),
                (Err(why), Logic::And) => return Err(why),
                (Err(why), Logic::Or) => failures.push(why),
                (Ok(()), Logic::And) => {}
            }
        }
        match self.logic {
            Logic::And => Ok(()),
            Logic::Or => Err(failures.join(" and ")),
        }
    }
}

impl Comparison {
    fn holds_on(&self, values: &Map<String, Value>) -> Result<(), String> {
        let actual = values.get(&self.field).unwrap_or(&Value::Null);
        if self.compare(actual) {
            Ok(())
        } else {
            Err(format!(
                "{} {} {} does not hold (it is {actual})",
                self.field,
                serde_json::to_value(self.op)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                self.value
            ))
        }
    }

    fn compare(&self, actual: &Value) -> bool {
        use std::cmp::Ordering;
        let ordering = || order(actual, &self.value);
        match self.op {
            Operator::Eq => same(actual, &self.value),
            Operator::NotEq => !same(actual, &self.value),
            Operator::Gt => ordering() == Some(Ordering::Greater),
            Operator::Ge => matches!(ordering(), Some(Ordering::Greater | Ordering::Equal)),
            Operator::Lt => ordering() == Some(Ordering::Less),
            Operator::Le => matches!(ordering(), Some(Ordering::Less | Ordering::Equal)),
            Operator::In => self
                .value
                .as_array()
                .is_some_and(|list| list.iter().any(|v| same(actual, v))),
            Operator::NotIn => !self
                .value
                .as_array()
                .is_some_and(|list| list.iter().any(|v| same(actual, v))),
            Operator::Contain => contains(actual, &self.value),
            Operator::NotContain => !contains(actual, &self.value),
            Operator::Empty => is_empty(actual),
            Operator::NotEmpty => !is_empty(actual),
        }
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Equal as numbers when both read as numbers ("100" = 100), else as text.
fn same(a: &Value, b: &Value) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => text(a) == text(b),
    }
}

/// Ordered as numbers when both read as numbers, else as text (ISO dates order as text).
fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    if a.is_null() {
        return None;
    }
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => Some(text(a).cmp(&text(b))),
    }
}

fn contains(actual: &Value, wanted: &Value) -> bool {
    match actual {
        Value::Array(list) => list.iter().any(|v| same(v, wanted)),
        Value::Null => false,
        other => text(other).to_lowercase().contains(&text(wanted).to_lowercase()),
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(list) => list.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    fn group(v: Value) -> ConditionGroup {
        serde_json::from_value(v).expect("a condition")
    }

    #[test]
    fn conditions_read_in_words_with_groups_and_every_operator() {
        let words = group(json!({"rules": [
            {"field": "OPPORTUNITY", "op": ">", "value": 1000},
            {"logic": "or", "rules": [
                {"field": "SOURCE_ID", "op": "in", "value": ["WEB", "CALL"]},
                {"field": "TITLE", "op": "!contain", "value": "test"}
            ]},
            {"field": "COMMENTS", "op": "empty"}
        ]}))
        .in_words(&|field| {
            if field == "OPPORTUNITY" {
                "Amount".into()
            } else {
                field.into()
            }
        });
        assert_eq!(
            words,
            "Amount > 1,000 and (SOURCE_ID is one of WEB, CALL or TITLE does not contain test) and COMMENTS is empty"
        );
        let as_named = |field: &str| field.to_string();
        assert_eq!(group(json!({"rules": []})).in_words(&as_named), "always");
        let ops = [
            "=", "!=", ">", ">=", "<", "<=", "in", "!in", "contain", "!contain", "empty", "!empty",
        ];
        let read: Vec<String> = ops
            .iter()
            .map(|op| group(json!({"rules": [{"field": "F", "op": op, "value": [1]}]})).in_words(&as_named))
            .collect();
        assert_eq!(
            read,
            [
                "F = 1",
                "F ≠ 1",
                "F > 1",
                "F ≥ 1",
                "F < 1",
                "F ≤ 1",
                "F is one of 1",
                "F is none of 1",
                "F contains 1",
                "F does not contain 1",
                "F is empty",
                "F is not empty"
            ]
        );
    }

    #[test]
    fn comparisons_combine_with_and_or() {
        let deal = values(json!({"OPPORTUNITY": 500.0, "TITLE": "Big Supply", "SOURCE_ID": "WEB"}));
        let and = group(json!({"rules": [
            {"field": "OPPORTUNITY", "op": ">", "value": "100"},
            {"field": "TITLE", "op": "contain", "value": "supply"}
        ]}));
        assert_eq!(and.holds_on(&deal), Ok(()));
        let or = group(json!({"logic": "or", "rules": [
            {"field": "OPPORTUNITY", "op": "<", "value": 100},
            {"logic": "and", "rules": [{"field": "SOURCE_ID", "op": "in", "value": ["WEB", "CALL"]}]}
        ]}));
        assert_eq!(or.holds_on(&deal), Ok(()));
        let failing = group(json!({"rules": [{"field": "COMMENTS", "op": "!empty"}]}));
        let why = failing.holds_on(&deal).unwrap_err();
        assert!(why.contains("COMMENTS"), "{why}");
    }
}
