//! Fault injection over a whole cluster under steady mixed load.
//!
//! Redis (appendonly), 2 servers, a scheduler and a standby, a connector and a standby and the
//! machine's RabbitMQ (in a vhost of the test's own) take HTTP calls to a channel,
//! invoke_async calls of `zato.record`, AMQP messages published by pika (with publisher
//! confirms) into a channel bound to `zato.record`, ZeroMQ PUSH messages into a PULL channel
//! and two interval jobs of 1 s, while the main thread, in turn: SIGKILLs a server and
//! restarts it, SIGKILLs the active scheduler and the active connector (restarting them as
//! standbys), restarts Redis (kill -9 + start, appendonly) and closes the RabbitMQ connections.
//!
//! At the end, from the outside: every invoke_async call answered 202, every HTTP call
//! answered 200 and every AMQP message confirmed to pika was recorded at least once; every
//! duplicate is counted and explained; no scheduled instant fired twice; every member is up
//! and healthy; the memory of the server never killed did not grow without bound. ZeroMQ PUSH
//! has no delivery guarantee across connector restarts: its losses are reported only.
//!
//! `ZATO_CHAOS_SECONDS` sets how long the load and the faults last (85 s by default, about
//! 95 s in all); `scripts/soak MINUTES` runs it for longer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::{Value, json};
use zato_tests::connector::{ConnectorProcess, unique_name};
use zato_tests::scheduler::SchedulerProcess;
use zato_tests::server::{ADMIN_TOKEN, ServerProcess, send};
use zato_tests::{RedisServer, free_port, unique_cluster};

/// pika with publisher confirms: one `{"key", "n"}` body per 1/rate s until the stop file
/// exists; writes `c <n>` (confirmed), `u <n> <error>` (not confirmed) and `r <error>`
/// (a failed connection attempt) lines. Reconnects after every failure.
const AMQP_PUBLISHER: &str = r#"
import json, os, sys, time
import pika
url, queue, key, rate, stop, out = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5], sys.argv[6]
log = open(out, "w", buffering=1)
props = pika.BasicProperties(content_type="application/json", delivery_mode=2)

def connect():
    while not os.path.exists(stop):
        try:
            conn = pika.BlockingConnection(pika.URLParameters(url))
            ch = conn.channel()
            ch.confirm_delivery()
            return conn, ch
        except Exception as e:
            log.write("r %s\n" % type(e).__name__)
            time.sleep(0.2)
    return None, None

conn, ch = connect()
started, n = time.time(), 0
while conn is not None and not os.path.exists(stop):
    try:
        ch.basic_publish("", queue, json.dumps({"key": key, "n": n}), props, mandatory=True)
        log.write("c %d\n" % n)
    except Exception as e:
        log.write("u %d %s\n" % (n, type(e).__name__))
        try:
            conn.close()
        except Exception:
            pass
        conn, ch = connect()
    n += 1
    pause = started + n / rate - time.time()
    if pause > 0:
        time.sleep(pause)
    elif pause < -2:
        started = time.time() - n / rate
if conn is not None:
    try:
        conn.close()
    except Exception:
        pass
"#;

/// pyzmq PUSH connected to the channel: `s <n>` for a message queued, `b <n>` for one refused
/// at once (high-water mark).
const ZMQ_PUSHER: &str = r#"
import json, os, sys, time
import zmq
addr, key, rate, stop, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4], sys.argv[5]
log = open(out, "w", buffering=1)
ctx = zmq.Context()
s = ctx.socket(zmq.PUSH)
s.setsockopt(zmq.LINGER, 3000)
s.connect(addr)
started, n = time.time(), 0
while not os.path.exists(stop):
    try:
        s.send_string(json.dumps({"key": key, "n": n}), zmq.NOBLOCK)
        log.write("s %d\n" % n)
    except zmq.Again:
        log.write("b %d\n" % n)
    n += 1
    pause = started + n / rate - time.time()
    if pause > 0:
        time.sleep(pause)
    elif pause < -2:
        started = time.time() - n / rate
s.close()
ctx.term()
"#;

const DECLARE: &str = r#"
import sys, pika
c = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))
c.channel().queue_declare(sys.argv[2], durable=True)
c.close()
"#;

/// Messages per second of each kind.
const HTTP_RATE: f64 = 15.0;
const ASYNC_RATE: f64 = 20.0;
const AMQP_RATE: f64 = 25.0;
const ZMQ_RATE: f64 = 15.0;

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// RabbitMQ: a vhost of the test's own, so that closing "all" connections touches only ours.

