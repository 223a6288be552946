//! Real schedulers and servers: jobs fire on time, once per scheduled instant, across
//! failovers and restarts; bad jobs are refused; jobs are managed live through the admin API.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use zato_tests::records::recorded;
use zato_tests::scheduler::SchedulerProcess;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, unique_cluster};

/// (job, scheduled instant, when it was recorded) of every fire recorded under `key`.
fn fires(redis: &RedisServer, cluster: &str, key: &str) -> Vec<(String, Timestamp, Timestamp)> {
    recorded(redis, cluster, key)
        .iter()
        .filter_map(|e| {
            let scheduled = e["meta"]["scheduled"].as_str()?.parse().ok()?;
            let at = e["ts"].as_str()?.parse().ok()?;
            Some((e["channel_name"].as_str()?.to_owned(), scheduled, at))
        })
        .collect()
}

fn interval_job(name: &str, key: &str, extra: Value) -> Value {
    let mut job = json!({"name": name, "service": "zato.record", "kind": "interval", "interval": {"seconds": 1},
                         "payload": {"key": key}});
    if let (Some(job), Some(extra)) = (job.as_object_mut(), extra.as_object()) {
        job.extend(extra.clone());
    }
    job
}

fn no_instant_twice(fires: &[(String, Timestamp, Timestamp)]) {
    let mut seen = HashSet::new();
    for (job, scheduled, _) in fires {
        assert!(
            seen.insert((job.clone(), *scheduled)),
            "{job} fired twice for {scheduled}"
        );
    }
}

#[test]
fn an_interval_job_fires_once_a_second_and_two_schedulers_never_double_fire() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let _one = SchedulerProcess::start(&redis, &cluster, "scheduler-1", &[]);
    let _two = SchedulerProcess::start(&redis, &cluster, "scheduler-2", &[]);
    for name in ["tick-a", "tick-b"] {
        let created = server.admin(
            "POST",
            "/zato/api/jobs",
            Some(&interval_job(name, "ticks", json!({}))),
        );
        assert_eq!(created.status, 201, "{}", created.body);
    }
    std::thread::sleep(Duration::from_millis(5_500));
    let all = fires(&redis, &cluster, "ticks");
    no_instant_twice(&all);
    for name in ["tick-a", "tick-b"] {
        let mut instants: Vec<Timestamp> = all
            .iter()
            .filter(|(j, _, _)| j == name)
            .map(|(_, s, _)| *s)
            .collect();
        instants.sort();
        assert!(
            (5..=7).contains(&instants.len()),
            "{name} fired {} times in ~5.5 s",
            instants.len()
        );
        for pair in instants.windows(2) {
            assert_eq!(
                pair[1].duration_since(pair[0]),
                SignedDuration::from_secs(1),
                "instants one second apart, no drift"
            );
        }
    }
    for (job, scheduled, at) in &all {
        let late = at.duration_since(*scheduled);
        assert!(
            late < SignedDuration::from_millis(500),
            "{job} at {scheduled} ran {late:?} late"
        );
    }
    // The admin API shows each job's run state.
    let jobs = server.admin("GET", "/zato/api/jobs", None).json();
    let tick = jobs
        .as_array()
        .and_then(|j| j.iter().find(|j| j["name"] == "tick-a"))
        .cloned()
        .unwrap_or_default();
    assert!(tick["runs"].as_u64().is_some_and(|r| r >= 5), "{tick}");
    assert!(
        tick["last_fire"].is_string() && tick["next_fire"].is_string(),
        "{tick}"
    );
}

