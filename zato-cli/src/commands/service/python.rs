//! Building a Python service module into a WebAssembly component with componentize-py.
//!
//! The `zato` binary must build without the repository next to it (installed on a laptop or
//! a CI runner), so the WIT contract and the Python SDK are compiled into it and written into
//! a temporary directory for each build, with a generated entry module that hands the user's
//! module to `zato_service.world_for`. componentize-py itself is the user's to install: it is
//! a large native tool with its own CPython, and its releases follow the component model's.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The contract every deployed service implements, as the server reads it.
const SERVICE_WIT: &str = include_str!("../../../../zato-wasm/wit/service.wit");

/// The WIT world a component must target.
const WORLD: &str = "service";

/// The Python SDK package `zato_service`, each file as (name, text). The test
/// `every_sdk_file_is_embedded` fails when a `.py` file is added to the SDK and not here.
const SDK_FILES: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../../../sdk/python/zato_service/__init__.py"),
    ),
    (
        "_errors.py",
        include_str!("../../../../sdk/python/zato_service/_errors.py"),
    ),
    (
        "_glue.py",
        include_str!("../../../../sdk/python/zato_service/_glue.py"),
    ),
    (
        "_service.py",
        include_str!("../../../../sdk/python/zato_service/_service.py"),
    ),
    (
        "_wit.py",
        include_str!("../../../../sdk/python/zato_service/_wit.py"),
    ),
];

/// The module componentize-py is told to load: it imports the user's module and exports
/// the `WitWorld` that `world_for` makes of it.
const ENTRY_MODULE: &str = "zato_entry";

/// Module names the build itself uses (ours, and the bindings componentize-py generates): a
/// user's module of the same name would shadow them or be shadowed.
const RESERVED_MODULES: &[&str] = &[
    ENTRY_MODULE,
    "zato_service",
    "wit_world",
    "componentize_py_types",
    "componentize_py_runtime",
    "componentize_py_async_support",
    "poll_loop",
];

/// Python's hard keywords: `import class` is a syntax error, so no module can be named so.
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// The variable that names the componentize-py program to run instead of the one on PATH.
pub const PROGRAM_VAR: &str = "ZATO_COMPONENTIZE_PY";

/// The program's name on PATH.
const PROGRAM: &str = "componentize-py";

/// The oldest componentize-py whose generated bindings the SDK is written against (the
/// `WitWorld` class, `wit_world.imports`, `componentize_py_types.Err`).
const MIN_VERSION: (u64, u64) = (0, 25);

/// Why a Python module could not be built into a component.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{path} is not a Python module: a `.py` file is needed")]
    NotPython { path: String },
    #[error(
        "'{module}' (from {path}) is not a valid Python module name: use ASCII letters, digits \
         and underscores, not starting with a digit and not a Python keyword (e.g. my_service.py)"
    )]
    ModuleName { module: String, path: String },
    #[error("'{module}' (from {path}) is a module name the build uses itself; rename the file")]
    ReservedName { module: String, path: String },
    #[error(
        "componentize-py is not on PATH: install it with `pip install componentize-py` (0.25 \
         or later), or set {PROGRAM_VAR} to its path; a WebAssembly component (.wasm) built \
         another way can be deployed directly"
    )]
    MissingProgram,
    #[error(
        "componentize-py {found} is too old: 0.25 or later is needed \
         (`pip install -U componentize-py`)"
    )]
    TooOld { found: String },
    #[error("cannot run {program}: {error}")]
    Spawn {
        program: String,
        error: std::io::Error,
    },
    #[error("cannot use {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("componentize-py could not build {path} ({status}):\n{output}")]
    Failed {
        path: String,
        status: String,
        output: String,
    },
}

/// Builds the Python service module `file` into the component `out`, with the componentize-py
/// of [`PROGRAM_VAR`] or else the one on PATH.
pub fn build(file: &Path, out: &Path) -> Result<(), BuildError> {
    let program = find_program(
        std::env::var_os(PROGRAM_VAR),
        std::env::var_os("PATH").as_deref(),
    )?;
    build_with(&program, file, out)
}

