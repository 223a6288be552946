//! The quickstart's own `redis-server`: data in the quickstart's directory with
//! `appendonly yes` (so a second run finds the same cluster) and `noeviction` (Redis holds
//! the cluster's queues and config: evicting any of it would lose work), as in production.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::error::{QuickstartError, Result, io};
use super::processes::{Supervised, find_binary};
use super::signals;

/// Starts `redis-server` on `port` with its data in `dir`, and waits until it answers.
pub fn start(dir: &Path, port: u16, logs: &Path) -> Result<Supervised> {
    let data = dir.join("redis");
    std::fs::create_dir_all(&data).map_err(io(&data))?;
    let program = find_binary("redis-server")?;
    let port_text = port.to_string();
    let args: Vec<&std::ffi::OsStr> = vec![
        "--port".as_ref(),
        port_text.as_ref(),
        "--bind".as_ref(),
        "127.0.0.1".as_ref(),
        "--dir".as_ref(),
        data.as_os_str(),
        "--appendonly".as_ref(),
        "yes".as_ref(),
        "--save".as_ref(),
        "".as_ref(),
        "--maxmemory-policy".as_ref(),
        "noeviction".as_ref(),
        "--daemonize".as_ref(),
        "no".as_ref(),
    ];
    let mut redis = Supervised::spawn("redis-server", &program, args, &logs.join("redis.log"))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if ping(port) {
            return Ok(redis);
        }
        if signals::stop_requested() {
            return Err(QuickstartError::Interrupted);
        }
        if let Some(status) = redis.exited() {
            return Err(QuickstartError::ExitedEarly {
                name: redis.name.clone(),
                status,
                log: redis.log.clone(),
                tail: redis.log_tail(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(QuickstartError::NotReady {
        name: redis.name.clone(),
        secs: 20,
        log: redis.log.clone(),
        tail: redis.log_tail(),
    })
}

/// Whether a Redis answers `PING` on `port` (and has finished loading its data).
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = [0u8; 64];
    matches!(stream.read(&mut answer), Ok(n) if answer[..n].starts_with(b"+PONG"))
}
