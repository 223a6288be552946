//! The quickstart's config files, one TOML file per process, in the quickstart's directory:
//! the same files an operator would write, so the quickstart doubles as an example.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::error::{Result, io};

/// What every process of the quickstart cluster shares.
pub struct Layout<'a> {
    pub dir: &'a Path,
    pub cluster: &'a str,
    pub redis_url: &'a str,
    pub admin_token: &'a str,
    /// Seals the outgoing connections' secrets; the same on every server.
    pub secret_key: &'a str,
    pub base_port: u16,
    pub servers: u16,
}

/// One process to start: its name, binary, config file and HTTP address.
pub struct Process {
    pub name: String,
    pub binary: &'static str,
    pub config: PathBuf,
    pub bind: String,
}

impl Layout<'_> {
    /// The servers (at the base port and after), the connector (+10), the scheduler (+20).
    pub fn processes(&self) -> Vec<Process> {
        let mut processes: Vec<Process> = (0..self.servers)
            .map(|i| self.process(&format!("server-{}", i + 1), "zato-server", i))
            .collect();
        processes.push(self.process("scheduler-1", "zato-scheduler", 20));
        processes.push(self.process("connector-1", "zato-connector", 10));
        processes
    }

    fn process(&self, name: &str, binary: &'static str, offset: u16) -> Process {
        Process {
            name: name.to_owned(),
            binary,
            config: self.dir.join(format!("{name}.toml")),
            bind: format!("127.0.0.1:{}", self.base_port.saturating_add(offset)),
        }
    }

    /// Writes the config file of `process` (every run, so a new Redis port is picked up).
    pub fn write(&self, process: &Process) -> Result<()> {
        let mut text = format!(
            "# Written by `zato quickstart`; rewritten on every run.\n\
             cluster = {}\nmember = {}\nredis_url = {}\nbind = {}\n",
            quoted(self.cluster),
            quoted(&process.name),
            quoted(self.redis_url),
            quoted(&process.bind),
        );
        match process.binary {
            "zato-server" => {
                let _ = write!(
                    text,
                    "admin_token = {}\nsecret_key = {}\nshutdown_timeout_ms = 5000\n",
                    quoted(self.admin_token),
                    quoted(self.secret_key)
                );
            }
            "zato-connector" => text.push_str("shutdown_timeout_ms = 5000\n"),
            _ => {}
        }
        std::fs::write(&process.config, text).map_err(io(&process.config))
    }
}

/// A TOML basic string.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
