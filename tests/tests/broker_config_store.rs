//! The config store: create/edit/rename/delete with clear errors, and "load, then follow"
//! start-up that misses no change made while a member loads its snapshot.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use zato_broker::{BroadcastConsumer, BrokerError, ConfigStore, Delivery, Router};
use zato_common::model::HttpChannel;
use zato_common::{ConfigChange, ConfigKind};
use zato_tests::{RedisServer, broker, init_logging, unique_cluster, wait_until};

fn channel(name: &str, path: &str) -> HttpChannel {
    HttpChannel {
        name: name.into(),
        url_path: path.into(),
        method: None,
        service: "zato.echo".into(),
        data_format: Default::default(),
        security: None,
        is_active: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_created_edited_renamed_and_deleted_with_clear_errors() {
    init_logging();
    let redis = RedisServer::start();
    let store = ConfigStore::new(broker(&redis, &unique_cluster(), "admin", "server"));
    assert_eq!(store.version().await.expect("version"), 0);
    assert_eq!(store.create(&channel("a", "/a")).await.expect("create"), 1);
    let err = store.create(&channel("a", "/a2")).await.unwrap_err();
    assert!(matches!(err, BrokerError::AlreadyExists { .. }));
    assert_eq!(err.to_string(), "http_channel 'a' already exists");
    let err = store.create(&channel("bad", "no-slash")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid http_channel: url_path: must start with '/'"
    );
    let err = store
        .update("missing", &channel("missing", "/m"))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "http_channel 'missing' does not exist");

    store
        .update("a", &channel("a", "/a/v2"))
        .await
        .expect("edit");
    assert_eq!(
        store
            .get::<HttpChannel>("a")
            .await
            .expect("get")
            .expect("a")
            .url_path,
        "/a/v2"
    );
    store.create(&channel("b", "/b")).await.expect("create b");
    let err = store.update("a", &channel("b", "/x")).await.unwrap_err();
    assert!(
        matches!(err, BrokerError::AlreadyExists { .. }),
        "a rename onto a taken name is refused"
    );
    store
        .update("a", &channel("c", "/c"))
        .await
        .expect("rename a to c");
    let names: Vec<String> = store
        .list::<HttpChannel>()
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["b", "c"]);
    store
        .delete(ConfigKind::HttpChannel, "b")
        .await
        .expect("delete");
    let err = store
        .delete(ConfigKind::HttpChannel, "b")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "http_channel 'b' does not exist");
    assert_eq!(
        store.version().await.expect("version"),
        5,
        "one version per successful change"
    );
    let snapshot = store.snapshot().await.expect("snapshot");
    assert_eq!(snapshot.version, 5);
    assert_eq!(
        snapshot.list::<HttpChannel>().expect("parse"),
        vec![channel("c", "/c")]
    );
}

/// A member's view of the channels: the snapshot, then every change over 1:all.
fn follower(
    b: zato_broker::Broker,
    view: &Arc<Mutex<BTreeMap<String, Value>>>,
) -> zato_broker::ConsumerHandle {
    let apply = {
        let view = view.clone();
        move |d: Delivery| {
            let view = view.clone();
            async move {
                let change: ConfigChange = d
                    .payload()
                    .map_err(|e| zato_broker::HandlerError::Reject(e.to_string()))?;
                let mut view = view.lock().unwrap();
                if let Some(previous) = &change.previous_name {
                    view.remove(previous);
                }
                match change.value {
                    Some(value) => view.insert(change.name, value),
                    None => view.remove(&change.name),
                };
                Ok(())
            }
        }
    };
    let kind = ConfigKind::HttpChannel;
    let router = Router::new()
        .route(kind.create_edit_action(), apply.clone())
        .route(kind.delete_action(), apply);
    let on_snapshot = {
        let view = view.clone();
        move |snapshot: zato_broker::ConfigSnapshot| {
            let view = view.clone();
            async move {
                *view.lock().unwrap() = snapshot
                    .objects
                    .get(&ConfigKind::HttpChannel)
                    .cloned()
                    .unwrap_or_default();
            }
        }
    };
    BroadcastConsumer::new(b, router)
        .on_snapshot(on_snapshot)
        .spawn()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_starting_during_a_stream_of_writes_end_with_the_stores_state() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let admin = broker(&redis, &cluster, "admin", "server");
    let store = ConfigStore::new(admin.clone());
    let writing = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..600u32 {
                let name = format!("c{}", i % 40);
                match i % 7 {
                    6 => {
                        let _ = store.delete(ConfigKind::HttpChannel, &name).await;
                    }
                    5 => {
                        let renamed = channel(&format!("r{}", i % 13), &format!("/r/{i}"));
                        let _ = store.update(&name, &renamed).await;
                    }
                    _ => {
                        store
                            .put(&channel(&name, &format!("/p/{i}")))
                            .await
                            .expect("put");
                    }
                }
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    // Members join at different moments of the stream of writes.
    let mut members = Vec::new();
    for (i, delay) in [0u64, 5, 20, 60].into_iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let view: Arc<Mutex<BTreeMap<String, Value>>> = Arc::default();
        members.push((
            follower(broker(&redis, &cluster, &format!("m{i}"), "server"), &view),
            view,
        ));
    }
    writing.await.expect("writer");
    let truth: BTreeMap<String, Value> = store
        .list::<HttpChannel>()
        .await
        .expect("list")
        .into_iter()
        .map(|c| (c.name.clone(), serde_json::to_value(&c).expect("json")))
        .collect();
    assert!(!truth.is_empty());
    for (i, (handle, view)) in members.iter().enumerate() {
        assert!(
            wait_until(Duration::from_secs(10), || *view.lock().unwrap() == truth).await,
            "member m{i} differs from the store: {} vs {} channels",
            view.lock().unwrap().len(),
            truth.len()
        );
        assert_eq!(handle.health().dead_lettered, 0);
    }
    // A member that restarts later loads the current state, whatever it missed.
    let (first, _) = members.remove(0);
    first.stop().await;
    store.put(&channel("late", "/late")).await.expect("put");
    let view: Arc<Mutex<BTreeMap<String, Value>>> = Arc::default();
    let again = follower(broker(&redis, &cluster, "m0", "server"), &view);
    assert!(
        wait_until(Duration::from_secs(5), || view
            .lock()
            .unwrap()
            .contains_key("late"))
        .await
    );
    assert_eq!(view.lock().unwrap().len(), truth.len() + 1);
    again.stop().await;
    for (handle, _) in members {
        handle.stop().await;
    }
}
