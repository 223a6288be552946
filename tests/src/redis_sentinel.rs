//! A Redis Sentinel group of the test's own: one master, its replicas and three sentinels on
//! free loopback ports, each a `redis-server` started by the workspace's one launcher
//! ([`zato_common::redis_server`]), so that a test may kill the master under load and watch
//! the sentinels promote a replica.
//!
//! The data nodes keep nothing on disk (`--save ""`, no appendonly file): a killed master
//! comes back empty and gets its data from the new master once the sentinels turn it into a
//! replica, as a node that lost its disk would. Each sentinel has a configuration file of
//! its own, which it rewrites with what it learns. Every directory is under one temporary
//! directory, removed when the [`RedisSentinel`] is dropped (after every process stopped).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use zato_common::redis_server::{self, Launch};

use crate::free_port;
use crate::redis_cluster::{info_field, node_connection};

/// How long the group may take to settle at start (replicas synced, sentinels aware of the
/// replicas and of each other: sentinels meet through hello messages every 2 s).
const SETTLED_WITHIN: Duration = Duration::from_secs(60);

/// The sentinels of every group.
const SENTINELS: usize = 3;

/// A master, its replicas and three sentinels, owned by one test; all stopped on drop.
pub struct RedisSentinel {
    /// The name the sentinels monitor the master under, unique to this group.
    name: String,
    /// The data nodes (the master and its replicas) by port.
    data: BTreeMap<u16, redis_server::RedisServer>,
    /// The sentinels by port.
    sentinels: BTreeMap<u16, redis_server::RedisServer>,
    /// The ports of the processes killed and not restarted since.
    dead: Vec<u16>,
    /// The parent of every process's directory.
    dir: PathBuf,
}

impl RedisSentinel {
    /// One master with one replica, three sentinels (quorum 2).
    ///
    /// After a failover the promoted replica has no replica until the old master is back,
    /// so `broker.min_replicas_ack = 1` cannot be met in between: use
    /// [`RedisSentinel::start_with_replicas`] with 2 for a test that needs replicated writes
    /// right after a failover.
    pub fn start() -> Self {
        Self::start_with_replicas(1)
    }

