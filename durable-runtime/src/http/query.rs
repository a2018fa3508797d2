//! Query-string values read the way Durable Functions' HTTP API reads them, so its clients'
//! spellings work: booleans in any case (`True`, as the Python client sends them), and times
//! without a zone or without a time.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};

/// A boolean parameter: `true` or `false` in any case; any other value is ignored (read as
/// absent), as Durable Functions' `bool.TryParse` does.
pub(super) fn lenient_bool<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<bool>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    Ok(text.and_then(|text| {
        let text = text.trim();
        if text.eq_ignore_ascii_case("true") {
            Some(true)
        } else if text.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            None
        }
    }))
}

/// A time parameter: RFC 3339 (`2026-01-31T12:00:00Z`), a date and time without a zone
/// (taken as UTC), or a date alone (midnight UTC), as .NET's `DateTime` parsing in Durable
/// Functions takes them. Anything else is an error (the request gets 400): a filter that
/// silently matched everything would be worse than Durable Functions' leniency.
pub(super) fn lenient_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    text.map(|text| parse_time(text.trim()).ok_or(text))
        .transpose()
        .map_err(|text| {
            serde::de::Error::custom(format!(
                "`{text}` is not a time: use RFC 3339 like 2026-01-31T12:00:00Z, or 2026-01-31T12:00:00 (UTC), or 2026-01-31"
            ))
        })
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(time.and_utc());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc())
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_in_the_spellings_durable_functions_takes() {
        let midnight = parse_time("2026-01-31T00:00:00Z").unwrap();
        assert_eq!(parse_time("2026-01-31"), Some(midnight));
        assert_eq!(parse_time("2026-01-31T00:00:00"), Some(midnight));
        assert_eq!(parse_time("2026-01-31 00:00:00"), Some(midnight));
        assert_eq!(parse_time("2026-01-31T01:00:00+01:00"), Some(midnight));
        assert_eq!(parse_time("yesterday"), None);
    }
}
