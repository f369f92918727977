//! The business-hours calendar: which weekdays and hours are working time, so a robot's delay can
//! count only working time ("2 hours in working time" from Friday 17:00 is Monday 10:00).

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::model::CrmError;
use crate::settings;
use crate::store::{Conn, Tx};

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

/// Working days and hours, in one time zone given as an offset from UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// ISO weekdays that are working days: 1 Monday … 7 Sunday.
    pub work_days: Vec<u8>,
    /// When a working day starts, "HH:MM".
    pub start: String,
    /// When it ends, "HH:MM", after `start`.
    pub end: String,
    /// The time zone's offset from UTC in minutes (180 for UTC+3).
    #[serde(default)]
    pub utc_offset_minutes: i32,
}

impl Default for Calendar {
    /// Monday to Friday, 09:00 to 18:00 UTC.
    fn default() -> Self {
        Self {
            work_days: vec![1, 2, 3, 4, 5],
            start: "09:00".into(),
            end: "18:00".into(),
            utc_offset_minutes: 0,
        }
    }
}

/// A calendar checked and turned into minutes, ready to count with.
struct Hours {
    days: [bool; 8],
    start: i64,
    end: i64,
    offset: i64,
}

fn minutes(text: &str) -> Result<i64, CrmError> {
    let invalid = || CrmError::Invalid(format!("'{text}' is not a time HH:MM"));
    let (h, m) = text.split_once(':').ok_or_else(invalid)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| invalid())?, m.parse().map_err(|_| invalid())?);
    if (0..=24).contains(&h) && (0..60).contains(&m) && h * 60 + m <= 24 * 60 {
        Ok(h * 60 + m)
    } else {
        Err(invalid())
    }
}

impl Calendar {
    fn hours(&self) -> Result<Hours, CrmError> {
        let mut days = [false; 8];
        for day in &self.work_days {
            let day = usize::from(*day);
            if !(1..=7).contains(&day) {
                return Err(CrmError::Invalid(format!(
                    "work day {day} is not 1 (Monday) to 7 (Sunday)"
                )));
            }
            days[day] = true;
        }
        let (start, end) = (minutes(&self.start)?, minutes(&self.end)?);
        if days.iter().all(|d| !d) || end <= start {
            return Err(CrmError::Invalid(
                "a calendar needs a work day and an end after its start".into(),
            ));
        }
        if self.utc_offset_minutes.abs() > 14 * 60 {
            return Err(CrmError::Invalid("utc_offset_minutes must be within ±840".into()));
        }
        Ok(Hours {
            days,
            start: start * MINUTE_MS,
            end: end * MINUTE_MS,
            offset: i64::from(self.utc_offset_minutes) * MINUTE_MS,
        })
    }

    /// The moment `amount` of working time after `base`.
    pub fn add_working_time(&self, base: Millis, amount: i64) -> Result<Millis, String> {
        let hours = self.hours().map_err(|e| e.to_string())?;
        let mut local = base + hours.offset;
        let mut left = amount;
        loop {
            let day = local.div_euclid(DAY_MS);
            let weekday = usize::try_from((day + 3).rem_euclid(7) + 1).unwrap_or(1);
            let (open, close) = (day * DAY_MS + hours.start, day * DAY_MS + hours.end);
            if hours.days[weekday] && local < close {
                let from = local.max(open);
                if from + left <= close {
                    return Ok(from + left - hours.offset);
                }
                left -= close - from;
            }
            local = (day + 1) * DAY_MS;
        }
    }
}

/// The calendar in force: the saved one, or Monday to Friday 09:00–18:00 UTC.
pub async fn load(conn: &mut Conn) -> Result<Calendar, CrmError> {
    settings::load(conn, SETTING).await
}

/// Checks and saves the calendar.
pub async fn save(tx: &mut Tx, calendar: &Calendar) -> Result<(), CrmError> {
    calendar.hours()?;
    settings::save(tx, SETTING, calendar).await
}

/// The calendar's name among the host's settings.
const SETTING: &str = "calendar";

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    /// 2026-01-02T17:00:00Z, a Friday.
    const FRIDAY_FIVE_PM: Millis = 1_767_373_200_000;

    #[test]
    fn working_time_skips_nights_and_weekends() {
        let calendar = Calendar::default();
        assert_eq!(
            calendar.add_working_time(FRIDAY_FIVE_PM, 30 * MINUTE_MS),
            Ok(FRIDAY_FIVE_PM + 30 * MINUTE_MS)
        );
        let monday_ten = FRIDAY_FIVE_PM + 2 * DAY_MS + 17 * HOUR;
        assert_eq!(calendar.add_working_time(FRIDAY_FIVE_PM, 2 * HOUR), Ok(monday_ten));
        let saturday_noon = FRIDAY_FIVE_PM + 19 * HOUR;
        assert_eq!(
            calendar.add_working_time(saturday_noon, 0),
            Ok(FRIDAY_FIVE_PM + 2 * DAY_MS + 16 * HOUR),
            "no working time on Saturday: the next moment is Monday 09:00"
        );
    }

    #[test]
    fn the_offset_moves_the_working_day() {
        let calendar = Calendar {
            utc_offset_minutes: 180,
            ..Calendar::default()
        };
        assert_eq!(
            calendar.add_working_time(FRIDAY_FIVE_PM, HOUR),
            Ok(FRIDAY_FIVE_PM + 2 * DAY_MS + 14 * HOUR),
            "17:00 UTC is 20:00 at UTC+3, after hours: Monday 09:00 local (06:00 UTC) plus an hour"
        );
        assert!(
            Calendar {
                work_days: vec![],
                ..Calendar::default()
            }
            .add_working_time(0, 1)
            .is_err()
        );
    }
}
