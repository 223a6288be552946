//! `/metrics` of every member as Prometheus reads it (the Prometheus project's own parser):
//! `# HELP` on every family, the same runtime families on every member, durations as
//! histograms in seconds, and the gauges an operator alerts on (queue depth, dead letters,
//! 1:all lag, lease holder and epoch) telling the truth about the cluster.

use std::time::Duration;

use serde_json::json;
use zato_broker::{Keys, Queue};
use zato_common::ConfigKind;
use zato_tests::connector::ConnectorProcess;
use zato_tests::prometheus::Scrape;
use zato_tests::scheduler::SchedulerProcess;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, unique_cluster};

/// The families the runtime gives every member.
const RUNTIME_FAMILIES: [&str; 10] = [
    "zato_healthy",
    "zato_broker_handled",
    "zato_broker_dead_lettered",
    "zato_queue_length",
    "zato_queue_pending",
    "zato_queue_oldest_pending_age_seconds",
    "zato_queue_dead_letters",
    "zato_all_lag",
    "zato_lease_epoch",
    "zato_lease_held",
];

#[test]
fn every_member_exposes_metrics_prometheus_can_read() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let scheduler = SchedulerProcess::start(&redis, &cluster, "scheduler-a", &[]);
    let connector = ConnectorProcess::start(&redis, &cluster, "connector-a", &[]);
    assert!(eventually(Duration::from_secs(10), || scheduler.is_active()));

    let channel = json!({"name": "echo", "url_path": "/echo", "service": "zato.echo"});
    assert_eq!(
        server
            .admin("POST", "/zato/api/channels/http", Some(&channel))
            .status,
        201
    );
    assert!(eventually(Duration::from_secs(5), || server
        .call("POST", "/echo", &[], Some("{}"))
        .is_some_and(|r| r.status == 200)));
    for _ in 0..9 {
        let answer = server.call("POST", "/echo", &[], Some(r#"{"n": 1}"#));
        assert_eq!(answer.map(|a| a.status), Some(200));
    }
    // A message that is not an envelope: dead-lettered by the server at once.
    let _: String = redis::cmd("XADD")
        .arg(Keys::new(&cluster).queue(Queue::Server, 0))
        .arg("*")
        .arg("e")
        .arg("{not json")
        .query(&mut redis.client())
        .expect("a raw entry");

    // The cluster gauges are refreshed every 5 s.
    let mut last = None;
    let dead_lettered = eventually(Duration::from_secs(12), || {
        let scrape = Scrape::of(&server.url);
        let seen = scrape.value("zato_queue_dead_letters", &[("queue", "server")]);
        last = Some(scrape);
        seen == Some(1.0)
    });
    let server_scrape = last.expect("scraped");
    assert!(
        dead_lettered,
        "{:#?}",
        server_scrape.family("zato_queue_dead_letters")
    );

    for (member, scrape) in [
        ("server-a", server_scrape.clone()),
        ("scheduler-a", Scrape::of(&scheduler.url)),
        ("connector-a", Scrape::of(&connector.url)),
    ] {
        for name in RUNTIME_FAMILIES {
            let family = scrape
                .family(name)
                .unwrap_or_else(|| panic!("{member} has no {name}"));
            assert!(!family.help.is_empty(), "{member}: {name} has no HELP");
        }
        assert!(
            scrape.0.iter().all(|f| !f.help.is_empty()),
            "{member}: a family without HELP"
        );
        assert!(
            scrape
                .0
                .iter()
                .flat_map(|f| &f.samples)
                .all(|s| s.labels.get("member").is_some_and(|m| m == member)),
            "{member}: every sample names its member"
        );
        assert_eq!(scrape.value("zato_healthy", &[]), Some(1.0), "{member}");
        // Every member's 1:all group, caught up.
        assert_eq!(
            scrape.value("zato_all_lag", &[("group", member)]),
            Some(0.0),
            "{member}"
        );
    }

    let s = &server_scrape;
    assert_eq!(
        s.family("zato_service_duration_seconds")
            .map(|f| f.kind.as_str()),
        Some("histogram")
    );
    assert_eq!(
        s.value("zato_service_calls_total", &[("service", "zato.echo")]),
        Some(10.0)
    );
    assert_eq!(
        s.value(
            "zato_service_duration_seconds_count",
            &[("service", "zato.echo")]
        ),
        Some(10.0)
    );
    assert_eq!(
        s.value(
            "zato_service_duration_seconds_bucket",
            &[("service", "zato.echo"), ("le", "+Inf")]
        ),
        Some(10.0)
    );
    let sum = s
        .value(
            "zato_service_duration_seconds_sum",
            &[("service", "zato.echo")],
        )
        .expect("a sum");
    assert!(sum > 0.0 && sum < 10.0, "seconds, not microseconds: {sum}");
    assert!(s.value("zato_http_responses_total", &[("status", "200")]) >= Some(10.0));
    assert_eq!(
        s.value("zato_broker_dead_lettered_total", &[("consumer", "1:any")]),
        Some(1.0)
    );
    // Both singletons: held, with a fencing epoch.
    for lease in ["scheduler", "connector"] {
        assert!(s.value("zato_lease_epoch", &[("lease", lease)]) >= Some(1.0));
        let held = s
            .family("zato_lease_held")
            .into_iter()
            .flat_map(|f| &f.samples)
            .filter(|x| x.labels.get("lease").is_some_and(|l| l == lease))
            .count();
        assert_eq!(held, 1, "one holder of the {lease} lease");
    }

    let scheduler_scrape = Scrape::of(&scheduler.url);
    assert_eq!(
        scheduler_scrape
            .family("zato_scheduler_fire_lateness_seconds")
            .map(|f| f.kind.as_str()),
        Some("histogram")
    );
    assert!(
        Scrape::of(&connector.url)
            .family("zato_connector_messages_done")
            .is_some()
    );
}

/// A stored object this build cannot read (written by a newer one, say) costs that object
/// only: the server serves the rest, lists the object in its health and counts it.
#[test]
fn a_stored_object_that_does_not_parse_is_skipped_listed_and_counted() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let keys = Keys::new(&cluster);
    let _: () = redis::cmd("HSET")
        .arg(keys.config(ConfigKind::HttpChannel))
        .arg("from-the-future")
        .arg(r#"{"name": "from-the-future", "url_path": ["not", "a", "path"], "service": "zato.ping"}"#)
        .query(&mut redis.client())
        .expect("a stored object");
    let server = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    let channel = json!({"name": "fine", "url_path": "/fine", "service": "zato.ping"});
    assert_eq!(
        server
            .admin("POST", "/zato/api/channels/http", Some(&channel))
            .status,
        201
    );
    assert!(eventually(Duration::from_secs(5), || server
        .call("GET", "/fine", &[], None)
        .is_some_and(|r| r.status == 200)));
    let health = server.get("/zato/health").expect("health").json();
    assert_eq!(health["status"], "ok", "{health}");
    let skipped = health["config_skipped"].as_array().expect("a list");
    assert_eq!(skipped.len(), 1, "{health}");
    assert_eq!(skipped[0]["kind"], "http_channel");
    assert_eq!(skipped[0]["name"], "from-the-future");
    assert!(skipped[0]["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(
        Scrape::of(&server.url).value("zato_config_objects_skipped", &[("kind", "http_channel")]),
        Some(1.0)
    );
}
