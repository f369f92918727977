//! Moments as the host's JSON fields take them, without pulling a calendar crate into every
//! plugin.

/// A moment in milliseconds since the Unix epoch as ISO 8601 in UTC ("2026-11-25T09:30:00+00:00"),
/// the form date and datetime fields accept.
pub fn iso8601_utc(ms: u64) -> String {
    let seconds = ms / 1000;
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// A span of time as robot configs give it: `{"value": 2, "unit": "days"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// How many units.
    pub value: u64,
    /// "minutes", "hours" or "days".
    pub unit: String,
}

impl Span {
    /// The span in milliseconds; an unknown unit is the admin's to fix.
    pub fn ms(&self) -> Result<u64, crate::ActionError> {
        let unit_ms = match self.unit.as_str() {
            "minutes" => 60_000,
            "hours" => 3_600_000,
            "days" => 86_400_000,
            other => {
                return Err(crate::ActionError::InvalidConfig(format!(
                    "unit {other} is not minutes, hours or days"
                )));
            }
        };
        self.value
            .checked_mul(unit_ms)
            .ok_or_else(|| crate::ActionError::InvalidConfig(format!("{} {} is too long", self.value, self.unit)))
    }

    /// The JSON Schema of a span, for config schemas.
    pub fn schema(title: &str, description: &str) -> serde_json::Value {
        serde_json::json!({
            "type": "object", "title": title, "description": description,
            "required": ["value", "unit"], "additionalProperties": false,
            "properties": {
                "value": {"type": "integer", "minimum": 1},
                "unit": {"type": "string", "enum": ["minutes", "hours", "days"]}
            }
        })
    }
}

/// A deadline configured either as a moment (a date or date and time, often a template such as
/// `{=Document:CLOSEDATE}`) or as a span after `now_ms`; `None` when neither is set.
pub fn deadline(at: Option<String>, after: Option<&Span>, now_ms: u64) -> Result<Option<String>, crate::ActionError> {
    match (at, after) {
        (Some(_), Some(_)) => Err(crate::ActionError::InvalidConfig(
            "set a deadline or a span after the run, not both".into(),
        )),
        (Some(at), None) => Ok(Some(at)),
        (None, Some(span)) => Ok(Some(iso8601_utc(now_ms.saturating_add(span.ms()?)))),
        (None, None) => Ok(None),
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_moments_across_leap_days_and_centuries() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(iso8601_utc(951_782_400_000), "2000-02-29T00:00:00+00:00");
        assert_eq!(iso8601_utc(1_795_599_045_123), "2026-11-25T09:30:45+00:00");
        assert_eq!(iso8601_utc(4_107_542_399_000), "2100-02-28T23:59:59+00:00");
    }

    #[test]
    fn spans_know_their_units() {
        let span = |value, unit: &str| Span {
            value,
            unit: unit.into(),
        };
        assert_eq!(span(2, "hours").ms(), Ok(7_200_000));
        assert!(span(1, "weeks").ms().is_err());
        assert!(span(u64::MAX, "days").ms().is_err());
    }
}
