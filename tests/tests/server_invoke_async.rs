//! invoke_async across two real servers: each call runs exactly once, both take part, and the
//! work of a server killed mid-way is finished by the other.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use zato_broker::{Keys, Queue};
use zato_tests::records::recorded;
use zato_tests::server::{ServerProcess, eventually};
use zato_tests::{RedisServer, unique_cluster};

#[test]
fn ten_thousand_calls_each_run_exactly_once_on_either_server() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let servers = [
        ServerProcess::start(&redis, &cluster, "server-a", &[]),
        ServerProcess::start(&redis, &cluster, "server-b", &[]),
    ];
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let url = servers[t % 2].url.clone();
            std::thread::spawn(move || {
                let auth = format!("Bearer {}", zato_tests::server::ADMIN_TOKEN);
                for i in 0..2_500 {
                    let body = json!({"key": "async", "n": t * 2_500 + i}).to_string();
                    let answer = zato_tests::server::send(
                        "POST",
                        &format!("{url}/zato/api/invoke-async/zato.record"),
                        &[("authorization", &auth)],
                        Some(&body),
                    )
                    .expect("answer");
                    assert_eq!(answer.status, 202, "{}", answer.body);
                }
            })
        })
        .collect();
    for s in senders {
        s.join().expect("sender");
    }
    assert!(
        eventually(Duration::from_secs(60), || recorded(
            &redis, &cluster, "async"
        )
        .len()
            >= 10_000),
        "recorded {} of 10000",
        recorded(&redis, &cluster, "async").len()
    );
    std::thread::sleep(Duration::from_millis(500));
    let entries = recorded(&redis, &cluster, "async");
    assert_eq!(entries.len(), 10_000, "nothing ran twice");
    let numbers: HashSet<u64> = entries
        .iter()
        .filter_map(|e| e["payload"]["n"].as_u64())
        .collect();
    assert_eq!(numbers.len(), 10_000, "every call ran");
    let members: HashSet<&str> = entries
        .iter()
        .filter_map(|e| e["member"].as_str())
        .collect();
    assert_eq!(
        members,
        HashSet::from(["server-a", "server-b"]),
        "both servers took part"
    );
    assert!(entries.iter().all(|e| e["channel"] == "invoke_async"));
}

#[test]
fn work_held_by_a_killed_server_is_finished_by_the_other() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let mut a = ServerProcess::start(&redis, &cluster, "server-a", &[]);
    for _ in 0..20 {
        let answer = a.admin(
            "POST",
            "/zato/api/invoke-async/zato.sleep",
            Some(&json!({"ms": 2_000})),
        );
        assert_eq!(answer.status, 202);
    }
    let mut conn = redis.client();
    let queue = Keys::new(&cluster).queue(Queue::Server, 0);
    let pending = |conn: &mut redis::Connection| -> u64 {
        redis::cmd("XPENDING")
            .arg(&queue)
            .arg(Queue::Server.group())
            .query::<(u64, redis::Value, redis::Value, redis::Value)>(conn)
            .map(|p| p.0)
            .unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(5), || pending(&mut conn) == 20),
        "server A holds all 20"
    );
    let b = ServerProcess::start(&redis, &cluster, "server-b", &[]);
    a.kill();
    let sleeps_on_b = || {
        b.admin("GET", "/zato/api/services", None)
            .json()
            .as_array()
            .and_then(|s| {
                s.iter()
                    .find(|s| s["name"] == "zato.sleep")
                    .and_then(|s| s["calls"].as_u64())
            })
            .unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(20), || sleeps_on_b() == 20),
        "B ran {} of 20",
        sleeps_on_b()
    );
    assert!(
        eventually(Duration::from_secs(5), || pending(&mut conn) == 0),
        "all acknowledged"
    );
}