/// [`build`] with a given componentize-py.
pub fn build_with(program: &Path, file: &Path, out: &Path) -> Result<(), BuildError> {
    let module = module_name(file)?;
    if !file.is_file() {
        return Err(BuildError::Io {
            path: file.to_path_buf(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    // The module's own directory goes on the path, so that it may import its neighbours.
    let user_dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let user_dir = std::path::absolute(&user_dir).map_err(io(&user_dir))?;
    check_version(program)?;

    let dir = BuildDir::create()?;
    dir.write("wit/service.wit", SERVICE_WIT)?;
    for (name, text) in SDK_FILES {
        dir.write(&format!("zato_service/{name}"), text)?;
    }
    dir.write(&format!("{ENTRY_MODULE}.py"), &entry_module(&module))?;

    let mut command = Command::new(program);
    // componentize-py reports a Python error as an anyhow error, which RUST_BACKTRACE (set
    // for zato's own sake, say) would follow with a page of its Rust frames: the traceback
    // is what the user needs. Its panics keep their backtrace; an explicit choice stands.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        command.env("RUST_LIB_BACKTRACE", "0");
    }
    let output = command
        .arg("-d")
        .arg(dir.path.join("wit"))
        .args(["-w", WORLD, "componentize", "-p"])
        .arg(&dir.path)
        .arg("-p")
        .arg(&user_dir)
        .arg(ENTRY_MODULE)
        .arg("-o")
        .arg(out)
        .output()
        .map_err(|error| spawn_error(program, error))?;
    if !output.status.success() {
        // The user's traceback (a syntax error, an import that fails, no Service subclass)
        // is on stderr; stdout only says whether the component was built.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let text = if stderr.trim().is_empty() {
            String::from_utf8_lossy(&output.stdout).into_owned()
        } else {
            stderr.into_owned()
        };
        return Err(BuildError::Failed {
            path: file.display().to_string(),
            status: output.status.to_string(),
            output: text.trim_end().to_owned(),
        });
    }
    Ok(())
}

/// The module that componentize-py loads for the user's module `module`.
pub fn entry_module(module: &str) -> String {
    format!(
        "# Generated by `zato service build`: exports the service of module {module}.\n\
         import {module}\n\
         from zato_service import world_for\n\
         WitWorld = world_for({module})\n"
    )
}

/// The Python module name of `file` (`my_service` for `src/my_service.py`), if it can be one.
pub fn module_name(file: &Path) -> Result<String, BuildError> {
    let path = file.display().to_string();
    if file.extension() != Some(OsStr::new("py")) {
        return Err(BuildError::NotPython { path });
    }
    let module = file
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !is_identifier(&module) {
        return Err(BuildError::ModuleName { module, path });
    }
    if RESERVED_MODULES.contains(&module.as_str()) {
        return Err(BuildError::ReservedName { module, path });
    }
    Ok(module)
}

/// Whether `name` can be imported as a module. ASCII only: Python accepts more, but a file
/// name outside ASCII is one that some file system, archive or shell will mangle on its way.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    starts_well
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !PYTHON_KEYWORDS.contains(&name)
}

/// The componentize-py to run: `override_var` (the value of [`PROGRAM_VAR`]) when set, else
/// the first `componentize-py` in `path` (the value of PATH). Looked up here rather than left
/// to the spawn, so that a missing one gets [`BuildError::MissingProgram`] and its advice.
pub fn find_program(
    override_var: Option<OsString>,
    path: Option<&OsStr>,
) -> Result<PathBuf, BuildError> {
    if let Some(program) = override_var.filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(program));
    }
    path.into_iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(PROGRAM))
        .find(|candidate| is_executable(candidate))
        .ok_or(BuildError::MissingProgram)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Refuses a componentize-py older than [`MIN_VERSION`], whose bindings the SDK cannot use
/// (the build would fail later with an ImportError that names none of this). A version that
/// cannot be read is let through: the build itself then says what is wrong.
fn check_version(program: &Path) -> Result<(), BuildError> {
    let output = Command::new(program)
        .arg("--version")
        .output()
        .map_err(|error| spawn_error(program, error))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match parse_version(&text) {
        Some((major, minor)) if (major, minor) < MIN_VERSION => Err(BuildError::TooOld {
            found: text.trim().trim_start_matches(PROGRAM).trim().to_owned(),
        }),
        _ => Ok(()),
    }
}

