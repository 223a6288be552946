//! Members on a Redis Sentinel group (`redis+sentinel://`): the master is killed under load,
//! the sentinels promote a replica, and the members follow it by themselves. With
//! `broker.min_replicas_ack` nothing a publish acknowledged is lost; without it, what is
//! lost is reported. A lease has at most one holder across the failover.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zato_broker::{Lease, LeaseState, Target};
use zato_common::settings::BrokerSettings;
use zato_tests::failover::{FAILOVER_WITHIN, HANDLED_WITHIN, Load, Outcome, under_load, unhandled};
use zato_tests::{
    RedisSentinel, broker_with, init_logging, test_settings, unique_cluster, wait_until,
};

fn settings(min_replicas_ack: u32) -> BrokerSettings {
    BrokerSettings {
        min_replicas_ack,
        replicas_ack_timeout_ms: 1_000,
        ..test_settings()
    }
}

/// [`under_load`] on a sentinel group: the master killed, until the sentinels name another;
/// the old and the new master.
async fn failover_under_load(
    group: &mut RedisSentinel,
    cluster: &str,
    settings: BrokerSettings,
    handled_within: Duration,
) -> Outcome<(u16, u16)> {
    under_load(group, cluster, settings, handled_within, |group, _| {
        let old_master = group.master_port();
        group.kill(old_master);
        (
            old_master,
            group.wait_for_new_master(old_master, FAILOVER_WITHIN),
        )
    })
    .await
}

/// When each sample was taken, and the epoch each of two candidates led with then (`None`:
/// not leading).
type Samples = Arc<Mutex<Vec<(Instant, [Option<u64>; 2])>>>;

