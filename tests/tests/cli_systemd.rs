//! The systemd side of deployment: the units in `deploy/systemd/` pass `systemd-analyze
//! verify`, and each binary tells `NOTIFY_SOCKET` it is ready and pings the watchdog, which
//! is what `Type=notify` and `WatchdogSec=` in those units rely on.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use zato_tests::connector::ConnectorProcess;
use zato_tests::scheduler::SchedulerProcess;
use zato_tests::server::{ServerProcess, binary};
use zato_tests::{RedisServer, unique_cluster};

const UNITS: [&str; 3] = [
    "zato-server@.service",
    "zato-scheduler.service",
    "zato-connector.service",
];

fn units_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/systemd")
}

fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn units_have_what_production_needs() {
    for unit in UNITS {
        let text = std::fs::read_to_string(units_dir().join(unit)).expect("unit file");
        for line in [
            "Type=notify",
            "WatchdogSec=",
            "Restart=on-failure",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "User=zato",
            "ReadWritePaths=",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(line)),
                "{unit} lacks {line}"
            );
        }
    }
    let server = std::fs::read_to_string(units_dir().join("zato-server@.service")).expect("unit");
    assert!(server.contains("--config /etc/zato/server-%i.toml"));
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let Ok(found) = Command::new("sh")
        .args(["-c", "command -v systemd-analyze"])
        .output()
    else {
        println!("note: no sh; skipping systemd-analyze verify");
        return;
    };
    if !found.status.success() {
        println!("note: systemd-analyze is not on PATH; skipping the verify check");
        return;
    }
    // `verify` also checks that ExecStart's binary exists: point the units at the ones just
    // built instead of /usr/local/bin, changing nothing else.
    let dir = temp_dir("zato-units");
    let bin_dir = binary("zato-server")
        .parent()
        .map(Path::to_path_buf)
        .expect("target dir");
    for unit in UNITS {
        let text = std::fs::read_to_string(units_dir().join(unit)).expect("unit file");
        let text = text.replace("/usr/local/bin/", &format!("{}/", bin_dir.display()));
        std::fs::write(dir.join(unit), text).expect("write unit");
    }
    // A template is verified through an instance of it.
    std::fs::copy(
        dir.join("zato-server@.service"),
        dir.join("zato-server@1.service"),
    )
    .expect("instance");
    let output = Command::new("systemd-analyze")
        .current_dir(&dir)
        .args([
            "verify",
            "zato-server@1.service",
            "zato-scheduler.service",
            "zato-connector.service",
        ])
        .output()
        .expect("systemd-analyze runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "systemd-analyze verify failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Binds a notify socket, runs `start` with it, and waits for READY=1 and WATCHDOG=1.
fn expect_notifications<T>(what: &str, start: impl FnOnce(&[(&str, &str)]) -> T) {
    let dir = temp_dir("zato-notify");
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let notify = path.display().to_string();
    let _process = start(&[
        ("NOTIFY_SOCKET", &notify),
        ("WATCHDOG_USEC", "400000"),
        ("WATCHDOG_PID", ""),
    ]);
    let mut seen: Vec<String> = Vec::new();
    let mut buf = [0u8; 256];
    while !(seen.iter().any(|m| m == "READY=1") && seen.iter().any(|m| m == "WATCHDOG=1")) {
        let n = socket
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("{what}: no notification within 15 s ({e}); seen {seen:?}"));
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_binary_notifies_ready_and_pings_the_watchdog() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    expect_notifications("zato-server", |env| {
        ServerProcess::start(&redis, &cluster, "server-n", env)
    });
    expect_notifications("zato-scheduler", |env| {
        SchedulerProcess::start(&redis, &cluster, "scheduler-n", env)
    });
    expect_notifications("zato-connector", |env| {
        ConnectorProcess::start(&redis, &cluster, "connector-n", env)
    });
}
