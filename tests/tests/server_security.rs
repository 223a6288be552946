//! Hostile clients against a real server: token guessing is throttled, a client that
//! trickles its body is cut off, and a config file with secrets that others can read is
//! warned about.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use zato_tests::server::{ServerProcess, send};
use zato_tests::{RedisServer, unique_cluster};

#[test]
fn guessing_the_admin_token_is_throttled_and_logged_once() {
    let redis = RedisServer::start();
    let server = ServerProcess::start(&redis, &unique_cluster(), "server-a", &[]);
    let url = format!("{}/zato/api/services", server.url);
    let statuses: Vec<u16> = (0..12)
        .map(|i| {
            let token = format!("Bearer guess-{i}");
            send("GET", &url, &[("authorization", &token)], None)
                .expect("answer")
                .status
        })
        .collect();
    assert_eq!(&statuses[..10], &[401; 10]);
    assert_eq!(&statuses[10..], &[429, 429], "{statuses:?}");
    let throttled = send(
        "GET",
        &url,
        &[("authorization", "Bearer test-admin-token")],
        None,
    )
    .expect("answer");
    assert_eq!(
        throttled.status, 429,
        "even the right token waits while the address is throttled"
    );
    assert!(throttled.header("retry-after").is_some());
    let logged = server
        .logs()
        .matches("admin API call without a valid token")
        .count();
    assert_eq!(
        logged, 1,
        "failures are logged once per window, not once per attempt"
    );
    assert!(
        !server.logs().contains("guess-"),
        "the tokens tried are never logged"
    );
}

#[test]
fn a_client_that_trickles_its_body_is_cut_off() {
    let redis = RedisServer::start();
    let server = ServerProcess::start(
        &redis,
        &unique_cluster(),
        "server-a",
        &[("ZATO_CLIENT_REQUEST_TIMEOUT_MS", "1000")],
    );
    let channel = serde_json::json!({"name": "echo", "url_path": "/echo", "service": "zato.echo"});
    assert_eq!(
        server
            .admin("POST", "/zato/api/channels/http", Some(&channel))
            .status,
        201
    );
    std::thread::sleep(Duration::from_millis(300));
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
        .expect("write");
    let started = Instant::now();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The server goes on serving.
    assert_eq!(
        server
            .call("POST", "/echo", &[], Some("[1]"))
            .expect("answer")
            .status,
        200
    );
}

#[test]
fn a_config_file_with_secrets_that_others_can_read_is_warned_about() {
    let redis = RedisServer::start();
    let dir = std::env::temp_dir().join(format!("zato-conf-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("server.toml");
    std::fs::write(&file, "admin_token = \"file-token-5d2e\"\n").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let program = zato_tests::server::binary("zato-server");
    let log = dir.join("server.log");
    let mut child = std::process::Command::new(program)
        .args(["--config", &file.to_string_lossy()])
        .env("ZATO_REDIS_URL", redis.url())
        .env("ZATO_CLUSTER", unique_cluster())
        .env(
            "ZATO_BIND",
            format!("127.0.0.1:{}", zato_tests::free_port()),
        )
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut logs = String::new();
    while Instant::now() < deadline && !logs.contains("ready") {
        std::thread::sleep(Duration::from_millis(50));
        logs = std::fs::read_to_string(&log).unwrap_or_default();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        logs.contains("config file holds secrets and others can read it; chmod 600 it"),
        "{logs}"
    );
    assert!(
        !logs.contains("file-token-5d2e"),
        "the token itself is not logged"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
