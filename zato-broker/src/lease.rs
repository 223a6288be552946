//! Leases for the singletons (the active scheduler, the active connector).
//!
//! `SET lease:<role> <token> NX PX <ttl>` wins the lease and bumps `epoch:<role>` in the same
//! script, so every win has a new fencing token. The holder renews every ttl/3 by
//! compare-and-extend and releases by compare-and-delete, so it can never extend or delete a
//! lease that someone else holds now.
//!
//! Self-fencing: the holder counts its lease valid only until `start of the last successful
//! renewal + ttl - margin`, measured on its own clock. Redis expires the key no earlier than
//! `that start + ttl`, so a holder that cannot renew (Redis down, process stalled) stops
//! calling itself leader before anyone else can win. A standby that loses a race reads the
//! remaining TTL and tries again right after it, so take-over follows expiry closely.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::Broker;
use crate::error::Result;

/// Hashed once; sent by SHA (EVALSHA) on every call.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return -1 - redis.call('PTTL', KEYS[1])
",
    )
});

/// Hashed once; sent by SHA (EVALSHA) on every call.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
",
    )
});

/// Hashed once; sent by SHA (EVALSHA) on every call.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// The lease the active scheduler holds.
pub const SCHEDULER_LEASE: &str = "scheduler";
/// The lease the active connector holds.
pub const CONNECTOR_LEASE: &str = "connector";
/// Every singleton's lease.
pub const SINGLETON_LEASES: [&str; 2] = [SCHEDULER_LEASE, CONNECTOR_LEASE];

/// Who holds a lease now, as Redis has it (any member can look).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeaseHolder {
    /// The holder's consumer id (`<member>:<pid>:<boot id>`).
    pub holder: String,
    /// The fencing epoch of its win.
    pub epoch: u64,
}

/// The holder of the lease of `role`, or `None` when nobody holds it: one round trip.
pub async fn holder(broker: &Broker, role: &str) -> Result<Option<LeaseHolder>> {
    let mut conn = broker.redis().conn().await?;
    let (holder, epoch): (Option<String>, Option<u64>) = redis::pipe()
        .cmd("GET")
        .arg(broker.keys().lease(role))
        .cmd("GET")
        .arg(broker.keys().epoch(role))
        .query_async(&mut conn)
        .await?;
    Ok(holder.map(|holder| LeaseHolder {
        holder,
        epoch: epoch.unwrap_or(0),
    }))
}

/// Where this process stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Someone else holds the lease, or nobody can be reached.
    Standby,
    /// This process holds the lease, with this fencing `epoch`, until `valid_until` unless
    /// renewed.
    Leader { epoch: u64, valid_until: Instant },
}

/// A view of one lease campaign, cheap to clone into every loop it gates.
#[derive(Clone)]
pub struct LeaseHandle {
    rx: watch::Receiver<LeaseState>,
}

impl LeaseHandle {
    /// Whether this process holds the lease right now (time-checked, not only last known).
    pub fn is_leader(&self) -> bool {
        matches!(*self.rx.borrow(), LeaseState::Leader { valid_until, .. } if Instant::now() < valid_until)
    }

    /// The fencing token of the current holding, if leader.
    pub fn epoch(&self) -> Option<u64> {
        match *self.rx.borrow() {
            LeaseState::Leader { epoch, valid_until } if Instant::now() < valid_until => {
                Some(epoch)
            }
            _ => None,
        }
    }

    /// The last known state.
    pub fn state(&self) -> LeaseState {
        *self.rx.borrow()
    }

    /// Notified on every change of state.
    pub fn subscribe(&self) -> watch::Receiver<LeaseState> {
        self.rx.clone()
    }
}

/// A running lease campaign.
pub struct Lease {
    handle: LeaseHandle,
    cancel: CancellationToken,
    join: JoinHandle<()>,
}

impl Lease {
    /// Starts campaigning for `role`'s lease with the broker's TTL.
    pub fn spawn(broker: &Broker, role: &str) -> Self {
        let ttl = Duration::from_millis(broker.settings().lease_ttl_ms);
        let (tx, rx) = watch::channel(LeaseState::Standby);
        let cancel = broker.cancel_token().child_token();
        let campaign = Campaign {
            broker: broker.clone(),
            key: broker.keys().lease(role),
            epoch_key: broker.keys().epoch(role),
            token: broker.consumer_id().to_owned(),
            role: role.to_owned(),
            ttl,
            tx,
            cancel: cancel.clone(),
        };
        let join = tokio::spawn(campaign.run());
        Self {
            handle: LeaseHandle { rx },
            cancel,
            join,
        }
    }

    /// The view to gate work on.
    pub fn handle(&self) -> LeaseHandle {
        self.handle.clone()
    }

    /// Gives the lease up (if held) and stops campaigning.
    pub async fn release(self) {
        self.cancel.cancel();
        let _ = self.join.await;
    }

    /// Stops at once without releasing, as a crash would; the lease runs out by itself.
    pub fn abort(self) {
        self.join.abort();
    }
}

