//! Reading reports: hand-written serde visitors for every shape, and [`parse`] on top of them.
//!
//! The visitors stream straight from the input into the model: no `Value` tree for the whole report
//! and no serde `flatten` buffering. Known fields of the wrong type are kept in `extra` as written;
//! only what makes a report unusable (no name, a status that is not a string, `repos` not an array)
//! is an error. A [`ParseLog`] beside the visitors records which repository is being read, so that
//! an error can say where it happened, and what parsing had to derive.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{Error, Position, RepoRef, Result};
use crate::model::{FileStatus, Health, Repo, Report, Shape, Status, Summary, Timestamp};
use crate::validate::{Finding, FindingCode, Severity};

/// The default limit on a report's size: 64 MiB, about 130,000 repositories.
pub const DEFAULT_MAX_BYTES: usize = 64 << 20;

/// Limits for [`parse_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Inputs larger than this are refused with [`Error::TooLarge`] before any parsing.
    pub max_bytes: usize,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self { max_bytes: DEFAULT_MAX_BYTES }
    }
}

/// A parsed report, the shape it was read from, and what parsing noticed on the way.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The report, normalised.
    pub report: Report,
    /// The shape the input had.
    pub shape: Shape,
    /// What parsing did that a person may want to know: a byte-order mark skipped, names taken from
    /// `path`, statuses derived from `uncommittedChanges`. Never a reason to reject the report.
    pub notes: Vec<Finding>,
}

/// Parses a report in any known shape with the default [`ParseOptions`].
///
/// ```
/// let parsed = gitops_report::parse(br#"{"repos": [{"name": "halo", "status": "missing"}]}"#)?;
/// assert_eq!(parsed.report.repos[0].name, "halo");
/// # Ok::<(), gitops_report::Error>(())
/// ```
pub fn parse(bytes: &[u8]) -> Result<Parsed> {
    parse_with(bytes, &ParseOptions::default())
}

/// Parses a report in any known shape; never panics, whatever the bytes.
pub fn parse_with(bytes: &[u8], options: &ParseOptions) -> Result<Parsed> {
    if bytes.len() > options.max_bytes {
        return Err(Error::TooLarge { size: bytes.len(), limit: options.max_bytes });
    }
    let (body, had_bom) = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => (rest, true),
        None => (bytes, false),
    };
    if body.iter().all(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r')) {
        return Err(Error::Empty);
    }

    let log = ParseLog::default();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let result = ReportSeed { log: &log }
        .deserialize(&mut deserializer)
        .and_then(|read| deserializer.end().map(|()| read));
    match result {
        Ok((report, shape)) => {
            let notes = log.into_notes(&report, shape, had_bom);
            Ok(Parsed { report, shape, notes })
        }
        Err(error) => Err(convert_error(&error, &log, body)),
    }
}

/// Side channel between the visitors and [`parse_with`]: where reading is, and what it derived.
#[derive(Default)]
struct ParseLog {
    /// The shape, once the first byte has shown it.
    shape: Cell<Shape>,
    /// The index of the repository being read; `None` outside the repository list.
    repo_index: Cell<Option<usize>>,
    /// The name of the repository whose reading failed, when it had been read.
    failed_repo_name: RefCell<Option<String>>,
    /// Indices of repositories whose name was taken from `path`.
    names_from_path: RefCell<Vec<usize>>,
    /// Indices of repositories with no status, and whether they had `uncommittedChanges` to derive it from.
    derived_statuses: RefCell<Vec<(usize, bool)>>,
}

impl ParseLog {
    fn into_notes(self, report: &Report, shape: Shape, had_bom: bool) -> Vec<Finding> {
        let mut notes = Vec::new();
        if had_bom {
            notes.push(Finding::new(
                Severity::Info,
                FindingCode::BomSkipped,
                "the report starts with a UTF-8 byte-order mark; it was skipped".to_owned(),
            ));
        }
        let names_from_path = self.names_from_path.into_inner();
        if !names_from_path.is_empty() {
            notes.push(Finding::new(
                Severity::Info,
                FindingCode::NameFromPath,
                format!(
                    "{} repositories have no name; it was taken from the last component of `path` ({})",
                    names_from_path.len(),
                    examples(report, shape, &names_from_path)
                ),
            ));
        }
        let derived = self.derived_statuses.into_inner();
        let (from_changes, assumed): (Vec<_>, Vec<_>) = derived.iter().partition(|(_, had)| *had);
        if !from_changes.is_empty() {
            let indices: Vec<usize> = from_changes.iter().map(|(index, _)| *index).collect();
            notes.push(Finding::new(
                Severity::Info,
                FindingCode::StatusDerived,
                format!(
                    "{} repositories have no status; it was derived from `uncommittedChanges` ({})",
                    indices.len(),
                    examples(report, shape, &indices)
                ),
            ));
        }
        if !assumed.is_empty() {
            let indices: Vec<usize> = assumed.iter().map(|(index, _)| *index).collect();
            notes.push(Finding::new(
                Severity::Warning,
                FindingCode::StatusAssumed,
                format!(
                    "{} repositories have neither `status` nor `uncommittedChanges`; they are shown as clean ({})",
                    indices.len(),
                    examples(report, shape, &indices)
                ),
            ));
        }
        notes
    }
}

