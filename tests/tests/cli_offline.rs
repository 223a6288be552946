//! `zato` commands that need no server: `config check` and `dlq` (Redis only).

use zato_broker::Keys;
use zato_tests::cli::zato;
use zato_tests::{RedisServer, free_port, unique_cluster};

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("zato-cli-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn config_check_uses_each_binarys_loader() {
    let dir = temp_dir();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let server = write(
        "server-1.toml",
        "cluster = \"c\"\nbind = \"127.0.0.1:17010\"\n",
    );
    let run = zato(&["config", "check", &server], &[]);
    assert!(
        run.expect_ok().contains("is a valid server config"),
        "{run:?}"
    );

    let scheduler = write(
        "scheduler.toml",
        "bind = \"127.0.0.1:17030\"\nfire_batch = 10\n",
    );
    let run = zato(&["config", "check", &scheduler, "--json"], &[]);
    assert_eq!(run.json()["kind"], "scheduler", "{run:?}");
    assert_eq!(run.json()["valid"], true);

    // A Redis URL with an ACL user's password is shown without the password.
    let with_password = write(
        "server-2.toml",
        "redis_url = \"redis://zato:pw-9f2c@127.0.0.1:6379/0\"\n",
    );
    let run = zato(&["config", "check", &with_password, "--json"], &[]);
    assert_eq!(
        run.json()["settings"]["redis_url"],
        "redis://zato:***@127.0.0.1:6379/0",
        "{run:?}"
    );
    assert!(!format!("{run:?}").contains("pw-9f2c"), "{run:?}");

    let connector = write("c.toml", "publish_timeout_ms = 100\n");
    let run = zato(&["config", "check", &connector, "--kind", "connector"], &[]);
    assert!(
        run.expect_ok().contains("valid connector config"),
        "{run:?}"
    );
    // A field of another binary is refused by the connector's loader.
    zato(&["config", "check", &scheduler, "--kind", "connector"], &[])
        .expect_error("is not a valid connector config");

    let bad = write("bad.toml", "bind = \"nowhere\"\n");
    zato(&["config", "check", &bad], &[]).expect_error("bind 'nowhere'");
    let broken = write("broken.toml", "bind = \n");
    zato(&["config", "check", &broken], &[]).expect_error("not valid TOML");
    let unknown = write("typo.toml", "redis_ur = \"x\"\n");
    zato(&["config", "check", &unknown], &[]).expect_error("redis_ur");
    zato(&["config", "check", "/no/such.toml"], &[]).expect_error("cannot read config file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dlq_lists_replays_and_purges_from_redis() {
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let mut conn = redis.client();
    let _: String = redis::cmd("XADD")
        .arg(Keys::new(&cluster).dlq("server", 0))
        .arg("*")
        .arg("e")
        .arg("not an envelope")
        .arg("reason")
        .arg("bad JSON")
        .arg("source")
        .arg("server")
        .arg("original_id")
        .arg("1-0")
        .arg("deliveries")
        .arg(3)
        .query(&mut conn)
        .expect("xadd");
    let url = redis.url();
    let env = [
        ("ZATO_REDIS_URL", url.as_str()),
        ("ZATO_CLUSTER", cluster.as_str()),
    ];

    let run = zato(&["dlq", "list"], &env);
    assert!(run.expect_ok().contains("bad JSON"), "{run:?}");
    let run = zato(&["dlq", "list", "--source", "server", "--json"], &env);
    assert_eq!(run.json()[0]["deliveries"], 3, "{run:?}");
    assert_eq!(
        zato(&["dlq", "list", "--source", "connector", "--json"], &env).json(),
        serde_json::json!([])
    );

    let run = zato(&["dlq", "replay", "--source", "server", "--json"], &env);
    assert_eq!(
        run.json()["server"]["skipped"],
        1,
        "not an envelope: left there: {run:?}"
    );
    let run = zato(
        &["dlq", "purge", "--redis-url", &url, "--cluster", &cluster],
        &[],
    );
    assert!(run.expect_ok().contains("server: purged 1"), "{run:?}");
    assert_eq!(
        zato(&["dlq", "list", "--json"], &env).json(),
        serde_json::json!([])
    );

    let down = format!("redis://127.0.0.1:{}", free_port());
    zato(&["dlq", "list", "--redis-url", &down], &[]).expect_error(&format!("cannot reach {down}"));
    zato(&["dlq", "list", "--source", "nope"], &env)
        .code
        .filter(|c| *c != 0)
        .expect("refused");
}