    /// One master with `replicas` replicas (`--replicaof`), then three sentinels, each with
    /// its own `sentinel.conf`: `sentinel monitor <name> 127.0.0.1 <master> 2` (two must
    /// agree the master is down), `down-after-milliseconds 1000` and `failover-timeout 5000`
    /// (a dead master is replaced within seconds, not the default 30 s), `parallel-syncs 1`
    /// and `resolve-hostnames no`. Data nodes get `--repl-diskless-sync-delay 0`, so that a
    /// full sync (of a new replica, or of every replica after a failover) starts at once
    /// rather than after Redis's default 5 s.
    ///
    /// Returns once every replica's link is up and every sentinel knows every replica and
    /// the other sentinels: before that a failover could not happen (a sentinel that knows
    /// no replica has none to promote, and one that knows no other sentinel has no quorum).
    pub fn start_with_replicas(replicas: usize) -> Self {
        assert!(replicas >= 1, "a group that fails over needs replicas");
        let dir = std::env::temp_dir().join(format!(
            "zato-redis-sentinel-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        let id = uuid::Uuid::now_v7().simple().to_string();
        let mut group = Self {
            name: format!("zato-{}", &id[id.len() - 12..]),
            data: BTreeMap::new(),
            sentinels: BTreeMap::new(),
            dead: Vec::new(),
            dir,
        };
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 1 + replicas + SENTINELS {
            let port = free_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let master = ports[0];
        for (i, &port) in ports[..=replicas].iter().enumerate() {
            let mut launch = Launch::new(port, group.dir.join(format!("data-{port}"))).args([
                "--repl-diskless-sync-delay",
                "0",
                "--appendonly",
                "no",
            ]);
            if i > 0 {
                launch = launch.args([
                    "--replicaof".to_owned(),
                    "127.0.0.1".to_owned(),
                    master.to_string(),
                ]);
            }
            let server = launch
                .start()
                .unwrap_or_else(|e| panic!("sentinel group redis-server on {port}: {e}"));
            group.data.insert(port, server);
        }
        group.wait_replicas_synced(master, replicas);
        for &port in &ports[1 + replicas..] {
            let sentinel_dir = group.dir.join(format!("sentinel-{port}"));
            std::fs::create_dir_all(&sentinel_dir)
                .unwrap_or_else(|e| panic!("sentinel directory {}: {e}", sentinel_dir.display()));
            let conf = sentinel_dir.join("sentinel.conf");
            let name = &group.name;
            std::fs::write(
                &conf,
                format!(
                    "sentinel resolve-hostnames no\n\
                     sentinel monitor {name} 127.0.0.1 {master} 2\n\
                     sentinel down-after-milliseconds {name} 1000\n\
                     sentinel failover-timeout {name} 5000\n\
                     sentinel parallel-syncs {name} 1\n"
                ),
            )
            .unwrap_or_else(|e| panic!("sentinel config {}: {e}", conf.display()));
            let server = Launch::new(port, &sentinel_dir)
                .config_file(&conf)
                .args(["--sentinel"])
                .start()
                .unwrap_or_else(|e| panic!("redis-server --sentinel on {port}: {e}"));
            group.sentinels.insert(port, server);
        }
        group.wait_sentinels_aware(replicas);
        group
    }

    /// `redis+sentinel://127.0.0.1:<s1>,127.0.0.1:<s2>,127.0.0.1:<s3>/<master name>`.
    pub fn url(&self) -> String {
        let sentinels: Vec<String> = self
            .sentinels
            .keys()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis+sentinel://{}/{}", sentinels.join(","), self.name)
    }

    /// The name the sentinels monitor the master under (unique to this group, so that no
    /// two tests' sentinels could ever confuse their masters).
    pub fn master_name(&self) -> &str {
        &self.name
    }

    /// The port of the master as the first live sentinel that answers names it
    /// (`SENTINEL get-master-addr-by-name`): what a client asks before it connects.
    pub fn master_port(&self) -> u16 {
        for port in self.live_sentinels() {
            if let Ok(master) = self.try_master_per(port) {
                return master;
            }
        }
        panic!("no live sentinel names the master of {}", self.name);
    }

    /// The first element of `ROLE` on the node at `port`: `master`, `slave` or `sentinel`.
    pub fn role(&self, port: u16) -> String {
        self.try_role(port)
            .unwrap_or_else(|e| panic!("ROLE on {port}: {e}"))
    }

    /// The ports of the data nodes (the master and its replicas, dead or alive).
    pub fn data_ports(&self) -> Vec<u16> {
        self.data.keys().copied().collect()
    }

    /// The ports of the sentinels.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.keys().copied().collect()
    }

    /// SIGKILL to the process at `port` (a data node or a sentinel), as a crash would end it.
    pub fn kill(&mut self, port: u16) {
        self.process(port).kill();
        self.dead.push(port);
    }

    /// Starts the process at `port` again (after a kill -9 if it still runs) on the same
    /// port with the same directory. A data node comes back empty and with its original
    /// command line, so an old master starts as a master of nothing until the sentinels
    /// (within about ten seconds) make it a replica of their master; a sentinel comes back
    /// with the configuration it rewrote. Returns once it answers `PING`.
    pub fn restart(&mut self, port: u16) {
        if let Err(e) = self.process(port).restart() {
            panic!("sentinel group process on {port} restarts: {e}");
        }
        self.dead.retain(|p| *p != port);
    }

    /// Waits until every live sentinel names the same master, not `old`, and that node's
    /// `ROLE` says `master` (a sentinel names the promoted replica as soon as it chose it,
    /// before the replica has taken `REPLICAOF NO ONE`); returns its port. Panics after
    /// `timeout` with what the sentinels said last.
    pub fn wait_for_new_master(&self, old: u16, timeout: Duration) -> u16 {
        let deadline = Instant::now() + timeout;
        loop {
            let named: Vec<(u16, Option<u16>)> = self
                .live_sentinels()
                .into_iter()
                .map(|s| (s, self.try_master_per(s).ok()))
                .collect();
            let agreed = named
                .first()
                .and_then(|(_, m)| *m)
                .filter(|first| *first != old && named.iter().all(|(_, m)| *m == Some(*first)));
            if let Some(new) = agreed
                && self.try_role(new).is_ok_and(|role| role == "master")
            {
                return new;
            }
            assert!(
                Instant::now() < deadline,
                "the sentinels of {} named no master other than {old} within {} s; \
                 (sentinel, master it names): {named:?} (logs in {})",
                self.name,
                timeout.as_secs(),
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A connection to the process at `port` for checks from the outside, giving up rather
    /// than hanging on one that stopped: 2 s to connect, 5 s per answer. Panics if there is
    /// none.
    pub fn connection(&self, port: u16) -> redis::Connection {
        node_connection(port)
            .unwrap_or_else(|e| panic!("connection to sentinel group process {port}: {e}"))
    }

    /// Like [`RedisSentinel::connection`], but an error rather than a panic: for a process
    /// that may be down or restarting.
    pub fn try_connection(&self, port: u16) -> redis::RedisResult<redis::Connection> {
        node_connection(port)
    }

    fn process(&mut self, port: u16) -> &mut redis_server::RedisServer {
        if let Some(data) = self.data.get_mut(&port) {
            return data;
        }
        self.sentinels
            .get_mut(&port)
            .unwrap_or_else(|| panic!("{port} is not a process of this sentinel group"))
    }

    fn live_sentinels(&self) -> Vec<u16> {
        self.sentinels
            .keys()
            .copied()
            .filter(|p| !self.dead.contains(p))
            .collect()
    }

    fn try_role(&self, port: u16) -> redis::RedisResult<String> {
        let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut node_connection(port)?)?;
        let first = role.first().ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Parse, "an empty ROLE reply"))
        })?;
        Ok(redis::from_redis_value_ref(first)?)
    }

