//! Fire lateness and CPU of the active scheduler under many jobs.
//!
//! ```sh
//! cargo run --profile dist -p zato-scheduler --example bench_scheduler -- [JOBS] [SECONDS]
//! ```
//!
//! Starts its own `redis-server` on a free port, stores JOBS interval jobs of one second
//! (default 10,000) whose starts are spread evenly over one second (as jobs created at
//! different times are; `--aligned` starts them all at the same instant, the worst case),
//! runs one scheduler in this process for
//! SECONDS (default 60), then prints fires, fire lateness p50/p99 (from the scheduler's own
//! histogram: time from the scheduled instant until the fire was in Redis) and the CPU the
//! process used, as a share of one core.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::bail;
use zato_broker::{Broker, BrokerConfig, ConfigStore};
use zato_common::model::{Interval, Job, JobKind, MisfirePolicy};
use zato_common::redis_server::Launch;
use zato_common::settings::BrokerSettings;
use zato_scheduler::SchedulerSettings;

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// User plus system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    ticks / 100.0
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The `(le, cumulative count)` samples of a histogram family, in order.
fn buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

/// The `q` quantile of cumulative buckets, interpolated linearly inside the bucket it falls
/// in (as Prometheus's `histogram_quantile` does).
fn quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let Some(&(_, total)) = buckets.last() else {
        return f64::NAN;
    };
    let rank = q * total;
    let mut below = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return below.0;
            }
            let share = (rank - below.1) / (count - below.1).max(1.0);
            return below.0 + (le - below.0) * share;
        }
        below = (le, count);
    }
    f64::NAN
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let aligned = std::env::args().any(|a| a == "--aligned");
    let mut args = std::env::args().skip(1).filter(|a| a != "--aligned");
    let jobs: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(60);
    // Empty and without persistence: the figures are the scheduler's, not the disk's.
    let redis = Launch::temporary()?.start()?;
    let url = redis.url();
    let cluster = "bench".to_owned();
    let admin = Broker::new(BrokerConfig {
        redis_url: url.clone(),
        cluster: cluster.clone(),
        member: "bench-admin".into(),
        role: "bench".into(),
        settings: BrokerSettings::default(),
    })?;
    let store = ConfigStore::new(admin.clone());
    // Far enough ahead that every job is stored before its first instant.
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(3 + jobs as i64 / 1_000);
    let spread = if aligned {
        0
    } else {
        1_000_000_000 / jobs.max(1) as i64
    };
    for i in 0..jobs {
        let job = Job {
            name: format!("job-{i}"),
            service: "zato.ping".into(),
            kind: JobKind::Interval,
            start_at: Some(start + jiff::SignedDuration::from_nanos(spread * i as i64)),
            interval: Some(Interval {
                seconds: 1,
                ..Interval::default()
            }),
            repeats: None,
            cron: None,
            timezone: "UTC".into(),
            payload: serde_json::json!({"i": i}),
            is_active: true,
            misfire: MisfirePolicy::Skip,
        };
        store.put(&job).await?;
    }
    let http = free_port()?;
    let settings = SchedulerSettings {
        cluster,
        member: "bench-scheduler".into(),
        redis_url: url,
        bind: format!("127.0.0.1:{http}"),
        ..SchedulerSettings::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let scheduler = tokio::spawn(zato_scheduler::run_until(settings, async {
        let _ = stop_rx.await;
    }));
    let until_start = start.duration_since(jiff::Timestamp::now());
    tokio::time::sleep(
        Duration::try_from(until_start).unwrap_or_default() + Duration::from_secs(1),
    )
    .await;
    let cpu_before = cpu_seconds();
    let wall = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = cpu_seconds() - cpu_before;
    let elapsed = wall.elapsed().as_secs_f64();
    let body = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", http))?;
        std::io::Write::write_all(&mut stream, b"GET /metrics HTTP/1.0\r\n\r\n")?;
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stream, &mut text)?;
        anyhow::Ok(text)
    })
    .await??;
    let _ = stop_tx.send(());
    scheduler.await??;
    let fires = metric(&body, "zato_scheduler_fires_total");
    if fires.is_nan() {
        bail!("no metrics: {body}");
    }
    println!(
        "jobs: {jobs}, run: {seconds} s, fires: {fires} (expected about {})",
        jobs as u64 * seconds
    );
    let lateness = buckets(&body, "zato_scheduler_fire_lateness_seconds_bucket");
    println!(
        "fire lateness: p50 {:.1} ms, p99 {:.1} ms (interpolated in the histogram's buckets)",
        quantile(&lateness, 0.5) * 1000.0,
        quantile(&lateness, 0.99) * 1000.0
    );
    println!(
        "misfires: {}",
        metric(&body, "zato_scheduler_misfires_total")
    );
    println!("scheduler CPU: {:.1}% of one core", cpu / elapsed * 100.0);
    Ok(())
}
