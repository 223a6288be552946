//! A Redis Cluster of our own: masters and their replicas on free loopback ports, each node a
//! `redis-server` started by [`crate::redis_server::Launch`], formed by `redis-cli --cluster
//! create`, and ready once every node says so.
//!
//! The benchmarks and the end-to-end tests need one nobody else uses, and must agree on when
//! it is "started": every node says `cluster_state:ok` and knows every other node, and every
//! replica's link to its master is up. Before that, a first command could meet
//! `CLUSTERDOWN`, or a write that waits for a replica could find none. [`RedisCluster`] is
//! the running cluster; what a test does with it beyond that (kill a master, watch the
//! failover, look at what each node holds) is for the test's own Redis client.
//!
//! Nothing is written to disk but each node's `nodes.conf` (the cluster's view of itself,
//! which a restarted node needs to rejoin with its old identity): `--appendonly no` and
//! `--save ""`, so a killed node comes back empty and gets its data from its master, as a
//! real replica would after losing its disk. Every node's directory is under one temporary
//! directory, removed when the [`RedisCluster`] is dropped (after every node is stopped).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::redis_server::{self, Launch, RedisServer, Resp};

/// How long a new cluster may take to agree on its slots and to sync its replicas: generous,
/// for a loaded two-core machine.
const FORMED_WITHIN: Duration = Duration::from_secs(60);
/// How long `redis-cli --cluster create` may run before it is taken for hung.
const CREATE_WITHIN: Duration = Duration::from_secs(60);
/// How long a check of a node (`CLUSTER INFO`, `INFO`) may wait for its answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// `cluster-node-timeout` of every node, in ms: a master unreachable for this long is failed
/// over within seconds (Redis's default is 15 s, too long for a test to wait for).
const NODE_TIMEOUT_MS: &str = "2000";
/// The fewest masters `redis-cli --cluster create` accepts.
const MIN_MASTERS: usize = 3;
/// How many times a node is started on fresh ports when the ones picked for it were taken
/// in the meantime (see [`redis_server::Error::is_port_taken`]).
const PORT_ATTEMPTS: usize = 5;

/// Why a Redis Cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("a Redis Cluster needs at least {MIN_MASTERS} masters, not {0}")]
    TooFewMasters(usize),
    #[error(transparent)]
    Server(#[from] redis_server::Error),
    #[error("cannot ask the cluster node on port {port} {command}: {source}")]
    Ask {
        port: u16,
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot run redis-cli (is it installed and on PATH?): {0}")]
    Cli(#[source] io::Error),
    #[error(
        "redis-cli --cluster create failed ({status}; killed after {secs} s if it hung):\n{output}"
    )]
    Create {
        status: ExitStatus,
        secs: u64,
        output: String,
    },
    #[error("the Redis Cluster did not form within {secs} s:\n{waiting_for}")]
    NotFormed { secs: u64, waiting_for: String },
}

/// A running Redis Cluster started by [`RedisCluster::start`]; every node is stopped when it
/// is dropped, and their directories removed.
#[derive(Debug)]
pub struct RedisCluster {
    /// Every node by port (the caller may kill and restart them through
    /// [`RedisCluster::node_mut`]).
    nodes: BTreeMap<u16, RedisServer>,
    /// The node id of each port, fixed for life: a restarted node keeps its `nodes.conf`.
    ids: HashMap<u16, String>,
    /// The masters the cluster was formed with, ascending.
    seeds: Vec<u16>,
    /// The parent of every node's directory.
    dir: PathBuf,
    /// Whether `dir` outlives the cluster: when it did not form, so that the nodes' logs the
    /// error points to are still there.
    keep_dir: bool,
}

