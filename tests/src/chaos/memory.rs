//! The servers' memory, sampled after the warm-up and again at the end of the load: a server
//! that was never killed must not have grown without bound.

use std::collections::HashMap;

use crate::server::ServerProcess;

/// (pid, VmRSS in kB) of every server that could be sampled, by member name.
pub struct Sample(HashMap<String, (u32, u64)>);

impl Sample {
    /// Samples every server now.
    pub fn take(servers: &[ServerProcess]) -> Self {
        let by_member = servers
            .iter()
            .filter_map(|s| Some((s.member.clone(), (s.pid()?, s.rss_kb()?))))
            .collect();
        Self(by_member)
    }
}

/// The servers' memory between two samples.
pub struct Growth {
    /// One line per server, for the summary.
    pub lines: Vec<String>,
    /// The servers never killed that grew more than threefold or past 200 MB.
    pub problems: Vec<String>,
}

impl Growth {
    /// From `early` to `late`, for each of `members`.
    pub fn between(members: &[String], early: &Sample, late: &Sample) -> Self {
        let mut growth = Self {
            lines: Vec::new(),
            problems: Vec::new(),
        };
        for m in members {
            let line = match (early.0.get(m), late.0.get(m)) {
                (Some((p1, e)), Some((p2, l))) if p1 == p2 => {
                    if *l > e * 3 || *l > 200 * 1024 {
                        growth.problems.push(format!("{m}: {e} kB -> {l} kB"));
                    }
                    format!(
                        "  {m} (pid {p1}, never killed): {} MB -> {} MB",
                        e / 1024,
                        l / 1024
                    )
                }
                (Some((_, e)), Some((p2, l))) => format!(
                    "  {m} (restarted, now pid {p2}): {} MB at the start, {} MB at the end",
                    e / 1024,
                    l / 1024
                ),
                _ => format!("  {m}: not sampled"),
            };
            growth.lines.push(line);
        }
        growth
    }
}
