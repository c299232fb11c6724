//! The workflows a server offers: every `*.yaml` and `*.yml` file of one
//! folder (not its subfolders; `*.test.yaml` workflow tests left out),
//! validated when the server starts and again on [`Catalog::reload`].
//!
//! A valid file can be started by its workflow's `name`; its content hash
//! is what a run pins. An invalid file stays listed, under its file stem,
//! with its diagnostics, and cannot be started. Two files declaring the
//! same name: the first (by file name) is offered, the second is listed
//! as invalid with a diagnostic saying why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use idflow_core::StepRegistry;
use idflow_engine::diagnostic::JsonDiagnostic;
use idflow_engine::expr::ExprEngine;
use idflow_engine::model::Workflow;
use idflow_engine::run::Definition;
use idflow_engine::source::SourceFile;
use idflow_engine::validate::{read_source, validate};

/// One workflow file, as last read.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The workflow's name (a file that does not say one: its stem).
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Its text as read.
    pub file: Arc<SourceFile>,
    /// The SHA-256 of its text (what a run pins).
    pub hash: String,
    /// The workflow, when the file is valid.
    pub workflow: Option<Arc<Workflow>>,
    /// What validation found (errors and warnings).
    pub diagnostics: Vec<JsonDiagnostic>,
    /// Why the file cannot be offered though it may validate (unreadable,
    /// or a name another file declares first).
    pub problem: Option<String>,
}

/// The workflows of a folder.
pub struct Catalog {
    dir: PathBuf,
    registry: Arc<StepRegistry>,
    engine: ExprEngine,
    entries: RwLock<Arc<Vec<Entry>>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The folder of workflows could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the workflows folder {dir}: {source}")]
pub struct CatalogError {
    /// The folder.
    pub dir: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

impl Catalog {
    /// Reads and validates the workflows in `dir` against `registry`.
    pub fn load(dir: &Path, registry: Arc<StepRegistry>) -> Result<Self, CatalogError> {
        let catalog = Self {
            dir: dir.to_path_buf(),
            registry,
            engine: ExprEngine::new(),
            entries: RwLock::new(Arc::new(Vec::new())),
        };
        catalog.reload()?;
        Ok(catalog)
    }

    /// A catalog of `dir` offering nothing until it is read
    /// ([`Catalog::reload`]), for a folder that does not exist yet.
    pub fn empty(dir: &Path, registry: Arc<StepRegistry>) -> Self {
        Self {
            dir: dir.to_path_buf(),
            registry,
            engine: ExprEngine::new(),
            entries: RwLock::new(Arc::new(Vec::new())),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the folder again (a SIGHUP). On error the entries stay as
    /// they were. Returns how many files are valid and invalid.
    pub fn reload(&self) -> Result<(usize, usize), CatalogError> {
        let entries = self.read()?;
        let valid = entries.iter().filter(|e| e.workflow.is_some()).count();
        let invalid = entries.len() - valid;
        *self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(entries);
        Ok((valid, invalid))
    }

    /// Every entry, by name.
    pub fn entries(&self) -> Arc<Vec<Entry>> {
        Arc::clone(
            &self
                .entries
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Option<Entry> {
        self.entries()
            .iter()
            .find(|entry| entry.name == name)
            .cloned()
    }

    fn read(&self) -> Result<Vec<Entry>, CatalogError> {
        let error = |source| CatalogError {
            dir: self.dir.clone(),
            source,
        };
        let mut paths = Vec::new();
        for item in std::fs::read_dir(&self.dir).map_err(error)? {
            let path = item.map_err(error)?.path();
            let is_yaml = path.extension().is_some_and(|ext| {
                ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml")
            });
            let is_test = path
                .file_stem()
                .and_then(|stem| Path::new(stem).extension())
                .is_some_and(|ext| ext.eq_ignore_ascii_case("test"));
            let is_workflow = is_yaml && !is_test;
            if is_workflow && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut entries: Vec<Entry> = Vec::with_capacity(paths.len());
        for path in paths {
            let mut entry = self.entry(&path);
            if entry.workflow.is_some() && entries.iter().any(|other| other.name == entry.name) {
                let first = entries
                    .iter()
                    .find(|other| other.name == entry.name)
                    .map(|other| other.path.display().to_string())
                    .unwrap_or_default();
                entry.problem = Some(format!(
                    "{} declares the workflow name `{}`, which {first} declares first; give one of them another name",
                    path.display(),
                    entry.name
                ));
                entry.workflow = None;
                entry.name = stem(&path);
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    fn entry(&self, path: &Path) -> Entry {
        let file = match read_source(path) {
            Ok(file) => file,
            Err(error) => {
                return Entry {
                    name: stem(path),
                    path: path.to_path_buf(),
                    hash: String::new(),
                    file: SourceFile::new(path.display().to_string(), String::new()),
                    workflow: None,
                    diagnostics: Vec::new(),
                    problem: Some(format!("cannot read {}: {error}", path.display())),
                };
            }
        };
        let validated = validate(Arc::clone(&file), &self.registry, &self.engine);
        let diagnostics = validated
            .reports()
            .iter()
            .map(idflow_engine::diagnostic::Report::to_json)
            .collect();
        let workflow = validated.workflow.map(Arc::new);
        let name = workflow
            .as_ref()
            .map_or_else(|| stem(path), |workflow| workflow.name.clone());
        let hash = Definition::new(name.clone(), file.name.clone(), file.text.clone()).hash;
        Entry {
            name,
            path: path.to_path_buf(),
            file,
            hash,
            workflow,
            diagnostics,
            problem: None,
        }
    }
}

/// A file's name without `.yaml`/`.yml`.
fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("workflow")
        .to_owned()
}
