//! Every Redis key the platform uses, in one place.
//!
//! All keys of a cluster start with `zato:{<cluster>}:`. The braces make the cluster name a
//! Redis Cluster hash tag, so every key of one cluster lives in one slot and multi-key
//! scripts and transactions work there too; different prefixes let several clusters (and
//! test runs) share one Redis without seeing each other.

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

/// Builds the keys of one cluster.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys of `cluster`.
    pub fn new(cluster: &str) -> Self {
        Self {
            prefix: format!("zato:{{{cluster}}}:"),
        }
    }

    /// The common prefix, `zato:{<cluster>}:`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// The stream of a work queue (`q:server`, `q:connector`).
    pub fn queue(&self, queue: Queue) -> String {
        self.key(&format!("q:{}", queue.as_str()))
    }

    /// The 1:all stream.
    pub fn all(&self) -> String {
        self.key("all")
    }

    /// The dead-letter stream of a source (`server`, `connector`, `all`).
    pub fn dlq(&self, source: &str) -> String {
        self.key(&format!("dlq:{source}"))
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
    pub fn topic(&self, topic: &str) -> String {
        self.key(&format!("topic:{topic}"))
    }

    /// The set of the subscriptions of a topic, read by the publish script to keep their
    /// ordering keys.
    pub fn topic_subscriptions(&self, topic: &str) -> String {
        self.key(&format!("topic-subs:{topic}"))
    }

    /// The prefix of a subscription's ordering sets: `order:<length of its name>:<name>:`,
    /// followed by the ordering key (the length keeps subscriptions' keys apart whatever
    /// their names, as [`Keys::service_kv`] does).
    pub fn ordering_prefix(&self, subscription: &str) -> String {
        self.key(&format!("order:{}:{subscription}:", subscription.len()))
    }

    /// The hash of the message each ordering key of a subscription is running now, as
    /// `<id>:<consumer loop>` by key, so that a message handed over to the consumer that also
    /// read it runs once.
    pub fn ordering_running(&self, subscription: &str) -> String {
        self.key(&format!(
            "order-running:{}:{subscription}",
            subscription.len()
        ))
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
        assert_eq!(keys.queue(Queue::Server), "zato:{prod}:q:server");
        assert_eq!(keys.all(), "zato:{prod}:all");
        assert_eq!(keys.dlq("connector"), "zato:{prod}:dlq:connector");
        assert_eq!(
            keys.config(ConfigKind::HttpChannel),
            "zato:{prod}:config:http_channel"
        );
        assert_eq!(keys.lease("scheduler"), "zato:{prod}:lease:scheduler");
    }
}
