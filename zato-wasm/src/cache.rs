//! Compiled code on local disk, so that a restarted server loads a deployed service in
//! milliseconds instead of compiling it again (a Python component takes tens of seconds).
//!
//! A file is named by the component's SHA-256 and the engine's compatibility hash (the
//! wasmtime version and every setting that changes the code), so a server of another version
//! or configuration never loads code compiled for a different one. Files are written to a
//! temporary name and renamed, so a reader never sees half a file.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;

use tracing::warn;
use wasmtime::Engine;
use wasmtime::component::Component;

pub struct CodeCache {
    dir: PathBuf,
    engine_hash: String,
}

impl CodeCache {
    pub fn new(dir: PathBuf, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir,
            engine_hash: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, component_hash: &str) -> PathBuf {
        self.dir
            .join(format!("{component_hash}-{}.cwasm", self.engine_hash))
    }

    /// The component compiled earlier, if this cache has it and it still loads.
    pub fn get(&self, engine: &Engine, component_hash: &str) -> Option<Component> {
        let path = self.path(component_hash);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file is one this cache wrote (atomically, under a name that includes
        // the engine's compatibility hash) from `Component::serialize`; the cache directory
        // is the server's own, like its binary.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "cached compiled code does not load; compiling again");
                None
            }
        }
    }

    /// Keeps `component` for the next start; a failure only costs a compile later.
    pub fn put(&self, component_hash: &str, component: &Component) {
        let path = self.path(component_hash);
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        let written = component
            .serialize()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|code| std::fs::write(&temporary, code))
            .and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temporary);
            warn!(path = %path.display(), error = %e, "could not cache compiled code");
        }
    }
}
