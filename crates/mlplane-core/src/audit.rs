//! The audit log's records: who did what to which target, from where, and how it ended.
//!
//! Invariants:
//! - a record is written once and never changed or removed (the store enforces it);
//! - `target` is the request path as the client sent it, without the query string.

use crate::{PrincipalKind, TimestampMs};

/// How a recorded request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    /// The request was allowed and answered with a status below 400.
    Allowed,
    /// Authentication or authorization refused it (401 or 403).
    Denied,
    /// It was allowed but failed (any other status of 400 or more).
    Failed,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Allowed => "allowed",
            AuditOutcome::Denied => "denied",
            AuditOutcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "allowed" => AuditOutcome::Allowed,
            "denied" => AuditOutcome::Denied,
            "failed" => AuditOutcome::Failed,
            _ => return None,
        })
    }

    /// The outcome of a response status.
    pub fn of_status(status: u16) -> Self {
        match status {
            401 | 403 => AuditOutcome::Denied,
            s if s >= 400 => AuditOutcome::Failed,
            _ => AuditOutcome::Allowed,
        }
    }
}

/// A record to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditRecord {
    pub time_ms: TimestampMs,
    pub actor_kind: PrincipalKind,
    pub actor_id: String,
    pub actor_name: String,
    /// The route's action string (`runs/write`), or `<METHOD> <matched path>`.
    pub action: String,
    /// The request path.
    pub target: String,
    /// The workspace the request addressed, when it names one.
    pub workspace: Option<String>,
    pub client_ip: Option<String>,
    pub request_id: String,
    pub method: String,
    pub status: u16,
    pub outcome: AuditOutcome,
}

/// A stored record: a [`NewAuditRecord`] with its id (increasing in append order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub record: NewAuditRecord,
}

/// Which records to list, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only records at or after this time.
    pub since_ms: Option<TimestampMs>,
    /// Only records before this time.
    pub until_ms: Option<TimestampMs>,
    pub workspace: Option<String>,
    /// Matches the actor's id or name.
    pub actor: Option<String>,
    pub action: Option<String>,
}

/// Most records in one page of the audit log.
pub const MAX_AUDIT_PAGE: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_status() {
        assert_eq!(AuditOutcome::of_status(204), AuditOutcome::Allowed);
        assert_eq!(AuditOutcome::of_status(401), AuditOutcome::Denied);
        assert_eq!(AuditOutcome::of_status(403), AuditOutcome::Denied);
        assert_eq!(AuditOutcome::of_status(404), AuditOutcome::Failed);
        assert_eq!(AuditOutcome::of_status(500), AuditOutcome::Failed);
        for o in [
            AuditOutcome::Allowed,
            AuditOutcome::Denied,
            AuditOutcome::Failed,
        ] {
            assert_eq!(AuditOutcome::parse(o.as_str()), Some(o));
        }
    }
}

/// Parses a time bound of an audit query: RFC 3339 (`2026-11-26T00:00:00Z`,
/// `2026-11-26T01:00:00.5+01:00`), milliseconds since the epoch, or a duration back from
/// `now_ms` (`90s`, `15m`, `1h`, `7d`).
pub fn parse_time_bound(text: &str, now_ms: TimestampMs) -> Result<TimestampMs, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "'{t}' is not a time: use RFC 3339 (2026-11-26T00:00:00Z), milliseconds since the epoch, or a duration such as 90s, 15m, 1h, 7d"
        )
    };
    if t.is_empty() {
        return Err(bad());
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<i64>().map_err(|_| bad());
    }
    if let Some(unit) = t.chars().last().filter(|c| "smhd".contains(*c)) {
        let n = &t[..t.len() - 1];
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            let n: i64 = n.parse().map_err(|_| bad())?;
            let ms = match unit {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                _ => 86_400_000,
            };
            return n
                .checked_mul(ms)
                .map(|d| now_ms.saturating_sub(d))
                .ok_or_else(bad);
        }
    }
    rfc3339_ms(t).ok_or_else(bad)
}

/// `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM)` as milliseconds since the epoch.
fn rfc3339_ms(t: &str) -> Option<TimestampMs> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &t[19..];
    let mut ms = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let f = &frac[..digits];
        let padded: String = f.chars().chain("000".chars()).take(3).collect();
        ms = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let oh: i64 = o[1..3].parse().ok()?;
            let om: i64 = o[4..6].parse().ok()?;
            let v = oh * 60 + om;
            if o.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3_600 + mi * 60 + s) - offset_min * 60) * 1_000 + ms)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod time_tests {
    use super::parse_time_bound;

    #[test]
    fn time_bounds_parse_every_form() {
        let now = 1_800_000_000_000;
        assert_eq!(parse_time_bound("1970-01-01T00:00:00Z", now), Ok(0));
        assert_eq!(
            parse_time_bound("2026-11-26T00:00:00Z", now),
            Ok(1_795_651_200_000)
        );
        assert_eq!(
            parse_time_bound("2026-11-26T01:00:00.5+01:00", now),
            Ok(1_795_651_200_500)
        );
        assert_eq!(
            parse_time_bound("2000-02-29T12:00:00Z", now),
            Ok(951_825_600_000)
        );
        assert_eq!(parse_time_bound("1h", now), Ok(now - 3_600_000));
        assert_eq!(parse_time_bound("7d", now), Ok(now - 7 * 86_400_000));
        assert_eq!(parse_time_bound("12345", now), Ok(12345));
        for bad in [
            "",
            "1y",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-26",
            "2026-11-26T00:00:00",
        ] {
            assert!(parse_time_bound(bad, now).is_err(), "{bad}");
        }
    }
}