fn rabbitmqctl(args: &[&str]) -> bool {
    for attempt in 0..40 {
        let ok = Command::new("rabbitmqctl")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return true;
        }
        if attempt == 0 {
            eprintln!("rabbitmqctl {args:?} failed; RabbitMQ may be restarting, retrying");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    false
}

struct Vhost {
    name: String,
}

impl Vhost {
    fn create() -> Self {
        let name = unique_name("chaos");
        assert!(rabbitmqctl(&["add_vhost", &name]), "rabbitmqctl add_vhost");
        assert!(
            rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]),
            "rabbitmqctl set_permissions"
        );
        Self { name }
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }

    /// Closes every connection of the vhost (the connector's and pika's).
    fn close_connections(&self) -> bool {
        rabbitmqctl(&[
            "close_all_connections",
            "--vhost",
            &self.name,
            "--limit",
            "1000",
            "chaos",
        ])
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// ---------------------------------------------------------------------------------------------
// Python peers writing what they sent to a file.

struct Peer {
    child: Option<Child>,
    out: PathBuf,
    stop: PathBuf,
}

impl Peer {
    /// Runs `script` with `args`, then the stop file and the output file.
    fn start(script: &str, args: &[String]) -> Self {
        let id = uuid::Uuid::now_v7().simple();
        let out = std::env::temp_dir().join(format!("zato-chaos-peer-{id}.out"));
        let stop = std::env::temp_dir().join(format!("zato-chaos-peer-{id}.stop"));
        let mut full = args.to_vec();
        full.push(stop.display().to_string());
        full.push(out.display().to_string());
        let child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(&full)
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 runs");
        Self {
            child: Some(child),
            out,
            stop,
        }
    }

    /// (`tag`, n) of every line so far.
    fn lines(&self) -> Vec<(String, u64)> {
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

    fn last(&self, tag: &str) -> Option<u64> {
        self.lines()
            .into_iter()
            .filter(|(t, _)| t == tag)
            .map(|(_, n)| n)
            .max()
    }

    fn finish(&mut self) {
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

// ---------------------------------------------------------------------------------------------
// Reading what was recorded, and process facts, from the outside.

fn redis_conn(url: &str) -> Option<redis::Connection> {
    let client = redis::Client::open(url).ok()?;
    let conn = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    Some(conn)
}

/// Entries of `record:<key>` from index `from` (negative: from the end); empty when Redis
/// does not answer.
fn records(url: &str, cluster: &str, key: &str, from: isize) -> Vec<Value> {
    let Some(mut conn) = redis_conn(url) else {
        return Vec::new();
    };
    let entries: Vec<String> = redis::cmd("LRANGE")
        .arg(format!("zato:{{{cluster}}}:record:{key}"))
        .arg(from)
        .arg(-1)
        .query(&mut conn)
        .unwrap_or_default();
    entries
        .iter()
        .filter_map(|e| serde_json::from_str(e).ok())
        .collect()
}

fn xlen(url: &str, cluster: &str, stream: &str) -> u64 {
    redis_conn(url)
        .and_then(|mut c| {
            redis::cmd("XLEN")
                .arg(format!("zato:{{{cluster}}}:{stream}"))
                .query(&mut c)
                .ok()
        })
        .unwrap_or(0)
}

/// Whether a record with `payload.n > n` is among the last entries of `key`.
fn recorded_after(url: &str, cluster: &str, key: &str, n: u64) -> bool {
    records(url, cluster, key, -300)
        .iter()
        .any(|e| e["payload"]["n"].as_u64().is_some_and(|m| m > n))
}

/// Whether a job fire scheduled after `at` was recorded.
fn fired_after(url: &str, cluster: &str, key: &str, at: Timestamp) -> bool {
    records(url, cluster, key, -30).iter().any(|e| {
        e["meta"]["scheduled"]
            .as_str()
            .and_then(|s| s.parse::<Timestamp>().ok())
            .is_some_and(|s| s > at)
    })
}

fn healthy(url: &str) -> bool {
    send("GET", &format!("{url}/zato/health"), &[], None).is_some_and(|a| a.status == 200)
}

/// The pid of the member `member` of `cluster` (from the environment of every process).
fn pid_of(cluster: &str, member: &str) -> Option<u32> {
    let want_cluster = format!("ZATO_CLUSTER={cluster}");
    let want_member = format!("ZATO_MEMBER={member}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let environ = std::fs::read(e.path().join("environ")).ok()?;
        let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        (vars.contains(&want_cluster.as_bytes()) && vars.contains(&want_member.as_bytes()))
            .then_some(pid)
    })
}

/// VmRSS in kB.
fn rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn wait(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

// ---------------------------------------------------------------------------------------------
// HTTP load.

#[derive(Default, Debug)]
struct Sent {
    attempted: u64,
    accepted: Vec<u64>,
    refused: BTreeMap<u16, u64>,
    no_answer: u64,
}

/// POSTs `{"key", "n"}` to `path` on the live servers in turn, `rate` a second, until `stop`.
fn drive(
    urls: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    last: Arc<AtomicU64>,
    rate: f64,
    key: String,
    path: &'static str,
    expect: u16,
) -> Sent {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let mut started = Instant::now();
    let mut sent = Sent::default();
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let targets = urls.lock().expect("urls").clone();
        let url = &targets[n as usize % targets.len()];
        let body = json!({"key": key, "n": n}).to_string();
        match send("POST", &format!("{url}{path}"), &headers, Some(&body)) {
            Some(a) if a.status == expect => {
                sent.accepted.push(n);
                last.store(n, Ordering::SeqCst);
            }
            Some(a) => *sent.refused.entry(a.status).or_default() += 1,
            None => sent.no_answer += 1,
        }
        n += 1;
        let due = started + Duration::from_secs_f64(n as f64 / rate);
        match due.checked_duration_since(Instant::now()) {
            Some(pause) => std::thread::sleep(pause),
            None if Instant::now() - due > Duration::from_secs(2) => {
                started = Instant::now() - Duration::from_secs_f64(n as f64 / rate);
            }
            None => {}
        }
    }
    sent.attempted = n;
    sent
}

// ---------------------------------------------------------------------------------------------
// The check of one kind of message.

#[derive(Debug, Default)]
struct Outcome {
    distinct: usize,
    lost: Vec<u64>,
    duplicates: usize,
    explained: BTreeMap<&'static str, usize>,
    /// (n, why, when the second copy was recorded) of every duplicated message.
    details: Vec<(u64, &'static str, Option<Timestamp>)>,
}

/// Why `copies` (the entries of one message, in recording order) were recorded more than once.
fn explain(copies: &[&Value]) -> &'static str {
    let cids: HashSet<&str> = copies.iter().filter_map(|e| e["cid"].as_str()).collect();
    let server_redelivery = copies[1..]
        .iter()
        .any(|e| e["meta"]["deliveries"].as_u64().is_some_and(|d| d > 1));
    let amqp_redelivery = copies[1..]
        .iter()
        .any(|e| e["meta"]["amqp"]["redelivered"] == true);
    if cids.len() == 1 && server_redelivery {
        "redelivered to a server (its claim expired: a server killed or Redis restarted mid-run)"
    } else if amqp_redelivery {
        "redelivered by RabbitMQ (the connector was killed or its connection closed before the ack)"
    } else if server_redelivery {
        "redelivered to a server and handed over again"
    } else {
        "UNEXPLAINED"
    }
}

fn check(entries: &[Value], expected: &[u64]) -> Outcome {
    let mut by_n: HashMap<u64, Vec<&Value>> = HashMap::new();
    for e in entries {
        if let Some(n) = e["payload"]["n"].as_u64() {
            by_n.entry(n).or_default().push(e);
        }
    }
    let mut outcome = Outcome {
        distinct: by_n.len(),
        lost: expected
            .iter()
            .copied()
            .filter(|n| !by_n.contains_key(n))
            .collect(),
        ..Outcome::default()
    };
    for (n, copies) in by_n.iter().filter(|(_, c)| c.len() > 1) {
        let why = explain(copies);
        outcome.duplicates += copies.len() - 1;
        *outcome.explained.entry(why).or_default() += copies.len() - 1;
        let at = copies[1]["ts"].as_str().and_then(|t| t.parse().ok());
        outcome.details.push((*n, why, at));
    }
    outcome.details.sort_by_key(|d| d.0);
    outcome
}

// ---------------------------------------------------------------------------------------------
// Faults.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    ServerKill,
    SchedulerKill,
    ConnectorKill,
    RedisRestart,
    RabbitClose,
}

const FAULTS: [Fault; 5] = [
    Fault::ServerKill,
    Fault::SchedulerKill,
    Fault::ConnectorKill,
    Fault::RedisRestart,
    Fault::RabbitClose,
];

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Self::ServerKill => "server SIGKILL + restart",
            Self::SchedulerKill => "active scheduler SIGKILL",
            Self::ConnectorKill => "active connector SIGKILL",
            Self::RedisRestart => "Redis kill -9 + restart",
            Self::RabbitClose => "RabbitMQ connections closed",
        }
    }

    fn recovery(self) -> &'static str {
        match self {
            Self::ServerKill => "until the restarted server's health is 200",
            Self::SchedulerKill => "until a job instant after the kill was recorded",
            Self::ConnectorKill => "until an AMQP message published after the kill was recorded",
            Self::RedisRestart => {
                "until every member's health is 200 and a new invoke_async was recorded"
            }
            Self::RabbitClose => {
                "from when rabbitmqctl returned until an AMQP message published after it was recorded"
            }
        }
    }
}

