//! Sign-in rate limiting with lockout backoff, per user name and per client IP, kept in
//! memory (a restart forgets it; several servers each count their own failures).
//!
//! After [`USER_FREE_FAILURES`] consecutive failures for a name (or [`IP_FREE_FAILURES`] from
//! one address) every further attempt is refused for a lockout that doubles with each
//! failure, from [`BASE_LOCKOUT`] up to [`MAX_LOCKOUT`]; while locked even the right password
//! is refused. A success clears the name's and the address's counters.
//!
//! Invariants:
//! - the answer for an unknown name and for a wrong password is the same, and both count.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const USER_FREE_FAILURES: u32 = 5;
pub const IP_FREE_FAILURES: u32 = 20;
pub const BASE_LOCKOUT: Duration = Duration::from_secs(30);
pub const MAX_LOCKOUT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    locked_until: Option<Instant>,
}

/// Failure counters by key (`user:<name>`, `ip:<addr>`).
#[derive(Default)]
pub struct LoginLimiter {
    entries: Mutex<HashMap<String, Entry>>,
}

impl LoginLimiter {
    /// `Err(seconds to wait)` while the user or the address is locked out.
    pub fn check(&self, user: &str, ip: Option<&str>) -> Result<(), u64> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let wait = keys(user, ip)
            .filter_map(|k| map.get(&k).and_then(|e| e.locked_until))
            .filter(|until| *until > now)
            .map(|until| (until - now).as_secs().max(1))
            .max();
        match wait {
            Some(w) => Err(w),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt.
    pub fn fail(&self, user: &str, ip: Option<&str>) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            let now = Instant::now();
            map.retain(|_, e| e.locked_until.is_some_and(|u| u > now));
        }
        for (i, k) in keys(user, ip).enumerate() {
            let free = if i == 0 {
                USER_FREE_FAILURES
            } else {
                IP_FREE_FAILURES
            };
            let e = map.entry(k).or_insert(Entry {
                failures: 0,
                locked_until: None,
            });
            e.failures = e.failures.saturating_add(1);
            if e.failures >= free {
                let doublings = (e.failures - free).min(16);
                let lock = BASE_LOCKOUT
                    .saturating_mul(1u32 << doublings)
                    .min(MAX_LOCKOUT);
                e.locked_until = Some(Instant::now() + lock);
            }
        }
    }

    /// Clears the counters after a successful sign-in.
    pub fn succeed(&self, user: &str, ip: Option<&str>) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys(user, ip) {
            map.remove(&k);
        }
    }
}

fn keys<'a>(user: &'a str, ip: Option<&'a str>) -> impl Iterator<Item = String> + 'a {
    std::iter::once(format!("user:{user}")).chain(ip.map(|i| format!("ip:{i}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_locked_after_the_free_failures_and_a_success_clears_it() {
        let l = LoginLimiter::default();
        for _ in 0..USER_FREE_FAILURES - 1 {
            l.fail("alice", Some("1.2.3.4"));
            assert!(l.check("alice", Some("1.2.3.4")).is_ok());
        }
        l.fail("alice", Some("1.2.3.4"));
        let wait = l.check("alice", None).unwrap_err();
        assert!((29..=30).contains(&wait), "{wait}");
        assert!(
            l.check("bob", Some("5.6.7.8")).is_ok(),
            "others are not locked"
        );
        l.fail("alice", None);
        assert!(
            l.check("alice", None).unwrap_err() > 30,
            "the lockout doubles"
        );
        l.succeed("alice", None);
        assert!(l.check("alice", None).is_ok());
    }

    #[test]
    fn an_address_is_locked_after_many_failures_across_names() {
        let l = LoginLimiter::default();
        for i in 0..IP_FREE_FAILURES {
            l.fail(&format!("user{i}"), Some("9.9.9.9"));
        }
        assert!(l.check("someone-else", Some("9.9.9.9")).is_err());
        assert!(l.check("someone-else", Some("9.9.9.8")).is_ok());
    }
}
