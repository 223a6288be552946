//! Every Redis key the platform uses, in one place.
//!
//! The keys of a cluster start with `zato:{<cluster>}:`. The braces make the cluster name a
//! Redis Cluster hash tag: every key of the control plane (the config store and its version,
//! the 1:all stream, leases and epochs, members and heartbeats) lives in that one slot, so
//! its scripts and transactions work on a cluster too. Different prefixes let several
//! clusters (and test runs) share one Redis without seeing each other.
//!
//! The work streams (1:any, 1:connector, pub/sub topics) and what is written with them
//! (dead letters, a topic's subscription set and its subscriptions' ordering keys) are split into
//! `broker.partitions` partitions, each with a hash tag of its own, so that they spread over
//! a cluster's shards; nothing a script or a transaction touches at once crosses a
//! partition. Partition 0 is the control plane's tag, so one partition (the default) keeps
//! every key where it always was. Partition `p` (from 1) is tagged `{<cluster>:<p>.<k>}`
//! (':' is not allowed in a cluster name, so no cluster's tag is another's), `k` the first
//! number that puts the tag's slot next to the `p`-th point of the van der Corput sequence
//! (1/2, 1/4, 3/4, 1/8, ...) of the 16,384 slots. Those points halve the slot space again and
//! again: partitions 1 to 2^k - 1 sit one in every 2^k-th of it, so on a cluster whose
//! masters hold equal contiguous ranges (what `redis-cli --cluster create` makes), the
//! smallest power of two above the number of masters reaches every master (4 for 3), and a
//! partition's tag does not change when `partitions` grows.

use zato_common::ConfigKind;

/// The two work queues; each is one stream read by one consumer group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Queue {
    /// 1:any: read by every server, each message taken by exactly one.
    Server,
    /// 1:connector: read only by the connector that holds the lease.
    Connector,
}

impl Queue {
    /// The name used in keys and in dead letters.
    pub fn as_str(self) -> &'static str {
        match self {
            Queue::Server => "server",
            Queue::Connector => "connector",
        }
    }

    /// The consumer group every reader of this queue joins.
    pub fn group(self) -> &'static str {
        match self {
            Queue::Server => "servers",
            Queue::Connector => "connectors",
        }
    }
}

/// The slots of a Redis Cluster.
const SLOTS: u32 = 16_384;

/// How close to its point of the slot space a partition's slot must be.
const SLOT_WINDOW: u32 = 64;

/// Builds the keys of one cluster.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    /// The prefix of each partition's work keys; the first is `prefix`.
    partitions: Vec<String>,
}

impl Keys {
    /// Keys of `cluster`, with one partition.
    pub fn new(cluster: &str) -> Self {
        Self::partitioned(cluster, 1)
    }

    /// Keys of `cluster` with its work streams split into `partitions` (at least 1).
    pub fn partitioned(cluster: &str, partitions: u16) -> Self {
        let prefix = format!("zato:{{{cluster}}}:");
        let partitions = (0..partitions.max(1))
            .map(|p| match p {
                0 => prefix.clone(),
                p => format!("zato:{{{}}}:", partition_tag(cluster, p)),
            })
            .collect();
        Self { prefix, partitions }
    }

