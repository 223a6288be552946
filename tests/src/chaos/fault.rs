//! The faults the scenario injects, each followed by a wait for the cluster to show, from the
//! outside, that it recovered: the time that took is the fault's recovery time.

use std::time::{Duration, Instant};

use jiff::Timestamp;

use super::cluster::Cluster;
use super::load::Load;
use super::{POLL, secs};
use crate::RedisServer;
use crate::connector::ConnectorProcess;
use crate::records::recorded_from;
use crate::scheduler::SchedulerProcess;
use crate::server::{ServerProcess, eventually_every};

/// One kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    ServerKill,
    SchedulerKill,
    ConnectorKill,
    RedisRestart,
    RabbitClose,
}

/// Every fault, in the order they take turns.
pub const FAULTS: [Fault; 5] = [
    Fault::ServerKill,
    Fault::SchedulerKill,
    Fault::ConnectorKill,
    Fault::RedisRestart,
    Fault::RabbitClose,
];

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Self::ServerKill => "server SIGKILL + restart",
            Self::SchedulerKill => "active scheduler SIGKILL",
            Self::ConnectorKill => "active connector SIGKILL",
            Self::RedisRestart => "Redis kill -9 + restart",
            Self::RabbitClose => "RabbitMQ connections closed",
        }
    }

    /// What its recovery time measures.
    pub fn recovery(self) -> &'static str {
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

/// One fault injected.
pub struct Injected {
    pub fault: Fault,
    /// When, from the start of the load.
    pub at: Duration,
    /// When, by the clock the records' timestamps use.
    pub wall: Timestamp,
    /// How long the recovery took; `None`: it never recovered.
    pub recovery: Option<Duration>,
    /// What happened, for the log.
    pub detail: String,
}

/// Injects the faults in turn, 2 s apart, until `load` has run for `load_for`; prints each as
/// it goes.
pub fn inject_in_turn(c: &mut Cluster, load: &Load, load_for: Duration) -> Vec<Injected> {
    let mut injected = Vec::new();
    for fault in FAULTS.into_iter().cycle() {
        if load.elapsed() >= load_for {
            break;
        }
        let at = load.elapsed();
        let wall = Timestamp::now();
        let (recovery, detail) = inject(fault, c, load);
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
    injected
}

/// Injects `fault` and waits for the recovery; (how long it took, what happened).
fn inject(fault: Fault, c: &mut Cluster, load: &Load) -> (Option<Duration>, String) {
    match fault {
        Fault::ServerKill => kill_server(c),
        Fault::SchedulerKill => kill_active_scheduler(c),
        Fault::ConnectorKill => kill_active_connector(c, load),
        Fault::RedisRestart => restart_redis(c, load),
        Fault::RabbitClose => close_rabbit_connections(c, load),
    }
}

/// SIGKILLs `server-2` (out of the HTTP load's rotation meanwhile) and starts it again.
fn kill_server(c: &mut Cluster) -> (Option<Duration>, String) {
    let gone = c.servers[1].url.clone();
    c.urls.lock().expect("urls").retain(|u| *u != gone);
    c.servers[1].kill();
    let killed = Instant::now();
    c.servers[1] = ServerProcess::start(&c.redis, &c.cluster, "server-2", &[]);
    let took = killed.elapsed();
    c.urls.lock().expect("urls").push(c.servers[1].url.clone());
    (Some(took), "server-2".into())
}

fn kill_active_scheduler(c: &mut Cluster) -> (Option<Duration>, String) {
    let Some(active) = c.active_scheduler() else {
        return (None, "no single active scheduler before the kill".into());
    };
    let member = c.schedulers[active].member.clone();
    c.schedulers[active].kill();
    let killed_at = Timestamp::now();
    let killed = Instant::now();
    let other = 1 - active;
    let took_over = within(20, || c.schedulers[other].is_active());
    let fired = within(20, || {
        fired_after(&c.redis, &c.cluster, &c.keys.jobs, killed_at)
    })
    .then(|| killed.elapsed());
    c.schedulers[active] = SchedulerProcess::start(&c.redis, &c.cluster, &member, &[]);
    (
        fired,
        format!("{member} killed; standby took over: {took_over}; restarted as standby"),
    )
}

fn kill_active_connector(c: &mut Cluster, load: &Load) -> (Option<Duration>, String) {
    let Some(active) = c.active_connector() else {
        return (None, "no single active connector before the kill".into());
    };
    let member = c.connectors[active].member.clone();
    c.connectors[active].kill();
    let killed = Instant::now();
    let published = load.last_confirmed_amqp();
    let standby = &c.connectors[1 - active];
    let connected = within(20, || {
        standby.is_connected("amqp_channel", "in") && standby.is_connected("zmq_channel", "pull")
    })
    .then(|| killed.elapsed());
    let served = within(30, || {
        recorded_after(&c.redis, &c.cluster, &c.keys.amqp, published)
    })
    .then(|| killed.elapsed());
    c.connectors[active] = ConnectorProcess::start(&c.redis, &c.cluster, &member, &[]);
    (
        served,
        format!(
            "{member} killed; standby connected in {}; restarted as standby",
            connected.map_or("-".into(), secs)
        ),
    )
}

fn restart_redis(c: &mut Cluster, load: &Load) -> (Option<Duration>, String) {
    let started = Instant::now();
    c.redis.restart();
    let down = started.elapsed();
    let accepted = load.last_accepted_async();
    let all_healthy = within(30, || c.members_healthy()).then(|| started.elapsed());
    let served = within(30, || {
        recorded_after(&c.redis, &c.cluster, &c.keys.invoke_async, accepted)
    })
    .then(|| started.elapsed());
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

/// Closes every connection of the test's vhost: the connector's and pika's.
fn close_rabbit_connections(c: &Cluster, load: &Load) -> (Option<Duration>, String) {
    if let Err(e) = c.vhost.close_connections() {
        return (None, format!("close_all_connections failed: {e}"));
    }
    let closed = Instant::now();
    let published = load.last_confirmed_amqp();
    let served = within(30, || {
        recorded_after(&c.redis, &c.cluster, &c.keys.amqp, published)
    })
    .then(|| closed.elapsed());
    (served, "rabbitmqctl close_all_connections (vhost)".into())
}

/// Whether `check` holds within `seconds`.
fn within(seconds: u64, check: impl FnMut() -> bool) -> bool {
    eventually_every(Duration::from_secs(seconds), POLL, check)
}

/// Whether a record with `payload.n > n` is among the last entries of `key`.
fn recorded_after(redis: &RedisServer, cluster: &str, key: &str, n: u64) -> bool {
    recorded_from(redis, cluster, key, -300)
        .iter()
        .any(|e| e["payload"]["n"].as_u64().is_some_and(|m| m > n))
}

/// Whether a job fire scheduled after `at` was recorded.
fn fired_after(redis: &RedisServer, cluster: &str, key: &str, at: Timestamp) -> bool {
    recorded_from(redis, cluster, key, -30).iter().any(|e| {
        e["meta"]["scheduled"]
            .as_str()
            .and_then(|s| s.parse::<Timestamp>().ok())
            .is_some_and(|s| s > at)
    })
}
