//! A Redis Cluster of the test's own: three masters with their replicas on free loopback
//! ports, started and formed by the workspace's one launcher
//! ([`zato_common::redis_cluster`]), so that a test may kill a master under load, watch a
//! replica take over and bring the old master back as a replica. This module adds what a
//! test asks of the cluster through the `redis` crate: who serves what, and waits for a
//! failover and a rejoin.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use zato_common::redis_cluster;
pub(crate) use zato_common::redis_cluster::info_field;
use zato_common::redis_server::RedisServer;

/// How long a restarted node may take to rejoin (and, as a replica, to sync).
const REJOINED_WITHIN: Duration = Duration::from_secs(60);

/// A running Redis Cluster owned by one test; every node is stopped when it is dropped.
pub struct RedisCluster {
    /// Every node, killed ones included (kept for [`RedisCluster::restart`]).
    nodes: redis_cluster::RedisCluster,
    /// The ports of the nodes killed and not restarted since.
    dead: Vec<u16>,
    /// The slot ranges each killed master served when it was killed, for
    /// [`RedisCluster::wait_for_failover`].
    served_when_killed: HashMap<u16, Vec<(u16, u16)>>,
}

impl RedisCluster {
    /// Three masters with one replica each (six nodes).
    ///
    /// A master that fails over leaves its promoted replica with no replica at all, so
    /// `broker.min_replicas_ack = 1` cannot be met again until the old master is back: use
    /// [`RedisCluster::start_with_replicas`] with 2 for a test that needs replicated writes
    /// right after a failover.
    pub fn start() -> Self {
        Self::start_with_replicas(1)
    }

    /// Three masters with `replicas` replicas each. With two, a master's death leaves its
    /// promoted replica with the other one (Redis Cluster moves the dead master's remaining
    /// replicas to its successor), as a production cluster that asks for replicated writes
    /// needs.
    ///
    /// The nodes' options (`cluster-node-timeout` of 2 s, so a dead master is failed over
    /// within seconds; no data on disk) and the wait until the cluster is formed (every node
    /// `cluster_state:ok`, every replica's link up: until then a test's first commands could
    /// meet `CLUSTERDOWN` or a replica that cannot confirm a write) are
    /// [`redis_cluster::RedisCluster::start`]'s.
    pub fn start_with_replicas(replicas: usize) -> Self {
        assert!(replicas >= 1, "a cluster that fails over needs replicas");
        let nodes = redis_cluster::RedisCluster::start(3, replicas).unwrap_or_else(|e| {
            panic!("a Redis Cluster of 3 masters with {replicas} replicas each: {e}")
        });
        Self {
            nodes,
            dead: Vec::new(),
            served_when_killed: HashMap::new(),
        }
    }

    /// `redis+cluster://127.0.0.1:<m1>,127.0.0.1:<m2>,127.0.0.1:<m3>`: the masters the
    /// cluster was created with, as seed nodes (the broker learns the rest of the cluster,
    /// replicas and later promotions included, from whichever seed answers).
    pub fn url(&self) -> String {
        self.nodes.url()
    }

    /// The ports of the masters that serve slots now, ascending, as `CLUSTER NODES` on a
    /// live node has them: read fresh on every call, since a failover makes a replica a
    /// master (a dead master still listed with its slots, flagged `fail`, is left out).
    pub fn masters(&self) -> Vec<u16> {
        let nodes = self.cluster_nodes();
        let mut masters: Vec<u16> = nodes
            .iter()
            .filter(|n| n.is_master() && !n.is_failing() && !n.slots.is_empty())
            .map(|n| n.port)
            .collect();
        masters.sort_unstable();
        masters
    }