/// Up to three repositories named the way errors name them, e.g. `repos[0] ("a"), repos[4] ("b"), ...`.
fn examples(report: &Report, shape: Shape, indices: &[usize]) -> String {
    let mut names: Vec<String> = indices
        .iter()
        .take(3)
        .map(|&index| {
            let name = report.repos.get(index).map(|repo| repo.name.clone());
            RepoRef { index, name, shape }.to_string()
        })
        .collect();
    if indices.len() > 3 {
        names.push("...".to_owned());
    }
    names.join(", ")
}

/// Turns serde_json's error into ours, naming the repository it happened in.
fn convert_error(error: &serde_json::Error, log: &ParseLog, body: &[u8]) -> Error {
    let position =
        (error.line() > 0).then(|| Position { line: error.line(), column: error.column() });
    let mut message = error.to_string();
    if let Some(position) = position {
        let suffix = format!(" at line {} column {}", position.line, position.column);
        if message.ends_with(&suffix) {
            message.truncate(message.len() - suffix.len());
        }
    }
    let shape = log.shape.get();
    // Reading again can only help when the input is well-formed JSON, so not for syntax errors.
    let is_data_error = error.classify() == serde_json::error::Category::Data;
    let repo = log.repo_index.get().map(|index| {
        let name = log
            .failed_repo_name
            .take()
            .or_else(|| if is_data_error { name_by_reparsing(body, shape, index) } else { None });
        RepoRef { index, name, shape }
    });
    match error.classify() {
        serde_json::error::Category::Data => Error::Invalid { message, position, repo },
        serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof
        | serde_json::error::Category::Io => Error::Syntax { message, position, repo },
    }
}

/// Finds a repository's name when the error came before its `name` field: possible only when the
/// input is well-formed JSON, which is usually the case for the errors that come before the name.
fn name_by_reparsing(body: &[u8], shape: Shape, index: usize) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let repos = match shape {
        Shape::Current => value.get("repos")?,
        Shape::LegacyArray => &value,
    };
    let repo = repos.get(index)?;
    match repo.get("name") {
        Some(Value::String(name)) => Some(name.clone()),
        _ => repo.get("path").and_then(Value::as_str).and_then(name_from_path).map(str::to_owned),
    }
}

/// The last non-empty component of a path, as legacy producers' names were.
fn name_from_path(path: &str) -> Option<&str> {
    path.rsplit(['/', '\\']).find(|component| !component.is_empty())
}

/// What a value turned out to be, for "must be X, found Y" messages.
pub(crate) enum Found<'a> {
    Null,
    Bool(bool),
    Number(String),
    Str(&'a str),
    Array,
    Object,
}

impl fmt::Display for Found<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(value) => write!(f, "boolean `{value}`"),
            Self::Number(value) => write!(f, "number `{value}`"),
            Self::Str(value) if value.chars().count() > 40 => {
                let prefix: String = value.chars().take(40).collect();
                write!(f, "string {prefix:?}...")
            }
            Self::Str(value) => write!(f, "string {value:?}"),
            Self::Array => f.write_str("an array"),
            Self::Object => f.write_str("an object"),
        }
    }
}

impl<'a> Found<'a> {
    pub(crate) fn of(value: &'a Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(value) => Self::Bool(*value),
            Value::Number(number) => Self::Number(number.to_string()),
            Value::String(text) => Self::Str(text),
            Value::Array(_) => Self::Array,
            Value::Object(_) => Self::Object,
        }
    }
}

/// Implements the scalar `visit_*` methods of a visitor that wants a container, each returning the
/// error `$message(found)` built from what was found instead.
macro_rules! reject_scalars {
    ($message:expr) => {
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
            Err(E::custom($message(&Found::Bool(value))))
        }
        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
            Err(E::custom($message(&Found::Number(value.to_string()))))
        }
        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
            Err(E::custom($message(&Found::Number(value.to_string()))))
        }
        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
            Err(E::custom($message(&Found::Number(value.to_string()))))
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Err(E::custom($message(&Found::Str(value))))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Err(E::custom($message(&Found::Null)))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Err(E::custom($message(&Found::Null)))
        }
    };
}

