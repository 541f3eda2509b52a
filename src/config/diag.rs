//! Located diagnostics: `FILE:LINE:COL: error[code]: message` plus an optional `help:` line.
//!
//! Diagnostics quote selector text and key names from `proxy.toml`, never values from a
//! keyring, and never the whole file.

use std::fmt;
use std::ops::Range;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The configuration cannot be used.
    Error,
    /// The configuration works but is probably not what was meant.
    Warning,
}

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable snake_case code (`unknown_key`, `bad_selector`, …).
    pub code: &'static str,
    /// The file the problem is in.
    pub file: String,
    /// 1-based line (0 when the problem has no location, such as a missing file).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when we know.
    pub help: Option<String>,
}

/// Every diagnostic found while loading; loading never stops at the first problem.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

/// A source file, for turning byte spans into line and column.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Display name of the file.
    pub name: &'a str,
    /// Its text.
    pub text: &'a str,
}

// === impl Diagnostics ===

impl Diagnostics {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error at `span` of `src`.
    pub fn error(
        &mut self,
        src: Source<'_>,
        span: Range<usize>,
        code: &'static str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Error, src, span, code, message.into())
    }

    /// Records a warning at `span` of `src`.
    pub fn warning(
        &mut self,
        src: Source<'_>,
        span: Range<usize>,
        code: &'static str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Warning, src, span, code, message.into())
    }

    /// Records an error with no location in a file (a missing file, an unset variable).
    pub(crate) fn error_at_file(
        &mut self,
        file: &str,
        code: &'static str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.items.push(Diagnostic {
            severity: Severity::Error,
            code,
            file: file.to_owned(),
            line: 0,
            col: 0,
            message: message.into(),
            help: None,
        });
        self.items.last_mut().expect("just pushed")
    }

    /// Adds an already-built diagnostic.
    pub(crate) fn push_diag(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    fn push(
        &mut self,
        severity: Severity,
        src: Source<'_>,
        span: Range<usize>,
        code: &'static str,
        message: String,
    ) -> &mut Diagnostic {
        let (line, col) = crate::keys::line_col(src.text, span.start);
        self.items.push(Diagnostic {
            severity,
            code,
            file: src.name.to_owned(),
            line,
            col,
            message,
            help: None,
        });
        self.items.last_mut().expect("just pushed")
    }

    /// Whether any diagnostic is an error.
    pub(crate) fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// All diagnostics, sorted by file position.
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// Sorts by file, line and column so output reads top to bottom.
    pub fn sort(&mut self) {
        self.items
            .sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

// === impl Diagnostic ===

impl Diagnostic {
    /// Attaches a fix hint.
    pub fn help(&mut self, help: impl Into<String>) -> &mut Self {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.line == 0 {
            write!(f, "{}: {sev}[{}]: {}", self.file, self.code, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {sev}[{}]: {}",
                self.file, self.line, self.col, self.code, self.message
            )?;
        }
        if let Some(h) = &self.help {
            write!(f, "\n  help: {h}")?;
        }
        Ok(())
    }
}

/// The closest candidate to `word` by edit distance, if it is close enough to be a typo.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["path_prefix", "upstream", "name"];
        assert_eq!(did_you_mean("pathprefix", &keys), Some("path_prefix"));
        assert_eq!(did_you_mean("upstraem", &keys), Some("upstream"));
        assert_eq!(did_you_mean("colour", &keys), None);
    }
}