    /// The port of the master that serves `key`'s slot now: `CLUSTER KEYSLOT`, then that
    /// slot's owner in `CLUSTER SLOTS`, both on a live node. What a test kills to take a
    /// queue's master away.
    pub fn master_of(&self, key: &str) -> u16 {
        let port = self.any_live();
        let mut conn = self.connection(port);
        let slot: u16 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut conn)
            .unwrap_or_else(|e| panic!("CLUSTER KEYSLOT {key} on {port}: {e}"));
        slot_owner(&cluster_slots(&mut conn, port), slot)
            .unwrap_or_else(|| panic!("no node serves slot {slot} (of {key}) per {port}"))
    }

    /// The keys matching `pattern` on the node at `port` only (`SCAN` there, which sees that
    /// node's slots alone): where a test checks what a given master or replica holds.
    pub fn keys_on(&self, port: u16, pattern: &str) -> Vec<String> {
        let mut conn = self.connection(port);
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)
                .unwrap_or_else(|e| panic!("SCAN on {port}: {e}"));
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// SIGKILL to the node at `port`, as a crash would end it. The slots it served are noted
    /// first, so that [`RedisCluster::wait_for_failover`] knows what must move.
    pub fn kill(&mut self, port: u16) {
        let served = self
            .cluster_nodes_from(self.live_except(port))
            .into_iter()
            .find(|n| n.port == port)
            .map(|n| n.slots)
            .unwrap_or_default();
        self.served_when_killed.insert(port, served);
        self.node(port).kill();
        self.dead.push(port);
    }

    /// Starts the node at `port` again (after a kill -9 if it still runs): same port, same
    /// directory, so the same `nodes.conf` and node id, with no data. Returns once it is part
    /// of the cluster again: a master whose slots were taken over in the meantime comes back
    /// as a replica of its successor, and this waits until that replica's link is up (and
    /// every live node says `cluster_state:ok`).
    pub fn restart(&mut self, port: u16) {
        let others = self.live_except(port);
        let taken_over = others.is_some_and(|other| {
            let id = self
                .nodes
                .id(port)
                .unwrap_or_else(|| panic!("{port} is not a node of this cluster"));
            !self
                .cluster_nodes_from(Some(other))
                .iter()
                .any(|n| n.id == id && n.is_master() && !n.slots.is_empty())
        });
        if let Err(e) = self.node(port).restart() {
            panic!("cluster node on {port} restarts: {e}");
        }
        self.dead.retain(|p| *p != port);
        let deadline = Instant::now() + REJOINED_WITHIN;
        loop {
            let role = self.try_info(port, "replication");
            let rejoined = match &role {
                Ok(info) if taken_over => {
                    info_field(info, "role") == Some("slave")
                        && info_field(info, "master_link_status") == Some("up")
                }
                Ok(_) => true,
                Err(_) => false,
            };
            if rejoined && self.all_live_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cluster node {port} did not rejoin within {} s (expected as a replica: \
                 {taken_over}); its replication: {role:?}",
                REJOINED_WITHIN.as_secs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the slots the master at `dead_port` served when it was killed are served
    /// by another node that says it is a master (a promoted replica), every live node names
    /// that same node, and every live node says `cluster_state:ok`; returns its port. Panics
    /// after `timeout` with what the nodes said last. Redis Cluster promotes a replica once
    /// its master has been unreachable for `cluster-node-timeout` (2 s here) and the other
    /// masters voted: a few seconds, more on a loaded machine.
    pub fn wait_for_failover(&self, dead_port: u16, timeout: Duration) -> u16 {
        let served = self
            .served_when_killed
            .get(&dead_port)
            .unwrap_or_else(|| panic!("{dead_port} was not killed through RedisCluster::kill"));
        let &(slot, _) = served
            .first()
            .unwrap_or_else(|| panic!("{dead_port} served no slots when it was killed"));
        let deadline = Instant::now() + timeout;
        loop {
            let mut owners: Vec<Option<u16>> = Vec::new();
            let mut states: Vec<(u16, Option<String>)> = Vec::new();
            for port in self.live() {
                let owner = self
                    .try_connection(port)
                    .ok()
                    .and_then(|mut conn| try_cluster_slots(&mut conn).ok())
                    .and_then(|slots| slot_owner(&slots, slot));
                owners.push(owner);
                let state = self
                    .try_cluster_info(port)
                    .ok()
                    .and_then(|info| info_field(&info, "cluster_state").map(str::to_owned));
                states.push((port, state));
            }
            let agreed =
                owners.first().copied().flatten().filter(|first| {
                    *first != dead_port && owners.iter().all(|o| *o == Some(*first))
                });
            let all_ok = states.iter().all(|(_, s)| s.as_deref() == Some("ok"));
            if let Some(new_master) = agreed
                && all_ok
                && self
                    .try_info(new_master, "replication")
                    .is_ok_and(|info| info_field(&info, "role") == Some("master"))
            {
                return new_master;
            }
            assert!(
                Instant::now() < deadline,
                "slot {slot} of the dead master {dead_port} was not taken over within {} s; \
                 owners per live node: {owners:?}, cluster_state per node: {states:?}",
                timeout.as_secs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A connection to the node at `port` for checks from the outside (not cluster-aware: a
    /// key of another node's slot gets `MOVED`), giving up rather than hanging on a node
    /// that stopped: 2 s to connect, 5 s per answer. Panics if there is none.
    pub fn connection(&self, port: u16) -> redis::Connection {
        self.try_connection(port)
            .unwrap_or_else(|e| panic!("connection to cluster node {port}: {e}"))
    }

    /// The ports of every node, dead or alive.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.ports()
    }

    fn try_connection(&self, port: u16) -> redis::RedisResult<redis::Connection> {
        node_connection(port)
    }

    fn node(&mut self, port: u16) -> &mut RedisServer {
        self.nodes
            .node_mut(port)
            .unwrap_or_else(|| panic!("{port} is not a node of this cluster"))
    }

    /// The nodes not killed, ascending.
    fn live(&self) -> Vec<u16> {
        self.nodes
            .ports()
            .into_iter()
            .filter(|p| !self.dead.contains(p))
            .collect()
    }

    fn live_except(&self, port: u16) -> Option<u16> {
        self.live().into_iter().find(|p| *p != port)
    }

    fn any_live(&self) -> u16 {
        *self
            .live()
            .first()
            .unwrap_or_else(|| panic!("every node of the cluster is dead"))
    }

    fn try_info(&self, port: u16, section: &str) -> redis::RedisResult<String> {
        redis::cmd("INFO")
            .arg(section)
            .query(&mut self.try_connection(port)?)
    }

    fn try_cluster_info(&self, port: u16) -> redis::RedisResult<String> {
        redis::cmd("CLUSTER")
            .arg("INFO")
            .query(&mut self.try_connection(port)?)
    }

    fn all_live_ok(&self) -> bool {
        self.live().into_iter().all(|port| {
            self.try_cluster_info(port)
                .is_ok_and(|info| info_field(&info, "cluster_state") == Some("ok"))
        })
    }

    /// `CLUSTER NODES` as the first live node that answers has it.
    fn cluster_nodes(&self) -> Vec<NodeLine> {
        for port in self.live() {
            if let Ok(nodes) = self.try_cluster_nodes(port) {
                return nodes;
            }
        }
        panic!("no live cluster node answers CLUSTER NODES");
    }

    /// `CLUSTER NODES` as `port` has it (any live node when `None` or it does not answer).
    fn cluster_nodes_from(&self, port: Option<u16>) -> Vec<NodeLine> {
        match port.map(|p| self.try_cluster_nodes(p)) {
            Some(Ok(nodes)) => nodes,
            _ => self.cluster_nodes(),
        }
    }

    fn try_cluster_nodes(&self, port: u16) -> redis::RedisResult<Vec<NodeLine>> {
        let text: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut self.try_connection(port)?)?;
        Ok(text.lines().filter_map(NodeLine::parse).collect())
    }
}

/// One line of `CLUSTER NODES`: `<id> <ip:port@cport[,hostname]> <flags> <master id or ->
/// <ping sent> <pong received> <config epoch> <link state> <slot> <slot> ...`.
#[derive(Debug, Clone)]
struct NodeLine {
    id: String,
    port: u16,
    flags: Vec<String>,
    slots: Vec<(u16, u16)>,
}

impl NodeLine {
    fn parse(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 8 {
            return None;
        }
        let address = fields[1].split(['@', ',']).next()?;
        let port = address.rsplit_once(':')?.1.parse().ok()?;
        let slots = fields[8..]
            .iter()
            // `[slot->-id]` and `[slot-<-id]` are slots being migrated, not served.
            .filter(|s| !s.starts_with('['))
            .filter_map(|s| match s.split_once('-') {
                Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                None => s.parse().ok().map(|one| (one, one)),
            })
            .collect();
        Some(Self {
            id: fields[0].to_owned(),
            port,
            flags: fields[2].split(',').map(str::to_owned).collect(),
            slots,
        })
    }

    fn is_master(&self) -> bool {
        self.flags.iter().any(|f| f == "master")
    }

    fn is_failing(&self) -> bool {
        self.flags.iter().any(|f| f == "fail" || f == "fail?")
    }
}

/// `CLUSTER SLOTS` on `conn`: each range with the port of the master serving it.
fn cluster_slots(conn: &mut redis::Connection, port: u16) -> Vec<(u16, u16, u16)> {
    try_cluster_slots(conn).unwrap_or_else(|e| panic!("CLUSTER SLOTS on {port}: {e}"))
}

fn try_cluster_slots(conn: &mut redis::Connection) -> redis::RedisResult<Vec<(u16, u16, u16)>> {
    // Each item: start, end, then [ip, port, id, ...] of the master, then the replicas'.
    let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER").arg("SLOTS").query(conn)?;
    let mut parsed = Vec::new();
    for range in ranges {
        let [start, end, master, ..] = range.as_slice() else {
            continue;
        };
        let (start, end): (u16, u16) = (
            redis::from_redis_value_ref(start)?,
            redis::from_redis_value_ref(end)?,
        );
        let master: Vec<redis::Value> = redis::from_redis_value_ref(master)?;
        let Some(port) = master.get(1) else { continue };
        parsed.push((start, end, redis::from_redis_value_ref(port)?));
    }
    Ok(parsed)
}

/// The port of the master serving `slot` in a `CLUSTER SLOTS` map.
fn slot_owner(ranges: &[(u16, u16, u16)], slot: u16) -> Option<u16> {
    ranges
        .iter()
        .find(|(start, end, _)| (*start..=*end).contains(&slot))
        .map(|(_, _, port)| *port)
}

/// A plain connection to the Redis at `127.0.0.1:port` that gives up rather than hangs: 2 s
/// to connect, 5 s to send or to get an answer.
pub(crate) fn node_connection(port: u16) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let conn = client.get_connection_with_timeout(Duration::from_secs(2))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lines_give_the_port_flags_and_served_slots() {
        let line = "07c3 127.0.0.1:30004@31004,host myself,master - 0 0 4 connected 0-5460 \
                    7000 [5461->-e7d1]";
        let node = NodeLine::parse(line).expect("parses");
        assert_eq!(node.port, 30004);
        assert!(node.is_master() && !node.is_failing());
        assert_eq!(node.slots, [(0, 5460), (7000, 7000)]);
        let failed = NodeLine::parse("e7d1 127.0.0.1:30001@31001 master,fail - 1 1 1 connected")
            .expect("parses");
        assert!(failed.is_failing() && failed.slots.is_empty());
    }
}