/// Reads a whole report (object or legacy array) and says which shape it was.
struct ReportSeed<'l> {
    log: &'l ParseLog,
}

impl<'de> DeserializeSeed<'de> for ReportSeed<'_> {
    type Value = (Report, Shape);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

fn not_a_report(found: &Found<'_>) -> String {
    format!(
        "a report must be a JSON object with `repos` or an array of repositories, found {found}"
    )
}

impl<'de> Visitor<'de> for ReportSeed<'_> {
    type Value = (Report, Shape);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a report object or an array of repositories")
    }

    reject_scalars!(not_a_report);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.log.shape.set(Shape::LegacyArray);
        let repos = read_repos(seq, self.log)?;
        Ok((Report { repos, ..Report::default() }, Shape::LegacyArray))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        self.log.shape.set(Shape::Current);
        let mut report = Report::default();
        let mut saw_repos = false;
        while let Some(key) = map.next_key_seed(KeySeed(report_key))? {
            match key {
                Key::Known("repos") => {
                    report.repos = map.next_value_seed(ReposSeed { log: self.log })?;
                    saw_repos = true;
                }
                Key::Known(name) => {
                    let value: Value = map.next_value()?;
                    set_report_field(&mut report, name, value);
                }
                Key::Other(name) => {
                    let value: Value = map.next_value()?;
                    report.extra.insert(name, value);
                }
            }
        }
        if !saw_repos {
            return Err(de::Error::custom("a report object must have a `repos` array"));
        }
        Ok((report, Shape::Current))
    }
}

/// Stores a known top-level field, or keeps it in `extra` as written when its type is wrong.
fn set_report_field(report: &mut Report, name: &'static str, value: Value) {
    let value = match (name, value) {
        ("timestamp", Value::String(text)) => {
            report.timestamp = Some(Timestamp::from_text(&text));
            return;
        }
        ("health_status", Value::String(text)) => {
            report.health_status = Some(Health::from_text(&text));
            return;
        }
        ("summary", Value::Object(counts)) => {
            report.summary = Some(summary_from_map(counts));
            return;
        }
        ("mitigation_actions", Value::Object(actions))
            if actions.values().all(Value::is_string) =>
        {
            report.mitigation_actions = actions
                .into_iter()
                .filter_map(|(key, text)| match text {
                    Value::String(text) => Some((key, text)),
                    _ => None,
                })
                .collect();
            return;
        }
        ("local_git_root", Value::String(text)) => {
            report.local_git_root = Some(text);
            return;
        }
        ("local_scan_active", Value::Bool(active)) => {
            report.local_scan_active = Some(active);
            return;
        }
        ("github_user", Value::String(text)) => {
            report.github_user = Some(text);
            return;
        }
        (_, value) => value,
    };
    report.extra.insert(name.to_owned(), value);
}

/// Builds a [`Summary`] from an object; counts that are not non-negative integers stay in `extra_counts`.
fn summary_from_map(counts: Map<String, Value>) -> Summary {
    let mut summary = Summary::default();
    for (key, value) in counts {
        let count = value.as_u64();
        let slot = match key.as_str() {
            "total" => Some(&mut summary.total),
            "missing" => Some(&mut summary.missing),
            "extra" => Some(&mut summary.extra),
            "dirty" => Some(&mut summary.dirty),
            "clean" => Some(&mut summary.clean),
            "mismatched" => {
                if let Some(count) = count {
                    summary.mismatched = Some(count);
                    continue;
                }
                None
            }
            _ => None,
        };
        match (slot, count) {
            (Some(slot), Some(count)) => *slot = count,
            _ => {
                summary.extra_counts.insert(key, value);
            }
        }
    }
    summary
}

/// Reads the `repos` array.
struct ReposSeed<'l> {
    log: &'l ParseLog,
}

impl<'de> DeserializeSeed<'de> for ReposSeed<'_> {
    type Value = Vec<Repo>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

fn repos_not_an_array(found: &Found<'_>) -> String {
    format!("`repos` must be an array, found {found}")
}

impl<'de> Visitor<'de> for ReposSeed<'_> {
    type Value = Vec<Repo>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of repositories")
    }

    reject_scalars!(repos_not_an_array);

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(repos_not_an_array(&Found::Object)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        read_repos(seq, self.log)
    }
}

