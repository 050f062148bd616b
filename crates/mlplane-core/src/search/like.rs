//! Evaluating clauses in memory: SQL `LIKE` / `ILIKE` matching and [`Clause::matches_str`] /
//! [`Clause::matches_num`].
//!
//! Invariants:
//! - [`like_match`] is iterative and runs in O(pattern × text) time and O(pattern + text)
//!   space in the worst case, whatever the pattern (no recursion, no exponential blow-up);
//! - `%` matches any run of chars (possibly empty) and `_` exactly one char; there is no
//!   escape character, as in SQLite's `LIKE` without `ESCAPE`;
//! - a missing value (`None`) matches no clause, not even `!=` or `NOT IN`, as an SQL join
//!   on a missing metric, param or tag row would not.

use super::{Clause, Comparator, Value};

/// Whether `text` matches the SQL `LIKE` `pattern`; with `case_insensitive`, both are
/// lower-cased first (`ILIKE`).
pub fn like_match(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if case_insensitive {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    // Two pointers; on a mismatch, go back to just after the last `%` seen and let it
    // absorb one more char of the text. Earlier `%`s never need revisiting.
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut last_star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('%') => {
                pi += 1;
                last_star = Some((pi, ti));
            }
            Some(&c) if c == '_' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match last_star {
                Some((after_star, absorbed)) => {
                    pi = after_star;
                    ti = absorbed + 1;
                    last_star = Some((after_star, absorbed + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '%'))
}

impl Clause {
    /// Whether a string value (a param, tag, string attribute or dataset field; `None` when
    /// absent) satisfies the clause. On a numeric clause the string is parsed as a number.
    pub fn matches_str(&self, v: Option<&str>) -> bool {
        let Some(v) = v else {
            return false;
        };
        match (&self.value, self.op) {
            (Value::String(s), Comparator::Eq) => v == s,
            (Value::String(s), Comparator::Ne) => v != s,
            (Value::String(s), Comparator::Like) => like_match(s, v, false),
            (Value::String(s), Comparator::ILike) => like_match(s, v, true),
            (Value::List(l), Comparator::In) => l.iter().any(|x| x == v),
            (Value::List(l), Comparator::NotIn) => l.iter().all(|x| x != v),
            (Value::Number(_), _) => self.matches_num(v.trim().parse::<f64>().ok()),
            _ => false,
        }
    }

    /// Whether a numeric value (a metric or timestamp attribute; `None` when absent)
    /// satisfies the clause. NaN is unequal to everything, so it matches only `!=`.
    pub fn matches_num(&self, v: Option<f64>) -> bool {
        let (Some(v), Value::Number(n)) = (v, &self.value) else {
            return false;
        };
        let n = *n;
        match self.op {
            Comparator::Eq => v == n,
            Comparator::Ne => v != n,
            Comparator::Gt => v > n,
            Comparator::Ge => v >= n,
            Comparator::Lt => v < n,
            Comparator::Le => v <= n,
            _ => false,
        }
    }
}