    fn try_master_per(&self, sentinel: u16) -> redis::RedisResult<u16> {
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&self.name)
            .query(&mut node_connection(sentinel)?)?;
        Ok(port)
    }

    /// How many replicas or sentinels (`what`: `replicas`, `sentinels`) `sentinel` knows.
    fn known_by(&self, sentinel: u16, what: &str) -> Option<usize> {
        let mut conn = node_connection(sentinel).ok()?;
        let known: Vec<redis::Value> = redis::cmd("SENTINEL")
            .arg(what)
            .arg(&self.name)
            .query(&mut conn)
            .ok()?;
        Some(known.len())
    }

    fn wait_replicas_synced(&self, master: u16, replicas: usize) {
        let deadline = Instant::now() + SETTLED_WITHIN;
        loop {
            let links: Vec<(u16, Option<String>)> = self
                .data
                .keys()
                .filter(|p| **p != master)
                .map(|&port| {
                    let info: Option<String> = node_connection(port)
                        .and_then(|mut c| redis::cmd("INFO").arg("replication").query(&mut c))
                        .ok();
                    let link = info
                        .as_deref()
                        .and_then(|i| info_field(i, "master_link_status"))
                        .map(str::to_owned);
                    (port, link)
                })
                .collect();
            if links.len() == replicas && links.iter().all(|(_, l)| l.as_deref() == Some("up")) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the replicas of {master} did not sync within {} s: {links:?} (logs in {})",
                SETTLED_WITHIN.as_secs(),
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_sentinels_aware(&self, replicas: usize) {
        let deadline = Instant::now() + SETTLED_WITHIN;
        loop {
            let known: Vec<(u16, Option<usize>, Option<usize>)> = self
                .sentinels
                .keys()
                .map(|&s| {
                    (
                        s,
                        self.known_by(s, "replicas"),
                        self.known_by(s, "sentinels"),
                    )
                })
                .collect();
            if known
                .iter()
                .all(|(_, r, s)| *r == Some(replicas) && *s == Some(SENTINELS - 1))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the sentinels of {} did not learn of the {replicas} replicas and of each other \
                 within {} s; (sentinel, replicas, other sentinels): {known:?} (logs in {})",
                self.name,
                SETTLED_WITHIN.as_secs(),
                self.dir.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        // Sentinels first, so that none reconfigures a data node while they stop; each
        // process is stopped by its own drop, and only then may the directories go.
        self.sentinels.clear();
        self.data.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