#[test]
fn the_standby_carries_on_after_kill_9_with_each_misfire_policy() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let ttl = [
        ("ZATO_BROKER__LEASE_TTL_MS", "3000"),
        ("ZATO_MISFIRE_GRACE_MS", "500"),
    ];
    let mut one = SchedulerProcess::start(&redis, &cluster, "scheduler-1", &ttl);
    assert!(
        eventually(Duration::from_secs(5), || one.is_active()),
        "the first scheduler is active"
    );
    let mut two = SchedulerProcess::start(&redis, &cluster, "scheduler-2", &ttl);
    for (name, policy) in [("once", "run_once"), ("skip", "skip")] {
        let job = interval_job(name, "failover", json!({"misfire": policy}));
        assert_eq!(
            server.admin("POST", "/zato/api/jobs", Some(&job)).status,
            201
        );
    }
    std::thread::sleep(Duration::from_millis(2_500));
    one.kill();
    assert!(
        eventually(Duration::from_secs(6), || two.is_active()),
        "the standby took over"
    );
    std::thread::sleep(Duration::from_millis(3_000));
    let all = fires(&redis, &cluster, "failover");
    no_instant_twice(&all);
    let grace = SignedDuration::from_millis(500);
    for (name, policy) in [("once", "run_once"), ("skip", "skip")] {
        let mut mine: Vec<(Timestamp, Timestamp)> = all
            .iter()
            .filter(|(j, _, _)| j == name)
            .map(|(_, s, a)| (*s, *a))
            .collect();
        mine.sort();
        let late: Vec<_> = mine
            .iter()
            .filter(|(s, a)| a.duration_since(*s) > grace)
            .collect();
        let biggest_gap = mine
            .windows(2)
            .map(|w| w[1].0.duration_since(w[0].0))
            .max()
            .unwrap_or_default();
        assert!(
            biggest_gap >= SignedDuration::from_secs(2),
            "{name}: instants were missed during the hand-over: {mine:?}"
        );
        match policy {
            "run_once" => assert_eq!(
                late.len(),
                1,
                "{name}: one catch-up run for the missed instants: {mine:?}"
            ),
            _ => assert!(
                late.is_empty(),
                "{name}: missed instants skipped, none run late: {mine:?}"
            ),
        }
        let last = mine.last().map(|(s, _)| *s).expect("fires");
        assert!(
            Timestamp::now().duration_since(last) < SignedDuration::from_secs(2),
            "{name} carries on after the hand-over"
        );
    }
    two.kill();
}

#[test]
fn one_time_jobs_and_repeats_are_honoured_across_a_restart() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let mut scheduler = SchedulerProcess::start(&redis, &cluster, "scheduler-1", &[]);
    assert!(eventually(Duration::from_secs(5), || scheduler.is_active()));
    let at = Timestamp::now() + SignedDuration::from_millis(1_500);
    let once = json!({"name": "once", "service": "zato.record", "kind": "one_time", "start_at": at.to_string(), "payload": {"key": "once"}});
    assert_eq!(
        server.admin("POST", "/zato/api/jobs", Some(&once)).status,
        201
    );
    let thrice = interval_job("thrice", "thrice", json!({"repeats": 3}));
    assert_eq!(
        server.admin("POST", "/zato/api/jobs", Some(&thrice)).status,
        201
    );
    assert!(eventually(Duration::from_secs(5), || fires(
        &redis, &cluster, "once"
    )
    .len()
        == 1));
    // Restart in the middle of the repeats.
    assert!(
        scheduler
            .terminate(Duration::from_secs(10))
            .is_some_and(|s| s.success()),
        "clean exit on SIGTERM"
    );
    let scheduler = SchedulerProcess::start(&redis, &cluster, "scheduler-1", &[]);
    assert!(eventually(Duration::from_secs(5), || scheduler.is_active()));
    std::thread::sleep(Duration::from_millis(4_000));
    assert_eq!(
        fires(&redis, &cluster, "once").len(),
        1,
        "a one-time job never runs twice"
    );
    let thrice = fires(&redis, &cluster, "thrice");
    assert_eq!(
        thrice.len(),
        3,
        "repeats honoured across the restart: {thrice:?}"
    );
    no_instant_twice(&thrice);
    let jobs = server.admin("GET", "/zato/api/jobs/thrice", None).json();
    assert_eq!(
        (jobs["runs"].as_u64(), &jobs["next_fire"]),
        (Some(3), &Value::Null)
    );
}