    /// The common prefix, `zato:{<cluster>}:`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How many partitions the work streams have.
    pub fn partitions(&self) -> usize {
        self.partitions.len()
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// A work key of `partition` (taken modulo the partitions, so any number picks one).
    fn work_key(&self, partition: usize, rest: &str) -> String {
        let prefix = &self.partitions[partition % self.partitions.len()];
        format!("{prefix}{rest}")
    }

    /// The stream of a work queue's partition (`q:server`, `q:connector`).
    pub fn queue(&self, queue: Queue, partition: usize) -> String {
        self.work_key(partition, &format!("q:{}", queue.as_str()))
    }

    /// The 1:all stream.
    pub fn all(&self) -> String {
        self.key("all")
    }

    /// The dead-letter stream of a source (`server`, `connector`, `all`, `sub:<name>`) in
    /// `partition`: the work queues' dead letters stay in the partition they came from, so
    /// that moving one there is one transaction; the others have partition 0 only.
    pub fn dlq(&self, source: &str, partition: usize) -> String {
        self.work_key(partition, &format!("dlq:{source}"))
    }

    /// The list a process receives its replies on.
    pub fn reply(&self, consumer: &str) -> String {
        self.key(&format!("reply:{consumer}"))
    }

    /// The lease of a singleton role.
    pub fn lease(&self, role: &str) -> String {
        self.key(&format!("lease:{role}"))
    }

    /// The fencing counter of a singleton role, bumped on every win.
    pub fn epoch(&self, role: &str) -> String {
        self.key(&format!("epoch:{role}"))
    }

    /// The hash holding every object of a config kind.
    pub fn config(&self, kind: ConfigKind) -> String {
        self.key(&format!("config:{kind}"))
    }

    /// The config version counter.
    pub fn config_version(&self) -> String {
        self.key("config:version")
    }

    /// The hash of every job's run state (last fire, next fire, run count), kept by the
    /// active scheduler.
    pub fn job_states(&self) -> String {
        self.key("scheduler:state")
    }

    /// The idempotency mark of one fire of `job` at the scheduled instant `instant_ms`.
    pub fn fire_mark(&self, job: &str, instant_ms: i64) -> String {
        self.key(&format!("fired:{job}:{instant_ms}"))
    }

    /// A live member's heartbeat.
    pub fn member(&self, id: &str) -> String {
        self.key(&format!("member:{id}"))
    }

    /// The sorted set of member ids by last heartbeat.
    pub fn members(&self) -> String {
        self.key("members")
    }

    /// The set of services compiled into the server called `member`, so that one without a
    /// service can hand its work to one that has it.
    pub fn server_services(&self, member: &str) -> String {
        self.key(&format!("services:{member}"))
    }

    /// A deployed service's component, by the hex SHA-256 of its bytes.
    pub fn component(&self, hash: &str) -> String {
        self.key(&format!("component:{hash}"))
    }

    /// The hash of each server's load state of a deployed service, by member.
    pub fn service_states(&self, service: &str) -> String {
        self.key(&format!("service-state:{service}"))
    }

    /// A key of a deployed service's own key-value store: `kv:<length of the service's
    /// name>:<service>:<key>`, so that no service's key can be another's (service `a` with
    /// key `b:c` is `kv:1:a:b:c`, service `a:b` with key `c` is `kv:3:a:b:c`).
    pub fn service_kv(&self, service: &str, key: &str) -> String {
        self.key(&format!("kv:{}:{service}:{key}", service.len()))
    }

    /// The stream of a pub/sub topic; each subscription is a consumer group on it.
    pub fn topic(&self, topic: &str, partition: usize) -> String {
        self.work_key(partition, &format!("topic:{topic}"))
    }

    /// The set of the subscriptions of a topic, read by the publish script to keep their
    /// ordering keys.
    pub fn topic_subscriptions(&self, topic: &str, partition: usize) -> String {
        self.work_key(partition, &format!("topic-subs:{topic}"))
    }

    /// The prefix of a subscription's ordering sets: `order:<length of its name>:<name>:`,
    /// followed by the ordering key (the length keeps subscriptions' keys apart whatever
    /// their names, as [`Keys::service_kv`] does).
    pub fn ordering_prefix(&self, subscription: &str, partition: usize) -> String {
        format!(
            "{}{}:{subscription}:",
            self.ordering_sets(partition),
            subscription.len()
        )
    }

    /// What every ordering set of `partition` starts with, `order:`: the publish script
    /// adds the subscription and the key.
    pub fn ordering_sets(&self, partition: usize) -> String {
        self.work_key(partition, "order:")
    }

    /// The hash of the message each ordering key of a subscription is running now, as
    /// `<id>:<consumer loop>` by key, so that a message handed over to the consumer that also
    /// read it runs once.
    pub fn ordering_running(&self, subscription: &str, partition: usize) -> String {
        self.work_key(
            partition,
            &format!("order-running:{}:{subscription}", subscription.len()),
        )
    }

    /// The partition of the messages with ordering key `key`: always the same one, so that
    /// they stay in one stream, in order.
    pub fn partition_of_key(&self, key: &str) -> usize {
        slot(key) as usize % self.partitions.len()
    }

    /// The hash of a subscription's cluster-wide counters (`retries`, `expired`).
    pub fn subscription_counters(&self, subscription: &str) -> String {
        self.key(&format!("sub-counters:{subscription}"))
    }
}

/// The dead-letter source of a subscription, `sub:<name>` (so its stream is
/// `dlq:sub:<name>`).
pub fn subscription_source(subscription: &str) -> String {
    format!("sub:{subscription}")
}

/// The hash tag of partition `p` (from 1) of `cluster`: see the module's doc.
fn partition_tag(cluster: &str, p: u16) -> String {
    let target = van_der_corput(p);
    // About one candidate in 256 fits; a million not fitting would take a broken CRC.
    (0u32..1 << 20)
        .map(|k| format!("{cluster}:{p}.{k}"))
        .find(|tag| slot(tag).wrapping_sub(target) % SLOTS < SLOT_WINDOW)
        .unwrap_or_else(|| format!("{cluster}:{p}"))
}

/// The `p`-th point of the van der Corput sequence in base 2, as a slot: `p`'s bits
/// mirrored behind the binary point.
fn van_der_corput(p: u16) -> u32 {
    (u32::from(p.reverse_bits()) * SLOTS) >> 16
}

/// The Redis Cluster slot of a key that is all hash tag: CRC16 (XMODEM) modulo 16,384.
fn slot(tag: &str) -> u32 {
    u32::from(crc16::State::<crc16::XMODEM>::calculate(tag.as_bytes())) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_service_can_reach_another_services_keys() {
        let keys = Keys::new("prod");
        assert_ne!(keys.service_kv("a", "b:c"), keys.service_kv("a:b", "c"));
        assert_eq!(keys.service_kv("crm", "last"), "zato:{prod}:kv:3:crm:last");
    }

    #[test]
    fn keys_share_a_hash_tagged_prefix() {
        let keys = Keys::new("prod");
        assert_eq!(keys.queue(Queue::Server, 0), "zato:{prod}:q:server");
        assert_eq!(keys.all(), "zato:{prod}:all");
        assert_eq!(keys.dlq("connector", 0), "zato:{prod}:dlq:connector");
        assert_eq!(
            keys.config(ConfigKind::HttpChannel),
            "zato:{prod}:config:http_channel"
        );
        assert_eq!(keys.lease("scheduler"), "zato:{prod}:lease:scheduler");
    }

    #[test]
    fn one_partition_keeps_every_key_where_it_was() {
        let one = Keys::new("prod");
        let four = Keys::partitioned("prod", 4);
        assert_eq!(one.partitions(), 1);
        assert_eq!(one.queue(Queue::Server, 3), one.queue(Queue::Server, 0));
        assert_eq!(four.queue(Queue::Server, 0), one.queue(Queue::Server, 0));
        assert_eq!(four.dlq("server", 0), one.dlq("server", 0));
    }

    #[test]
    fn partitions_keep_their_tags_when_more_are_added_and_spread_over_the_slots() {
        let four = Keys::partitioned("prod", 4);
        let eight = Keys::partitioned("prod", 8);
        for p in 0..4 {
            assert_eq!(four.queue(Queue::Server, p), eight.queue(Queue::Server, p));
        }
        // Redis's own answer for one of them: `CLUSTER KEYSLOT` of the tag.
        assert_eq!(slot("123456789"), 12739, "CRC16/XMODEM of the check string");
        // Partitions 1, 2, 3 sit near slots 8192, 4096 and 12288: one in each third of the
        // slot space, so three masters with equal ranges get one each.
        let thirds: Vec<u32> = (1..4)
            .map(|p| slot(&partition_tag("prod", p)) * 3 / SLOTS)
            .collect();
        assert_eq!(thirds, [1, 0, 2]);
        let tags: std::collections::HashSet<String> =
            (0..8).map(|p| eight.queue(Queue::Server, p)).collect();
        assert_eq!(tags.len(), 8);
    }
}