struct Campaign {
    broker: Broker,
    key: String,
    epoch_key: String,
    token: String,
    role: String,
    ttl: Duration,
    tx: watch::Sender<LeaseState>,
    cancel: CancellationToken,
}

impl Campaign {
    /// Margin taken off the TTL for clock-rate differences between this host and Redis.
    fn valid_for(&self) -> Duration {
        self.ttl - self.ttl / 10
    }

    async fn run(self) {
        loop {
            let state = *self.tx.borrow();
            let wait = match state {
                LeaseState::Standby => self.try_acquire().await,
                LeaseState::Leader { valid_until, .. } => self.renew(valid_until).await,
            };
            let deadline = match *self.tx.borrow() {
                LeaseState::Leader { valid_until, .. } => valid_until,
                LeaseState::Standby => Instant::now() + wait,
            };
            tokio::select! {
                () = tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now()))) => {}
                () = self.cancel.cancelled() => break,
            }
            let state = *self.tx.borrow();
            if let LeaseState::Leader { valid_until, .. } = state
                && Instant::now() >= valid_until
            {
                warn!(role = %self.role, "lease not renewed in time; standing down");
                self.tx.send_replace(LeaseState::Standby);
            }
        }
        self.release().await;
    }

    /// One attempt to win; how long to wait before the next.
    async fn try_acquire(&self) -> Duration {
        let started = Instant::now();
        let result: Result<i64> = async {
            let mut conn = self.broker.redis().write_conn().await?;
            let epoch: i64 = ACQUIRE
                .key(&self.key)
                .key(&self.epoch_key)
                .arg(&self.token)
                .arg(self.ttl.as_millis() as u64)
                .invoke_async(&mut conn)
                .await?;
            // A win the replicas do not have yet could be undone by a failover, and a second
            // member win the same lease (with the same epoch) on the promoted replica.
            if epoch > 0 {
                self.broker
                    .redis()
                    .confirm_replicated(&mut conn, &self.key)
                    .await?;
            }
            Ok(epoch)
        }
        .await;
        match result {
            Ok(epoch) if epoch > 0 => {
                let epoch = epoch as u64;
                info!(role = %self.role, epoch, "lease won");
                self.tx.send_replace(LeaseState::Leader {
                    epoch,
                    valid_until: started + self.valid_for(),
                });
                self.ttl / 3
            }
            Ok(negative) => {
                // -1 - PTTL: the holder's lease ends in that many ms (PTTL -1: no expiry set,
                // -2: gone since); try right after it, and at least every ttl/3.
                let remaining = Duration::from_millis((-1 - negative).max(0) as u64);
                (remaining + Duration::from_millis(5)).min(self.ttl / 3)
            }
            Err(e) => {
                warn!(role = %self.role, error = %e, "cannot campaign for the lease");
                self.ttl / 3
            }
        }
    }

    /// One renewal; how long to wait before the next.
    async fn renew(&self, valid_until: Instant) -> Duration {
        let started = Instant::now();
        let attempt = async {
            let mut conn = self.broker.redis().write_conn().await?;
            let renewed: i64 = RENEW
                .key(&self.key)
                .arg(&self.token)
                .arg(self.ttl.as_millis() as u64)
                .invoke_async(&mut conn)
                .await?;
            // A renewal the replicas do not have could be undone by a failover quicker than
            // the TTL: the promoted replica would let a second member win meanwhile.
            if renewed == 1 {
                self.broker
                    .redis()
                    .confirm_replicated(&mut conn, &self.key)
                    .await?;
            }
            Result::<i64>::Ok(renewed)
        };
        match tokio::time::timeout(valid_until.saturating_duration_since(started), attempt).await {
            Ok(Ok(1)) => {
                let state = *self.tx.borrow();
                if let LeaseState::Leader { epoch, .. } = state {
                    self.tx.send_replace(LeaseState::Leader {
                        epoch,
                        valid_until: started + self.valid_for(),
                    });
                }
            }
            Ok(Ok(_)) => {
                warn!(role = %self.role, "lease taken by another member; standing down");
                self.tx.send_replace(LeaseState::Standby);
            }
            Ok(Err(e)) => {
                warn!(role = %self.role, error = %e, "lease renewal failed; still valid until its deadline")
            }
            Err(_) => warn!(role = %self.role, "lease renewal timed out"),
        }
        self.ttl / 3
    }

    async fn release(&self) {
        let state = *self.tx.borrow();
        let was_leader = matches!(state, LeaseState::Leader { .. });
        self.tx.send_replace(LeaseState::Standby);
        if !was_leader {
            return;
        }
        let released: Result<i64> = async {
            let mut conn = self.broker.redis().conn().await?;
            Ok(RELEASE
                .key(&self.key)
                .arg(&self.token)
                .invoke_async(&mut conn)
                .await?)
        }
        .await;
        match released {
            Ok(_) => info!(role = %self.role, "lease released"),
            Err(e) => {
                warn!(role = %self.role, error = %e, "could not release the lease; it will expire")
            }
        }
    }
}