/// Reads repositories until the end of the array, keeping the log's index current.
fn read_repos<'de, A: SeqAccess<'de>>(mut seq: A, log: &ParseLog) -> Result<Vec<Repo>, A::Error> {
    // The hint is capped: it comes from the input, and a hostile one must not reserve gigabytes.
    let mut repos = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 12));
    loop {
        let index = repos.len();
        log.repo_index.set(Some(index));
        match seq.next_element_seed(RepoSeed { log, index })? {
            Some(repo) => repos.push(repo),
            None => break,
        }
    }
    log.repo_index.set(None);
    Ok(repos)
}

/// Reads one repository.
struct RepoSeed<'l> {
    log: &'l ParseLog,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for RepoSeed<'_> {
    type Value = Repo;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

fn repo_not_an_object(found: &Found<'_>) -> String {
    format!("a repository must be an object, found {found}")
}

impl<'de> Visitor<'de> for RepoSeed<'_> {
    type Value = Repo;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a repository object")
    }

    reject_scalars!(repo_not_an_object);

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::custom(repo_not_an_object(&Found::Array)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut draft = RepoDraft::default();
        if let Err(error) = draft.read_fields(&mut map) {
            // Hand the name to the error message, when it came before the failure.
            self.log.failed_repo_name.replace(draft.name.take());
            return Err(error);
        }
        draft.finish(self.log, self.index)
    }
}

/// A repository being read: its fields as far as the input has gone.
#[derive(Default)]
struct RepoDraft {
    name: Option<String>,
    /// `None` when the status is absent or null; it is then derived in [`RepoDraft::finish`].
    status: Option<Status>,
    repo: Repo,
}

impl RepoDraft {
    fn read_fields<'de, A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed(repo_key))? {
            let name = match key {
                Key::Known(name) => name,
                Key::Other(name) => {
                    let value: Value = map.next_value()?;
                    self.repo.extra.insert(name, value);
                    continue;
                }
            };
            match name {
                "name" => self.name = map.next_value_seed(RequiredText::NAME)?,
                "status" => self.status = map.next_value_seed(RequiredText::STATUS)?,
                _ => self.read_lenient_field(name, map.next_value()?),
            }
        }
        Ok(())
    }

    /// Stores a known optional field, or keeps it in `extra` as written when its type is wrong.
    fn read_lenient_field(&mut self, name: &'static str, value: Value) {
        match (name, value) {
            ("file_status", Value::String(text)) => {
                self.repo.file_status = Some(FileStatus::from_text(&text));
            }
            (name, Value::String(text)) => match self.repo.optional_text_mut(name) {
                Some(slot) => *slot = Some(text),
                None => {
                    self.repo.extra.insert(name.to_owned(), Value::String(text));
                }
            },
            (name, other) => {
                self.repo.extra.insert(name.to_owned(), other);
            }
        }
    }

    fn finish<E: de::Error>(self, log: &ParseLog, index: usize) -> Result<Repo, E> {
        let Self { name, status, mut repo } = self;
        repo.name = match name {
            Some(name) => name,
            None => {
                let from_path =
                    repo.extra.get("path").and_then(Value::as_str).and_then(name_from_path);
                let Some(name) = from_path else {
                    return Err(E::custom(
                        "repository has no `name` (and no `path` to take one from)",
                    ));
                };
                log.names_from_path.borrow_mut().push(index);
                name.to_owned()
            }
        };
        repo.status = match status {
            Some(status) => status,
            None => {
                let changes = repo.extra.get("uncommittedChanges");
                log.derived_statuses.borrow_mut().push((index, changes.is_some()));
                if changes.is_some_and(has_changes) { Status::Dirty } else { Status::Clean }
            }
        };
        Ok(repo)
    }
}

/// Reads a field that must be a string when present (`name`, `status`); null counts as absent.
///
/// Failing inside the value's own deserialisation, rather than after it, puts the error's
/// position on the value itself. `from_str` reads the text without allocating when it can (a
/// known status needs no `String`); `from_string` takes an owned one.
struct RequiredText<T> {
    field: &'static str,
    from_str: fn(&str) -> T,
    from_string: fn(String) -> T,
}

impl RequiredText<String> {
    const NAME: Self =
        Self { field: "name", from_str: str::to_owned, from_string: std::convert::identity };
}

impl RequiredText<Status> {
    const STATUS: Self = Self {
        field: "status",
        from_str: Status::from_text,
        from_string: |text| Status::from_text(&text),
    };
}

impl<'de, T> DeserializeSeed<'de> for RequiredText<T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<T> RequiredText<T> {
    fn wrong_type<E: de::Error>(&self, found: &Found<'_>) -> E {
        E::custom(format_args!("{} must be a string, found {found}", self.field))
    }
}

