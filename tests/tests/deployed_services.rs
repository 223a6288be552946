//! Services deployed at run time as WebAssembly components, built from Python with
//! `zato service build` (componentize-py): every channel reaches them; they are contained
//! when they loop, allocate without end, raise, or try files and sockets; malformed uploads
//! change nothing; a redeploy and a rollback under load lose no request and never mix
//! versions; every server of a cluster runs a deployment, and one started later has it before
//! it reports READY, without dead-lettering the work that reached it while it was loading.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zato_tests::connector::{AMQP_URL, ConnectorProcess, TestQueue, peer, run_peer};
use zato_tests::server::{Answer, ServerProcess, eventually};
use zato_tests::wasm::{build, deploy, deploy_bytes, guest};
use zato_tests::{HttpUpstream, PostgresServer, RedisServer, postgres, records, unique_cluster};

/// How long every live server may take to have a deployment ready: a Python component
/// compiles in seconds, more on a loaded CI machine.
const READY_BOUND: Duration = Duration::from_secs(120);

/// The echo guest with another `VERSION`.
fn echo_version(version: u32) -> std::path::PathBuf {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/wasm/echo.py"),
    )
    .expect("echo.py reads");
    build(
        "echo",
        &source.replace("VERSION = 1", &format!("VERSION = {version}")),
    )
}

fn deployed(server: &ServerProcess, name: &str, path: &std::path::Path, query: &str) -> Value {
    let answer = deploy(server, name, path, query);
    assert!(
        answer.status == 200 || answer.status == 201,
        "deploying {name}: {} {}\n{}",
        answer.status,
        answer.body,
        server.logs()
    );
    answer.json()
}

/// Each live server's state of `name`, from the admin API.
fn states(server: &ServerProcess, name: &str) -> Value {
    server
        .admin("GET", &format!("/zato/api/services/{name}"), None)
        .json()["servers"]
        .clone()
}

/// Waits until `members` all run `version` of `name`.
fn wait_ready(server: &ServerProcess, name: &str, version: u64, members: &[&str]) -> Duration {
    let started = Instant::now();
    let ready = eventually(READY_BOUND, || {
        let states = states(server, name);
        members
            .iter()
            .all(|m| states[m]["state"] == "ready" && states[m]["version"] == json!(version))
    });
    assert!(
        ready,
        "{name} v{version} is not ready on {members:?}: {}",
        states(server, name)
    );
    started.elapsed()
}

/// Queues invocations on 1:any, as invoke_async does, straight through a broker client.
fn queue(
    redis: &RedisServer,
    cluster: &str,
    invocations: impl Iterator<Item = (&'static str, Value)>,
) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let client = zato_tests::broker(redis, cluster, "test", "test");
        for (service, payload) in invocations {
            let invocation = zato_common::ServiceInvocation::new(
                service,
                zato_common::ChannelKind::InvokeAsync,
                payload,
            );
            client.invoke_async(&invocation).await.expect("published");
        }
        client.shutdown();
    });
}

fn invoke(server: &ServerProcess, service: &str, payload: Value) -> Answer {
    server.invoke(service, &payload)
}

