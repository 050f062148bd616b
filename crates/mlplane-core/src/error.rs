//! Validation errors: what a caller got wrong, with the field at fault.
//!
//! Invariants:
//! - an [`Invalid`] always carries at least one [`Violation`];
//! - messages are lowercase without a trailing period, so they chain cleanly.

use std::fmt;

/// One broken rule: the field path (`metrics[3].key`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted/indexed path of the offending field, as the caller spelled it.
    pub field: String,
    /// Human-readable reason, lowercase, no trailing period.
    pub message: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every rule an input broke, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid {
    pub violations: Vec<Violation>,
}

impl Invalid {
    pub fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            violations: vec![Violation::new(field, message)],
        }
    }

    /// Turns collected violations into `Err` when there are any.
    pub fn check(violations: Vec<Violation>) -> Result<(), Invalid> {
        if violations.is_empty() {
            Ok(())
        } else {
            Err(Invalid { violations })
        }
    }

    /// Prefixes every field path, used when validating a nested item.
    pub fn within(mut self, prefix: &str) -> Self {
        for v in &mut self.violations {
            v.field = if v.field.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}.{}", v.field)
            };
        }
        self
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if v.field.is_empty() {
                write!(f, "{}", v.message)?;
            } else {
                write!(f, "{}: {}", v.field, v.message)?;
            }
        }
        Ok(())
    }
}
