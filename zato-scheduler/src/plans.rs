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