#[test]
fn jobs_are_paused_resumed_renamed_deleted_and_executed_live() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let scheduler = SchedulerProcess::start(&redis, &cluster, "scheduler-1", &[]);
    assert!(eventually(Duration::from_secs(5), || scheduler.is_active()));
    let job = interval_job("live", "live", json!({}));
    assert_eq!(
        server.admin("POST", "/zato/api/jobs", Some(&job)).status,
        201
    );
    assert!(eventually(Duration::from_secs(3), || !fires(
        &redis, &cluster, "live"
    )
    .is_empty()));

    let paused = interval_job("live", "live", json!({"is_active": false}));
    assert_eq!(
        server
            .admin("PUT", "/zato/api/jobs/live", Some(&paused))
            .status,
        200
    );
    std::thread::sleep(Duration::from_millis(300));
    let before = fires(&redis, &cluster, "live").len();
    std::thread::sleep(Duration::from_millis(2_000));
    assert_eq!(
        fires(&redis, &cluster, "live").len(),
        before,
        "a paused job does not fire"
    );

    let resumed = interval_job("renamed", "live", json!({}));
    assert_eq!(
        server
            .admin("PUT", "/zato/api/jobs/live", Some(&resumed))
            .status,
        200
    );
    assert!(eventually(Duration::from_secs(3), || fires(
        &redis, &cluster, "live"
    )
    .iter()
    .any(|(j, _, _)| j == "renamed")));
    assert_eq!(
        server.admin("GET", "/zato/api/jobs/live", None).status,
        404,
        "the old name is gone"
    );

    let executed = server.admin("POST", "/zato/api/jobs/renamed/execute", None);
    assert_eq!(executed.status, 202, "{}", executed.body);
    assert!(eventually(Duration::from_secs(3), || {
        recorded(&redis, &cluster, "live")
            .iter()
            .any(|e| e["meta"]["execute_now"] == true)
    }));

    assert_eq!(
        server
            .admin("DELETE", "/zato/api/jobs/renamed", None)
            .status,
        200
    );
    std::thread::sleep(Duration::from_millis(300));
    let count = fires(&redis, &cluster, "live").len();
    std::thread::sleep(Duration::from_millis(2_000));
    assert_eq!(
        fires(&redis, &cluster, "live").len(),
        count,
        "a deleted job does not fire"
    );
    let by_job: HashMap<String, usize> =
        fires(&redis, &cluster, "live")
            .into_iter()
            .fold(HashMap::new(), |mut m, (j, _, _)| {
                *m.entry(j).or_default() += 1;
                m
            });
    assert!(by_job.contains_key("live") && by_job.contains_key("renamed"));
}

#[test]
fn bad_jobs_are_refused_with_clear_messages() {
    let redis = RedisServer::start();
    let server = ServerProcess::start(&redis, &unique_cluster(), "server-a", &[]);
    let cases = [
        (
            json!({"name": "j", "service": "zato.ping", "kind": "cron", "cron": "61 * * * *"}),
            "minute field: 61 is outside 0-59",
        ),
        (
            json!({"name": "j", "service": "zato.ping", "kind": "cron", "cron": "0 0 30 2 *"}),
            "never occurs in month '2', so the expression never matches",
        ),
        (
            json!({"name": "j", "service": "zato.ping", "kind": "cron", "cron": "@daily", "timezone": "Mars/Base"}),
            "unknown time zone 'Mars/Base'",
        ),
        (
            json!({"name": "j", "service": "zato.ping", "kind": "interval"}),
            "interval: is required",
        ),
        (
            json!({"name": "j", "service": "zato.ping", "kind": "interval", "interval": {"seconds": 0}}),
            "at least one of weeks",
        ),
        (
            json!({"name": "j", "service": "zato.ping", "kind": "one_time"}),
            "start_at: is required",
        ),
        (
            json!({"name": "j", "service": "no.such", "kind": "cron", "cron": "@hourly"}),
            "no such service 'no.such'",
        ),
        (
            json!({"name": "j", "service": "zato.ping", "kind": "weekly"}),
            "unknown variant `weekly`",
        ),
        (
            json!({"name": "j", "service": "zato.ping", "kind": "one_time", "start_at": "tomorrow"}),
            "invalid job",
        ),
    ];
    for (job, message) in cases {
        let answer = server.admin("POST", "/zato/api/jobs", Some(&job));
        assert_eq!(answer.status, 400, "{job}: {}", answer.body);
        assert!(
            answer.json()["error"]
                .as_str()
                .is_some_and(|e| e.contains(message)),
            "{job}: {}",
            answer.body
        );
    }
}
