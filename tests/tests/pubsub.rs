//! Pub/sub end to end: two real servers (the `pubsub` example, whose `demo.subscriber`
//! records every delivery and fails on request), a real Redis, and subscribers of every
//! kind: a service, an HTTP server this project did not write (`tests/peers/http_upstream.py`,
//! for `rest`), and a pull subscriber over HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use zato_tests::records::recorded;
use zato_tests::server::{Answer, ServerProcess, binary, eventually, send};
use zato_tests::{HttpUpstream, RedisServer, unique_cluster};

const PULL_USER: &str = "billing";
const PULL_PASSWORD: &str = "pull-s3cret";
const PUBLISHER_KEY: &str = "publisher-key-4f2a";

fn start(redis: &RedisServer, cluster: &str, member: &str) -> ServerProcess {
    ServerProcess::start_binary(binary("examples/pubsub"), redis, cluster, member, &[])
}

/// An admin call that must answer `status`.
fn admin(server: &ServerProcess, method: &str, path: &str, body: Value, status: u16) -> Value {
    let answer = server.admin(method, path, Some(&body));
    assert_eq!(
        answer.status,
        status,
        "{method} {path}: {}\n{}",
        answer.body,
        server.logs()
    );
    answer.json()
}

fn topic(server: &ServerProcess, topic: Value) {
    admin(server, "POST", "/zato/api/topics", topic, 201);
}

fn subscribe(server: &ServerProcess, subscription: Value) {
    admin(server, "POST", "/zato/api/subscriptions", subscription, 201);
}