impl RedisCluster {
    /// `masters` masters (at least 3) with `replicas` replicas each, on free ports.
    ///
    /// Each node: `--cluster-enabled yes`, its own `nodes.conf`, `--cluster-node-timeout
    /// 2000` (a dead master is failed over within seconds, not the default 15 s), its own
    /// bus port (`--cluster-port`, since a free port + 10000 may not be a port at all),
    /// `--appendonly no`, and `--repl-diskless-sync-delay 0` (a replica's full sync starts
    /// at once rather than after Redis's default 5 s of waiting for more replicas). Then
    /// `redis-cli --cluster create` over all of them, and a wait until every node says
    /// `cluster_state:ok` and knows every other node, exactly `masters` nodes are masters,
    /// and every replica's link to its master is up.
    ///
    /// Each node's two ports are picked just before it starts, and picked again if another
    /// process took one in between (a few times at most): tests start clusters side by side.
    /// On an error every node started so far is stopped again; their directories are removed
    /// too, except when the cluster did not form (the error says where the logs are).
    pub fn start(masters: usize, replicas: usize) -> Result<Self, Error> {
        if masters < MIN_MASTERS {
            return Err(Error::TooFewMasters(masters));
        }
        let dir = std::env::temp_dir().join(format!(
            "zato-redis-cluster-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        let count = masters * (1 + replicas);
        // Built before the nodes start, so that an error below drops (stops) those started.
        let mut cluster = Self {
            nodes: BTreeMap::new(),
            ids: HashMap::new(),
            seeds: Vec::new(),
            dir,
            keep_dir: false,
        };
        // The data ports, in the order the nodes are given to `redis-cli`, and every port
        // picked so far (data and bus), so that no two nodes are given the same one.
        let mut data: Vec<u16> = Vec::new();
        let mut picked: Vec<u16> = Vec::new();
        while data.len() < count {
            let mut attempt = 1;
            let (port, server) = loop {
                // Picked right before the node starts: the later a port is picked, the less
                // time anyone else has to take it first.
                let port = fresh_port(&mut picked)?;
                let bus_port = fresh_port(&mut picked)?;
                match cluster.launch_node(port, bus_port).start() {
                    Ok(server) => break (port, server),
                    Err(e) if e.is_port_taken() && attempt < PORT_ATTEMPTS => attempt += 1,
                    Err(e) => return Err(e.into()),
                }
            };
            cluster.nodes.insert(port, server);
            data.push(port);
        }
        for &port in &data {
            let id = ask(port, &["CLUSTER", "MYID"])?;
            cluster.ids.insert(port, id);
        }
        create(&data, replicas)?;
        match cluster.wait_formed(masters) {
            Ok(seeds) => cluster.seeds = seeds,
            Err(e) => {
                cluster.keep_dir = true;
                return Err(e);
            }
        }
        Ok(cluster)
    }

    /// A node on `port` with its cluster bus on `bus_port`, its data in a directory of its
    /// own under the cluster's.
    fn launch_node(&self, port: u16, bus_port: u16) -> Launch {
        let node_dir = self.dir.join(format!("node-{port}"));
        Launch::new(port, &node_dir)
            .args(["--cluster-enabled", "yes", "--cluster-config-file"])
            .args([node_dir.join("nodes.conf")])
            .args(["--cluster-port".to_owned(), bus_port.to_string()])
            .args(["--cluster-node-timeout", NODE_TIMEOUT_MS])
            .args(["--appendonly", "no", "--repl-diskless-sync-delay", "0"])
    }

    /// `redis+cluster://127.0.0.1:<m1>,127.0.0.1:<m2>,...`: the masters the cluster was
    /// formed with, as seed nodes (a client learns the rest of the cluster, replicas and
    /// later promotions included, from whichever seed answers).
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .seeds
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis+cluster://{}", seeds.join(","))
    }

    /// The ports of the masters the cluster was formed with, ascending (a failover since may
    /// have made other nodes masters; only the cluster itself knows that now).
    pub fn seeds(&self) -> &[u16] {
        &self.seeds
    }

    /// The ports of every node, ascending.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.keys().copied().collect()
    }

    /// The cluster node id of the node at `port` (`CLUSTER MYID` when it started), if it is
    /// a node of this cluster.
    pub fn id(&self, port: u16) -> Option<&str> {
        self.ids.get(&port).map(String::as_str)
    }

    /// The node at `port`, to kill or restart it: it keeps its port and directory, so a
    /// restarted node rejoins with the same `nodes.conf` and id (and no data).
    pub fn node_mut(&mut self, port: u16) -> Option<&mut RedisServer> {
        self.nodes.get_mut(&port)
    }

