//! The quickstart's children: started in a process group of their own (so a Ctrl-C reaches
//! only the quickstart, which then stops them in order), told by the kernel to stop if the
//! quickstart dies without cleaning up, and stopped with SIGTERM, then SIGKILL.

use std::ffi::OsStr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::error::{QuickstartError, Result, io};

/// One running child.
pub struct Supervised {
    pub name: String,
    pub log: PathBuf,
    child: Child,
}

impl Supervised {
    /// Starts `program args` with standard error (where the binaries log) in `log`.
    pub fn spawn<I, S>(name: &str, program: &Path, args: I, log: &Path) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let log_file = std::fs::File::create(log).map_err(io(log))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(io(log))?)
            .stderr(log_file)
            .process_group(0);
        // The children read ZATO_* variables over their config files; the user's (meant for
        // this CLI, or for another cluster) must not redirect them.
        for (var, _) in std::env::vars_os() {
            let var = var.to_string_lossy();
            if var.starts_with("ZATO_") && var != "ZATO_LOG" {
                cmd.env_remove(var.as_ref());
            }
        }
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|error| QuickstartError::Spawn {
            name: name.to_owned(),
            error,
        })?;
        Ok(Self {
            name: name.to_owned(),
            log: log.to_owned(),
            child,
        })
    }

    /// Its exit status if it has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: kill(2) with the pid of our own child, which we have not reaped yet (so the
        // pid cannot have been reused).
        unsafe {
            libc::kill(pid, signal);
        }
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// SIGTERM to each, up to `grace` for them to exit, then SIGKILL for the stragglers; every
/// child is reaped before this returns.
pub fn stop_all(children: &mut Vec<Supervised>, grace: Duration) {
    for child in children.iter_mut() {
        if child.exited().is_none() {
            child.signal(libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && children.iter_mut().any(|c| c.exited().is_none()) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for mut child in children.drain(..) {
        if child.exited().is_none() {
            eprintln!("zato: {} did not stop in time; killing it", child.name);
            let _ = child.child.kill();
        }
        let _ = child.child.wait();
    }
}

/// A binary of the workspace: next to this executable (where `cargo build` puts them all),
/// else on PATH.
pub fn find_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().unwrap_or_default();
    if let Some(sibling) = exe.parent().map(|dir| dir.join(name))
        && sibling.is_file()
    {
        return Ok(sibling);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| QuickstartError::MissingBinary {
            name: name.to_owned(),
            exe: exe.display().to_string(),
        })
}
