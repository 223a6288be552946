//! What became of the messages: each kind's records set against what was accepted (lost,
//! duplicated, and why), every job instant against its fires, and the state of the members
//! at the end.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde_json::Value;
use zato_broker::Keys;

use super::POLL;
use super::cluster::Cluster;
use super::load::Offered;
use crate::records::recorded;
use crate::server::eventually_every;

/// The check of one kind of message.
#[derive(Debug, Default)]
pub struct Outcome {
    /// How many different messages were handled.
    pub distinct: usize,
    /// The accepted messages never handled.
    pub lost: Vec<u64>,
    /// How many records repeat a message.
    pub duplicates: usize,
    /// The duplicates by why they happened.
    pub explained: BTreeMap<&'static str, usize>,
    /// (n, why, when the second copy was recorded) of every duplicated message, by n.
    pub details: Vec<(u64, &'static str, Option<Timestamp>)>,
}

impl Outcome {
    /// `entries` (the records of one kind) against `expected` (the n of every message the
    /// cluster accepted).
    pub fn check(entries: &[Value], expected: &[u64]) -> Self {
        let mut by_n: HashMap<u64, Vec<&Value>> = HashMap::new();
        for e in entries {
            if let Some(n) = e["payload"]["n"].as_u64() {
                by_n.entry(n).or_default().push(e);
            }
        }
        let mut outcome = Self {
            distinct: by_n.len(),
            lost: expected
                .iter()
                .copied()
                .filter(|n| !by_n.contains_key(n))
                .collect(),
            ..Self::default()
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
}

/// Why `copies` (the entries of one message, in recording order) were recorded more than once.
pub fn explain(copies: &[&Value]) -> &'static str {
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

/// The jobs' fires by scheduled instant.
#[derive(Debug, Default)]
pub struct JobFires {
    /// How many fires were recorded.
    pub fires: usize,
    /// How many (job, instant) pairs fired.
    pub instants: usize,
    /// The instants fired more than once (by different fires, not redeliveries of one).
    pub double_fires: Vec<String>,
    /// How many records repeat an instant.
    pub duplicates: usize,
    /// The repeats by why they happened.
    pub explained: BTreeMap<&'static str, usize>,
}

impl JobFires {
    /// Groups the job records by (job, scheduled instant).
    pub fn check(entries: &[Value]) -> Self {
        let mut instants: HashMap<(&str, &str), Vec<&Value>> = HashMap::new();
        for e in entries {
            if let (Some(job), Some(at)) =
                (e["channel_name"].as_str(), e["meta"]["scheduled"].as_str())
            {
                instants.entry((job, at)).or_default().push(e);
            }
        }
        let mut fires = Self {
            fires: entries.len(),
            instants: instants.len(),
            ..Self::default()
        };
        for ((job, at), copies) in instants.iter().filter(|(_, c)| c.len() > 1) {
            let cids: HashSet<&str> = copies.iter().filter_map(|e| e["cid"].as_str()).collect();
            if cids.len() > 1 {
                fires
                    .double_fires
                    .push(format!("{job} at {at}: {} fires {cids:?}", cids.len()));
            }
            fires.duplicates += copies.len() - 1;
            *fires.explained.entry(explain(copies)).or_default() += copies.len() - 1;
        }
        fires
    }
}

/// Everything the cluster shows at the end.
pub struct Findings {
    pub http: Outcome,
    pub invoke_async: Outcome,
    pub amqp: Outcome,
    pub zmq: Outcome,
    pub jobs: JobFires,
    /// Entries of the servers' dead-letter stream.
    pub dead_letters: u64,
    pub unhealthy: Vec<String>,
    pub active_schedulers: usize,
    pub active_connectors: usize,
}

impl Findings {
    /// Reads every record and asks every member, once the load has stopped.
    pub fn gather(c: &Cluster, offered: &Offered) -> Self {
        let records = |key: &str| recorded(&c.redis, &c.cluster, key);
        Self {
            http: Outcome::check(&records(&c.keys.http), &offered.http.accepted),
            invoke_async: Outcome::check(
                &records(&c.keys.invoke_async),
                &offered.invoke_async.accepted,
            ),
            amqp: Outcome::check(&records(&c.keys.amqp), &offered.amqp_confirmed),
            zmq: Outcome::check(&records(&c.keys.zmq), &offered.zmq_sent),
            jobs: JobFires::check(&records(&c.keys.jobs)),
            dead_letters: dead_letters(c),
            unhealthy: c.unhealthy(),
            active_schedulers: c.schedulers.iter().filter(|s| s.is_active()).count(),
            active_connectors: c.connectors.iter().filter(|s| s.is_active()).count(),
        }
    }
}

/// Waits (up to a minute) until every accepted invoke_async call and every confirmed AMQP
/// message is recorded, then 3 s more for stragglers; how long the first part took (`None`:
/// not within the minute).
pub fn drain(c: &Cluster, offered: &Offered) -> Option<Duration> {
    let started = Instant::now();
    let none_lost = |key: &str, accepted: &[u64]| {
        Outcome::check(&recorded(&c.redis, &c.cluster, key), accepted)
            .lost
            .is_empty()
    };
    let drained = eventually_every(Duration::from_secs(60), POLL, || {
        none_lost(&c.keys.invoke_async, &offered.invoke_async.accepted)
            && none_lost(&c.keys.amqp, &offered.amqp_confirmed)
    })
    .then(|| started.elapsed());
    std::thread::sleep(Duration::from_secs(3));
    drained
}

/// The length of the servers' dead-letter stream (0 if Redis does not answer).
fn dead_letters(c: &Cluster) -> u64 {
    c.redis
        .connection()
        .ok()
        .and_then(|mut conn| {
            redis::cmd("XLEN")
                .arg(Keys::new(&c.cluster).dlq("server", 0))
                .query(&mut conn)
                .ok()
        })
        .unwrap_or(0)
}
