//! Reading proto int64 fields from JSON: proto3-JSON allows both `123` and `"123"`, and
//! MLflow clients and servers use both.
//!
//! Invariants:
//! - a JSON string must hold a whole decimal integer; a number must be integral;
//! - `null` and a missing field read as `None`.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

struct I64Visitor;

impl Visitor<'_> for I64Visitor {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer, as a JSON number or string")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            Ok(Some(v as i64))
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        v.trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Reads an optional int64 from a JSON number, a JSON string or null.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(I64Visitor)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "super::opt_i64")]
        v: Option<i64>,
    }

    fn read(json: &str) -> Option<Option<i64>> {
        serde_json::from_str::<T>(json).ok().map(|t| t.v)
    }

    #[test]
    fn numbers_strings_and_null_are_read() {
        assert_eq!(read(r#"{"v": 12}"#), Some(Some(12)));
        assert_eq!(read(r#"{"v": "-12"}"#), Some(Some(-12)));
        assert_eq!(read(r#"{"v": 3.0}"#), Some(Some(3)));
        assert_eq!(read(r#"{"v": null}"#), Some(None));
        assert_eq!(read("{}"), Some(None));
    }

    #[test]
    fn non_integers_are_rejected() {
        assert_eq!(read(r#"{"v": "soon"}"#), None);
        assert_eq!(read(r#"{"v": 1.5}"#), None);
        assert_eq!(read(r#"{"v": 18446744073709551615}"#), None);
        assert_eq!(read(r#"{"v": true}"#), None);
    }
}