struct Injected {
    fault: Fault,
    at: Duration,
    wall: Timestamp,
    recovery: Option<Duration>,
    detail: String,
}

struct Cluster {
    cluster: String,
    redis: RedisServer,
    servers: Vec<ServerProcess>,
    urls: Arc<Mutex<Vec<String>>>,
    schedulers: Vec<SchedulerProcess>,
    connectors: Vec<ConnectorProcess>,
    vhost: Vhost,
}

impl Cluster {
    fn members_healthy(&self) -> bool {
        self.servers.iter().all(|s| healthy(&s.url))
            && self.schedulers.iter().all(|s| healthy(&s.url))
            && self.connectors.iter().all(|c| healthy(&c.url))
    }

    fn active_scheduler(&self) -> Option<usize> {
        wait(Duration::from_secs(10), || {
            self.schedulers.iter().filter(|s| s.is_active()).count() == 1
        })?;
        self.schedulers.iter().position(SchedulerProcess::is_active)
    }

    fn active_connector(&self) -> Option<usize> {
        wait(Duration::from_secs(10), || {
            self.connectors.iter().filter(|c| c.is_active()).count() == 1
        })?;
        self.connectors.iter().position(ConnectorProcess::is_active)
    }
}

struct Keys {
    http: String,
    r#async: String,
    amqp: String,
    zmq: String,
    jobs: String,
}

