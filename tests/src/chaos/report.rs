//! The scenario's summary (what `scripts/soak` cuts out between its markers) and its verdict:
//! every problem found, each a reason for the test to fail.

use std::collections::BTreeMap;
use std::time::Duration;

use super::fault::{FAULTS, Fault, Injected};
use super::load::Offered;
use super::memory::Growth;
use super::outcome::{Findings, Outcome};
use super::secs;

/// How long each part took.
pub struct Timing {
    /// How long the load and the faults were to last (`ZATO_CHAOS_SECONDS`).
    pub load_for: Duration,
    pub setup: Duration,
    pub whole: Duration,
}

/// Everything the scenario found.
pub struct Report<'a> {
    pub timing: Timing,
    pub injected: &'a [Injected],
    pub offered: &'a Offered,
    pub findings: &'a Findings,
    pub memory: &'a Growth,
    /// How long the backlog took to drain after the load (`None`: not within a minute).
    pub drained: Option<Duration>,
}

impl Report<'_> {
    /// The faults by kind.
    fn by_kind(&self) -> BTreeMap<Fault, Vec<&Injected>> {
        let mut by_kind: BTreeMap<Fault, Vec<&Injected>> = BTreeMap::new();
        for i in self.injected {
            by_kind.entry(i.fault).or_default().push(i);
        }
        by_kind
    }

    /// The kinds of message whose every accepted message must be handled.
    fn guaranteed(&self) -> [(&'static str, &Outcome); 3] {
        let f = self.findings;
        [
            ("invoke_async", &f.invoke_async),
            ("AMQP", &f.amqp),
            ("HTTP", &f.http),
        ]
    }

    /// Prints the summary between the markers `scripts/soak` looks for, then notes.
    pub fn print(&self) {
        let (o, f) = (self.offered, self.findings);
        println!("\n===== CHAOS SUMMARY =====");
        println!(
            "load + faults {} (ZATO_CHAOS_SECONDS={}), setup {}, whole test {}",
            secs(o.lasted),
            self.timing.load_for.as_secs(),
            secs(self.timing.setup),
            secs(self.timing.whole)
        );
        self.print_faults();
        println!("messages sent:");
        println!(
            "  HTTP         {} calls, {} answered 200, refused {:?}, no answer {}",
            o.http.attempted,
            o.http.accepted.len(),
            o.http.refused,
            o.http.no_answer
        );
        println!(
            "  invoke_async {} calls, {} answered 202, refused {:?}, no answer {}",
            o.invoke_async.attempted,
            o.invoke_async.accepted.len(),
            o.invoke_async.refused,
            o.invoke_async.no_answer
        );
        println!(
            "  AMQP         {} published and confirmed, {} not confirmed (connection closed mid-publish)",
            o.amqp_confirmed.len(),
            o.amqp_unconfirmed
        );
        println!(
            "  ZeroMQ       {} sent, {} refused at the socket",
            o.zmq_sent.len(),
            o.zmq_refused
        );
        println!(
            "  jobs         {} fires recorded ({} instants)",
            f.jobs.fires, f.jobs.instants
        );
        self.print_losses();
        println!("dead letters in dlq:server: {}", f.dead_letters);
        println!(
            "drained after the load in {}",
            self.drained.map_or("NEVER (60 s)".into(), secs)
        );
        println!("memory (VmRSS):");
        for line in &self.memory.lines {
            println!("{line}");
        }
        println!(
            "members: unhealthy {:?}, active schedulers {}, active connectors {}",
            f.unhealthy, f.active_schedulers, f.active_connectors
        );
        println!("===== END CHAOS SUMMARY =====\n");
        for (name, out) in self.guaranteed() {
            if out.explained.contains_key("UNEXPLAINED") {
                println!("NOTE: {name} has duplicates without a redelivery mark: {out:?}");
            }
        }
    }

    /// Each kind of fault: how often, and its recovery times.
    fn print_faults(&self) {
        println!("faults injected: {}", self.injected.len());
        for (fault, list) in &self.by_kind() {
            let mut times: Vec<Duration> = list.iter().filter_map(|i| i.recovery).collect();
            times.sort();
            let never = list.len() - times.len();
            println!(
                "  {:<28} x{:<3} recovery min {} / median {} / max {}  ({}){}",
                fault.name(),
                list.len(),
                times.first().copied().map_or("-".into(), secs),
                secs(times.get(times.len() / 2).copied().unwrap_or_default()),
                times.last().copied().map_or("-".into(), secs),
                fault.recovery(),
                if never > 0 {
                    format!("  {never} NEVER RECOVERED")
                } else {
                    String::new()
                }
            );
        }
    }

    /// Lost and duplicated messages of each kind, with the first 50 duplicates of each
    /// placed after the fault that preceded them.
    fn print_losses(&self) {
        let f = self.findings;
        let kinds = [
            ("HTTP (200)", "HTTP", &f.http),
            ("invoke_async (202)", "invoke_async", &f.invoke_async),
            ("AMQP (confirmed)", "AMQP", &f.amqp),
            ("ZeroMQ (no guarantee)", "ZeroMQ", &f.zmq),
        ];
        println!("lost / duplicated:");
        for (title, _, out) in kinds {
            println!(
                "  {title:<22} handled {:<6} lost {:<5} duplicated {:<5} {:?}",
                out.distinct,
                out.lost.len(),
                out.duplicates,
                out.explained
            );
        }
        for (_, name, out) in kinds {
            for (n, why, at) in out.details.iter().take(50) {
                let after = at.and_then(|at| {
                    self.injected
                        .iter()
                        .rev()
                        .find(|i| i.wall <= at)
                        .map(|i| (i, at.duration_since(i.wall)))
                });
                println!(
                    "    duplicate {name} n={n}: {why}; second copy {}",
                    after.map_or("before any fault".into(), |(i, d)| format!(
                        "{:.2}s after the fault {} at {}",
                        d.as_secs_f64(),
                        i.fault.name(),
                        secs(i.at)
                    ))
                );
            }
        }
        println!(
            "  {:<22} double fires {:<5} duplicated {:<5} {:?}",
            "jobs (instants)",
            f.jobs.double_fires.len(),
            f.jobs.duplicates,
            f.jobs.explained
        );
    }

    /// Every reason for the test to fail; empty if it passes.
    pub fn problems(&self) -> Vec<String> {
        let f = self.findings;
        let mut problems = Vec::new();
        for (name, out) in self.guaranteed() {
            if !out.lost.is_empty() {
                let shown: Vec<_> = out.lost.iter().take(20).collect();
                problems.push(format!(
                    "PRODUCT BUG? {name}: {} accepted messages never handled, e.g. n = {shown:?} \
                     (seen after Redis restarts: zato.record's RPUSH fails with BusyLoading or a \
                     broken connection, the service answers Unavailable, and the 1:any handler \
                     treats that answer as final and acknowledges the message, so it is never \
                     retried: zato-server/src/broker_handlers.rs on_service_invoke)",
                    out.lost.len()
                ));
            }
        }
        if !f.jobs.double_fires.is_empty() {
            problems.push(format!(
                "PRODUCT BUG? scheduled instants fired twice: {:?}",
                f.jobs.double_fires
            ));
        }
        for i in self.injected.iter().filter(|i| i.recovery.is_none()) {
            problems.push(format!(
                "PRODUCT BUG? no recovery after {} at {}: {}",
                i.fault.name(),
                secs(i.at),
                i.detail
            ));
        }
        if !f.unhealthy.is_empty() {
            problems.push(format!("members not healthy at the end: {:?}", f.unhealthy));
        }
        if f.active_schedulers != 1 || f.active_connectors != 1 {
            problems.push(format!(
                "{} active schedulers and {} active connectors at the end",
                f.active_schedulers, f.active_connectors
            ));
        }
        if !self.memory.problems.is_empty() {
            problems.push(format!("memory grew: {:?}", self.memory.problems));
        }
        let by_kind = self.by_kind();
        for fault in FAULTS.into_iter().filter(|f| !by_kind.contains_key(f)) {
            problems.push(format!("{} was never injected", fault.name()));
        }
        problems
    }
}