    /// The parent of every node's directory (each node's log is in its own).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Waits until every node is in the cluster state `ok` and knows all the nodes, exactly
    /// `masters` of them are masters, and every replica's link to its master is up; the
    /// masters' ports, ascending.
    fn wait_formed(&self, masters: usize) -> Result<Vec<u16>, Error> {
        let count = self.nodes.len().to_string();
        let deadline = Instant::now() + FORMED_WITHIN;
        loop {
            let mut waiting_for = Vec::new();
            let mut formed_masters = Vec::new();
            for &port in self.nodes.keys() {
                let cluster = ask(port, &["CLUSTER", "INFO"]).unwrap_or_default();
                let replication = ask(port, &["INFO", "replication"]).unwrap_or_default();
                let ok = info_field(&cluster, "cluster_state") == Some("ok")
                    && info_field(&cluster, "cluster_known_nodes") == Some(&count);
                let synced = match info_field(&replication, "role") {
                    Some("master") => {
                        formed_masters.push(port);
                        true
                    }
                    Some("slave") => info_field(&replication, "master_link_status") == Some("up"),
                    _ => false,
                };
                if !(ok && synced) {
                    waiting_for.push(format!(
                        "{port}: cluster_state {:?}, known nodes {:?}, role {:?}, link {:?}",
                        info_field(&cluster, "cluster_state"),
                        info_field(&cluster, "cluster_known_nodes"),
                        info_field(&replication, "role"),
                        info_field(&replication, "master_link_status"),
                    ));
                }
            }
            if waiting_for.is_empty() && formed_masters.len() == masters {
                return Ok(formed_masters);
            }
            if Instant::now() >= deadline {
                waiting_for.push(format!(
                    "masters: {formed_masters:?} (expected {masters}); logs in {}",
                    self.dir.display()
                ));
                return Err(Error::NotFormed {
                    secs: FORMED_WITHIN.as_secs(),
                    waiting_for: waiting_for.join("\n"),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        // Each node is stopped by its own drop; only then may their directories go.
        self.nodes.clear();
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The value of `field` in an `INFO`-style text (`field:value` lines; `CLUSTER INFO` too).
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        line.trim_end()
            .strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
    })
}

/// A free port not in `picked` (the OS may hand out a port it just gave), added to it.
fn fresh_port(picked: &mut Vec<u16>) -> Result<u16, Error> {
    loop {
        let port = redis_server::free_port()?;
        if !picked.contains(&port) {
            picked.push(port);
            return Ok(port);
        }
    }
}

/// `words` asked of the node at `port` on a connection of its own.
fn ask(port: u16, words: &[&str]) -> Result<String, Error> {
    Resp::connect(port, ASK_TIMEOUT)
        .and_then(|mut conn| conn.ask(words))
        .map_err(|source| Error::Ask {
            port,
            command: words.join(" "),
            source,
        })
}

/// `redis-cli --cluster create` over `ports` with `replicas` replicas per master (redis-cli
/// picks the masters and spreads the slots over them), killed if it runs for more than
/// [`CREATE_WITHIN`].
fn create(ports: &[u16], replicas: usize) -> Result<(), Error> {
    let mut cmd = Command::new("redis-cli");
    cmd.arg("--cluster").arg("create");
    for port in ports {
        cmd.arg(format!("127.0.0.1:{port}"));
    }
    cmd.arg("--cluster-replicas")
        .arg(replicas.to_string())
        .arg("--cluster-yes")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(Error::Cli)?;
    let deadline = Instant::now() + CREATE_WITHIN;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                break;
            }
        }
    }
    let output = child.wait_with_output().map_err(Error::Cli)?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Create {
        status: output.status,
        secs: CREATE_WITHIN.as_secs(),
        output: format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_are_found_by_their_whole_name() {
        let info = "role:slave\r\nmaster_link_status:up\r\nmaster_link_status_x:down\r\n";
        assert_eq!(info_field(info, "master_link_status"), Some("up"));
        assert_eq!(info_field(info, "role"), Some("slave"));
        assert_eq!(info_field(info, "missing"), None);
    }

    #[test]
    fn fewer_than_three_masters_is_refused_before_anything_starts() {
        assert!(matches!(
            RedisCluster::start(2, 0),
            Err(Error::TooFewMasters(2))
        ));
    }
}
