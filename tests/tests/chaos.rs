//! Fault injection over a whole cluster under steady mixed load (the scenario:
//! `zato_tests::chaos`).
//!
//! At the end, from the outside: every invoke_async call answered 202, every HTTP call
//! answered 200 and every AMQP message confirmed to pika was recorded at least once; every
//! duplicate is counted and explained; no scheduled instant fired twice; every fault was
//! injected and recovered from; every member is up and healthy, with one active scheduler and
//! one active connector; the memory of the server never killed did not grow without bound.
//! ZeroMQ PUSH has no delivery guarantee across connector restarts: its losses are reported
//! only.
//!
//! `ZATO_CHAOS_SECONDS` sets how long the load and the faults last (85 s by default, about
//! 95 s in all); `scripts/soak MINUTES` runs it for longer.

use std::time::{Duration, Instant};

use zato_tests::chaos::cluster::Cluster;
use zato_tests::chaos::fault::inject_in_turn;
use zato_tests::chaos::load::Load;
use zato_tests::chaos::load_duration;
use zato_tests::chaos::memory::{Growth, Sample};
use zato_tests::chaos::outcome::{Findings, drain};
use zato_tests::chaos::report::{Report, Timing};

/// Load before the first memory sample and the first fault.
const WARM_UP: Duration = Duration::from_secs(8);

#[test]
fn a_whole_cluster_under_load_and_faults_loses_nothing() {
    zato_tests::init_logging();
    let load_for = load_duration();
    let test_started = Instant::now();
    let mut cluster = Cluster::start();
    let setup = test_started.elapsed();

    let load = Load::start(&cluster);
    std::thread::sleep(WARM_UP);
    let early = Sample::take(&cluster.servers);
    let injected = inject_in_turn(&mut cluster, &load, load_for);
    let late = Sample::take(&cluster.servers);
    let offered = load.stop();

    let drained = drain(&cluster, &offered);
    let findings = Findings::gather(&cluster, &offered);
    let members = ["server-1", "server-2"].map(String::from);
    let report = Report {
        timing: Timing {
            load_for,
            setup,
            whole: test_started.elapsed(),
        },
        injected: &injected,
        offered: &offered,
        findings: &findings,
        memory: &Growth::between(&members, &early, &late),
        drained,
    };
    report.print();
    let problems = report.problems();
    assert!(
        problems.is_empty(),
        "{}\n\nlogs (tails):\n{}",
        problems.join("\n"),
        cluster.log_tails()
    );
}
