//! A member's health: what `/zato/health` reports and what systemd's watchdog is pinged on.
//!
//! Every member is judged the same way: Redis takes writes (a `PING` through the writer,
//! the path every publish takes), the config snapshot is applied, every consumer loop reads
//! (a gated loop, such as 1:connector, only while this member holds its lease), and the
//! member is not draining. A member adds its own checks and fields (the connector its
//! AMQP and ZeroMQ connections); those can make it `degraded` (shown, still 200: a restart
//! would not fix a peer that is down) or `failing`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;
use zato_common::clock::unix_ms;

use crate::Broker;
use crate::config_cache::SkippedObjects;
use crate::lease::{LeaseHandle, LeaseState};
use crate::stats::ConsumerStats;

/// How a member's own checks judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Ok,
    /// Working, with something outside it down; still healthy.
    Degraded,
    /// Not working: health is 503 and the watchdog is not pinged.
    Failing,
}

/// A member's own checks: they add fields to the report and say how the member fares.
pub type OwnChecks = Box<dyn Fn(&mut Map<String, Value>) -> Condition + Send + Sync>;

/// One consumer loop health is judged on.
struct Watched {
    name: &'static str,
    stats: Arc<ConsumerStats>,
    /// Judged only while this member holds its lease (the loop reads only then).
    while_leader: bool,
}

/// Everything health is judged on.
pub struct Health {
    member: String,
    lease: OnceLock<LeaseHandle>,
    redis_ok: AtomicBool,
    redis_last_ok_ms: AtomicU64,
    config_loaded: AtomicBool,
    draining: AtomicBool,
    /// A loop whose last read is older than this is stalled.
    stall_after_ms: u64,
    consumers: RwLock<Vec<Watched>>,
    /// Stored config objects the member's caches skip because they do not parse.
    skipped: SkippedObjects,
    own: OnceLock<OwnChecks>,
}

impl Health {
    pub(crate) fn new(broker: &Broker) -> Self {
        Self {
            member: broker.member().to_owned(),
            lease: OnceLock::new(),
            redis_ok: AtomicBool::new(false),
            redis_last_ok_ms: AtomicU64::new(0),
            config_loaded: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            stall_after_ms: broker.settings().block_ms * 3 + 2_000,
            consumers: RwLock::default(),
            skipped: SkippedObjects::default(),
            own: OnceLock::new(),
        }
    }

    /// Judges health on a consumer loop too; `while_leader` for loops gated by the lease.
    pub fn watch_consumer(
        &self,
        name: &'static str,
        stats: Arc<ConsumerStats>,
        while_leader: bool,
    ) {
        self.consumers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Watched {
                name,
                stats,
                while_leader,
            });
    }

    pub(crate) fn set_lease(&self, lease: LeaseHandle) {
        let _ = self.lease.set(lease);
    }

    /// Where the member's config caches record the objects they skip
    /// (`ConfigCache::reporting_to`): listed in the report as `config_skipped`, counted in
    /// `zato_config_objects_skipped`.
    pub fn skipped_objects(&self) -> &SkippedObjects {
        &self.skipped
    }

    /// Adds the member's own checks (once).
    pub fn set_own_checks(&self, checks: OwnChecks) {
        let _ = self.own.set(checks);
    }

    pub(crate) fn config_loaded(&self) {
        self.config_loaded.store(true, Ordering::Relaxed);
    }

    /// From now on the member takes no new work: health says `draining` (503).
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The consumer loops health is judged on, with their counters (for metrics).
    pub(crate) fn consumers(&self) -> Vec<(&'static str, Arc<ConsumerStats>)> {
        self.consumers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|w| (w.name, w.stats.clone()))
            .collect()
    }

    /// Whether the member is healthy: the watchdog's test, and 200 versus 503.
    pub fn is_healthy(&self) -> bool {
        self.report().0
    }

    /// Whether the member is healthy, and the full report.
    pub fn report(&self) -> (bool, Value) {
        let redis = self.redis_ok.load(Ordering::Relaxed);
        let loaded = self.config_loaded.load(Ordering::Relaxed);
        let leader = self.lease.get().is_some_and(LeaseHandle::is_leader);
        let mut healthy = redis && loaded;
        let mut consumers = Map::new();
        for watched in self
            .consumers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let h = watched.stats.health();
            let fresh = h.is_fresh(self.stall_after_ms);
            let judged = !watched.while_leader || leader;
            if judged {
                healthy &= fresh;
            }
            consumers.insert(
                watched.name.to_owned(),
                json!({"ok": fresh || !judged, "connected": h.connected, "last_read_ms": h.last_read_ms,
                       "handled": h.handled, "failed": h.failed, "dead_lettered": h.dead_lettered,
                       "reclaimed": h.reclaimed, "unknown_action": h.unknown_action}),
            );
        }
        let mut report = Map::new();
        report.insert("member".into(), json!(self.member));
        report.insert(
            "redis".into(),
            json!({"ok": redis, "last_ok_ms": self.redis_last_ok_ms.load(Ordering::Relaxed)}),
        );
        report.insert("config_loaded".into(), json!(loaded));
        report.insert("config_skipped".into(), json!(self.skipped.list()));
        report.insert("consumers".into(), Value::Object(consumers));
        if let Some(lease) = self.lease.get() {
            let shown = match lease.state() {
                LeaseState::Leader { epoch, .. } if leader => {
                    json!({"role": "active", "epoch": epoch})
                }
                _ => json!({"role": "standby"}),
            };
            report.insert("lease".into(), shown);
        }
        let condition = self
            .own
            .get()
            .map_or(Condition::Ok, |checks| checks(&mut report));
        healthy &= condition != Condition::Failing;
        let draining = self.is_draining();
        let status = match (draining, healthy, condition) {
            (true, _, _) => "draining",
            (false, false, _) => "failing",
            (false, true, Condition::Degraded) => "degraded",
            (false, true, _) => "ok",
        };
        report.insert("status".into(), json!(status));
        (healthy && !draining, Value::Object(report))
    }
}

/// Keeps the Redis check current: a `PING` through the writer twice a second (given at most
/// a second each), so health is green only when a publish would get through, and turns
/// green within half a second of Redis coming back.
pub(crate) fn spawn_redis_probe(broker: &Broker, health: Arc<Health>) -> JoinHandle<()> {
    let broker = broker.clone();
    tokio::spawn(async move {
        let cancel = broker.cancel_token().clone();
        loop {
            let ok = tokio::time::timeout(Duration::from_secs(1), broker.ping())
                .await
                .is_ok_and(|pinged| pinged.is_ok());
            health.redis_ok.store(ok, Ordering::Relaxed);
            if ok {
                health.redis_last_ok_ms.store(unix_ms(), Ordering::Relaxed);
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
                () = cancel.cancelled() => return,
            }
        }
    })
}