fn inject(
    fault: Fault,
    c: &mut Cluster,
    keys: &Keys,
    amqp: &Peer,
    last_async: &AtomicU64,
) -> (Option<Duration>, String) {
    let url = c.redis.url();
    let cluster = c.cluster.clone();
    match fault {
        Fault::ServerKill => {
            // server-1 is never killed (its memory is watched); server-2 is.
            let gone = c.servers[1].url.clone();
            c.urls.lock().expect("urls").retain(|u| *u != gone);
            c.servers[1].kill();
            let killed = Instant::now();
            c.servers[1] = ServerProcess::start(&c.redis, &c.cluster, "server-2", &[]);
            let took = killed.elapsed();
            c.urls.lock().expect("urls").push(c.servers[1].url.clone());
            (Some(took), "server-2".into())
        }
        Fault::SchedulerKill => {
            let Some(active) = c.active_scheduler() else {
                return (None, "no single active scheduler before the kill".into());
            };
            let member = c.schedulers[active].member.clone();
            c.schedulers[active].kill();
            let killed_at = Timestamp::now();
            let killed = Instant::now();
            let other = 1 - active;
            let took_over =
                wait(Duration::from_secs(20), || c.schedulers[other].is_active()).is_some();
            let fired = wait(Duration::from_secs(20), || {
                fired_after(&url, &cluster, &keys.jobs, killed_at)
            })
            .map(|_| killed.elapsed());
            c.schedulers[active] = SchedulerProcess::start(&c.redis, &c.cluster, &member, &[]);
            (
                fired,
                format!("{member} killed; standby took over: {took_over}; restarted as standby"),
            )
        }
        Fault::ConnectorKill => {
            let Some(active) = c.active_connector() else {
                return (None, "no single active connector before the kill".into());
            };
            let member = c.connectors[active].member.clone();
            c.connectors[active].kill();
            let killed = Instant::now();
            let published = amqp.last("c").unwrap_or(0);
            let other = 1 - active;
            let connected = wait(Duration::from_secs(20), || {
                c.connectors[other].is_connected("amqp_channel", "in")
                    && c.connectors[other].is_connected("zmq_channel", "pull")
            })
            .map(|_| killed.elapsed());
            let served = wait(Duration::from_secs(30), || {
                recorded_after(&url, &cluster, &keys.amqp, published)
            })
            .map(|_| killed.elapsed());
            c.connectors[active] = ConnectorProcess::start(&c.redis, &c.cluster, &member, &[]);
            (
                served,
                format!(
                    "{member} killed; standby connected in {}; restarted as standby",
                    connected.map_or("-".into(), secs)
                ),
            )
        }
        Fault::RedisRestart => {
            let started = Instant::now();
            c.redis.restart();
            let down = started.elapsed();
            let accepted = last_async.load(Ordering::SeqCst);
            let all_healthy =
                wait(Duration::from_secs(30), || c.members_healthy()).map(|_| started.elapsed());
            let served = wait(Duration::from_secs(30), || {
                recorded_after(&url, &cluster, &keys.r#async, accepted)
            })
            .map(|_| started.elapsed());
            (
                all_healthy.and(served),
                format!(
                    "down {}; all members healthy after {}, new invoke_async recorded after {}",
                    secs(down),
                    all_healthy.map_or("-".into(), secs),
                    served.map_or("-".into(), secs)
                ),
            )
        }
        Fault::RabbitClose => {
            if !c.vhost.close_connections() {
                return (None, "rabbitmqctl close_all_connections failed".into());
            }
            let closed = Instant::now();
            let published = amqp.last("c").unwrap_or(0);
            let served = wait(Duration::from_secs(30), || {
                recorded_after(&url, &cluster, &keys.amqp, published)
            })
            .map(|_| closed.elapsed());
            (served, "rabbitmqctl close_all_connections (vhost)".into())
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

#[test]
fn a_whole_cluster_under_load_and_faults_loses_nothing() {
    zato_tests::init_logging();
    let load_for = Duration::from_secs(
        std::env::var("ZATO_CHAOS_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(85),
    );
    let test_started = Instant::now();

    // The cluster.
    let vhost = Vhost::create();
    let queue = unique_name("zato-chaos");
    let declared = Command::new("python3")
        .args(["-c", DECLARE, &vhost.url(), &queue])
        .status()
        .is_ok_and(|s| s.success());
    assert!(declared, "queue declared in {}", vhost.name);
    let redis = RedisServer::start_persistent();
    let cluster = unique_cluster();
    let servers = vec![
        ServerProcess::start(&redis, &cluster, "server-1", &[]),
        ServerProcess::start(&redis, &cluster, "server-2", &[]),
    ];
    let schedulers = vec![
        SchedulerProcess::start(&redis, &cluster, "scheduler-a", &[]),
        SchedulerProcess::start(&redis, &cluster, "scheduler-b", &[]),
    ];
    let connectors = vec![
        ConnectorProcess::start(&redis, &cluster, "connector-a", &[]),
        ConnectorProcess::start(&redis, &cluster, "connector-b", &[]),
    ];
    let urls = Arc::new(Mutex::new(
        servers.iter().map(|s| s.url.clone()).collect::<Vec<_>>(),
    ));
    let mut c = Cluster {
        cluster: cluster.clone(),
        redis,
        servers,
        urls: urls.clone(),
        schedulers,
        connectors,
        vhost,
    };
    let keys = Keys {
        http: unique_name("http"),
        r#async: unique_name("async"),
        amqp: unique_name("amqp"),
        zmq: unique_name("zmq"),
        jobs: unique_name("jobs"),
    };
    let zmq_address = format!("tcp://127.0.0.1:{}", free_port());
    let admin = &c.servers[0];
    for (path, body) in [
        (
            "/zato/api/channels/http",
            json!({"name": "chaos", "url_path": "/chaos/record", "service": "zato.record"}),
        ),
        (
            "/zato/api/amqp/definitions",
            json!({"name": "rabbit", "url": c.vhost.url(), "prefetch": 20}),
        ),
        (
            "/zato/api/channels/amqp",
            json!({"name": "in", "definition": "rabbit", "queue": queue,
                   "service": "zato.record", "consumers": 2}),
        ),
        (
            "/zato/api/channels/zmq",
            json!({"name": "pull", "address": zmq_address, "socket_type": "PULL",
                   "bind": true, "service": "zato.record"}),
        ),
        (
            "/zato/api/jobs",
            json!({"name": "tick-a", "service": "zato.record", "kind": "interval",
                   "interval": {"seconds": 1}, "payload": {"key": keys.jobs}}),
        ),
        (
            "/zato/api/jobs",
            json!({"name": "tick-b", "service": "zato.record", "kind": "interval",
                   "interval": {"seconds": 1}, "payload": {"key": keys.jobs}}),
        ),
    ] {
        let answer = admin.admin("POST", path, Some(&body));
        assert_eq!(answer.status, 201, "POST {path}: {}", answer.body);
    }
    let active = c.active_connector().expect("one active connector");
    c.connectors[active].wait_connected("amqp_channel", "in", Duration::from_secs(20));
    c.connectors[active].wait_connected("zmq_channel", "pull", Duration::from_secs(20));
    for s in &c.servers {
        assert!(
            wait(Duration::from_secs(10), || s
                .call("POST", "/chaos/record", &[], Some(r#"{"key": "warm-up"}"#))
                .is_some_and(|a| a.status == 200))
            .is_some(),
            "the HTTP channel answers on {}",
            s.member
        );
    }
    let setup = test_started.elapsed();

    // The load.
    let stop = Arc::new(AtomicBool::new(false));
    let last_async = Arc::new(AtomicU64::new(0));
    let last_http = Arc::new(AtomicU64::new(0));
    let http = {
        let (urls, stop, last, key) = (urls.clone(), stop.clone(), last_http, keys.http.clone());
        std::thread::spawn(move || drive(urls, stop, last, HTTP_RATE, key, "/chaos/record", 200))
    };
    let invoke_async = {
        let (urls, stop, last, key) = (
            urls.clone(),
            stop.clone(),
            last_async.clone(),
            keys.r#async.clone(),
        );
        std::thread::spawn(move || {
            drive(
                urls,
                stop,
                last,
                ASYNC_RATE,
                key,
                "/zato/api/invoke-async/zato.record",
                202,
            )
        })
    };
    let mut amqp = Peer::start(
        AMQP_PUBLISHER,
        &[
            c.vhost.url(),
            queue.clone(),
            keys.amqp.clone(),
            AMQP_RATE.to_string(),
        ],
    );
    let mut zmq = Peer::start(
        ZMQ_PUSHER,
        &[zmq_address.clone(), keys.zmq.clone(), ZMQ_RATE.to_string()],
    );
    let load_started = Instant::now();

    // Warm-up, then the first memory sample.
    std::thread::sleep(Duration::from_secs(8));
    let members: Vec<String> = ["server-1", "server-2"].map(String::from).to_vec();
    let early: HashMap<String, (u32, u64)> = members
        .iter()
        .filter_map(|m| {
            let pid = pid_of(&cluster, m)?;
            Some((m.clone(), (pid, rss_kb(pid)?)))
        })
        .collect();

    // The faults, in turn, until the time is up.
    let mut injected: Vec<Injected> = Vec::new();
    let mut turn = 0;
    while load_started.elapsed() < load_for {
        let fault = FAULTS[turn % FAULTS.len()];
        turn += 1;
        let at = load_started.elapsed();
        let wall = Timestamp::now();
        let (recovery, detail) = inject(fault, &mut c, &keys, &amqp, &last_async);
        println!(
            "[chaos {:>7}] {:<28} recovered in {:>7}  ({detail})",
            secs(at),
            fault.name(),
            recovery.map_or("NEVER".into(), secs)
        );
        injected.push(Injected {
            fault,
            at,
            wall,
            recovery,
            detail,
        });
        std::thread::sleep(Duration::from_secs(2));
    }

    // Late memory sample, then the load stops.
    let late: HashMap<String, (u32, u64)> = members
        .iter()
        .filter_map(|m| {
            let pid = pid_of(&cluster, m)?;
            Some((m.clone(), (pid, rss_kb(pid)?)))
        })
        .collect();
    stop.store(true, Ordering::SeqCst);
    amqp.finish();
    zmq.finish();
    let http = http.join().expect("http load");
    let invoke_async = invoke_async.join().expect("invoke_async load");
    let loaded = load_started.elapsed();
    let amqp_lines = amqp.lines();
    let confirmed: Vec<u64> = amqp_lines
        .iter()
        .filter(|(t, _)| t == "c")
        .map(|(_, n)| *n)
        .collect();
    let unconfirmed = amqp_lines.iter().filter(|(t, _)| t == "u").count();
    let zmq_lines = zmq.lines();
    let zmq_sent: Vec<u64> = zmq_lines
        .iter()
        .filter(|(t, _)| t == "s")
        .map(|(_, n)| *n)
        .collect();
    let zmq_refused = zmq_lines.iter().filter(|(t, _)| t == "b").count();

    // Drain: everything accepted is handled within a minute.
    let url = c.redis.url();
    let drained = wait(Duration::from_secs(60), || {
        check(
            &records(&url, &cluster, &keys.r#async, 0),
            &invoke_async.accepted,
        )
        .lost
        .is_empty()
            && check(&records(&url, &cluster, &keys.amqp, 0), &confirmed)
                .lost
                .is_empty()
    });
    std::thread::sleep(Duration::from_secs(3));

    // The checks.
    let http_out = check(&records(&url, &cluster, &keys.http, 0), &http.accepted);
    let async_out = check(
        &records(&url, &cluster, &keys.r#async, 0),
        &invoke_async.accepted,
    );
    let amqp_out = check(&records(&url, &cluster, &keys.amqp, 0), &confirmed);
    let zmq_out = check(&records(&url, &cluster, &keys.zmq, 0), &zmq_sent);
    let jobs = records(&url, &cluster, &keys.jobs, 0);
    let mut instants: HashMap<(String, String), Vec<&Value>> = HashMap::new();
    for e in &jobs {
        if let (Some(job), Some(at)) = (e["channel_name"].as_str(), e["meta"]["scheduled"].as_str())
        {
            instants
                .entry((job.to_owned(), at.to_owned()))
                .or_default()
                .push(e);
        }
    }
    let mut double_fires = Vec::new();
    let mut job_duplicates = 0;
    let mut job_explained: BTreeMap<&str, usize> = BTreeMap::new();
    for ((job, at), copies) in &instants {
        if copies.len() < 2 {
            continue;
        }
        let cids: HashSet<&str> = copies.iter().filter_map(|e| e["cid"].as_str()).collect();
        if cids.len() > 1 {
            double_fires.push(format!("{job} at {at}: {} fires {cids:?}", cids.len()));
        }
        job_duplicates += copies.len() - 1;
        *job_explained.entry(explain(copies)).or_default() += copies.len() - 1;
    }
    let dead_letters = xlen(&url, &cluster, "dlq:server");
    let active_schedulers = c.schedulers.iter().filter(|s| s.is_active()).count();
    let active_connectors = c.connectors.iter().filter(|s| s.is_active()).count();
    let unhealthy: Vec<String> = c
        .servers
        .iter()
        .map(|s| (&s.member, &s.url))
        .chain(c.schedulers.iter().map(|s| (&s.member, &s.url)))
        .chain(c.connectors.iter().map(|s| (&s.member, &s.url)))
        .filter(|(_, u)| !healthy(u))
        .map(|(m, _)| m.clone())
        .collect();

    // The summary.
    let mut by_kind: BTreeMap<Fault, Vec<&Injected>> = BTreeMap::new();
    for i in &injected {
        by_kind.entry(i.fault).or_default().push(i);
    }
    println!("\n===== CHAOS SUMMARY =====");
    println!(
        "load + faults {} (ZATO_CHAOS_SECONDS={}), setup {}, whole test {}",
        secs(loaded),
        load_for.as_secs(),
        secs(setup),
        secs(test_started.elapsed())
    );
    println!("faults injected: {}", injected.len());
    for (fault, list) in &by_kind {
        let times: Vec<Duration> = list.iter().filter_map(|i| i.recovery).collect();
        println!(
            "  {:<28} x{:<3} recovery min {} / median {} / max {}  ({}){}",
            fault.name(),
            list.len(),
            times.iter().min().copied().map_or("-".into(), secs),
            secs(median(times.clone())),
            times.iter().max().copied().map_or("-".into(), secs),
            fault.recovery(),
            if times.len() < list.len() {
                format!("  {} NEVER RECOVERED", list.len() - times.len())
            } else {
                String::new()
            }
        );
    }
    println!("messages sent:");
    println!(
        "  HTTP         {} calls, {} answered 200, refused {:?}, no answer {}",
        http.attempted,
        http.accepted.len(),
        http.refused,
        http.no_answer
    );
    println!(
        "  invoke_async {} calls, {} answered 202, refused {:?}, no answer {}",
        invoke_async.attempted,
        invoke_async.accepted.len(),
        invoke_async.refused,
        invoke_async.no_answer
    );
    println!(
        "  AMQP         {} published and confirmed, {unconfirmed} not confirmed (connection closed mid-publish)",
        confirmed.len()
    );
    println!(
        "  ZeroMQ       {} sent, {zmq_refused} refused at the socket",
        zmq_sent.len()
    );
    println!(
        "  jobs         {} fires recorded ({} instants)",
        jobs.len(),
        instants.len()
    );
    println!("lost / duplicated:");
    for (name, out) in [
        ("HTTP (200)", &http_out),
        ("invoke_async (202)", &async_out),
        ("AMQP (confirmed)", &amqp_out),
        ("ZeroMQ (no guarantee)", &zmq_out),
    ] {
        println!(
            "  {name:<22} handled {:<6} lost {:<5} duplicated {:<5} {:?}",
            out.distinct,
            out.lost.len(),
            out.duplicates,
            out.explained
        );
    }
    for (name, out) in [
        ("HTTP", &http_out),
        ("invoke_async", &async_out),
        ("AMQP", &amqp_out),
        ("ZeroMQ", &zmq_out),
    ] {
        for (n, why, at) in out.details.iter().take(50) {
            let after = at.and_then(|at| {
                injected
                    .iter()
                    .rev()
                    .find(|i| i.wall <= at)
                    .map(|i| (i, at.duration_since(i.wall)))
            });
            println!(
                "    duplicate {name} n={n}: {why}; second copy {}",
                after.map_or("before any fault".into(), |(i, d)| format!(
                    "{:.2}s after the fault {} at {}",
                    d.as_secs_f64(),
                    i.fault.name(),
                    secs(i.at)
                ))
            );
        }
    }
    println!(
        "  {:<22} double fires {:<5} duplicated {:<5} {:?}",
        "jobs (instants)",
        double_fires.len(),
        job_duplicates,
        job_explained
    );
    println!("dead letters in dlq:server: {dead_letters}");
    println!(
        "drained after the load in {}",
        drained.map_or("NEVER (60 s)".into(), secs)
    );
    println!("memory (VmRSS):");
    let mut memory_problems = Vec::new();
    for m in &members {
        match (early.get(m), late.get(m)) {
            (Some((p1, e)), Some((p2, l))) if p1 == p2 => {
                println!(
                    "  {m} (pid {p1}, never killed): {} MB -> {} MB",
                    e / 1024,
                    l / 1024
                );
                if *l > e * 3 || *l > 200 * 1024 {
                    memory_problems.push(format!("{m}: {e} kB -> {l} kB"));
                }
            }
            (Some((_, e)), Some((p2, l))) => println!(
                "  {m} (restarted, now pid {p2}): {} MB at the start, {} MB at the end",
                e / 1024,
                l / 1024
            ),
            _ => println!("  {m}: not sampled"),
        }
    }
    println!(
        "members: unhealthy {unhealthy:?}, active schedulers {active_schedulers}, active connectors {active_connectors}"
    );
    println!("===== END CHAOS SUMMARY =====\n");

    // The verdict.
    let mut problems = Vec::new();
    for (name, out) in [
        ("invoke_async", &async_out),
        ("AMQP", &amqp_out),
        ("HTTP", &http_out),
    ] {
        if !out.lost.is_empty() {
            let shown: Vec<_> = out.lost.iter().take(20).collect();
            problems.push(format!(
                "PRODUCT BUG? {name}: {} accepted messages never handled, e.g. n = {shown:?} \
                 (seen after Redis restarts: zato.record's RPUSH fails with BusyLoading or a \
                 broken connection, the service answers Unavailable, and the 1:any handler \
                 treats that answer as final and acknowledges the message, so it is never \
                 retried: zato-server/src/broker_handlers.rs on_service_invoke)",
                out.lost.len()
            ));
        }
    }
    if !double_fires.is_empty() {
        problems.push(format!(
            "PRODUCT BUG? scheduled instants fired twice: {double_fires:?}"
        ));
    }
    for i in &injected {
        if i.recovery.is_none() {
            problems.push(format!(
                "PRODUCT BUG? no recovery after {} at {}: {}",
                i.fault.name(),
                secs(i.at),
                i.detail
            ));
        }
    }
    if !unhealthy.is_empty() {
        problems.push(format!("members not healthy at the end: {unhealthy:?}"));
    }
    if active_schedulers != 1 || active_connectors != 1 {
        problems.push(format!(
            "{active_schedulers} active schedulers and {active_connectors} active connectors at the end"
        ));
    }
    if !memory_problems.is_empty() {
        problems.push(format!("memory grew: {memory_problems:?}"));
    }
    for (name, out) in [
        ("invoke_async", &async_out),
        ("AMQP", &amqp_out),
        ("HTTP", &http_out),
    ] {
        if out.explained.contains_key("UNEXPLAINED") {
            println!("NOTE: {name} has duplicates without a redelivery mark: {out:?}");
        }
    }
    for fault in FAULTS {
        if !by_kind.contains_key(&fault) {
            problems.push(format!("{} was never injected", fault.name()));
        }
    }
    if !problems.is_empty() {
        let logs: Vec<String> = c
            .servers
            .iter()
            .map(|s| format!("--- {} ---\n{}", s.member, tail(&s.logs())))
            .chain(
                c.connectors
                    .iter()
                    .map(|s| format!("--- {} ---\n{}", s.member, tail(&s.logs()))),
            )
            .chain(
                c.schedulers
                    .iter()
                    .map(|s| format!("--- {} ---\n{}", s.member, tail(&s.logs()))),
            )
            .collect();
        panic!(
            "{}\n\nlogs (tails):\n{}",
            problems.join("\n"),
            logs.join("\n")
        );
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
