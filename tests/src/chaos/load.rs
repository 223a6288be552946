//! The scenario's steady mixed load: HTTP calls to the channel and invoke_async calls from
//! threads of this process, AMQP and ZeroMQ messages from python peers, each at a fixed rate
//! and each numbered, so the check can tell exactly which messages were handled.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;

use super::cluster::Cluster;
use super::peer::Peer;
use crate::server::{ADMIN_TOKEN, send};

/// Messages per second of each kind.
const HTTP_RATE: f64 = 15.0;
const ASYNC_RATE: f64 = 20.0;
const AMQP_RATE: f64 = 25.0;
const ZMQ_RATE: f64 = 15.0;

/// What one HTTP driver sent and how the servers answered.
#[derive(Default, Debug)]
pub struct Sent {
    pub attempted: u64,
    /// The n of every call answered with the expected status.
    pub accepted: Vec<u64>,
    /// How many calls got each other status.
    pub refused: BTreeMap<u16, u64>,
    pub no_answer: u64,
}

/// The load while it runs.
pub struct Load {
    started: Instant,
    stop: Arc<AtomicBool>,
    last_async: Arc<AtomicU64>,
    http: JoinHandle<Sent>,
    invoke_async: JoinHandle<Sent>,
    amqp: Peer,
    zmq: Peer,
}

/// Everything the load offered, once it stopped.
pub struct Offered {
    /// How long the load ran.
    pub lasted: Duration,
    /// HTTP calls to the channel (accepted: answered 200).
    pub http: Sent,
    /// invoke_async calls (accepted: answered 202).
    pub invoke_async: Sent,
    /// The AMQP messages RabbitMQ confirmed to pika.
    pub amqp_confirmed: Vec<u64>,
    /// AMQP messages not confirmed (their connection closed mid-publish).
    pub amqp_unconfirmed: usize,
    /// The ZeroMQ messages the PUSH socket queued.
    pub zmq_sent: Vec<u64>,
    /// ZeroMQ messages the socket refused at once (high-water mark).
    pub zmq_refused: usize,
}

impl Load {
    /// Starts every kind of load against `c`.
    pub fn start(c: &Cluster) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let last_async = Arc::new(AtomicU64::new(0));
        let http = Driver {
            urls: c.urls.clone(),
            stop: stop.clone(),
            // Nothing waits on HTTP calls being recorded, so the last accepted one is not kept.
            last: Arc::default(),
            rate: HTTP_RATE,
            key: c.keys.http.clone(),
            path: "/chaos/record",
            expect: 200,
        };
        let invoke_async = Driver {
            urls: c.urls.clone(),
            stop: stop.clone(),
            last: last_async.clone(),
            rate: ASYNC_RATE,
            key: c.keys.invoke_async.clone(),
            path: "/zato/api/invoke-async/zato.record",
            expect: 202,
        };
        let (http, invoke_async) = (
            std::thread::spawn(move || http.run()),
            std::thread::spawn(move || invoke_async.run()),
        );
        let vhost_url = c.vhost.url();
        let (amqp_rate, zmq_rate) = (AMQP_RATE.to_string(), ZMQ_RATE.to_string());
        let amqp = Peer::start(
            "chaos_amqp_publisher.py",
            &[&vhost_url, &c.queue, &c.keys.amqp, &amqp_rate],
        );
        let zmq = Peer::start(
            "chaos_zmq_pusher.py",
            &[&c.zmq_address, &c.keys.zmq, &zmq_rate],
        );
        Self {
            started: Instant::now(),
            stop,
            last_async,
            http,
            invoke_async,
            amqp,
            zmq,
        }
    }

    /// How long it has run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The n of the last invoke_async call answered 202.
    pub fn last_accepted_async(&self) -> u64 {
        self.last_async.load(Ordering::SeqCst)
    }

    /// The n of the last AMQP message confirmed to pika (0 before the first).
    pub fn last_confirmed_amqp(&self) -> u64 {
        self.amqp.last("c").unwrap_or(0)
    }

    /// Stops every sender, waits for them, and tells what they offered.
    pub fn stop(mut self) -> Offered {
        self.stop.store(true, Ordering::SeqCst);
        self.amqp.finish();
        self.zmq.finish();
        let http = self.http.join().expect("http load");
        let invoke_async = self.invoke_async.join().expect("invoke_async load");
        Offered {
            lasted: self.started.elapsed(),
            http,
            invoke_async,
            amqp_confirmed: self.amqp.numbers("c"),
            amqp_unconfirmed: self.amqp.numbers("u").len(),
            zmq_sent: self.zmq.numbers("s"),
            zmq_refused: self.zmq.numbers("b").len(),
        }
    }
}

/// POSTs `{"key", "n"}` to `path` on the live servers in turn, `rate` a second, until `stop`.
struct Driver {
    urls: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    /// The n of the last call answered `expect`.
    last: Arc<AtomicU64>,
    rate: f64,
    key: String,
    path: &'static str,
    expect: u16,
}

impl Driver {
    fn run(self) -> Sent {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let headers = [
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        let mut started = Instant::now();
        let mut sent = Sent::default();
        let mut n = 0u64;
        while !self.stop.load(Ordering::SeqCst) {
            let targets = self.urls.lock().expect("urls").clone();
            let url = &targets[n as usize % targets.len()];
            let body = json!({"key": self.key, "n": n}).to_string();
            let path = self.path;
            match send("POST", &format!("{url}{path}"), &headers, Some(&body)) {
                Some(a) if a.status == self.expect => {
                    sent.accepted.push(n);
                    self.last.store(n, Ordering::SeqCst);
                }
                Some(a) => *sent.refused.entry(a.status).or_default() += 1,
                None => sent.no_answer += 1,
            }
            n += 1;
            // Keep the rate: catch up after a slow call, unless more than 2 s behind (then
            // start counting again rather than burst).
            let due = started + Duration::from_secs_f64(n as f64 / self.rate);
            match due.checked_duration_since(Instant::now()) {
                Some(pause) => std::thread::sleep(pause),
                None if Instant::now() - due > Duration::from_secs(2) => {
                    started = Instant::now() - Duration::from_secs_f64(n as f64 / self.rate);
                }
                None => {}
            }
        }
        sent.attempted = n;
        sent
    }
}