#[test]
fn python_services_run_on_every_channel_and_misbehaving_ones_are_contained() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let server = ServerProcess::start(&redis, &cluster, "wasm-1", &[]);
    let echo = deployed(&server, "demo.echo", &guest("echo"), "");
    assert_eq!(echo["version"], 1, "{echo}");
    assert_eq!(echo["service"]["current"]["deployed_by"], "tests@zato");
    wait_ready(&server, "demo.echo", 1, &["wasm-1"]);

    // The admin API's invoke, an HTTP channel, and invoke-async reach it like any service.
    let answer = invoke(&server, "demo.echo", json!({"n": 1}));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["echo"], json!({"n": 1}));
    assert_eq!(answer.json()["version"], 1);
    assert_eq!(
        answer.json()["cid"].as_str(),
        answer.header("x-zato-cid"),
        "the guest sees the request's cid"
    );
    let channel = server.admin(
        "POST",
        "/zato/api/channels/http",
        Some(&json!({"name": "echo", "url_path": "/wasm/echo", "service": "demo.echo"})),
    );
    assert_eq!(channel.status, 201, "{}", channel.body);
    assert!(eventually(Duration::from_secs(5), || server
        .call("POST", "/wasm/echo", &[], Some(r#"{"via": "http"}"#))
        .is_some_and(
            |a| a.status == 200 && a.json()["channel"] == "http"
        )));

    // Listed with its kind, version and this server's state.
    let list = server.admin("GET", "/zato/api/services", None).json();
    let entry = list
        .as_array()
        .and_then(|l| l.iter().find(|s| s["name"] == "demo.echo"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["kind"], "deployed", "{list}");
    assert!(entry["calls"].as_u64() >= Some(2), "{entry}");
    assert_eq!(entry["servers"]["wasm-1"]["state"], "ready", "{entry}");
    let metrics = server.get("/metrics").map(|m| m.body).unwrap_or_default();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("zato_service_calls_total")
                && l.contains("service=\"demo.echo\"")),
        "deployed services are in /metrics like compiled ones:\n{metrics}"
    );
    let builtin = list
        .as_array()
        .and_then(|l| l.iter().find(|s| s["name"] == "zato.echo"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(builtin["kind"], "built_in");

    // Misbehaviour, contained: each ends in a clear error, and the server carries on.
    deployed(
        &server,
        "demo.misbehave",
        &guest("misbehave"),
        "deadline_ms=500&memory_mb=64",
    );
    wait_ready(&server, "demo.misbehave", 1, &["wasm-1"]);
    let started = Instant::now();
    let looped = invoke(&server, "demo.misbehave", json!({"mode": "loop"}));
    assert_eq!(looped.status, 504, "{}", looped.body);
    assert!(
        looped.body.contains("deadline of 500 ms"),
        "{}",
        looped.body
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped at its deadline"
    );
    let allocated = invoke(&server, "demo.misbehave", json!({"mode": "alloc"}));
    assert_eq!(allocated.status, 500, "{}", allocated.body);
    let raised = invoke(&server, "demo.misbehave", json!({"mode": "raise"}));
    assert_eq!(raised.status, 500, "{}", raised.body);
    assert!(
        !raised.body.contains("boom"),
        "a traceback is logged, not answered: {}",
        raised.body
    );
    let not_found = invoke(&server, "demo.misbehave", json!({"mode": "not_found"}));
    assert_eq!(not_found.status, 404, "{}", not_found.body);
    assert!(
        not_found.body.contains("nothing here"),
        "{}",
        not_found.body
    );
    let file = invoke(&server, "demo.misbehave", json!({"mode": "file"})).json();
    assert!(file["error"].is_string(), "no file can be opened: {file}");
    let socket = invoke(&server, "demo.misbehave", json!({"mode": "socket"})).json();
    assert!(
        socket["error"].is_string(),
        "no socket can be opened: {socket}"
    );
    let printed = invoke(&server, "demo.misbehave", json!({"mode": "print"}));
    assert_eq!(printed.status, 200, "{}", printed.body);
    let cid = printed.header("x-zato-cid").unwrap_or_default().to_owned();

    let logs = server.logs();
    for (cid, what) in [
        (looped.header("x-zato-cid"), "deadline"),
        (allocated.header("x-zato-cid"), "memory limit of 64 MiB"),
        (raised.header("x-zato-cid"), "boom"),
    ] {
        let cid = cid.unwrap_or("no cid");
        assert!(
            logs.lines().any(|l| l.contains(cid) && l.contains(what)),
            "the log names the failure ({what}) with its cid {cid}:\n{logs}"
        );
    }
    assert!(
        logs.lines()
            .any(|l| l.contains(&cid) && l.contains("demo.misbehave") && l.contains("stdout")),
        "the guest's stdout is in the log with the service and cid:\n{logs}"
    );
    let after = invoke(&server, "demo.echo", json!({"still": "serving"}));
    assert_eq!(after.status, 200, "{}", after.body);
    assert_eq!(after.json()["echo"], json!({"still": "serving"}));
}

#[test]
fn host_imports_reach_other_services_redis_postgresql_rabbitmq_zeromq_and_an_upstream() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let upstream = HttpUpstream::start();
    let server = ServerProcess::start(
        &redis,
        &cluster,
        "wasm-host",
        &[("ZATO_SECRET_KEY", zato_tests::server::SECRET_KEY)],
    );
    let connector = ConnectorProcess::start(&redis, &cluster, "wasm-connector", &[]);
    let queue = TestQueue::declare_bound("zato-wasm", "rk.wasm");
    let pg = PostgresServer::start();
    let zmq_address = format!("tcp://127.0.0.1:{}", zato_tests::free_port());
    let mut puller = peer(
        "zmq_peer.py",
        &["pull", &zmq_address, "1", "--timeout", "60"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("pyzmq pull");
    let mut pulled = BufReader::new(puller.stdout.take().expect("stdout")).lines();
    assert_eq!(pulled.next().and_then(Result::ok).as_deref(), Some("ready"));
    for (path, object) in [
        (
            "/zato/api/amqp/definitions",
            json!({"name": "rabbit", "url": AMQP_URL}),
        ),
        (
            "/zato/api/outgoing/amqp",
            json!({"name": "orders", "definition": "rabbit", "exchange": queue.exchange, "routing_key": "rk.wasm"}),
        ),
        (
            "/zato/api/outgoing/zmq",
            json!({"name": "push", "address": zmq_address, "socket_type": "PUSH"}),
        ),
        (
            "/zato/api/outgoing/sql",
            json!({"name": "pg", "engine": "postgresql", "host": "127.0.0.1", "port": pg.port(),
                   "database": postgres::DATABASE, "username": postgres::USER, "password": postgres::PASSWORD}),
        ),
    ] {
        let created = server.admin("POST", path, Some(&object));
        assert_eq!(created.status, 201, "{path}: {}", created.body);
    }
    connector.wait_connected("amqp_outgoing", "orders", Duration::from_secs(15));
    connector.wait_connected("zmq_outgoing", "push", Duration::from_secs(15));
    let created = server.admin(
        "POST",
        "/zato/api/outgoing/rest",
        Some(&json!({"name": "up", "address": upstream.url("/echo"), "path": "/items/{id}"})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    for (path, object) in [
        (
            "/zato/api/security",
            json!({"type": "apikey", "name": "reader", "header": "X-Key", "key": "k-1"}),
        ),
        ("/zato/api/topics", json!({"name": "guest-news"})),
        (
            "/zato/api/subscriptions",
            json!({"name": "guest-reader", "topic": "guest-news",
                                           "delivery": {"kind": "pull", "security": "reader"}}),
        ),
    ] {
        let created = server.admin("POST", path, Some(&object));
        assert_eq!(created.status, 201, "{}", created.body);
    }
    deployed(&server, "demo.host", &guest("host_calls"), "");
    wait_ready(&server, "demo.host", 1, &["wasm-host"]);
    let key = "wasm-host-calls";
    let answer = invoke(
        &server,
        "demo.host",
        json!({
            "invoke": {"service": "zato.echo", "payload": {"from": "guest"}},
            "invoke_async": {"service": "zato.record", "payload": {"key": key}},
            "rest": {"connection": "up", "method": "POST", "params": {"id": 7, "q": "x"}, "body": {"a": 1}},
            "kv": true,
            "amqp": {"connection": "orders", "body": {"from": "guest"}},
            "zmq": {"connection": "push", "body": {"from": "guest"}},
            "sql": {"connection": "pg", "statement": "SELECT $1::int + 1 AS answer", "params": [41]},
            "publish": {"topic": "guest-news", "data": {"headline": "from python"},
                        "attributes": {"lang": "en"}, "ordering_key": "front"},
        }),
    );
    assert_eq!(answer.status, 200, "{}\n{}", answer.body, server.logs());
    let got = answer.json();
    let cid = got["cid"].as_str().unwrap_or_default().to_owned();
    assert_eq!(got["invoke"], json!({"from": "guest"}), "{got}");
    assert_eq!(got["rest"]["status"], 200, "{got}");
    assert_eq!(got["rest"]["body"]["path"], "/echo/items/7", "{got}");
    assert_eq!(got["rest"]["body"]["json"], json!({"a": 1}), "{got}");
    assert_eq!(got["kv"], json!({"value": cid, "deleted": true}), "{got}");
    assert_eq!(got["amqp"], json!({"ok": true}), "{got}");
    assert_eq!(got["sql"], json!([{"answer": 42}]), "{got}");
    assert_eq!(got["zmq"], json!({"ok": true}), "{got}");
    let pulled_message = server.admin(
        "POST",
        "/zato/api/subscriptions/guest-reader/pull",
        Some(&json!({})),
    );
    let message = &pulled_message.json()["messages"][0];
    assert_eq!(message["id"], got["publish"]["id"], "{got} {message}");
    assert_eq!(message["data"], json!({"headline": "from python"}));
    assert_eq!(message["attributes"], json!({"lang": "en"}));
    assert_eq!(message["ordering_key"], "front");
    assert_eq!(message["publisher"], "server:wasm-host");
    let frames: Value = pulled
        .next()
        .and_then(Result::ok)
        .and_then(|line| serde_json::from_str(&line).ok())
        .unwrap_or_default();
    let _ = puller.wait();
    assert_eq!(
        frames,
        json!([r#"{"from":"guest"}"#]),
        "pyzmq got the guest's message"
    );
    let published: Value =
        serde_json::from_str(run_peer("amqp_peer.py", &["get", &queue.queue]).trim())
            .expect("pika's JSON");
    assert_eq!(
        serde_json::from_str::<Value>(published["body"].as_str().unwrap_or_default()).ok(),
        Some(json!({"from": "guest"})),
        "pika got the guest's message: {published}"
    );
    assert!(
        eventually(Duration::from_secs(10), || !records::recorded(
            &redis, &cluster, key
        )
        .is_empty()),
        "the invoke-async ran"
    );

    // A host error is the guest's to handle: an unknown connection is a not-found it catches.
    let missing = invoke(
        &server,
        "demo.host",
        json!({"rest": "nowhere", "sql": "nowhere"}),
    )
    .json();
    assert_eq!(missing["rest"]["error"], "not-found", "{missing}");
    assert_eq!(missing["sql"]["error"], "not-found", "{missing}");
}

#[test]
fn malformed_uploads_are_refused_and_deploy_nothing() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let server = ServerProcess::start(
        &redis,
        &cluster,
        "wasm-bad",
        &[("ZATO_MAX_COMPONENT_BYTES", "1000000")],
    );
    let cases: [(&str, Vec<u8>, u16, &str); 5] = [
        (
            "text",
            b"print('hello')".to_vec(),
            400,
            "not a WebAssembly binary",
        ),
        (
            "core",
            b"\0asm\x01\0\0\0".to_vec(),
            400,
            "core WebAssembly module",
        ),
        // The empty component: valid, and implements nothing.
        (
            "empty",
            b"\0asm\x0d\0\x01\0".to_vec(),
            400,
            "does not implement the zato:service world",
        ),
        (
            "garbage",
            b"\0asm\x0d\0\x01\0\xff\xff\xff".to_vec(),
            400,
            "does not compile",
        ),
        (
            "large",
            vec![0; 1_000_001],
            413,
            "larger than 1000000 bytes",
        ),
    ];
    for (name, bytes, status, message) in cases {
        let answer = deploy_bytes(&server, name, bytes, "");
        assert_eq!(answer.status, status, "{name}: {}", answer.body);
        assert!(answer.body.contains(message), "{name}: {}", answer.body);
        let get = server.admin("GET", &format!("/zato/api/services/{name}"), None);
        assert_eq!(get.status, 404, "{name} is not deployed: {}", get.body);
    }
    let bad_limits = deploy_bytes(
        &server,
        "limits",
        b"\0asm\x0d\0\x01\0".to_vec(),
        "deadline_ms=0",
    );
    assert_eq!(bad_limits.status, 400, "{}", bad_limits.body);
    assert!(
        bad_limits.body.contains("deadline_ms"),
        "{}",
        bad_limits.body
    );
    let builtin = deploy_bytes(&server, "zato.echo", b"\0asm\x0d\0\x01\0".to_vec(), "");
    assert_eq!(builtin.status, 400, "{}", builtin.body);
    let list = server.admin("GET", "/zato/api/services", None).json();
    assert!(
        list.as_array()
            .is_some_and(|l| l.iter().all(|s| s["kind"] != "deployed")),
        "{list}"
    );
    assert!(
        !redis.dump_all().contains(":component:"),
        "no component stored"
    );
}

#[test]
fn redeploys_and_rollbacks_under_load_lose_no_request_and_never_mix_versions() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let server = ServerProcess::start(&redis, &cluster, "wasm-roll", &[]);
    let (v1, v2) = (echo_version(1), echo_version(2));
    deployed(&server, "demo.roll", &v1, "");
    wait_ready(&server, "demo.roll", 1, &["wasm-roll"]);
    let channel = server.admin(
        "POST",
        "/zato/api/channels/http",
        Some(&json!({"name": "roll", "url_path": "/roll", "service": "demo.roll"})),
    );
    assert_eq!(channel.status, 201, "{}", channel.body);
    assert!(eventually(Duration::from_secs(5), || server
        .call("POST", "/roll", &[], Some("{}"))
        .is_some_and(|a| a.status == 200)));

    let stop = Arc::new(AtomicBool::new(false));
    let url = server.url.clone();
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, url) = (stop.clone(), url.clone());
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let answer =
                        zato_tests::server::send("POST", &format!("{url}/roll"), &[], Some("{}"));
                    answers.push(answer.map(|a| (a.status, a.json()["version"].clone(), a.body)));
                }
                answers
            })
        })
        .collect();

    deployed(&server, "demo.roll", &v2, "");
    wait_ready(&server, "demo.roll", 2, &["wasm-roll"]);
    std::thread::sleep(Duration::from_millis(500));
    let rolled = server.admin(
        "POST",
        "/zato/api/services/demo.roll/rollback",
        Some(&json!({})),
    );
    assert_eq!(rolled.status, 200, "{}", rolled.body);
    assert_eq!(rolled.json()["version"], 3);
    assert_eq!(rolled.json()["service"]["current"]["rollback_of"], 1);
    wait_ready(&server, "demo.roll", 3, &["wasm-roll"]);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);

    let answers: Vec<_> = load
        .into_iter()
        .flat_map(|t| t.join().expect("load thread"))
        .collect();
    assert!(
        answers.len() > 20,
        "the load ran: {} answers",
        answers.len()
    );
    let mut seen = std::collections::BTreeSet::new();
    for answer in &answers {
        let (status, version, body) = answer.as_ref().expect("every request got an answer");
        assert_eq!(*status, 200, "{body}");
        assert!(*version == json!(1) || *version == json!(2), "{body}");
        seen.insert(version.to_string());
    }
    assert_eq!(
        seen.len(),
        2,
        "both versions answered during the load: {seen:?}"
    );
    let last = server
        .call("POST", "/roll", &[], Some("{}"))
        .expect("an answer");
    assert_eq!(
        last.json()["version"],
        1,
        "the rollback serves version 1 again"
    );
    let record = server
        .admin("GET", "/zato/api/services/demo.roll", None)
        .json();
    let history: Vec<u64> = record["service"]["history"]
        .as_array()
        .map(|h| h.iter().filter_map(|r| r["version"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(history, vec![2, 1], "{record}");

    let undeployed = server.admin("DELETE", "/zato/api/services/demo.roll", None);
    assert_eq!(undeployed.status, 200, "{}", undeployed.body);
    assert!(eventually(Duration::from_secs(5), || {
        invoke(&server, "demo.roll", json!({})).status == 404
    }));
    assert!(
        !redis.dump_all().contains(":component:"),
        "no component kept after the undeploy"
    );
}

#[test]
fn every_server_runs_a_deployment_and_a_late_one_has_it_before_ready() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let first = ServerProcess::start(&redis, &cluster, "wasm-a", &[]);
    let second = ServerProcess::start(&redis, &cluster, "wasm-b", &[]);
    let key = "late-server";
    deployed(&first, "demo.late", &guest("host_calls"), "");
    let took = wait_ready(&first, "demo.late", 1, &["wasm-a", "wasm-b"]);
    eprintln!("both servers ready {took:?} after the deployment returned");
    let on_second = invoke(&second, "demo.late", json!({}));
    assert_eq!(on_second.status, 200, "{}", on_second.body);

    // A server started later, with nothing compiled yet, gets work while it is loading: none
    // of it is dead-lettered, all of it runs once the service is ready there.
    drop(first);
    drop(second);
    let empty_cache = std::env::temp_dir().join(format!("zato-cache-{cluster}"));
    let late = ServerProcess::spawn(
        zato_tests::server::binary("zato-server"),
        &redis,
        &cluster,
        "wasm-late",
        &[(
            "ZATO_COMPONENT_CACHE_DIR",
            empty_cache.to_str().unwrap_or_default(),
        )],
    );
    queue(
        &redis,
        &cluster,
        (0..20).map(|n| {
            (
                "demo.late",
                json!({"invoke": {"service": "zato.record", "payload": {"key": key, "n": n}}}),
            )
        }),
    );
    late.wait_healthy(READY_BOUND);
    let ready = invoke(&late, "demo.late", json!({}));
    assert_eq!(ready.status, 200, "ready means loaded: {}", ready.body);
    assert!(
        eventually(READY_BOUND, || records::recorded(&redis, &cluster, key)
            .len()
            >= 20),
        "all the work ran; {} did:\n{}",
        records::recorded(&redis, &cluster, key).len(),
        late.logs()
    );
    let mut conn = redis.connection().expect("redis");
    let dead: u64 = redis::cmd("XLEN")
        .arg(format!("zato:{{{cluster}}}:dlq:server"))
        .query(&mut conn)
        .expect("XLEN");
    assert_eq!(dead, 0, "nothing dead-lettered:\n{}", late.logs());
    let _ = std::fs::remove_dir_all(&empty_cache);
}

#[test]
fn work_for_a_service_only_a_newer_build_has_is_handed_to_it_not_dead_lettered() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    // An older build without demo.count beside a newer one with it, as in a rolling upgrade.
    let older = ServerProcess::start(&redis, &cluster, "older-build", &[]);
    let newer = ServerProcess::start_binary(
        zato_tests::server::binary("examples/custom_service"),
        &redis,
        &cluster,
        "newer-build",
        &[],
    );
    let count = 40;
    let started = Instant::now();
    let work = (0..count).map(|_| ("demo.count", json!({"who": "handover"})));
    queue(
        &redis,
        &cluster,
        work.chain([("nobody.has.this", json!({}))]),
    );
    let mut conn = redis.connection().expect("redis");
    let mut counted = || -> u64 {
        redis::cmd("HGET")
            .arg(format!("zato:{{{cluster}}}:demo:greetings"))
            .arg("handover")
            .query::<Option<u64>>(&mut conn)
            .ok()
            .flatten()
            .unwrap_or(0)
    };
    assert!(
        eventually(Duration::from_secs(60), || counted() >= count),
        "every message ran on the newer build: {} of {count}\n{}",
        counted(),
        older.logs()
    );
    eprintln!(
        "{count} messages through two builds in {:?}",
        started.elapsed()
    );
    let handled = older
        .get("/zato/health")
        .map(|h| h.json()["consumers"]["1:any"]["handled"].clone());
    assert!(
        handled.as_ref().and_then(Value::as_u64) > Some(0),
        "the older build read some of them and handed them over: {handled:?}"
    );
    let dead = || -> Vec<String> {
        let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(format!("zato:{{{cluster}}}:dlq:server"))
            .arg("-")
            .arg("+")
            .query(&mut redis.connection().expect("redis"))
            .unwrap_or_default();
        entries
            .into_iter()
            .map(|(_, fields)| {
                fields
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(20), || dead().len() == 1),
        "only the service nobody has is dead-lettered: {:?}",
        dead()
    );
    assert!(dead()[0].contains("no live server has it"), "{:?}", dead());
    drop(newer);
}

#[test]
fn a_server_that_cannot_load_a_version_says_why_and_others_serve_it() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let first = ServerProcess::start(&redis, &cluster, "loads-it", &[]);
    let answer = deployed(&first, "demo.broken", &guest("echo"), "");
    let hash = answer["hash"].as_str().unwrap_or_default().to_owned();
    wait_ready(&first, "demo.broken", 1, &["loads-it"]);
    // The stored component is damaged after the deployment: a server that must fetch it
    // (nothing compiled in its cache) cannot load it.
    let mut conn = redis.connection().expect("redis");
    let () = redis::cmd("SET")
        .arg(format!("zato:{{{cluster}}}:component:{hash}"))
        .arg("not the component")
        .query(&mut conn)
        .expect("SET");
    let empty_cache = std::env::temp_dir().join(format!("zato-cache-broken-{cluster}"));
    let second = ServerProcess::start(
        &redis,
        &cluster,
        "cannot-load",
        &[(
            "ZATO_COMPONENT_CACHE_DIR",
            empty_cache.to_str().unwrap_or_default(),
        )],
    );
    let state = states(&first, "demo.broken");
    assert_eq!(state["cannot-load"]["state"], "failed", "{state}");
    assert!(
        state["cannot-load"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a WebAssembly binary")),
        "{state}"
    );
    let started = Instant::now();
    let refused = invoke(&second, "demo.broken", json!({}));
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert!(
        refused.body.contains("could not be loaded on this server"),
        "{}",
        refused.body
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "told at once, not after the load wait"
    );
    assert_eq!(invoke(&first, "demo.broken", json!({})).status, 200);
    let _ = std::fs::remove_dir_all(&empty_cache);
}
