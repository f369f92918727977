//! When a robot runs, counted from the moment it is scheduled (the item entering the stage, or
//! the previous robot finishing for a chained one): at once, after a delay, before or after a
//! date field of the item, or at the next given time of day. A moment already past means "now",
//! as in Bitrix24: a robot due one day before a CLOSEDATE that is tomorrow runs at once.

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::model::{CrmError, Item, parse_datetime};

use super::calendar::Calendar;

/// A robot's timing, as the admin API takes and shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Timing {
    /// As soon as it is scheduled.
    #[default]
    Immediately,
    /// A fixed time after it is scheduled.
    Delay {
        /// How many units.
        value: i64,
        /// Which unit.
        unit: Unit,
        /// Count only working time, by the business-hours calendar.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        working_time: bool,
    },
    /// A fixed time before the moment in a date field (e.g. 1 day before CLOSEDATE).
    BeforeField {
        /// The date or date-time field.
        field: String,
        /// How many units before it.
        #[serde(default)]
        value: i64,
        /// Which unit.
        #[serde(default)]
        unit: Unit,
    },
    /// A fixed time after the moment in a date field.
    AfterField {
        /// The date or date-time field.
        field: String,
        /// How many units after it.
        #[serde(default)]
        value: i64,
        /// Which unit.
        #[serde(default)]
        unit: Unit,
    },
    /// The next time the clock shows `at` in the given offset from UTC.
    TimeOfDay {
        /// "HH:MM", 24-hour.
        at: String,
        /// The offset of the admin's time zone from UTC, in minutes (e.g. 180 for UTC+3).
        #[serde(default)]
        utc_offset_minutes: i32,
    },
}

/// A unit of delay; 1-second granularity, with no minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Seconds.
    Seconds,
    /// Minutes.
    #[default]
    Minutes,
    /// Hours.
    Hours,
    /// Days.
    Days,
}

impl Unit {
    fn millis(self) -> i64 {
        match self {
            Self::Seconds => 1_000,
            Self::Minutes => 60_000,
            Self::Hours => 3_600_000,
            Self::Days => 86_400_000,
        }
    }
}

/// The longest delay a robot may have: ten years.
const MAX_DELAY_MS: i64 = 10 * 366 * 86_400_000;
const DAY_MS: i64 = 86_400_000;

impl Unit {
    /// "3 days", "1 minute".
    fn amount_in_words(self, value: i64) -> String {
        let name = match self {
            Self::Seconds => "second",
            Self::Minutes => "minute",
            Self::Hours => "hour",
            Self::Days => "day",
        };
        let plural = if value == 1 { "" } else { "s" };
        format!("{value} {name}{plural}")
    }
}

impl Timing {
    /// The timing as an admin reads it on the automation tab, date fields named by `title`:
    /// "immediately", "after 3 days", "after 2 hours of working time", "1 day before Expected
    /// close date", "at 09:00 (UTC+3)".
    pub fn in_words(&self, title: &dyn Fn(&str) -> String) -> String {
        match self {
            Self::Immediately => "immediately".into(),
            Self::Delay {
                value,
                unit,
                working_time,
            } => {
                let working = if *working_time { " of working time" } else { "" };
                format!("after {}{working}", unit.amount_in_words(*value))
            }
            Self::BeforeField { field, value: 0, .. } | Self::AfterField { field, value: 0, .. } => {
                format!("at {}", title(field))
            }
            Self::BeforeField { field, value, unit } => {
                format!("{} before {}", unit.amount_in_words(*value), title(field))
            }
            Self::AfterField { field, value, unit } => {
                format!("{} after {}", unit.amount_in_words(*value), title(field))
            }
            Self::TimeOfDay { at, utc_offset_minutes } => {
                let (hours, minutes) = (utc_offset_minutes / 60, (utc_offset_minutes % 60).abs());
                match (hours, minutes) {
                    (0, 0) => format!("at {at} (UTC)"),
                    (h, 0) => format!("at {at} (UTC{h:+})"),
                    (h, m) => format!("at {at} (UTC{h:+}:{m:02})"),
                }
            }
        }
    }