impl<'de, T> Visitor<'de> for RequiredText<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a string for `{}`", self.field)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Some((self.from_str)(text)))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Some((self.from_string)(text)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
        Err(self.wrong_type(&Found::Bool(value)))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        Err(self.wrong_type(&Found::Number(value.to_string())))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        Err(self.wrong_type(&Found::Number(value.to_string())))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        Err(self.wrong_type(&Found::Number(value.to_string())))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(self.wrong_type(&Found::Array))
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
        Err(self.wrong_type(&Found::Object))
    }
}

/// Whether a legacy `uncommittedChanges` value means "dirty": `true`, a number above 0, or a
/// non-empty list of changed files.
fn has_changes(value: &Value) -> bool {
    match value {
        Value::Bool(dirty) => *dirty,
        Value::Number(count) => count.as_f64().is_some_and(|count| count > 0.0),
        Value::Array(files) => !files.is_empty(),
        Value::Null | Value::String(_) | Value::Object(_) => false,
    }
}

impl Repo {
    /// The slot of an optional text field (other than `name` and `status`), by its JSON name.
    fn optional_text_mut(&mut self, name: &str) -> Option<&mut Option<String>> {
        match name {
            "clone_url" => Some(&mut self.clone_url),
            "local_path" => Some(&mut self.local_path),
            "remote_url" => Some(&mut self.remote_url),
            "expected_url" => Some(&mut self.expected_url),
            "dashboard_link" => Some(&mut self.dashboard_link),
            "mitigation" => Some(&mut self.mitigation),
            _ => None,
        }
    }
}

/// A map key: one the model knows (as its static name, so no allocation), or any other.
enum Key {
    Known(&'static str),
    Other(String),
}

/// The field names of a repository object.
fn repo_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "name" => "name",
        "status" => "status",
        "clone_url" => "clone_url",
        "local_path" => "local_path",
        "remote_url" => "remote_url",
        "expected_url" => "expected_url",
        "dashboard_link" => "dashboard_link",
        "mitigation" => "mitigation",
        "file_status" => "file_status",
        _ => return None,
    })
}

/// The field names of a report object.
fn report_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "timestamp" => "timestamp",
        "health_status" => "health_status",
        "summary" => "summary",
        "repos" => "repos",
        "mitigation_actions" => "mitigation_actions",
        "local_git_root" => "local_git_root",
        "local_scan_active" => "local_scan_active",
        "github_user" => "github_user",
        _ => return None,
    })
}

/// Reads a key, matching it against the known names without allocating.
struct KeySeed(fn(&str) -> Option<&'static str>);

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(match (self.0)(key) {
            Some(known) => Key::Known(known),
            None => Key::Other(key.to_owned()),
        })
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Self::Value, E> {
        Ok(match (self.0)(&key) {
            Some(known) => Key::Known(known),
            None => Key::Other(key),
        })
    }
}

impl<'de> Deserialize<'de> for Report {
    /// Reads any known shape, as [`parse`] does, from any serde format.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let log = ParseLog::default();
        ReportSeed { log: &log }.deserialize(deserializer).map(|(report, _)| report)
    }
}

impl<'de> Deserialize<'de> for Repo {
    /// Reads one repository with the same rules as [`parse`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let log = ParseLog::default();
        RepoSeed { log: &log, index: 0 }.deserialize(deserializer)
    }
}

