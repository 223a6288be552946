//! The active scheduler's plans, with a queue ordered by next fire.
//!
//! A binary heap keeps "what is due next" at O(log n) per change, so ten thousand jobs cost
//! the fire loop nothing while it waits. Heap entries are not removed when a plan changes;
//! an entry counts only while it still matches its plan's next fire (lazy invalidation).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use jiff::Timestamp;

use crate::state::RunState;
use crate::timetable::Entry;

/// What the active scheduler plans for one job.
#[derive(Debug, Clone)]
pub struct Plan {
    pub entry: Entry,
    pub state: RunState,
    /// After a run-once misfire: the next instant is the first one from now on, not the one
    /// after the missed instant.
    pub catch_up: bool,
}

/// Plans by job name, and the queue of next fires.
#[derive(Default)]
pub struct Plans {
    by_name: HashMap<String, Plan>,
    queue: BinaryHeap<Reverse<(Timestamp, String)>>,
}

impl Plans {
    pub fn clear(&mut self) {
        self.by_name.clear();
        self.queue.clear();
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn get(&self, name: &str) -> Option<&Plan> {
        self.by_name.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn remove(&mut self, name: &str) -> Option<Plan> {
        self.by_name.remove(name)
    }

    /// Keeps only the plans of the jobs `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.by_name.retain(|name, _| keep(name));
    }

    /// Adds or replaces a plan.
    pub fn insert(&mut self, name: String, plan: Plan) {
        if let Some(next) = plan.state.next_fire {
            self.queue.push(Reverse((next, name.clone())));
        }
        self.by_name.insert(name, plan);
    }

    /// Records a fire's outcome.
    pub fn update(&mut self, name: &str, state: RunState, catch_up: bool) {
        if let Some(plan) = self.by_name.get_mut(name) {
            if let Some(next) = state.next_fire {
                self.queue.push(Reverse((next, name.to_owned())));
            }
            plan.state = state;
            plan.catch_up = catch_up;
        }
    }

    fn is_current(&self, at: Timestamp, name: &str) -> bool {
        self.by_name
            .get(name)
            .is_some_and(|p| p.state.next_fire == Some(at))
    }

    /// The earliest planned fire.
    pub fn earliest(&mut self) -> Option<Timestamp> {
        while let Some(Reverse((at, name))) = self.queue.peek() {
            if self.is_current(*at, name) {
                return Some(*at);
            }
            self.queue.pop();
        }
        None
    }

    /// Every fire due at `now`, earliest first, each job once.
    pub fn take_due(&mut self, now: Timestamp) -> Vec<(Timestamp, String)> {
        let mut due = Vec::new();
        let mut seen = HashSet::new();
        while let Some(Reverse((at, _))) = self.queue.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, name))) = self.queue.pop() else {
                break;
            };
            if self.is_current(at, &name) && seen.insert(name.clone()) {
                due.push((at, name));
            }
        }
        due
    }

    /// Puts back fires that could not be sent, to be tried again.
    pub fn requeue(&mut self, due: &[(Timestamp, String)]) {
        for (at, name) in due {
            self.queue.push(Reverse((*at, name.clone())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;
    use serde_json::json;
    use zato_common::model::Job;
    use zato_common::schedule::Schedule;

    fn plan(name: &str, next: Option<Timestamp>) -> Plan {
        let job: Job = serde_json::from_value(json!({
            "name": name, "service": "zato.ping", "kind": "interval", "interval": {"seconds": 1},
            "start_at": "2026-01-01T00:00:00Z"
        }))
        .expect("a job");
        let schedule = Schedule::of(&job).expect("a schedule");
        Plan {
            entry: Entry { job, schedule },
            state: RunState {
                last_fire: None,
                next_fire: next,
                runs: 0,
            },
            catch_up: false,
        }
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_secs(seconds)
    }

    #[test]
    fn the_earliest_current_fire_comes_first() {
        let mut plans = Plans::default();
        plans.insert("b".into(), plan("b", Some(at(20))));
        plans.insert("a".into(), plan("a", Some(at(10))));
        plans.insert("never".into(), plan("never", None));
        assert_eq!(plans.earliest(), Some(at(10)));
        assert_eq!(plans.len(), 3);
        // Moving a plan leaves its old heap entry behind, which no longer counts.
        plans.update("a", plan("a", Some(at(30))).state, false);
        assert_eq!(plans.earliest(), Some(at(20)));
        plans.remove("b");
        assert_eq!(plans.earliest(), Some(at(30)));
    }

    #[test]
    fn due_fires_are_taken_once_each_in_order_and_can_be_put_back() {
        let mut plans = Plans::default();
        plans.insert("late".into(), plan("late", Some(at(50))));
        plans.insert("b".into(), plan("b", Some(at(20))));
        plans.insert("a".into(), plan("a", Some(at(10))));
        // A duplicate heap entry for the same instant is taken once.
        plans.insert("a".into(), plan("a", Some(at(10))));
        let due = plans.take_due(at(25));
        assert_eq!(due, vec![(at(10), "a".into()), (at(20), "b".into())]);
        assert!(plans.take_due(at(25)).is_empty(), "taken already");
        plans.requeue(&due);
        assert_eq!(
            plans.take_due(at(25)).len(),
            2,
            "put back after a failed send"
        );
        assert_eq!(plans.earliest(), Some(at(50)));
    }
}
