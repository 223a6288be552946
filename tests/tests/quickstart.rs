//! `zato quickstart` as a user runs it: start it, call the demo channel with curl, see the
//! demo job fire, stop it with SIGTERM and find nothing of it left; start it again on the same
//! directory and find the same cluster.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use zato_tests::cli::zato;
use zato_tests::server::{binary, eventually};

/// A base port with the servers' (+0, +1), the connector's (+10) and the scheduler's (+20)
/// free, away from the default 17010 another quickstart may be using, and below Linux's
/// ephemeral range (32768 and up): the cluster's own connections to Redis take local ports
/// from that range while its members start one by one, and one of them could take a port
/// a member is about to listen on (seen once: the connector's, "Address already in use").
fn free_base_port() -> u16 {
    for _ in 0..200 {
        let base = 20_000 + fastrand_port();
        let all_free = [0, 1, 10, 20]
            .iter()
            .all(|offset| TcpListener::bind(("127.0.0.1", base + offset)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no free base port");
}

fn fastrand_port() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u16::try_from((nanos ^ std::process::id()) % 12_000).unwrap_or(0)
}

/// The quickstart, started; its stdout lines arrive on `lines`.
struct Quickstart {
    child: Child,
    lines: mpsc::Receiver<String>,
    output: Vec<String>,
}

impl Quickstart {
    fn start(dir: &Path, base_port: u16) -> Self {
        let mut child = Command::new(binary("zato"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg("quickstart")
            .arg("--dir")
            .arg(dir)
            .arg("--base-port")
            .arg(base_port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("zato quickstart starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut quickstart = Self {
            child,
            lines,
            output: Vec::new(),
        };
        quickstart.wait_for_line("Ctrl-C stops the cluster", Duration::from_secs(60));
        quickstart
    }

    fn wait_for_line(&mut self, text: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.output.push(line);
                    if found {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "no '{text}' from the quickstart; it said:\n{}",
            self.output.join("\n")
        );
    }

    /// SIGTERM, then waits for it to exit; every process it had started, by pid.
    fn terminate(&mut self) -> (std::process::ExitStatus, Vec<u32>) {
        let pid = self.child.id();
        let children = descendants(pid);
        Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, children);
            }
            assert!(Instant::now() < deadline, "the quickstart did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let _ = self.child.wait();
        }
    }
}

/// The parent pid of `pid`, from /proc.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Every process below `root`.
fn descendants(root: u32) -> Vec<u32> {
    let all: Vec<u32> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut found = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for pid in &all {
            if !found.contains(pid) && parent_of(*pid).is_some_and(|p| found.contains(&p)) {
                found.push(*pid);
                grew = true;
            }
        }
    }
    found.retain(|p| *p != root);
    found
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn demo_job_runs(url: &str, token: &str) -> u64 {
    let run = zato(
        &["job", "list", "--json"],
        &[("ZATO_URL", url), ("ZATO_ADMIN_TOKEN", token)],
    );
    run.json()
        .as_array()
        .into_iter()
        .flatten()
        .find(|job| job["name"] == "demo-record")
        .and_then(|job| job["runs"].as_u64())
        .unwrap_or(0)
}

/// The status of an admin API call made with curl.
fn admin_curl(url: &str, token: &str, method: &str, path: &str, body: &str) -> u16 {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", method])
        .args(["-H", &format!("Authorization: Bearer {token}"), "-d", body])
        .arg(format!("{url}{path}"))
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
}

/// What a server's health says of outgoing REST connection `name`.
fn outgoing_state(url: &str, name: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", &format!("{url}/zato/health")])
        .output()
        .expect("curl runs");
    let health: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    health["outgoing"]["rest"][name]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn quickstart_runs_a_cluster_and_leaves_nothing_behind() {
    let dir = std::env::temp_dir().join(format!("zato-qs-{}", uuid::Uuid::now_v7().simple()));
    let base = free_base_port();
    let url = format!("http://127.0.0.1:{base}");

    let mut quickstart = Quickstart::start(&dir, base);
    let token = std::fs::read_to_string(dir.join("admin-token"))
        .expect("the admin token is kept in --dir")
        .trim()
        .to_owned();
    assert!(
        quickstart.output.iter().any(|l| l.contains(&token)),
        "the token is printed"
    );

    let curl = Command::new("curl")
        .args(["-s", "-f", "-d", r#"{"hello": "world"}"#])
        .arg(format!("{url}/demo/echo"))
        .output()
        .expect("curl runs");
    assert!(curl.status.success(), "curl: {curl:?}");
    let echoed: Value = serde_json::from_slice(&curl.stdout).expect("JSON from the channel");
    assert_eq!(echoed, serde_json::json!({"hello": "world"}));

    assert!(
        eventually(Duration::from_secs(20), || demo_job_runs(&url, &token) >= 1),
        "the demo job did not fire"
    );

    // The quickstart made the key that seals outgoing secrets: a connection with a token can
    // be defined at once.
    let key =
        std::fs::read_to_string(dir.join("secret-key")).expect("the secret key is kept in --dir");
    assert_eq!(key.trim().len(), 44, "32 bytes in base64");
    let created = admin_curl(
        &url,
        &token,
        "POST",
        "/zato/api/outgoing/rest",
        r#"{"name": "sealed", "address": "http://127.0.0.1:9", "security": {"type": "bearer", "token": "t0ken"}}"#,
    );
    assert_eq!(created, 201);
    // The README's Python service deploys with one command and calls the demo CRM.
    let env = [
        ("ZATO_URL", url.as_str()),
        ("ZATO_ADMIN_TOKEN", token.as_str()),
    ];
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/python/examples/customer.py");
    let example = example.to_str().unwrap_or_default();
    zato(
        &["service", "deploy", example, "--name", "demo.customer"],
        &env,
    )
    .expect_ok();
    let answer = zato(
        &[
            "invoke",
            "demo.customer",
            "--payload",
            r#"{"id": 7}"#,
            "--json",
        ],
        &env,
    );
    answer.expect_ok();
    assert_eq!(answer.json()["id"], 7, "{answer:?}");
    assert_eq!(
        answer.json()["account"],
        serde_json::json!({"account_of": 7}),
        "{answer:?}"
    );
    let status = zato(
        &["status", "--json"],
        &[
            ("ZATO_URL", url.as_str()),
            ("ZATO_ADMIN_TOKEN", token.as_str()),
        ],
    )
    .json();
    assert_eq!(
        status["members"].as_array().map(Vec::len),
        Some(4),
        "{status}"
    );

    let (exit, children) = quickstart.terminate();
    assert!(exit.success(), "a clean stop exits 0: {exit:?}");
    assert!(
        children.len() >= 5,
        "redis, 2 servers, scheduler, connector: {children:?}"
    );
    let left: Vec<u32> = children.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
    drop(quickstart);

    // The same directory starts the same cluster: same token, the demo job's history kept.
    let runs_before = demo_job_runs(&url, &token);
    assert_eq!(runs_before, 0, "nothing answers while it is stopped");
    let mut again = Quickstart::start(&dir, base);
    let token_again = std::fs::read_to_string(dir.join("admin-token")).expect("token");
    assert_eq!(token_again.trim(), token);
    let key_again = std::fs::read_to_string(dir.join("secret-key")).expect("key");
    assert_eq!(
        key_again, key,
        "the same key, so the stored secrets still open"
    );
    assert!(
        eventually(Duration::from_secs(5), || outgoing_state(&url, "sealed")
            == "ready"),
        "the connection sealed before the restart opens after it"
    );
    assert!(
        demo_job_runs(&url, &token) >= 1,
        "the job and its runs came back from Redis's data in --dir"
    );
    let (exit, children) = again.terminate();
    assert!(exit.success());
    assert!(children.iter().all(|p| !alive(*p)), "processes left behind");
    let _ = std::fs::remove_dir_all(&dir);
}