/// `(0, 25)` from `componentize-py 0.25.1`.
fn parse_version(text: &str) -> Option<(u64, u64)> {
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn spawn_error(program: &Path, error: std::io::Error) -> BuildError {
    BuildError::Spawn {
        program: program.display().to_string(),
        error,
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BuildError + '_ {
    move |error| BuildError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// A directory of its own under the system's temporary directory, removed when dropped,
/// whether the build succeeded or not.
pub struct BuildDir {
    pub path: PathBuf,
}

impl BuildDir {
    pub fn create() -> Result<Self, BuildError> {
        let path = std::env::temp_dir().join(format!("zato-build-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&path).map_err(io(&path))?;
        Ok(Self { path })
    }

    /// Writes `text` to `relative` (`/`-separated) inside the directory.
    fn write(&self, relative: &str, text: &str) -> Result<(), BuildError> {
        let path = self.path.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, text).map_err(io(&path))
    }
}

impl Drop for BuildDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_module_imports_the_users_module_and_exports_its_world() {
        assert_eq!(
            entry_module("hello"),
            "# Generated by `zato service build`: exports the service of module hello.\n\
             import hello\n\
             from zato_service import world_for\n\
             WitWorld = world_for(hello)\n"
        );
    }

    #[test]
    fn module_names_must_be_python_identifiers() {
        assert_eq!(
            module_name(Path::new("src/my_service.py")).ok(),
            Some("my_service".into())
        );
        assert_eq!(module_name(Path::new("_x2.py")).ok(), Some("_x2".into()));
        for bad in ["my-service.py", "2fast.py", "class.py", "a b.py", "café.py"] {
            let error = module_name(Path::new(bad)).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("not a valid Python module name")),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn other_files_and_the_builds_own_names_are_refused() {
        let error = module_name(Path::new("hello.wasm"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("hello.wasm is not a Python module: a `.py` file is needed")
        );
        for reserved in ["zato_service.py", "zato_entry.py", "wit_world.py"] {
            assert!(matches!(
                module_name(Path::new(reserved)),
                Err(BuildError::ReservedName { .. })
            ));
        }
    }

    #[test]
    fn a_path_without_componentize_py_says_how_to_get_it() {
        let empty = std::env::temp_dir().join(format!("zato-no-program-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&empty).expect("temporary directory");
        let path = std::env::join_paths([&empty, Path::new("/nonexistent")]).expect("PATH");
        let error = find_program(None, Some(&path)).err().map(|e| e.to_string());
        let _ = std::fs::remove_dir_all(&empty);
        let error = error.unwrap_or_default();
        assert!(error.contains("pip install componentize-py"), "{error}");
        assert!(error.contains("0.25 or later"), "{error}");
        assert!(error.contains(".wasm"), "{error}");
        assert!(error.contains(PROGRAM_VAR), "{error}");
        assert!(matches!(
            find_program(None, None),
            Err(BuildError::MissingProgram)
        ));
    }

    #[test]
    fn the_variable_overrides_path() {
        let found = find_program(Some("/opt/cpy/bin/componentize-py".into()), None);
        assert_eq!(
            found.ok(),
            Some(PathBuf::from("/opt/cpy/bin/componentize-py"))
        );
        // Set but empty counts as unset, as for most variables.
        assert!(matches!(
            find_program(Some(OsString::new()), Some(OsStr::new(""))),
            Err(BuildError::MissingProgram)
        ));
    }

    #[test]
    fn versions_are_read_from_the_programs_banner() {
        assert_eq!(parse_version("componentize-py 0.25.1\n"), Some((0, 25)));
        assert_eq!(parse_version("componentize-py 1.0.0"), Some((1, 0)));
        assert_eq!(parse_version("something else"), None);
        assert!(parse_version("componentize-py 0.16.0").is_some_and(|v| v < MIN_VERSION));
    }

    /// The SDK is embedded file by file: one added to the package must be added here too, or
    /// the component would be built without it.
    #[test]
    fn every_sdk_file_is_embedded() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/python/zato_service");
        let entries = std::fs::read_dir(&dir).expect("the SDK's directory");
        let mut on_disk: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".py"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = SDK_FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    /// Builds a real component, when componentize-py is installed (a note, not a failure,
    /// when it is not: the CLI's other tests need no Python).
    #[test]
    fn builds_a_python_service_into_a_component() {
        let program = match find_program(
            std::env::var_os(PROGRAM_VAR),
            std::env::var_os("PATH").as_deref(),
        ) {
            Ok(program) => program,
            Err(_) => {
                println!("skipped: componentize-py is not installed (pip install componentize-py)");
                return;
            }
        };
        let dir = BuildDir::create().expect("temporary directory");
        let source = dir.path.join("hello.py");
        std::fs::write(
            &source,
            "from zato_service import Service\n\n\
             class Hello(Service):\n    \
                 def handle(self, request):\n        \
                     return {\"hello\": request.payload}\n",
        )
        .expect("hello.py");
        let out = dir.path.join("hello.wasm");
        if let Err(error) = build_with(&program, &source, &out) {
            panic!("build failed: {error}");
        }
        let bytes = std::fs::read(&out).expect("the component");
        assert_eq!(bytes.get(..4), Some(&b"\0asm"[..]), "WebAssembly magic");
        assert_eq!(
            bytes.get(4..8),
            Some(&[0x0d, 0x00, 0x01, 0x00][..]),
            "component layer"
        );
    }

    /// A Python error in the user's module reaches the user, traceback and all.
    #[test]
    fn a_syntax_error_is_shown() {
        let Ok(program) = find_program(
            std::env::var_os(PROGRAM_VAR),
            std::env::var_os("PATH").as_deref(),
        ) else {
            println!("skipped: componentize-py is not installed (pip install componentize-py)");
            return;
        };
        let dir = BuildDir::create().expect("temporary directory");
        let source = dir.path.join("broken.py");
        std::fs::write(&source, "def handle(:\n").expect("broken.py");
        let error = build_with(&program, &source, &dir.path.join("broken.wasm"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("componentize-py could not build"), "{error}");
        assert!(error.contains("SyntaxError"), "{error}");
    }
}
