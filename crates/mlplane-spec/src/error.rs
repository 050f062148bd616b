//! Errors of spec parsing and validation: where (file, line, column, field path) and what
//! was expected.
//!
//! Invariants:
//! - lines and columns are 1-based; 0 means "unknown" (e.g. a field that is missing, which
//!   is reported at its parent's position);
//! - the field path uses dots and brackets as a user writes it (`inputs.lr.type`,
//!   `environment.pip[2]`); the root is the empty path.

use std::fmt;

/// A place in a spec document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// One problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The file the spec came from, when it came from a file.
    pub file: Option<String>,
    pub pos: Pos,
    /// Dotted path of the field at fault; empty for the document itself.
    pub field: String,
    pub message: String,
}

impl SpecError {
    pub fn new(pos: Pos, field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            file: None,
            pos,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.as_deref().unwrap_or("<spec>");
        write!(f, "{file}:{}:{}: ", self.pos.line, self.pos.col)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one spec, in document order; never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecErrors(pub Vec<SpecError>);

impl SpecErrors {
    pub fn one(e: SpecError) -> Self {
        SpecErrors(vec![e])
    }

    /// Names the file every error came from.
    pub fn in_file(mut self, file: &str) -> Self {
        for e in &mut self.0 {
            e.file = Some(file.to_string());
        }
        self
    }
}

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<SpecError> for SpecErrors {
    fn from(e: SpecError) -> Self {
        SpecErrors::one(e)
    }
}

pub type Result<T> = std::result::Result<T, SpecErrors>;

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let budget = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance between two short strings (case-insensitive), counting a swap of two
/// neighbouring characters as one edit (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    if a.len() > 64 || b.len() > 64 {
        return usize::MAX;
    }
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 0..a.len() {
        let mut cur = vec![i + 1; b.len() + 1];
        for j in 0..b.len() {
            let cost = usize::from(a[i] != b[j]);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            if i > 0 && j > 0 && a[i] == b[j - 1] && a[i - 1] == b[j] {
                cur[j + 1] = cur[j + 1].min(before[j - 1] + 1);
            }
        }
        before = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_words_only() {
        let fields = ["command", "code", "environment", "inputs", "outputs"];
        assert_eq!(did_you_mean("comand", &fields), Some("command"));
        assert_eq!(did_you_mean("enviroment", &fields), Some("environment"));
        assert_eq!(did_you_mean("input", &fields), Some("inputs"));
        assert_eq!(did_you_mean("banana", &fields), None);
    }

    #[test]
    fn display_names_file_line_and_field() {
        let e = SpecErrors::one(SpecError::new(Pos { line: 3, col: 5 }, "inputs.lr", "bad"))
            .in_file("job.yml");
        assert_eq!(e.to_string(), "job.yml:3:5: inputs.lr: bad");
    }
}