/// `calls` of `cmdstat_xadd` in an `INFO commandstats` text (0 when absent).
fn xadd_calls(commandstats: &str) -> u64 {
    commandstats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_xadd:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_follow_a_failover_and_lose_nothing_acknowledged() {
    init_logging();
    let started = Instant::now();
    // Two replicas: after the failover the new master still has one to confirm writes.
    let mut group = RedisSentinel::start_with_replicas(2);
    let cluster = unique_cluster();
    let outcome = failover_under_load(&mut group, &cluster, settings(1), HANDLED_WITHIN).await;
    outcome.assert_nothing_lost();
    let Outcome {
        consumer,
        producer,
        handled,
        failover: (old_master, new_master),
        ..
    } = outcome;

    // The old master comes back while the producer keeps publishing.
    let load = Load::start(producer.clone(), 1_000_000);
    group.restart(old_master);
    // While it is a master again (of nothing) or a replica not yet synced, no member may
    // write to it: its data is replaced by the new master's at the full sync. `ROLE` and the
    // command counters are read in one transaction, so each sample's count belongs to its
    // role; replicated commands are counted too, but only once the link is up.
    let mut direct_xadds = 0;
    let mut samples = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let sample: redis::RedisResult<(Vec<redis::Value>, String)> =
            group.try_connection(old_master).and_then(|mut conn| {
                redis::pipe()
                    .atomic()
                    .cmd("ROLE")
                    .cmd("INFO")
                    .arg("commandstats")
                    .query(&mut conn)
            });
        if let Ok((role, commandstats)) = sample {
            let words: Vec<String> = role
                .iter()
                .filter_map(|v| redis::from_redis_value_ref::<String>(v).ok())
                .collect();
            let synced = words.first().map(String::as_str) == Some("slave")
                && words.get(3).map(String::as_str) == Some("connected");
            samples.push(words.join(" "));
            if synced {
                break;
            }
            direct_xadds = xadd_calls(&commandstats);
        }
        assert!(
            Instant::now() < deadline,
            "the old master {old_master} did not become a synced replica within 60 s; \
             last ROLE replies: {:?}",
            &samples[samples.len().saturating_sub(5)..]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "the old master {old_master} was sampled {} times before it was a synced replica: {:?}",
        samples.len() - 1,
        samples
            .iter()
            .map(|s| s.split(' ').next().unwrap_or(""))
            .collect::<HashSet<_>>()
    );
    assert_eq!(
        group.role(old_master),
        "slave",
        "the old master is a replica"
    );
    assert_eq!(
        direct_xadds, 0,
        "a member published to the old master {old_master} before it was a synced replica"
    );
    let restarted_at = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || load.acked_after(restarted_at)
            > 0)
        .await,
        "publishes are acknowledged after the old master came back (last error: {:?})",
        load.last_error()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let acked = load.stop().await;
    assert!(
        wait_until(HANDLED_WITHIN, || unhandled(&acked, &handled).is_empty()).await,
        "the publishes after the old master came back were handled"
    );
    // It got the queue by replication: the same stream as the new master's.
    let stream = producer.stream_of(Target::Any, 0).to_owned();
    let xlen = |port: u16| -> Option<u64> {
        group
            .try_connection(port)
            .and_then(|mut conn| redis::cmd("XLEN").arg(&stream).query(&mut conn))
            .ok()
    };
    assert!(
        wait_until(Duration::from_secs(30), || {
            let new = xlen(new_master);
            new.is_some_and(|n| n > 0) && new == xlen(old_master)
        })
        .await,
        "the old master's {stream} ({:?} entries) is the new master's ({:?})",
        xlen(old_master),
        xlen(new_master)
    );
    consumer.stop().await;
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_replica_acks_the_loss_is_reported() {
    init_logging();
    let started = Instant::now();
    let mut group = RedisSentinel::start();
    let cluster = unique_cluster();
    failover_under_load(&mut group, &cluster, settings(0), Duration::from_secs(10))
        .await
        .report_loss()
        .await;
    eprintln!("took {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_has_at_most_one_holder_across_a_failover() {
    init_logging();
    let started = Instant::now();
    let mut group = RedisSentinel::start_with_replicas(2);
    let cluster = unique_cluster();
    let leases: Vec<Lease> = ["l1", "l2"]
        .iter()
        .map(|member| {
            let broker = broker_with(&group, &cluster, member, "scheduler", settings(1));
            Lease::spawn(&broker, "scheduler")
        })
        .collect();
    let handles: Vec<_> = leases.iter().map(Lease::handle).collect();
    // Every ~20 ms: the epoch each candidate leads with (None: not leading), both read
    // against one instant.
    let samples: Samples = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (samples, done, handles) = (samples.clone(), done.clone(), handles.clone());
        async move {
            while !done.load(Ordering::SeqCst) {
                let now = tokio::time::Instant::now();
                let leading = |i: usize| match handles[i].state() {
                    LeaseState::Leader { epoch, valid_until } if now < valid_until => Some(epoch),
                    _ => None,
                };
                let sample = [leading(0), leading(1)];
                samples
                    .lock()
                    .expect("samples")
                    .push((Instant::now(), sample));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    assert!(
        wait_until(Duration::from_secs(30), || handles
            .iter()
            .any(|h| h.is_leader()))
        .await,
        "someone wins the lease before the failover"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let old_master = group.master_port();
    group.kill(old_master);
    let new_master = group.wait_for_new_master(old_master, FAILOVER_WITHIN);
    let named_at = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || samples
            .lock()
            .expect("samples")
            .iter()
            .any(|(at, s)| *at > named_at && s.iter().any(Option::is_some)))
        .await,
        "someone holds the lease after the sentinels named {new_master}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    done.store(true, Ordering::SeqCst);
    sampler.await.expect("the sampler");
    let samples = samples.lock().expect("samples").clone();
    let both: Vec<_> = samples
        .iter()
        .filter(|(_, s)| s.iter().all(Option::is_some))
        .collect();
    assert!(both.is_empty(), "two holders at once: {both:?}");
    // Each win (a candidate starts leading, or leads with another epoch) in order: a win by
    // the other candidate has a higher epoch than any before it, and none goes down.
    let mut wins: Vec<(usize, u64)> = Vec::new();
    let mut previous = [None, None];
    for (_, sample) in &samples {
        for (i, epoch) in sample.iter().enumerate() {
            if let Some(epoch) = epoch
                && previous[i] != Some(*epoch)
            {
                wins.push((i, *epoch));
            }
        }
        previous = *sample;
    }
    for pair in wins.windows(2) {
        let ((a, ea), (b, eb)) = (pair[0], pair[1]);
        assert!(
            eb > ea || (a == b && eb == ea),
            "the epochs of successive wins went down or repeated: {wins:?}"
        );
    }
    eprintln!(
        "wins (candidate, epoch): {wins:?}; {} samples; took {:.1} s",
        samples.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(wins.len() >= 2, "a win after the failover: {wins:?}");
    for lease in leases {
        lease.release().await;
    }
}