/// The pull subscriber's and the publisher's security definitions.
fn credentials(server: &ServerProcess) {
    for definition in [
        json!({"type": "basic_auth", "name": "billing-pull", "username": PULL_USER, "password": PULL_PASSWORD}),
        json!({"type": "apikey", "name": "shop", "header": "X-API-Key", "key": PUBLISHER_KEY}),
        json!({"type": "apikey", "name": "stranger", "header": "X-API-Key", "key": "another-key"}),
    ] {
        admin(server, "POST", "/zato/api/security", definition, 201);
    }
    // Every server applies them over 1:all before they are used.
    std::thread::sleep(Duration::from_millis(300));
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// A request to a pub/sub endpoint with the pull subscriber's credentials.
fn as_puller(server: &ServerProcess, path: &str, body: Value) -> Answer {
    let auth = basic(PULL_USER, PULL_PASSWORD);
    server
        .call(
            "POST",
            path,
            &[("authorization", &auth)],
            Some(&body.to_string()),
        )
        .expect("the server answers")
}

/// `demo.publish` of `count` messages `{"key": key, "seq": i, ...extra}`.
fn publish(
    server: &ServerProcess,
    topic: &str,
    count: u64,
    data: Value,
    ordering_key: Option<&str>,
) -> Vec<String> {
    let answer = server.invoke(
        "demo.publish",
        &json!({"topic": topic, "count": count, "data": data, "ordering_key": ordering_key}),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["ids"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn ids_of(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect()
}

/// Pulls (and acknowledges) until `expected` messages came or a pull returns none.
fn pull_all(server: &ServerProcess, subscription: &str, expected: usize) -> Vec<Value> {
    let mut messages = Vec::new();
    let path = format!("/zato/pubsub/subscriptions/{subscription}");
    while messages.len() < expected {
        let pulled = as_puller(
            server,
            &format!("{path}/pull"),
            json!({"max": 1000, "wait_ms": 2000}),
        );
        assert_eq!(pulled.status, 200, "{}", pulled.body);
        let batch = pulled.json()["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if batch.is_empty() {
            break;
        }
        let ids: Vec<Value> = batch.iter().map(|m| m["id"].clone()).collect();
        let acked = as_puller(server, &format!("{path}/ack"), json!({"ids": ids}));
        assert_eq!(acked.status, 200, "{}", acked.body);
        messages.extend(batch);
    }
    messages
}

fn figures(server: &ServerProcess, subscription: &str) -> Value {
    admin(
        server,
        "GET",
        &format!("/zato/api/subscriptions/{subscription}"),
        Value::Null,
        200,
    )["figures"]
        .clone()
}

#[test]
fn every_subscription_gets_every_message_once_from_both_servers() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let upstream = HttpUpstream::start();
    let a = start(&redis, &cluster, "ps-a");
    let b = start(&redis, &cluster, "ps-b");
    credentials(&a);
    admin(
        &a,
        "POST",
        "/zato/api/outgoing/rest",
        json!({"name": "collector", "address": upstream.base_url(), "path": "/collect/orders"}),
        201,
    );
    topic(&a, json!({"name": "orders"}));
    subscribe(
        &a,
        json!({"name": "audit", "topic": "orders", "delivery": {"kind": "service", "service": "demo.subscriber"}}),
    );
    subscribe(
        &a,
        json!({"name": "warehouse", "topic": "orders", "delivery": {"kind": "rest", "connection": "collector"}}),
    );
    subscribe(
        &b,
        json!({"name": "billing", "topic": "orders", "delivery": {"kind": "pull", "security": "billing-pull"}}),
    );

    const COUNT: usize = 10_000;
    let mut published = Vec::new();
    for (i, server) in [&a, &b].into_iter().enumerate() {
        published.extend(publish(
            server,
            "orders",
            (COUNT / 2) as u64,
            json!({"key": "audit", "from": i}),
            None,
        ));
    }
    assert_eq!(published.iter().collect::<BTreeSet<_>>().len(), COUNT);

    // The service subscription: every message once, spread over both servers.
    assert!(
        eventually(Duration::from_secs(60), || recorded(
            &redis, &cluster, "audit"
        )
        .len()
            >= COUNT),
        "the service subscription got {} of {COUNT}",
        recorded(&redis, &cluster, "audit").len()
    );
    let records = recorded(&redis, &cluster, "audit");
    let ids: BTreeSet<String> = ids_of(&records).into_iter().collect();
    assert_eq!(records.len(), COUNT, "no message twice without a fault");
    assert_eq!(ids, published.iter().cloned().collect::<BTreeSet<_>>());
    let members: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["member"].as_str())
        .collect();
    assert_eq!(
        members,
        BTreeSet::from(["ps-a", "ps-b"]),
        "both servers deliver"
    );
    assert!(
        records
            .iter()
            .all(|r| r["channel"] == "pubsub" && r["channel_name"] == "audit")
    );

    // The REST subscription: every message POSTed once to the upstream, 2xx acknowledging.
    let collected = || -> Vec<Value> {
        send("GET", &upstream.url("/collected/orders"), &[], None)
            .map(|a| a.json()["items"].as_array().cloned().unwrap_or_default())
            .unwrap_or_default()
    };
    assert!(
        eventually(Duration::from_secs(60), || collected().len() >= COUNT),
        "the REST subscription got {} of {COUNT}; server log:\n{}\nupstream log:\n{}",
        collected().len(),
        a.logs()
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n"),
        upstream
            .logs()
            .lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let pushed = collected();
    assert_eq!(pushed.len(), COUNT);
    assert_eq!(ids_of(&pushed).into_iter().collect::<BTreeSet<_>>(), ids);
    assert_eq!(pushed[0]["topic"], "orders");
    assert_eq!(pushed[0]["subscription"], "warehouse");
    assert_eq!(pushed[0]["deliveries"], 1);

    // The pull subscription: every message once, pulled from either server.
    let pulled = pull_all(&a, "billing", COUNT);
    assert_eq!(pulled.len(), COUNT);
    assert_eq!(ids_of(&pulled).into_iter().collect::<BTreeSet<_>>(), ids);
    assert!(
        pull_all(&b, "billing", 1).is_empty(),
        "nothing is pulled twice"
    );

    // What operators see: nothing left, everything delivered.
    assert!(eventually(Duration::from_secs(10), || {
        ["audit", "warehouse", "billing"]
            .iter()
            .all(|s| figures(&a, s)["backlog"] == 0)
    }));
    let topic = admin(&a, "GET", "/zato/api/topics/orders", Value::Null, 200);
    assert_eq!(topic["figures"]["depth"], COUNT);
    assert_eq!(topic["figures"]["published"], COUNT);
    assert_eq!(figures(&a, "audit")["delivered"], COUNT);
    let metrics = a.get("/metrics").expect("metrics").body;
    assert!(
        eventually(Duration::from_secs(12), || {
            let metrics = a.get("/metrics").map(|m| m.body).unwrap_or_default();
            metrics.contains(&format!(
                "zato_topic_published_total{{member=\"ps-a\",topic=\"orders\"}} {COUNT}"
            )) || metrics.contains(&format!(
                "zato_topic_published_total{{topic=\"orders\",member=\"ps-a\"}} {COUNT}"
            ))
        }),
        "{metrics}"
    );
}

#[test]
fn a_killed_server_loses_nothing_and_keys_stay_in_order() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let mut a = start(&redis, &cluster, "ord-a");
    let b = start(&redis, &cluster, "ord-b");
    topic(&a, json!({"name": "ledger"}));
    subscribe(
        &a,
        json!({"name": "books", "topic": "ledger", "batch_size": 16,
                         "delivery": {"kind": "service", "service": "demo.subscriber"}}),
    );
    const PER_KEY: u64 = 60;
    let keys = ["acct-1", "acct-2", "acct-3", "acct-4"];
    for key in keys {
        publish(
            &a,
            "ledger",
            PER_KEY,
            json!({"key": "books", "account": key, "sleep_ms": 15}),
            Some(key),
        );
    }
    // Kill one server mid-delivery.
    assert!(
        eventually(Duration::from_secs(30), || recorded(
            &redis, &cluster, "books"
        )
        .len()
            >= 40),
        "{}",
        a.logs()
    );
    a.kill();
    let total = PER_KEY as usize * keys.len();
    let distinct = || {
        ids_of(&recorded(&redis, &cluster, "books"))
            .into_iter()
            .collect::<BTreeSet<_>>()
            .len()
    };
    assert!(
        eventually(Duration::from_secs(60), || distinct() >= total),
        "delivered {} of {total}; survivor's log:\n{}",
        distinct(),
        b.logs()
    );
    let records = recorded(&redis, &cluster, "books");
    // Nothing lost; a message seen twice was delivered again after the kill.
    let mut seen = BTreeSet::new();
    for record in &records {
        let id = record["id"].as_str().unwrap_or_default().to_owned();
        if !seen.insert(id.clone()) {
            assert!(
                record["deliveries"].as_u64() > Some(1),
                "a duplicate without a fault: {record}"
            );
        }
    }
    // Per key: in publish order, one at a time (no two deliveries of one key overlap);
    // different keys did run at the same time.
    let mut by_key: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for record in &records {
        by_key
            .entry(
                record["ordering_key"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_default()
            .push(record);
    }
    assert_eq!(by_key.len(), keys.len());
    for (key, records) in &by_key {
        let seqs: Vec<u64> = records.iter().filter_map(|r| r["seq"].as_u64()).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] <= w[1]),
            "key {key} out of order: {seqs:?}"
        );
        assert_eq!(seqs.iter().collect::<BTreeSet<_>>().len(), PER_KEY as usize);
        let mut spans: Vec<(u64, u64)> = records
            .iter()
            .filter_map(|r| Some((r["started_ms"].as_u64()?, r["ts_ms"].as_u64()?)))
            .collect();
        spans.sort();
        assert!(
            spans.windows(2).all(|w| w[0].1 <= w[1].0),
            "two messages of key {key} were delivered at the same time"
        );
    }
    let first: Vec<(u64, u64)> = by_key
        .values()
        .map(|r| {
            (
                r[0]["started_ms"].as_u64().unwrap_or(0),
                r[0]["ts_ms"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let overlapping = records.iter().zip(records.iter().skip(1)).any(|(x, y)| {
        x["ordering_key"] != y["ordering_key"]
            && x["started_ms"].as_u64() < y["ts_ms"].as_u64()
            && y["started_ms"].as_u64() < x["ts_ms"].as_u64()
    });
    assert!(
        overlapping,
        "different keys ran one after another: {first:?}"
    );
}

/// The deliveries `demo.subscriber` recorded under `key` (`zato.record`'s entries, which
/// carry a `payload`, are left out).
fn attempts(redis: &RedisServer, cluster: &str, key: &str) -> Vec<Value> {
    recorded(redis, cluster, key)
        .into_iter()
        .filter(|r| r.get("started_ms").is_some())
        .collect()
}

#[test]
fn a_failing_subscriber_is_retried_with_its_back_off_then_dead_lettered_and_replayed() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let a = start(&redis, &cluster, "retry-a");
    let _b = start(&redis, &cluster, "retry-b");
    topic(&a, json!({"name": "invoices"}));
    subscribe(
        &a,
        json!({"name": "flaky", "topic": "invoices", "max_deliveries": 4,
                         "retry": {"initial_ms": 300, "max_ms": 700, "multiplier": 2.0},
                         "delivery": {"kind": "service", "service": "demo.subscriber"}}),
    );
    // A second subscription of the same topic, which never fails (`zato.record` records
    // under the same key, with the message as its `payload`).
    subscribe(
        &a,
        json!({"name": "steady", "topic": "invoices",
                         "delivery": {"kind": "service", "service": "zato.record"}}),
    );
    let steady = || {
        recorded(&redis, &cluster, "flaky")
            .into_iter()
            .filter(|r| r.get("payload").is_some())
            .count()
    };

    // Failing for a while: the first two deliveries fail, the third succeeds, after the
    // back-off (300 ms, then 600 ms).
    publish(
        &a,
        "invoices",
        1,
        json!({"key": "flaky", "fail_first": 2}),
        None,
    );
    assert!(eventually(Duration::from_secs(10), || attempts(
        &redis, &cluster, "flaky"
    )
    .len()
        >= 3));
    std::thread::sleep(Duration::from_millis(500));
    let tries = attempts(&redis, &cluster, "flaky");
    assert_eq!(tries.len(), 3, "{tries:?}");
    let at: Vec<u64> = tries
        .iter()
        .filter_map(|r| r["started_ms"].as_u64())
        .collect();
    let deliveries: Vec<u64> = tries
        .iter()
        .filter_map(|r| r["deliveries"].as_u64())
        .collect();
    assert_eq!(deliveries, [1, 2, 3]);
    let (first_gap, second_gap) = (at[1] - at[0], at[2] - at[1]);
    assert!(
        (290..1_500).contains(&first_gap),
        "first retry after {first_gap} ms"
    );
    assert!(
        (590..2_000).contains(&second_gap),
        "second retry after {second_gap} ms"
    );
    assert!(
        second_gap > first_gap,
        "the back-off grows: {first_gap} then {second_gap}"
    );

    // Failing always: four deliveries, then the dead letters.
    let flag = format!("zato:{{{cluster}}}:fail:flaky");
    let mut conn = redis.client();
    let _: () = redis::cmd("SET")
        .arg(&flag)
        .arg(1)
        .query(&mut conn)
        .unwrap();
    let [id]: [String; 1] = publish(&a, "invoices", 1, json!({"key": "flaky"}), None)
        .try_into()
        .unwrap();
    let source = "/zato/api/dead-letters/sub:flaky";
    assert!(
        eventually(Duration::from_secs(15), || admin(
            &a,
            "GET",
            source,
            Value::Null,
            200
        )["total"]
            == 1),
        "not dead-lettered: {}",
        a.logs()
    );
    assert_eq!(attempts(&redis, &cluster, "flaky").len(), 3 + 4);
    let letters = admin(&a, "GET", source, Value::Null, 200);
    assert_eq!(letters["dead_letters"][0]["original_id"], id.as_str());
    assert_eq!(letters["dead_letters"][0]["deliveries"], 4);
    assert!(eventually(Duration::from_secs(8), || figures(&a, "flaky")
        ["dead_letters"]
        == 1));
    assert_eq!(figures(&a, "flaky")["retries"], 2 + 3);

    // Fixed, then replayed: delivered once more, to that subscription only.
    let _: () = redis::cmd("DEL").arg(&flag).query(&mut conn).unwrap();
    let replayed = admin(&a, "POST", &format!("{source}/replay"), json!({}), 200);
    assert_eq!(replayed["replayed"], 1);
    assert!(eventually(Duration::from_secs(10), || attempts(
        &redis, &cluster, "flaky"
    )
    .len()
        == 8));
    let last = attempts(&redis, &cluster, "flaky")
        .pop()
        .unwrap_or_default();
    // Published again for this subscription: a new id, a first delivery.
    assert_ne!(last["id"], id.as_str());
    assert_eq!(last["deliveries"], 1);
    assert_eq!(admin(&a, "GET", source, Value::Null, 200)["total"], 0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        attempts(&redis, &cluster, "flaky").len(),
        8,
        "delivered once"
    );
    assert_eq!(
        steady(),
        2,
        "the other subscription got each message once, not the replay"
    );
}

#[test]
fn pull_gives_back_what_is_not_acknowledged_in_time_and_waits_for_new_messages() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let a = start(&redis, &cluster, "pull-a");
    let b = start(&redis, &cluster, "pull-b");
    credentials(&a);
    topic(&a, json!({"name": "events"}));
    subscribe(
        &a,
        json!({"name": "reader", "topic": "events", "max_deliveries": 3,
                         "delivery": {"kind": "pull", "security": "billing-pull", "ack_deadline_ms": 1500}}),
    );
    let path = "/zato/pubsub/subscriptions/reader";
    publish(&a, "events", 2, json!({"key": "x"}), None);

    let first = as_puller(&a, &format!("{path}/pull"), json!({}));
    assert_eq!(first.status, 200, "{}", first.body);
    let messages = first.json()["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(messages.len(), 2);
    assert!(
        messages
            .iter()
            .all(|m| m["deliveries"] == 1 && m["topic"] == "events")
    );
    let (kept, dropped) = (messages[0]["id"].clone(), messages[1]["id"].clone());
    let acked = as_puller(&b, &format!("{path}/ack"), json!({"ids": [kept]}));
    assert_eq!(acked.json()["acknowledged"], 1);
    let bad = as_puller(&b, &format!("{path}/ack"), json!({"ids": ["not-an-id"]}));
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.body.contains("'not-an-id' is not a message id"),
        "{}",
        bad.body
    );

    // Within the deadline nothing comes back; after it, only the unacknowledged one, from
    // any server.
    let early = as_puller(&b, &format!("{path}/pull"), json!({}));
    assert_eq!(early.json()["messages"], json!([]));
    std::thread::sleep(Duration::from_millis(1_800));
    let again = as_puller(&b, &format!("{path}/pull"), json!({}));
    let again = again.json()["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0]["id"], dropped);
    assert_eq!(again[0]["deliveries"], 2);
    // Given back at once with nack; pulled a third time it is the last delivery, and left
    // unacknowledged it goes to the dead letters.
    as_puller(
        &b,
        &format!("{path}/nack"),
        json!({"ids": [dropped.clone()]}),
    );
    let third = as_puller(&a, &format!("{path}/pull"), json!({}));
    assert_eq!(third.json()["messages"][0]["deliveries"], 3);
    std::thread::sleep(Duration::from_millis(1_800));
    assert_eq!(
        as_puller(&a, &format!("{path}/pull"), json!({})).json()["messages"],
        json!([])
    );
    let letters = admin(
        &a,
        "GET",
        "/zato/api/dead-letters/sub:reader",
        Value::Null,
        200,
    );
    assert_eq!(letters["total"], 1);
    assert_eq!(letters["dead_letters"][0]["original_id"], dropped);

    // Long polling: a pull waits for the next message instead of answering empty at once.
    let waiting = std::thread::spawn({
        let url = a.url.clone();
        move || {
            let started = Instant::now();
            let auth = basic(PULL_USER, PULL_PASSWORD);
            let answer = send(
                "POST",
                &format!("{url}{path}/pull"),
                &[("authorization", &auth)],
                Some(&json!({"wait_ms": 10_000}).to_string()),
            );
            (answer.map(|a| a.json()), started.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(400));
    let [id]: [String; 1] = publish(&b, "events", 1, json!({"key": "late"}), None)
        .try_into()
        .unwrap();
    let (answer, waited) = waiting.join().unwrap();
    let answer = answer.expect("the long poll answers");
    assert_eq!(answer["messages"][0]["id"], id.as_str());
    assert!(
        waited < Duration::from_secs(9),
        "answered when the message came, not at the end"
    );

    // Credentials: none is 401, a wrong password or another definition 403.
    let none = a
        .call("POST", &format!("{path}/pull"), &[], Some("{}"))
        .unwrap();
    assert_eq!(none.status, 401);
    assert!(
        none.header("www-authenticate")
            .is_some_and(|c| c.starts_with("Basic"))
    );
    let wrong = basic(PULL_USER, "nope");
    let refused = a
        .call(
            "POST",
            &format!("{path}/pull"),
            &[("authorization", &wrong)],
            Some("{}"),
        )
        .unwrap();
    assert_eq!(refused.status, 403);
    let other = a
        .call(
            "POST",
            &format!("{path}/pull"),
            &[("x-api-key", PUBLISHER_KEY)],
            Some("{}"),
        )
        .unwrap();
    assert_eq!(
        other.status, 401,
        "an API key is no credential for a basic-auth subscription"
    );
}

#[test]
fn seeking_delivers_again_or_skips_and_retention_removes_unacknowledged_messages() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let a = start(&redis, &cluster, "seek-a");
    credentials(&a);
    topic(&a, json!({"name": "prices"}));
    subscribe(
        &a,
        json!({"name": "ticker", "topic": "prices",
                         "delivery": {"kind": "service", "service": "demo.subscriber"}}),
    );
    let ids = publish(&a, "prices", 5, json!({"key": "ticker"}), Some("eur"));
    assert!(eventually(Duration::from_secs(10), || attempts(
        &redis, &cluster, "ticker"
    )
    .len()
        == 5));

    // Back an hour: all five again, in order.
    let an_hour_ago = zato_common::clock::unix_ms() - 3_600_000;
    let sought = admin(
        &a,
        "POST",
        "/zato/api/subscriptions/ticker/seek",
        json!({"time_ms": an_hour_ago}),
        200,
    );
    assert_eq!(sought["subscription"], "ticker");
    assert!(eventually(Duration::from_secs(10), || attempts(
        &redis, &cluster, "ticker"
    )
    .len()
        == 10));
    let again: Vec<String> = ids_of(&attempts(&redis, &cluster, "ticker")[5..]);
    assert_eq!(again, ids, "delivered again, in order");
    // To a message: from it on.
    admin(
        &a,
        "POST",
        "/zato/api/subscriptions/ticker/seek",
        json!({"message_id": ids[3]}),
        200,
    );
    assert!(eventually(Duration::from_secs(10), || attempts(
        &redis, &cluster, "ticker"
    )
    .len()
        == 12));
    assert_eq!(
        ids_of(&attempts(&redis, &cluster, "ticker")[10..]),
        ids[3..].to_vec()
    );

    // To the end, with the subscriber off: nothing left to deliver.
    admin(
        &a,
        "PUT",
        "/zato/api/subscriptions/ticker",
        json!({"name": "ticker", "topic": "prices", "is_active": false,
                 "delivery": {"kind": "service", "service": "demo.subscriber"}}),
        200,
    );
    std::thread::sleep(Duration::from_millis(300));
    publish(&a, "prices", 3, json!({"key": "ticker"}), None);
    assert!(eventually(Duration::from_secs(5), || figures(&a, "ticker")
        ["backlog"]
        == 3));
    let end = admin(
        &a,
        "POST",
        "/zato/api/subscriptions/ticker/seek",
        json!({"to": "end"}),
        200,
    );
    assert_eq!(end["backlog"], 0);

    // Retention: a topic of ten keeps the newest ten, acknowledged or not; what a subscriber
    // held unacknowledged and retention removed is not delivered again.
    topic(&a, json!({"name": "recent", "max_messages": 10}));
    subscribe(
        &a,
        json!({"name": "recent-reader", "topic": "recent",
                         "delivery": {"kind": "pull", "security": "billing-pull", "ack_deadline_ms": 300}}),
    );
    let path = "/zato/pubsub/subscriptions/recent-reader/pull";
    publish(&a, "recent", 5, json!({"key": "r"}), None);
    let held = as_puller(&a, path, json!({})).json()["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(held.len(), 5);
    let newest = publish(&a, "recent", 20, json!({"key": "r"}), None);
    std::thread::sleep(Duration::from_millis(400));
    let pulled = pull_all(&a, "recent-reader", 100);
    assert_eq!(
        ids_of(&pulled),
        newest[10..].to_vec(),
        "the newest ten, once each"
    );
    let topic = admin(&a, "GET", "/zato/api/topics/recent", Value::Null, 200);
    assert_eq!(topic["figures"]["depth"], 10);
}

#[test]
fn bad_input_gets_a_clear_refusal() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let a = start(&redis, &cluster, "bad-a");
    credentials(&a);
    topic(
        &a,
        json!({"name": "small", "max_message_bytes": 400, "publishers": ["shop"]}),
    );
    topic(
        &a,
        json!({"name": "bounded", "max_messages": 2, "when_full": "reject"}),
    );
    std::thread::sleep(Duration::from_millis(200));

    let refused = |path: &str, body: Value, status: u16, says: &str| {
        let answer = a.admin("POST", path, Some(&body));
        assert_eq!(answer.status, status, "{path}: {}", answer.body);
        assert!(answer.body.contains(says), "{path}: {}", answer.body);
    };
    refused(
        "/zato/api/topics/nowhere/publish",
        json!({"data": 1}),
        404,
        "no topic 'nowhere'",
    );
    refused(
        "/zato/api/topics/small/publish",
        json!({"data": "x".repeat(500)}),
        413,
        "at most 400",
    );
    refused(
        "/zato/api/topics/small/publish",
        json!({"data": 1, "colour": "red"}),
        400,
        "unknown field",
    );
    refused(
        "/zato/api/topics/small/publish",
        json!({"attributes": {}}),
        400,
        "data: required",
    );
    refused(
        "/zato/api/subscriptions",
        json!({"name": "s", "topic": "missing", "delivery": {"kind": "service", "service": "zato.ping"}}),
        400,
        "topic: no topic 'missing'",
    );
    refused(
        "/zato/api/subscriptions",
        json!({"name": "s", "topic": "small", "delivery": {"kind": "service", "service": "no.such"}}),
        400,
        "delivery.service",
    );
    refused(
        "/zato/api/subscriptions",
        json!({"name": "s", "topic": "small", "delivery": {"kind": "pull", "security": "billing-pull", "ack_deadline_ms": 1}}),
        400,
        "delivery.ack_deadline_ms",
    );
    refused(
        "/zato/api/topics",
        json!({"name": "t", "publishers": ["ghost"]}),
        400,
        "publishers[0]",
    );
    refused(
        "/zato/api/subscriptions/nobody/seek",
        json!({"to": "start"}),
        404,
        "no subscription",
    );
    let malformed = a
        .call(
            "POST",
            "/zato/api/topics/small/publish",
            &[(
                "authorization",
                &format!("Bearer {}", zato_tests::server::ADMIN_TOKEN),
            )],
            Some("{not json"),
        )
        .unwrap();
    assert_eq!(malformed.status, 400);

    // A full `reject` topic refuses; an inactive one too.
    for _ in 0..2 {
        admin(
            &a,
            "POST",
            "/zato/api/topics/bounded/publish",
            json!({"data": 1}),
            200,
        );
    }
    refused(
        "/zato/api/topics/bounded/publish",
        json!({"data": 1}),
        409,
        "is full",
    );
    admin(
        &a,
        "PUT",
        "/zato/api/topics/small",
        json!({"name": "small", "is_active": false}),
        200,
    );
    std::thread::sleep(Duration::from_millis(300));
    refused(
        "/zato/api/topics/small/publish",
        json!({"data": 1}),
        409,
        "inactive",
    );
    admin(
        &a,
        "PUT",
        "/zato/api/topics/small",
        json!({"name": "small", "max_message_bytes": 400, "publishers": ["shop"]}),
        200,
    );
    std::thread::sleep(Duration::from_millis(300));

    // The publisher endpoint: only the definitions the topic names.
    let endpoint = "/zato/pubsub/topics/small";
    let body = json!({"data": {"sku": 7}, "attributes": {"source": "web"}}).to_string();
    let none = a.call("POST", endpoint, &[], Some(&body)).unwrap();
    assert_eq!(none.status, 401);
    let stranger = a
        .call(
            "POST",
            endpoint,
            &[("x-api-key", "another-key")],
            Some(&body),
        )
        .unwrap();
    assert_eq!(stranger.status, 403, "a definition the topic does not name");
    let published = a
        .call(
            "POST",
            endpoint,
            &[("x-api-key", PUBLISHER_KEY)],
            Some(&body),
        )
        .unwrap();
    assert_eq!(published.status, 200, "{}", published.body);
    assert!(
        published.json()["id"]
            .as_str()
            .is_some_and(|id| id.contains('-'))
    );
    let unknown = a
        .call(
            "POST",
            "/zato/pubsub/topics/ghost",
            &[("x-api-key", PUBLISHER_KEY)],
            Some(&body),
        )
        .unwrap();
    assert_eq!(unknown.status, 404);
}

#[test]
fn the_command_line_publishes_pulls_seeks_and_shows_the_figures() {
    use zato_tests::cli::{admin as zato_admin, zato};
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let a = start(&redis, &cluster, "cli-a");
    credentials(&a);
    zato_admin(
        &a.url,
        &["topic", "create", "--data", r#"{"name": "news"}"#],
    )
    .expect_ok();
    zato_admin(
        &a.url,
        &["subscription", "create", "--data",
          r#"{"name": "reader", "topic": "news", "delivery": {"kind": "pull", "security": "billing-pull"}}"#],
    )
    .expect_ok();
    std::thread::sleep(Duration::from_millis(300));
    let id = zato_admin(
        &a.url,
        &[
            "topic",
            "publish",
            "news",
            "--data",
            r#"{"headline": "hello"}"#,
            "--attribute",
            "lang=en",
            "--ordering-key",
            "front",
        ],
    );
    let id = id.expect_ok().trim().to_owned();
    assert!(id.contains('-'), "prints the message id: {id}");

    let pulled = zato_admin(
        &a.url,
        &["subscription", "pull", "reader", "--ack", "--json"],
    )
    .json();
    let message = &pulled["messages"][0];
    assert_eq!(message["id"], id.as_str());
    assert_eq!(message["data"], json!({"headline": "hello"}));
    assert_eq!(message["attributes"], json!({"lang": "en"}));
    assert_eq!(message["ordering_key"], "front");
    let again = zato_admin(&a.url, &["subscription", "pull", "reader", "--json"]).json();
    assert_eq!(again["messages"], json!([]), "acknowledged by --ack");

    let sought = zato_admin(
        &a.url,
        &["subscription", "seek", "reader", "--to", "start", "--json"],
    )
    .json();
    assert_eq!(sought["backlog"], 1);
    let status = zato_admin(&a.url, &["status", "--json"]).json();
    let subscriptions = status["subscriptions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let reader = subscriptions
        .iter()
        .find(|s| s["name"] == "reader")
        .expect("listed");
    assert_eq!(reader["figures"]["backlog"], 1);
    assert!(
        status["topics"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "news"))
    );

    // Dead letters of a subscription, straight from Redis.
    let env = [
        ("ZATO_REDIS_URL", redis.url()),
        ("ZATO_CLUSTER", cluster.clone()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let letters = zato(&["dlq", "list", "--subscription", "reader", "--json"], &env).json();
    assert_eq!(letters, json!([]));
    let refused = zato_admin(&a.url, &["topic", "publish", "nowhere", "--data", "1"]);
    refused.expect_error("no topic 'nowhere'");
}

#[test]
fn a_subscription_whose_group_went_missing_is_given_one_again() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let a = start(&redis, &cluster, "repair-a");
    topic(&a, json!({"name": "alerts"}));
    subscribe(
        &a,
        json!({"name": "pager", "topic": "alerts",
                         "delivery": {"kind": "service", "service": "demo.subscriber"}}),
    );
    // Lost as a failed half-way creation or a Redis that forgot it would lose it.
    let mut conn = redis.client();
    let destroyed: i64 = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg(format!("zato:{{{cluster}}}:topic:alerts"))
        .arg("pager")
        .query(&mut conn)
        .unwrap();
    assert_eq!(destroyed, 1);
    assert!(
        eventually(Duration::from_secs(15), || a
            .logs()
            .contains("the subscription's group was missing")),
        "{}",
        a.logs()
    );
    publish(&a, "alerts", 1, json!({"key": "pager"}), None);
    assert!(
        eventually(Duration::from_secs(10), || attempts(
            &redis, &cluster, "pager"
        )
        .len()
            == 1),
        "not delivered after the repair: {}",
        a.logs()
    );
}

#[test]
fn a_topic_in_four_partitions_delivers_in_key_order_pulls_and_seeks() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let partitioned = [("ZATO_BROKER__PARTITIONS", "4")];
    let start = |member: &str| {
        ServerProcess::start_binary(
            binary("examples/pubsub"),
            &redis,
            &cluster,
            member,
            &partitioned,
        )
    };
    let (a, b) = (start("part-a"), start("part-b"));
    credentials(&a);
    topic(&a, json!({"name": "events"}));
    subscribe(
        &a,
        json!({"name": "log", "topic": "events", "delivery": {"kind": "service", "service": "demo.subscriber"}}),
    );
    subscribe(
        &b,
        json!({"name": "feed", "topic": "events", "delivery": {"kind": "pull", "security": "billing-pull"}}),
    );
    let mut published = publish(&a, "events", 200, json!({"key": "log"}), None);
    let keys = ["k-1", "k-2", "k-3", "k-4", "k-5"];
    for key in keys {
        published.extend(publish(&b, "events", 20, json!({"key": "log"}), Some(key)));
    }
    let partitions: BTreeSet<&str> = published
        .iter()
        .map(|id| id.split_once('/').map_or("0", |(p, _)| p))
        .collect();
    assert_eq!(
        partitions,
        BTreeSet::from(["0", "1", "2", "3"]),
        "messages spread over every partition; ids carry theirs"
    );

    // Pushed: every message once, each key's in publish order.
    assert!(
        eventually(Duration::from_secs(60), || recorded(
            &redis, &cluster, "log"
        )
        .len()
            >= 300),
        "delivered {} of 300; log:\n{}",
        recorded(&redis, &cluster, "log").len(),
        a.logs()
    );
    let records = recorded(&redis, &cluster, "log");
    assert_eq!(records.len(), 300);
    assert_eq!(
        ids_of(&records).into_iter().collect::<BTreeSet<_>>(),
        published.iter().cloned().collect::<BTreeSet<_>>()
    );
    for key in keys {
        let seqs: Vec<u64> = records
            .iter()
            .filter(|r| r["ordering_key"] == key)
            .filter_map(|r| r["seq"].as_u64())
            .collect();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>(), "key {key} in order");
    }

    // Pulled: every message once, acknowledged by the ids the pull gave.
    let pulled = pull_all(&a, "feed", 300);
    assert_eq!(
        ids_of(&pulled).into_iter().collect::<BTreeSet<_>>(),
        published.iter().cloned().collect::<BTreeSet<_>>()
    );
    assert!(pull_all(&b, "feed", 1).is_empty(), "nothing pulled twice");
    assert!(eventually(Duration::from_secs(10), || figures(&a, "feed")
        ["backlog"]
        == 0));

    // A seek to the start moves every partition: all of it comes again.
    admin(
        &a,
        "POST",
        "/zato/api/subscriptions/feed/seek",
        json!({"to": "start"}),
        200,
    );
    assert_eq!(pull_all(&b, "feed", 300).len(), 300);
    let topic = admin(&a, "GET", "/zato/api/topics/events", Value::Null, 200);
    assert_eq!(topic["figures"]["depth"], 300, "{topic}");
    assert_eq!(topic["figures"]["published"], 300, "{topic}");
}
