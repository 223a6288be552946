//! A python load peer (`tests/peers/chaos_*.py`) that runs until told to stop and writes one
//! line for every message it sent: the record of what was offered to the cluster.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::connector::peer;

/// A running load peer.
pub struct Peer {
    child: Option<Child>,
    out: PathBuf,
    stop: PathBuf,
}

impl Peer {
    /// Runs `tests/peers/<script>` with `args`, then the stop file and the output file.
    pub fn start(script: &str, args: &[&str]) -> Self {
        let id = uuid::Uuid::now_v7().simple();
        let out = std::env::temp_dir().join(format!("zato-chaos-peer-{id}.out"));
        let stop = std::env::temp_dir().join(format!("zato-chaos-peer-{id}.stop"));
        let (stop_arg, out_arg) = (stop.display().to_string(), out.display().to_string());
        let child = peer(script, &[args, &[&stop_arg, &out_arg]].concat())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 runs {script}: {e}"));
        Self {
            child: Some(child),
            out,
            stop,
        }
    }

    /// (`tag`, n) of every line so far.
    pub fn lines(&self) -> Vec<(String, u64)> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut parts = l.split_whitespace();
                let tag = parts.next()?.to_owned();
                let n = parts.next()?.parse().ok()?;
                Some((tag, n))
            })
            .collect()
    }

    /// Every n of the lines tagged `tag`, in order.
    pub fn numbers(&self, tag: &str) -> Vec<u64> {
        self.lines()
            .into_iter()
            .filter(|(t, _)| t == tag)
            .map(|(_, n)| n)
            .collect()
    }

    /// The highest n tagged `tag` so far.
    pub fn last(&self, tag: &str) -> Option<u64> {
        self.numbers(tag).into_iter().max()
    }

    /// Asks it to stop (the stop file) and waits up to 20 s for it to finish what it was
    /// sending; kills it after that.
    pub fn finish(&mut self) {
        let _ = std::fs::write(&self.stop, b"stop");
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.out);
        let _ = std::fs::remove_file(&self.stop);
    }
}