    /// Checks the timing when a robot is saved: amounts in range, a well-formed time of day, and
    /// `date_fields` naming every field a date-based timing may use.
    pub fn check(&self, date_fields: &[String]) -> Result<(), CrmError> {
        match self {
            Self::Immediately => Ok(()),
            Self::Delay { value, unit, .. } => check_amount(*value, *unit),
            Self::BeforeField { field, value, unit } | Self::AfterField { field, value, unit } => {
                check_amount(*value, *unit)?;
                if date_fields.contains(field) {
                    Ok(())
                } else {
                    Err(CrmError::Invalid(format!(
                        "timing field {field} is not a date field of this entity type (have: {})",
                        date_fields.join(", ")
                    )))
                }
            }
            Self::TimeOfDay { at, utc_offset_minutes } => {
                parse_time_of_day(at)?;
                if utc_offset_minutes.abs() > 14 * 60 {
                    return Err(CrmError::Invalid("utc_offset_minutes must be within ±840".into()));
                }
                Ok(())
            }
        }
    }

    /// The date field this timing reads, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::BeforeField { field, .. } | Self::AfterField { field, .. } => Some(field),
            _ => None,
        }
    }

    /// When a robot scheduled at `base` for `item` is due; never before `base`. A date-based
    /// timing whose field is empty is an error, reported in the run record.
    pub fn due_at(&self, base: Millis, item: &Item, calendar: &Calendar) -> Result<Millis, String> {
        if let Some(due) = self.due_at_alone(base) {
            return due;
        }
        let due = match self {
            Self::Delay { value, unit, .. } => calendar.add_working_time(base, value * unit.millis())?,
            Self::BeforeField { field, value, unit } => field_moment(item, field)? - value * unit.millis(),
            Self::AfterField { field, value, unit } => field_moment(item, field)? + value * unit.millis(),
            // Answered by `due_at_alone` above.
            Self::Immediately | Self::TimeOfDay { .. } => base,
        };
        Ok(due.max(base))
    }

    /// When a robot scheduled at `base` is due, if that depends neither on the item nor on the
    /// working calendar (`None` if it does): the robot after a finished one is then scheduled
    /// without reading either, two reads less in the transaction that ends every run of a chain.
    pub fn due_at_alone(&self, base: Millis) -> Option<Result<Millis, String>> {
        let due = match self {
            Self::Immediately => base,
            Self::Delay { working_time: true, .. } | Self::BeforeField { .. } | Self::AfterField { .. } => return None,
            Self::Delay { value, unit, .. } => base + value * unit.millis(),
            Self::TimeOfDay { at, utc_offset_minutes } => {
                let (hours, minutes) = match parse_time_of_day(at) {
                    Ok(time) => time,
                    Err(e) => return Some(Err(e.to_string())),
                };
                let offset = i64::from(*utc_offset_minutes) * 60_000;
                let local = base + offset;
                let wanted = (hours * 60 + minutes) * 60_000;
                let today = local - local.rem_euclid(DAY_MS) + wanted;
                let next = if today >= local { today } else { today + DAY_MS };
                next - offset
            }
        };
        Some(Ok(due.max(base)))
    }
}

fn check_amount(value: i64, unit: Unit) -> Result<(), CrmError> {
    if (0..=MAX_DELAY_MS / unit.millis()).contains(&value) {
        Ok(())
    } else {
        Err(CrmError::Invalid(format!(
            "timing value must be 0 to {} {unit:?}",
            MAX_DELAY_MS / unit.millis()
        )))
    }
}

fn parse_time_of_day(at: &str) -> Result<(i64, i64), CrmError> {
    let invalid = || CrmError::Invalid(format!("time of day '{at}' must be HH:MM"));
    let (hours, minutes) = at.split_once(':').ok_or_else(invalid)?;
    let hours: i64 = hours.parse().map_err(|_| invalid())?;
    let minutes: i64 = minutes.parse().map_err(|_| invalid())?;
    if (0..24).contains(&hours) && (0..60).contains(&minutes) {
        Ok((hours, minutes))
    } else {
        Err(invalid())
    }
}

