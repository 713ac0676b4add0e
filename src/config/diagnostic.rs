//! Located problems found in a configuration file.
//!
//! Owns: the `Diagnostic` type and how it is printed (`FILE:LINE:COL: message`).
//! Must never: decide what is wrong — the decoder and validator do that.

use std::fmt;
use std::path::{Path, PathBuf};

use super::yaml::Mark;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// `None` for problems of the file as a whole (it cannot be read).
    pub mark: Option<Mark>,
    pub message: String,
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(mark: Mark, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, mark: Some(mark), message: message.into(), hint: None }
    }

    pub fn warning(mark: Mark, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(mark, message) }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// One line, for logs: `FILE:LINE:COL: warning: message (hint: ...)`.
    pub fn one_line(&self, file: &Path) -> String {
        let text = self.display(file).to_string();
        match text.split_once("\n    hint: ") {
            Some((head, hint)) => format!("{head} (hint: {hint})"),
            None => text,
        }
    }

    /// Renders as `FILE:LINE:COL: error: message` with the hint on its own line.
    pub fn display<'a>(&'a self, file: &'a Path) -> impl fmt::Display + 'a {
        DisplayDiagnostic { d: self, file }
    }
}

struct DisplayDiagnostic<'a> {
    d: &'a Diagnostic,
    file: &'a Path,
}

impl fmt::Display for DisplayDiagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.d.mark {
            Some(m) => write!(f, "{}:{}:{}: {level}: {}", self.file.display(), m.line, m.col, self.d.message)?,
            None => write!(f, "{}: {level}: {}", self.file.display(), self.d.message)?,
        }
        if let Some(hint) = &self.d.hint {
            write!(f, "\n    hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in one file, errors first, each group in file order.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub file: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(file: &Path, mut diagnostics: Vec<Diagnostic>) -> Self {
        diagnostics.sort_by_key(|d| (d.severity, d.mark));
        diagnostics.dedup();
        Diagnostics { file: file.to_path_buf(), diagnostics }
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Warning)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{}", d.display(&self.file))?;
        }
        let errors = self.errors().count();
        let warnings = self.warnings().count();
        if errors > 0 {
            write!(f, "{}: {errors} error(s), {warnings} warning(s)", self.file.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
