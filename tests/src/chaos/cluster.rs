//! The cluster the chaos scenario runs: every member twice where the product promises
//! failover, configured with one channel of each kind and two jobs, all bound to
//! `zato.record`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::POLL;
use crate::connector::{ConnectorProcess, unique_name};
use crate::process::MemberProcess;
use crate::rabbitmq::Vhost;
use crate::scheduler::SchedulerProcess;
use crate::server::{ServerProcess, eventually_every};
use crate::{RedisServer, free_port, unique_cluster};

/// The `zato.record` list each kind of message is recorded in.
pub struct RecordKeys {
    pub http: String,
    pub invoke_async: String,
    pub amqp: String,
    pub zmq: String,
    pub jobs: String,
}

/// Everything the scenario started.
pub struct Cluster {
    pub cluster: String,
    pub redis: RedisServer,
    /// `server-1` is never killed (its memory is watched); `server-2` is.
    pub servers: Vec<ServerProcess>,
    /// The URLs of the servers that are up, shared with the HTTP load.
    pub urls: Arc<Mutex<Vec<String>>>,
    pub schedulers: Vec<SchedulerProcess>,
    pub connectors: Vec<ConnectorProcess>,
    pub vhost: Vhost,
    /// The AMQP channel's queue, in `vhost`.
    pub queue: String,
    /// The address the ZeroMQ PULL channel binds.
    pub zmq_address: String,
    pub keys: RecordKeys,
}

impl Cluster {
    /// Starts every member, configures the channels and jobs, and waits until every channel
    /// takes messages.
    pub fn start() -> Self {
        let vhost = Vhost::create("chaos");
        let queue = vhost.declare_queue("zato-chaos");
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
        let urls = servers.iter().map(|s| s.url.clone()).collect();
        let c = Self {
            cluster,
            redis,
            servers,
            urls: Arc::new(Mutex::new(urls)),
            schedulers,
            connectors,
            vhost,
            queue,
            zmq_address: format!("tcp://127.0.0.1:{}", free_port()),
            keys: RecordKeys {
                http: unique_name("http"),
                invoke_async: unique_name("async"),
                amqp: unique_name("amqp"),
                zmq: unique_name("zmq"),
                jobs: unique_name("jobs"),
            },
        };
        c.configure();
        c.wait_channels_ready();
        c
    }

    /// One channel of each kind and two interval jobs of 1 s, through the admin API.
    fn configure(&self) {
        let tick = |name: &str| {
            json!({"name": name, "service": "zato.record", "kind": "interval",
                   "interval": {"seconds": 1}, "payload": {"key": self.keys.jobs}})
        };
        for (path, body) in [
            (
                "/zato/api/channels/http",
                json!({"name": "chaos", "url_path": "/chaos/record", "service": "zato.record"}),
            ),
            (
                "/zato/api/amqp/definitions",
                json!({"name": "rabbit", "url": self.vhost.url(), "prefetch": 20}),
            ),
            (
                "/zato/api/channels/amqp",
                json!({"name": "in", "definition": "rabbit", "queue": self.queue,
                       "service": "zato.record", "consumers": 2}),
            ),
            (
                "/zato/api/channels/zmq",
                json!({"name": "pull", "address": self.zmq_address, "socket_type": "PULL",
                       "bind": true, "service": "zato.record"}),
            ),
            ("/zato/api/jobs", tick("tick-a")),
            ("/zato/api/jobs", tick("tick-b")),
        ] {
            let answer = self.servers[0].admin("POST", path, Some(&body));
            assert_eq!(answer.status, 201, "POST {path}: {}", answer.body);
        }
    }

    /// Until the active connector is connected on both its channels and every server's HTTP
    /// channel answers.
    fn wait_channels_ready(&self) {
        let active = self.active_connector().expect("one active connector");
        let connector = &self.connectors[active];
        connector.wait_connected("amqp_channel", "in", Duration::from_secs(20));
        connector.wait_connected("zmq_channel", "pull", Duration::from_secs(20));
        for s in &self.servers {
            let answers = eventually_every(Duration::from_secs(10), POLL, || {
                s.call("POST", "/chaos/record", &[], Some(r#"{"key": "warm-up"}"#))
                    .is_some_and(|a| a.status == 200)
            });
            assert!(answers, "the HTTP channel answers on {}", s.member);
        }
    }

    /// Every member process, servers first.
    pub fn members(&self) -> impl Iterator<Item = &MemberProcess> {
        self.servers
            .iter()
            .map(|s| &**s)
            .chain(self.schedulers.iter().map(|s| &**s))
            .chain(self.connectors.iter().map(|c| &**c))
    }

    /// Whether every member's health is 200.
    pub fn members_healthy(&self) -> bool {
        self.members().all(MemberProcess::is_healthy)
    }

    /// The members whose health is not 200.
    pub fn unhealthy(&self) -> Vec<String> {
        self.members()
            .filter(|m| !m.is_healthy())
            .map(|m| m.member.clone())
            .collect()
    }

    /// The index of the one active scheduler, once there is exactly one (within 10 s).
    pub fn active_scheduler(&self) -> Option<usize> {
        let single = eventually_every(Duration::from_secs(10), POLL, || {
            self.schedulers.iter().filter(|s| s.is_active()).count() == 1
        });
        single.then(|| self.schedulers.iter().position(SchedulerProcess::is_active))?
    }

    /// The index of the one active connector, once there is exactly one (within 10 s).
    pub fn active_connector(&self) -> Option<usize> {
        let single = eventually_every(Duration::from_secs(10), POLL, || {
            self.connectors.iter().filter(|c| c.is_active()).count() == 1
        });
        single.then(|| self.connectors.iter().position(ConnectorProcess::is_active))?
    }

    /// The last 40 lines of every member's log (servers, connectors, schedulers), for a
    /// failure message.
    pub fn log_tails(&self) -> String {
        let tails = self
            .servers
            .iter()
            .map(|s| &**s)
            .chain(self.connectors.iter().map(|c| &**c))
            .chain(self.schedulers.iter().map(|s| &**s))
            .map(|m| format!("--- {} ---\n{}", m.member, tail(&m.logs())));
        tails.collect::<Vec<_>>().join("\n")
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