fn field_moment(item: &Item, field: &str) -> Result<Millis, String> {
    item.fields
        .get(field)
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .and_then(parse_datetime)
        .ok_or_else(|| format!("the date field {field} is empty, so the robot has no moment to run at"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EntityType, ItemRef};
    use serde_json::{Map, json};

    fn item_with(fields: serde_json::Value) -> Item {
        Item {
            item_ref: ItemRef {
                entity_type: EntityType::Deal,
                id: 1,
            },
            category_id: Some(0),
            stage_id: Some("NEW".into()),
            stage_semantic: None,
            in_first_stage: false,
            fields: fields.as_object().cloned().unwrap_or_else(Map::new),
            created_by: 1,
            created_at: 0,
            updated_at: 0,
        }
    }

    const NOON: Millis = 1_767_268_800_000; // 2026-01-01T12:00:00Z

    #[test]
    fn every_kind_of_timing_reads_in_words() {
        let title = |field: &str| {
            if field == "CLOSEDATE" {
                "Expected close date".into()
            } else {
                field.to_string()
            }
        };
        let timing = |v: serde_json::Value| serde_json::from_value::<Timing>(v).expect("a timing").in_words(&title);
        assert_eq!(timing(json!({"kind": "immediately"})), "immediately");
        assert_eq!(
            timing(json!({"kind": "delay", "value": 3, "unit": "days"})),
            "after 3 days"
        );
        assert_eq!(
            timing(json!({"kind": "delay", "value": 1, "unit": "hours", "working_time": true})),
            "after 1 hour of working time"
        );
        assert_eq!(
            timing(json!({"kind": "before_field", "field": "CLOSEDATE", "value": 1, "unit": "days"})),
            "1 day before Expected close date"
        );
        assert_eq!(
            timing(json!({"kind": "after_field", "field": "BEGINDATE", "value": 30, "unit": "minutes"})),
            "30 minutes after BEGINDATE"
        );
        assert_eq!(
            timing(json!({"kind": "after_field", "field": "BEGINDATE"})),
            "at BEGINDATE"
        );
        assert_eq!(
            timing(json!({"kind": "time_of_day", "at": "09:00", "utc_offset_minutes": 180})),
            "at 09:00 (UTC+3)"
        );
        assert_eq!(
            timing(json!({"kind": "time_of_day", "at": "18:30", "utc_offset_minutes": -330})),
            "at 18:30 (UTC-5:30)"
        );
    }

    #[test]
    fn delays_and_date_fields_count_from_the_base_and_never_go_back() {
        let item = item_with(json!({"CLOSEDATE": "2026-01-03T12:00:00+00:00"}));
        let delay = Timing::Delay {
            value: 90,
            unit: Unit::Seconds,
            working_time: false,
        };
        assert_eq!(delay.due_at(NOON, &item, &Calendar::default()), Ok(NOON + 90_000));
        let before = Timing::BeforeField {
            field: "CLOSEDATE".into(),
            value: 1,
            unit: Unit::Days,
        };
        assert_eq!(before.due_at(NOON, &item, &Calendar::default()), Ok(NOON + DAY_MS));
        let late = Timing::BeforeField {
            field: "CLOSEDATE".into(),
            value: 5,
            unit: Unit::Days,
        };
        assert_eq!(
            late.due_at(NOON, &item, &Calendar::default()),
            Ok(NOON),
            "a past moment runs at once"
        );
        assert!(late.due_at(NOON, &item_with(json!({})), &Calendar::default()).is_err());
    }

    #[test]
    fn time_of_day_is_the_next_such_moment_in_the_offset() {
        let nine = Timing::TimeOfDay {
            at: "09:00".into(),
            utc_offset_minutes: 0,
        };
        assert_eq!(
            nine.due_at(NOON, &item_with(json!({})), &Calendar::default()),
            Ok(NOON + 21 * 3_600_000)
        );
        let fifteen_in_utc_plus_3 = Timing::TimeOfDay {
            at: "15:30".into(),
            utc_offset_minutes: 180,
        };
        assert_eq!(
            fifteen_in_utc_plus_3.due_at(NOON, &item_with(json!({})), &Calendar::default()),
            Ok(NOON + 30 * 60_000),
            "15:30 at UTC+3 is 12:30 UTC"
        );
    }

    #[test]
    fn only_working_time_and_date_fields_need_the_item_or_calendar() {
        let delay = |working_time| Timing::Delay {
            value: 2,
            unit: Unit::Hours,
            working_time,
        };
        assert_eq!(Timing::Immediately.due_at_alone(NOON), Some(Ok(NOON)));
        assert_eq!(delay(false).due_at_alone(NOON), Some(Ok(NOON + 7_200_000)));
        assert_eq!(delay(true).due_at_alone(NOON), None);
        let after = Timing::AfterField {
            field: "CLOSEDATE".into(),
            value: 1,
            unit: Unit::Days,
        };
        assert_eq!(after.due_at_alone(NOON), None);
        let bad_time = Timing::TimeOfDay {
            at: "25:00".into(),
            utc_offset_minutes: 0,
        };
        assert!(matches!(bad_time.due_at_alone(NOON), Some(Err(_))));
    }
}
