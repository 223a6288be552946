//! 1:all against a real Redis: every member gets every message in order, and a member that
//! was down replays what it missed.

use std::time::Duration;

use zato_broker::{BroadcastConsumer, ConsumerHandle, Delivery, Router};
use zato_common::Action;
use zato_tests::peers_in_process::{Received, all_member, publish_all};
use zato_tests::{RedisServer, broker, init_logging, unique_cluster, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_gets_every_message_in_order_and_a_returning_member_catches_up() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let received: Vec<Received> = (0..3).map(|_| Received::default()).collect();
    let names = ["m1", "m2", "m3"];
    let mut members: Vec<Option<ConsumerHandle>> = names
        .iter()
        .zip(&received)
        .map(|(name, r)| Some(all_member(broker(&redis, &cluster, name, "server"), r)))
        .collect();
    let producer = broker(&redis, &cluster, "producer", "test");
    // Let every member create its group before the first message.
    assert!(
        wait_until(Duration::from_secs(5), || members
            .iter()
            .flatten()
            .all(|m| m.health().last_read_ms > 0))
        .await
    );

    publish_all(&producer, 0..400).await;
    assert!(
        wait_until(Duration::from_secs(10), || received[2]
            .lock()
            .unwrap()
            .len()
            == 400)
        .await
    );
    members[2].take().expect("m3").stop().await;

    publish_all(&producer, 400..600).await; // m3 is down for these 200
    assert!(
        wait_until(Duration::from_secs(10), || received[0]
            .lock()
            .unwrap()
            .len()
            == 600)
        .await
    );
    assert_eq!(
        received[2].lock().unwrap().len(),
        400,
        "m3 got nothing while down"
    );

    // m3 comes back as a new process with the same member name.
    members[2] = Some(all_member(
        broker(&redis, &cluster, "m3", "server"),
        &received[2],
    ));
    publish_all(&producer, 600..1000).await;

    for (name, r) in names.iter().zip(&received) {
        assert!(
            wait_until(Duration::from_secs(15), || r.lock().unwrap().len() >= 1000).await,
            "{name} got {} of 1000",
            r.lock().unwrap().len()
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let expected: Vec<u64> = (0..1000).collect();
    for (name, r) in names.iter().zip(&received) {
        assert_eq!(
            *r.lock().unwrap(),
            expected,
            "{name} got all 1000, in order, once"
        );
    }
    for m in members.into_iter().flatten() {
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_crashed_mid_batch_replays_what_it_had_not_acknowledged() {
    init_logging();
    let redis = RedisServer::start();
    let cluster = unique_cluster();
    let received = Received::default();
    let producer = broker(&redis, &cluster, "producer", "test");
    // The first process of m1 hangs on message 5, then dies.
    let hang_at_5 = {
        let received = received.clone();
        Router::new().route(Action::SchedulerJobExecute, move |d: Delivery| {
            let received = received.clone();
            async move {
                let seq = d.payload::<serde_json::Value>().unwrap_or_default()["seq"]
                    .as_u64()
                    .unwrap_or(u64::MAX);
                if seq == 5 {
                    std::future::pending::<()>().await;
                }
                received.lock().unwrap().push(seq);
                Ok(())
            }
        })
    };
    let first = BroadcastConsumer::new(broker(&redis, &cluster, "m1", "server"), hang_at_5).spawn();
    assert!(wait_until(Duration::from_secs(5), || first.health().last_read_ms > 0).await);
    publish_all(&producer, 0..20).await;
    assert!(
        wait_until(Duration::from_secs(5), || received.lock().unwrap().len()
            == 5)
        .await
    );
    first.abort();
    received.lock().unwrap().clear();
    let second = all_member(broker(&redis, &cluster, "m1", "server"), &received);
    assert!(
        wait_until(Duration::from_secs(10), || received.lock().unwrap().len()
            >= 15)
        .await
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = received.lock().unwrap().clone();
    // 0..5 may come again (not acknowledged before the crash): at least once, in order.
    let start = got.first().copied().unwrap_or(u64::MAX);
    assert!(start <= 5, "{got:?}");
    assert_eq!(got, (start..20).collect::<Vec<_>>());
    second.stop().await;
}
