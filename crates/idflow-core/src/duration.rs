//! Durations as workflow files write them: `500ms`, `2s`, `5m`, `1h`, or a
//! sum such as `1m30s`.

use std::time::Duration;

/// A duration string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a duration: {reason}")]
pub struct DurationError {
    /// The text that was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The units a duration may use, longest suffix first so `ms` wins over `m`.
const UNITS: [(&str, u64); 4] = [("ms", 1), ("h", 3_600_000), ("m", 60_000), ("s", 1000)];

/// Reads `500ms`, `2s`, `5m`, `1h` or a sum of them (`1m30s`).
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let error = |reason| DurationError {
        input: input.to_owned(),
        reason,
    };
    let text = input.trim();
    if text.is_empty() {
        return Err(error("it is empty; write a number and a unit, like `2s`"));
    }
    let mut rest = text;
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(error(
                "expected a whole number followed by ms, s, m or h (like `500ms` or `2s`)",
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| error("the number is too large"))?;
        rest = &rest[digits..];
        if rest.starts_with('.') || rest.starts_with(',') {
            return Err(error(
                "durations use whole numbers: write `1500ms` rather than `1.5s`",
            ));
        }
        let Some((unit, scale)) = UNITS.iter().find(|(unit, _)| rest.starts_with(unit)) else {
            return Err(error(
                "the number has no unit; add ms, s, m or h (like `2s`)",
            ));
        };
        rest = &rest[unit.len()..];
        total_ms = number
            .checked_mul(*scale)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(|| error("it is too long"))?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way workflow files write them (`1500ms`, `2s`,
/// `5m`, `1h`): the inverse of [`parse_duration`] for whole units.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis == 0 {
        "0s".to_owned()
    } else if millis.is_multiple_of(3_600_000) {
        format!("{}h", millis / 3_600_000)
    } else if millis.is_multiple_of(60_000) {
        format!("{}m", millis / 60_000)
    } else if millis.is_multiple_of(1000) {
        format!("{}s", millis / 1000)
    } else {
        format!("{millis}ms")
    }
}

/// Serializes a duration as workflow files write it (`2s`), for serde's
/// `serialize_with`.
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's signature
pub fn serialize_duration<S: serde::Serializer>(
    value: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*value))
}

/// [`serialize_duration`] for an optional duration (`None` as null).
#[allow(clippy::ref_option)] // serde's signature
pub fn serialize_optional_duration<S: serde::Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serialize_duration(value, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_unit_and_sums() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_mins(5)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_hours(1)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 0s "), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in [
            "",
            "5",
            "s",
            "2 s",
            "1.5s",
            "-1s",
            "3d",
            "99999999999999999999ms",
            "18446744073709551615h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let error = parse_duration("5").unwrap_err();
        assert!(error.to_string().contains("no unit"), "{error}");
    }

    #[test]
    fn formats_in_the_largest_whole_unit_and_round_trips() {
        for (text, millis) in [
            ("1500ms", 1500),
            ("2s", 2000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("0s", 0),
        ] {
            assert_eq!(format_duration(Duration::from_millis(millis)), text);
            assert_eq!(parse_duration(text), Ok(Duration::from_millis(millis)));
        }
    }
}