impl<'de> Deserialize<'de> for Summary {
    /// Reads a summary object; counts that are not non-negative integers stay in `extra_counts`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::<String, Value>::deserialize(deserializer).map(summary_from_map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Parsed> {
        parse(text.as_bytes())
    }

    fn codes(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().map(|finding| finding.code.as_str()).collect()
    }

    #[test]
    fn sample_report_reads_as_current_shape_with_its_unknown_fields() {
        let parsed = parse_str(crate::SAMPLE_REPORT).unwrap();
        assert_eq!(parsed.shape, Shape::Current);
        assert!(parsed.notes.is_empty(), "{:?}", parsed.notes);
        let report = &parsed.report;
        assert_eq!(report.repos.len(), 50);
        assert_eq!(report.extra.get("scan_host"), Some(&Value::from("nas01")));
        assert_eq!(report.local_scan_active, Some(true));
        assert_eq!(report.mitigation_actions.len(), 4);
        let halo = report.repos.iter().find(|repo| repo.name == "halo").unwrap();
        assert_eq!(halo.status, Status::Missing);
        assert_eq!(halo.mitigation.as_deref(), Some("clone_missing"));
        let notify = report.repos.iter().find(|repo| repo.name == "ha-notify").unwrap();
        assert_eq!(notify.status, Status::Mismatched);
        assert_eq!(notify.expected_url.as_deref(), Some("https://github.com/alice/ha-notify.git"));
        let archived = report.repos.iter().find(|repo| repo.name == "old-wiki").unwrap();
        assert_eq!(archived.status, Status::Other("archived".to_owned()));
        assert!(report.repos.iter().any(|repo| repo.name == "team/infra~old"));
        assert!(report.repos.iter().any(|repo| repo.name == "café-ツール"));
        assert!(
            report.repos.iter().all(|repo| repo.extra.keys().all(|key| repo_key(key).is_none()))
        );
    }

    #[test]
    fn sample_report_is_written_back_unchanged() {
        let original: Value = serde_json::from_str(crate::SAMPLE_REPORT).unwrap();
        let parsed = parse_str(crate::SAMPLE_REPORT).unwrap();
        let written: Value = serde_json::from_slice(&parsed.report.to_json_bytes()).unwrap();
        assert_eq!(written, original);
    }

    #[test]
    fn legacy_array_takes_names_from_path_and_derives_statuses() {
        let parsed = parse_str(crate::SAMPLE_LEGACY_ARRAY).unwrap();
        assert_eq!(parsed.shape, Shape::LegacyArray);
        let names: Vec<&str> = parsed.report.repos.iter().map(|repo| repo.name.as_str()).collect();
        assert_eq!(names, ["esphome", "kitshn", "halo", "ha-notify", "dotfiles", "scratch"]);
        let statuses: Vec<&str> =
            parsed.report.repos.iter().map(|repo| repo.status.as_str()).collect();
        assert_eq!(statuses, ["dirty", "clean", "dirty", "clean", "dirty", "extra"]);
        let kitshn = &parsed.report.repos[1];
        assert_eq!(kitshn.extra.get("path"), Some(&Value::from("/home/alice/git/kitshn")));
        assert_eq!(kitshn.extra.get("lastCommitAgeDays"), Some(&Value::from(40)));
        assert_eq!(kitshn.extra.get("isStale"), Some(&Value::from(true)));
        assert_eq!(parsed.report.summary, None);
        assert_eq!(codes(&parsed.notes), ["name-from-path", "status-derived"]);
        assert!(
            parsed.notes[0].message.starts_with("3 repositories have no name"),
            "{}",
            parsed.notes[0]
        );
        assert!(parsed.notes[0].message.contains(r#"[1] ("kitshn")"#), "{}", parsed.notes[0]);
    }

    #[test]
    fn mock_without_status_is_dirty_only_when_uncommitted_changes_is_truthy() {
        let cases = [
            ("true", "dirty"),
            ("false", "clean"),
            ("3", "dirty"),
            ("0", "clean"),
            ("0.5", "dirty"),
            ("-1", "clean"),
            ("[\"a.txt\"]", "dirty"),
            ("[]", "clean"),
            ("null", "clean"),
            ("\"yes\"", "clean"),
        ];
        for (changes, expected) in cases {
            let text = format!(r#"[{{"name": "a", "uncommittedChanges": {changes}}}]"#);
            let parsed = parse_str(&text).unwrap();
            assert_eq!(
                parsed.report.repos[0].status.as_str(),
                expected,
                "uncommittedChanges {changes}"
            );
            assert_eq!(codes(&parsed.notes), ["status-derived"]);
        }
    }

    #[test]
    fn missing_or_null_status_without_changes_is_assumed_clean_with_a_warning() {
        for repo in [r#"{"name": "a"}"#, r#"{"name": "a", "status": null}"#] {
            let parsed = parse_str(&format!(r#"{{"repos": [{repo}]}}"#)).unwrap();
            assert_eq!(parsed.report.repos[0].status, Status::Clean);
            assert_eq!(codes(&parsed.notes), ["status-assumed"]);
            assert_eq!(parsed.notes[0].severity, Severity::Warning);
        }
    }

    #[test]
    fn older_current_shape_without_optional_fields_reads() {
        let text = r#"{"timestamp": "2026-02-11T03-00-00Z", "health_status": "green",
            "summary": {"total": 1, "missing": 0, "extra": 0, "dirty": 0, "clean": 1},
            "repos": [{"name": "kitshn", "status": "clean"}]}"#;
        let report = parse_str(text).unwrap().report;
        let summary = report.summary.unwrap();
        assert_eq!(summary.mismatched, None);
        assert_eq!(summary.clean, 1);
        assert!(report.timestamp.unwrap().instant.is_some());
        assert_eq!(report.health_status, Some(Health::Green));
        assert!(report.mitigation_actions.is_empty());
    }

    #[test]
    fn known_fields_of_the_wrong_type_are_kept_as_written() {
        let text = r#"{"timestamp": 1750388400, "health_status": ["red"], "summary": "n/a",
            "mitigation_actions": {"a": "text", "b": 2}, "local_git_root": null,
            "local_scan_active": "yes", "github_user": 7,
            "repos": [{"name": "a", "status": "dirty", "clone_url": 5, "file_status": false,
                       "mitigation": {"key": "x"}},
                      {"name": "b", "status": "clean"}]}"#;
        let report = parse_str(text).unwrap().report;
        assert_eq!(report.timestamp, None);
        assert_eq!(report.summary, None);
        assert_eq!(report.local_scan_active, None);
        assert_eq!(report.extra.len(), 7, "{:?}", report.extra);
        assert_eq!(report.repos[0].clone_url, None);
        assert_eq!(report.repos[0].extra.len(), 3);
        let original: Value = serde_json::from_str(text).unwrap();
        let written: Value = serde_json::from_slice(&report.to_json_bytes()).unwrap();
        assert_eq!(written, original);
    }

    #[test]
    fn summary_counts_that_are_not_integers_stay_in_extra_counts() {
        let text = r#"{"summary": {"total": "3", "missing": -1, "dirty": 1.5, "clean": 2,
            "mismatched": "n/a", "archived": 1}, "repos": []}"#;
        let summary = parse_str(text).unwrap().report.summary.unwrap();
        assert_eq!(
            (summary.total, summary.missing, summary.clean, summary.mismatched),
            (0, 0, 2, None)
        );
        let mut kept: Vec<&str> = summary.extra_counts.keys().map(String::as_str).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["archived", "dirty", "mismatched", "missing", "total"]);
    }

    #[test]
    fn byte_order_mark_is_skipped_and_noted() {
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(br#"{"repos": []}"#);
        let parsed = parse(&bytes).unwrap();
        assert_eq!(codes(&parsed.notes), ["bom-skipped"]);
    }

    #[test]
    fn empty_and_blank_inputs_are_empty() {
        for input in [&b""[..], b"  \n\t\r\n", b"\xEF\xBB\xBF", b"\xEF\xBB\xBF \n"] {
            assert_eq!(parse(input), Err(Error::Empty), "{input:?}");
        }
    }

    #[test]
    fn size_limit_is_checked_before_parsing() {
        let bytes = br#"{"repos": []}"#;
        let exact = ParseOptions { max_bytes: bytes.len() };
        assert!(parse_with(bytes, &exact).is_ok());
        let small = ParseOptions { max_bytes: bytes.len() - 1 };
        assert_eq!(parse_with(bytes, &small), Err(Error::TooLarge { size: 13, limit: 12 }));
        // Garbage over the limit gets the size error, not a syntax error: nothing was parsed.
        let garbage = vec![b'{'; 100];
        assert!(matches!(parse_with(&garbage, &small), Err(Error::TooLarge { size: 100, .. })));
        assert_eq!(
            Error::TooLarge { size: 13, limit: 12 }.to_string(),
            "report is 13 bytes, over the limit of 12 bytes"
        );
    }

    #[test]
    fn top_level_scalars_are_not_reports() {
        let cases = [
            ("\"hello\"", "found string \"hello\""),
            ("42", "found number `42`"),
            ("-1.5", "found number `-1.5`"),
            ("null", "found null"),
            ("true", "found boolean `true`"),
        ];
        for (input, found) in cases {
            let error = parse_str(input).unwrap_err();
            assert!(matches!(error, Error::Invalid { repo: None, .. }), "{input}: {error:?}");
            let expected = format!(
                "a report must be a JSON object with `repos` or an array of repositories, {found} at line 1 column {}",
                input.len()
            );
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn object_without_repos_or_with_repos_of_the_wrong_type_is_invalid() {
        let error = parse_str("{\"summary\": {}}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "a report object must have a `repos` array at line 1 column 15"
        );
        let error = parse_str("{\n  \"repos\": {\"a\": 1}\n}").unwrap_err();
        assert_eq!(
            error.to_string(),
            "`repos` must be an array, found an object at line 2 column 12"
        );
        assert_eq!(error.repo(), None);
        let error = parse_str("{\"repos\": null}").unwrap_err();
        assert_eq!(error.to_string(), "`repos` must be an array, found null at line 1 column 14");
    }

    #[test]
    fn status_that_is_not_a_string_names_the_repository_and_the_place() {
        let text = "{\"repos\": [\n  {\"name\": \"halo\", \"status\": \"missing\"},\n  {\"name\": \"esphome\", \"status\": 5}\n]}";
        let error = parse_str(text).unwrap_err();
        assert_eq!(
            error.to_string(),
            "repos[1] (\"esphome\"): status must be a string, found number `5` at line 3 column 33"
        );
        assert_eq!(error.position(), Some(Position { line: 3, column: 33 }));
        let repo = error.repo().unwrap();
        assert_eq!((repo.index, repo.name.as_deref()), (1, Some("esphome")));
    }

    #[test]
    fn name_after_the_error_is_found_by_reading_the_input_again() {
        let text = r#"{"repos": [{"status": {"a": 1}, "name": "late"}]}"#;
        let error = parse_str(text).unwrap_err();
        assert_eq!(
            error.to_string(),
            "repos[0] (\"late\"): status must be a string, found an object at line 1 column 23"
        );
    }

    #[test]
    fn repository_without_a_name_or_path_is_named_by_index() {
        let text = "[{\"path\": \"/srv/git/a\"},\n {\"status\": \"clean\", \"path\": \"/\"}]";
        let error = parse_str(text).unwrap_err();
        assert_eq!(
            error.to_string(),
            "[1]: repository has no `name` (and no `path` to take one from) at line 2 column 33"
        );
        let error = parse_str(r#"{"repos": [{"name": 3, "status": "clean"}]}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "repos[0]: name must be a string, found number `3` at line 1 column 21"
        );
    }

    #[test]
    fn repository_that_is_not_an_object_is_invalid() {
        let error = parse_str(r#"{"repos": [{"name": "a", "status": "clean"}, "b"]}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            "repos[1]: a repository must be an object, found string \"b\" at line 1 column 48"
        );
        let error = parse_str("[[1]]").unwrap_err();
        assert_eq!(
            error.to_string(),
            "[0]: a repository must be an object, found an array at line 1 column 2"
        );
    }

    #[test]
    fn syntax_errors_say_where_and_in_which_repository() {
        let text = "{\"repos\": [\n  {\"name\": \"halo\", \"status\": \"missing\",\n   \"clone_url\": \"https://gith";
        let error = parse_str(text).unwrap_err();
        assert!(matches!(error, Error::Syntax { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "repos[0] (\"halo\"): invalid JSON: EOF while parsing a string at line 3 column 29"
        );
        let error = parse_str("{\"repos\": []} x").unwrap_err();
        assert_eq!(error.to_string(), "invalid JSON: trailing characters at line 1 column 15");
        let error = parse_str("{\"repos\": [], \"summary\": {\"total\": 1,}}").unwrap_err();
        assert_eq!(error.repo(), None);
        assert!(
            error.to_string().starts_with("invalid JSON: trailing comma at line 1 column"),
            "{error}"
        );
    }

    #[test]
    fn invalid_utf8_and_deep_nesting_are_syntax_errors() {
        let error =
            parse(b"{\"repos\": [{\"name\": \"\xFF\", \"status\": \"clean\"}]}").unwrap_err();
        assert!(
            matches!(error, Error::Syntax { repo: Some(RepoRef { index: 0, .. }), .. }),
            "{error:?}"
        );
        let deep =
            format!("{{\"repos\": [], \"x\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        let error = parse_str(&deep).unwrap_err();
        assert!(error.to_string().contains("recursion limit exceeded"), "{error}");
    }

    #[test]
    fn serde_impls_accept_values_and_every_shape() {
        let legacy: Report = serde_json::from_str(crate::SAMPLE_LEGACY_ARRAY).unwrap();
        assert_eq!(legacy.repos.len(), 6);
        let report = parse_str(crate::SAMPLE_REPORT).unwrap().report;
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(serde_json::from_value::<Report>(value).unwrap(), report);
        for repo in &report.repos {
            let value = serde_json::to_value(repo).unwrap();
            assert_eq!(&serde_json::from_value::<Repo>(value).unwrap(), repo);
        }
        let summary = report.summary.unwrap();
        let value = serde_json::to_value(&summary).unwrap();
        assert_eq!(serde_json::from_value::<Summary>(value).unwrap(), summary);
        let error = serde_json::from_str::<Repo>(r#"{"name": "a", "status": 1}"#).unwrap_err();
        assert!(
            error.to_string().starts_with("status must be a string, found number `1`"),
            "{error}"
        );
    }

    #[test]
    fn floats_in_unknown_fields_are_written_back_digit_for_digit() {
        let text = r#"{"repos":[],"a":0.30000000000000004,"b":1.7976931348623157e+308,"c":5e-324,"d":123456789.12345679}"#;
        let written = parse_str(text).unwrap().report.to_json_bytes();
        assert_eq!(String::from_utf8(written).unwrap(), text);
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        let text =
            r#"{"repos": [{"name": "a", "status": "dirty", "status": "clean", "x": 1, "x": 2}]}"#;
        let repo = &parse_str(text).unwrap().report.repos[0];
        assert_eq!(repo.status, Status::Clean);
        assert_eq!(repo.extra.get("x"), Some(&Value::from(2)));
    }
}
