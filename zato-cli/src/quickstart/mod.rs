//! `zato quickstart`: a whole cluster on this machine with one command.
//!
//! Redis (unless `--redis-url`), N servers, a scheduler and a connector, each from a config
//! file in `--dir`; a demo channel and a demo job; then it waits for Ctrl-C or SIGTERM and
//! stops everything. The admin token is generated once and kept in `--dir`, and Redis keeps
//! its data there, so a second run on the same directory starts the same cluster.

mod configs;
mod demo;
mod error;
mod processes;
mod redis;
mod signals;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zato_common::sealed::Keyring;

use crate::cli::QuickstartArgs;
use configs::{Layout, Process};
use error::{QuickstartError, Result, io};
use processes::{Supervised, find_binary, stop_all};

/// How long each process may take to report a green `/zato/health`.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// How long the children get to stop after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub fn run(args: &QuickstartArgs) -> anyhow::Result<()> {
    signals::install();
    let mut cluster = Cluster::default();
    let result = start_and_wait(args, &mut cluster);
    if result.is_ok() || matches!(result, Err(QuickstartError::Interrupted)) {
        println!("\nstopping the cluster...");
    }
    cluster.stop();
    match result {
        Ok(()) => {
            println!("stopped");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// What the quickstart started; stopped in reverse dependency order: the Zato processes,
/// then Redis.
#[derive(Default)]
struct Cluster {
    members: Vec<Supervised>,
    redis: Vec<Supervised>,
}

impl Cluster {
    fn stop(&mut self) {
        stop_all(&mut self.members, STOP_GRACE);
        stop_all(&mut self.redis, STOP_GRACE);
    }

    /// The first child that exited, with its status.
    fn exited(&mut self) -> Option<(&Supervised, String)> {
        self.members
            .iter_mut()
            .chain(self.redis.iter_mut())
            .find_map(|c| c.exited().map(|status| (status, c)))
            .map(|(status, c)| (&*c, status))
    }
}

impl Drop for Cluster {
    /// Also on a panic: the quickstart never leaves a process behind.
    fn drop(&mut self) {
        self.stop();
    }
}

fn start_and_wait(args: &QuickstartArgs, cluster: &mut Cluster) -> Result<()> {
    let dir = absolute(&args.dir)?;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(io(&logs))?;
    let admin_token = kept_secret(&dir, "admin-token", || {
        Ok(uuid::Uuid::new_v4().simple().to_string())
    })?;
    let secret_key = kept_secret(&dir, "secret-key", || {
        Keyring::generate_key().map_err(QuickstartError::SecretKey)
    })?;

    let redis_url = match &args.redis_url {
        Some(url) => url.clone(),
        None => {
            let port = free_port()?;
            cluster.redis.push(redis::start(&dir, port, &logs)?);
            format!("redis://127.0.0.1:{port}")
        }
    };
    let layout = Layout {
        dir: &dir,
        cluster: &args.cluster,
        redis_url: &redis_url,
        admin_token: &admin_token,
        secret_key: &secret_key,
        base_port: args.base_port,
        servers: args.servers,
    };
    let processes = layout.processes();
    for process in &processes {
        check_port_free(&process.bind)?;
        layout.write(process)?;
    }
    for process in &processes {
        let binary = find_binary(process.binary)?;
        let log = logs.join(format!("{}.log", process.name));
        let args = [std::ffi::OsStr::new("--config"), process.config.as_os_str()];
        cluster
            .members
            .push(Supervised::spawn(&process.name, &binary, args, &log)?);
    }
    for (process, child) in processes.iter().zip(cluster.members.iter_mut()) {
        wait_ready(process, child)?;
    }

    let first = format!("http://{}", processes[0].bind);
    demo::ensure(&first, &admin_token)?;
    print_banner(&layout, &processes, &first);

    loop {
        if signals::stop_requested() {
            return Ok(());
        }
        if let Some((child, status)) = cluster.exited() {
            return Err(QuickstartError::Died {
                name: child.name.clone(),
                status,
                log: child.log.clone(),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn print_banner(layout: &Layout<'_>, processes: &[Process], first: &str) {
    println!(
        "\nZato quickstart is running: cluster '{}'\n",
        layout.cluster
    );
    for process in processes {
        println!(
            "  {:<12} http://{}  (config {})",
            process.name,
            process.bind,
            process.config.display()
        );
    }
    println!("  {:<12} {}", "redis", layout.redis_url);
    println!("\n  logs         {}", layout.dir.join("logs").display());
    println!("  admin token  {}", layout.admin_token);
    println!("\nTry:\n");
    println!("  curl -s {first}/demo/echo -d '{{\"hello\": \"world\"}}'");
    println!(
        "  export ZATO_URL={first} ZATO_ADMIN_TOKEN={}",
        layout.admin_token
    );
    println!("  zato status");
    println!("  zato job list");
    println!("  zato topic list");
    println!("  zato service deploy sdk/python/examples/customer.py --name demo.customer");
    println!("  zato invoke demo.customer --payload '{{\"id\": 7}}'");
    println!(
        "\nCtrl-C stops the cluster; run again with --dir {} to start it again.",
        layout.dir.display()
    );
}

/// Waits until `process` answers 200 on `/zato/health`.
fn wait_ready(process: &Process, child: &mut Supervised) -> Result<()> {
    let agent = crate::client::agent();
    let url = format!("http://{}/zato/health", process.bind);
    let deadline = Instant::now() + READY_WITHIN;
    while Instant::now() < deadline {
        if signals::stop_requested() {
            return Err(QuickstartError::Interrupted);
        }
        if let Some(status) = child.exited() {
            return Err(QuickstartError::ExitedEarly {
                name: child.name.clone(),
                status,
                log: child.log.clone(),
                tail: child.log_tail(),
            });
        }
        if crate::client::send(&agent, "GET", &url, &[], None).is_ok_and(|a| a.status == 200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(QuickstartError::NotReady {
        name: child.name.clone(),
        secs: READY_WITHIN.as_secs(),
        log: child.log.clone(),
        tail: child.log_tail(),
    })
}

/// A secret kept in `dir/file` (readable by its owner only), made by `make` on the first run
/// and the same on every later one: the admin token, the key that seals outgoing secrets.
fn kept_secret(dir: &Path, file: &str, make: impl FnOnce() -> Result<String>) -> Result<String> {
    let path = dir.join(file);
    if let Ok(token) = std::fs::read_to_string(&path)
        && !token.trim().is_empty()
    {
        return Ok(token.trim().to_owned());
    }
    let token = make()?;
    std::fs::write(&path, format!("{token}\n")).map_err(io(&path))?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io(&path))?;
    Ok(token)
}

fn absolute(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::canonicalize(dir).map_err(io(dir))
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io("127.0.0.1:0"))
}

fn check_port_free(bind: &str) -> Result<()> {
    let port = bind
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    TcpListener::bind(bind)
        .map(drop)
        .map_err(|_| QuickstartError::PortInUse { port })
}
