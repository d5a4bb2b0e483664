//! The parse error: what went wrong, and where in the input.

use std::fmt;

use crate::model::Shape;

/// A place in the input: 1-based line and column (columns count bytes, as serde_json does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line number, from 1.
    pub line: usize,
    /// Column number, from 1 (0 when the error is at the very start of a line).
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} column {}", self.line, self.column)
    }
}

/// The repository an error was found in: its index in the list, and its name when it was known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    /// Index in `repos` (or in the bare array of the legacy shape), from 0.
    pub index: usize,
    /// The repository's `name`, when it could be read.
    pub name: Option<String>,
    /// The shape being read, which decides how the index is written (`repos[3]` or `[3]`).
    pub shape: Shape,
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.shape {
            Shape::Current => write!(f, "repos[{}]", self.index)?,
            Shape::LegacyArray => write!(f, "[{}]", self.index)?,
        }
        match &self.name {
            Some(name) => write!(f, " ({name:?})"),
            None => Ok(()),
        }
    }
}

/// Why a report could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is larger than [`ParseOptions::max_bytes`](crate::ParseOptions) and was not read.
    /// Raise the limit if reports really are that large; otherwise find out why the producer wrote so much.
    #[error("report is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The input's size in bytes.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The input is empty or only whitespace, as when a producer is caught halfway through a write.
    /// Keep the last good report and wait for the next write.
    #[error("report is empty")]
    Empty,
    /// The input is not well-formed JSON: a half-written file, trailing garbage, invalid UTF-8,
    /// nesting deeper than 128 levels. Keep the last good report; the producer has to write again.
    #[error("{}invalid JSON: {message}{}", Within(.repo), At(.position))]
    Syntax {
        /// What is wrong, without the location.
        message: String,
        /// Where, when known.
        position: Option<Position>,
        /// The repository being read, when the error is inside one.
        repo: Option<RepoRef>,
    },
    /// Well-formed JSON that is not a report: a scalar at the top, no `repos` or `repos` not an
    /// array, a repository that is not an object, has no name, or whose `status` is not a string.
    /// Keep the last good report and fix the producer.
    #[error("{}{message}{}", Within(.repo), At(.position))]
    Invalid {
        /// What is wrong, without the location.
        message: String,
        /// Where, when known.
        position: Option<Position>,
        /// The repository being read, when the error is inside one.
        repo: Option<RepoRef>,
    },
}

impl Error {
    /// Where in the input the error was found, when that is known.
    pub fn position(&self) -> Option<Position> {
        match self {
            Self::Syntax { position, .. } | Self::Invalid { position, .. } => *position,
            Self::TooLarge { .. } | Self::Empty => None,
        }
    }

    /// The repository the error was found in, when it is inside one.
    pub fn repo(&self) -> Option<&RepoRef> {
        match self {
            Self::Syntax { repo, .. } | Self::Invalid { repo, .. } => repo.as_ref(),
            Self::TooLarge { .. } | Self::Empty => None,
        }
    }
}

/// Writes `repos[3] ("esphome"): ` before a message, or nothing.
struct Within<'a>(&'a Option<RepoRef>);

impl fmt::Display for Within<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(repo) => write!(f, "{repo}: "),
            None => Ok(()),
        }
    }
}

/// Writes ` at line 3 column 7` after a message, or nothing.
struct At<'a>(&'a Option<Position>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(position) => write!(f, " at {position}"),
            None => Ok(()),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
