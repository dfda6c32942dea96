//! The applier's bookkeeping in time linear in the plan: unfinished waits counted per action, a
//! reverse index of dependents, a ready queue by critical-path priority, per-service budgets
//! that park what must wait, and blocking that walks only the dependents of a failure.
//!
//! Every operation touches only the actions it concerns: finishing an action visits its
//! dependents, a failure visits what (transitively) depends on it, and starting one pops the
//! queue. A plan of n actions and e waits is scheduled in O((n + e) log n) whatever its shape,
//! where rescanning every pending action after each finish cost O(n²).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::Duration;

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Not started: waiting on others, ready in the queue, or parked by a budget.
    Waiting,
    Running,
    Done,
    Failed,
    Blocked,
}

/// The ready queue's order: the heaviest remaining chain first, then the first address (the
/// smaller index, since indices follow address order).
type Entry = (Duration, Reverse<usize>);

/// One configured budget: a service (`aws.eks`) or a kind (`aws.ec2.nat_gateway`).
#[derive(Debug)]
struct Slot {
    cap: usize,
    running: usize,
    /// Ready actions popped while this budget was full, best first.
    parked: BinaryHeap<Entry>,
}

/// The schedule of one apply, over actions numbered in address order.
#[derive(Debug)]
pub(super) struct Schedule<'p> {
    addresses: Vec<&'p str>,
    /// What each action waits on, in address order.
    waits: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    /// Waits not yet done; an action is ready at zero.
    missing: Vec<usize>,
    priority: Vec<Duration>,
    status: Vec<Status>,
    ready: BinaryHeap<Entry>,
    slots: Vec<Slot>,
    /// The budgets each action counts against.
    slots_of: Vec<Vec<usize>>,
    /// Failures whose dependents are not blocked yet.
    unpropagated: Vec<usize>,
}

impl<'p> Schedule<'p> {
    /// `waits` maps every action to what must finish first (addresses outside it are ignored),
    /// `priority` ranks ready actions, and `budget_keys` names the keys of `limits` an action
    /// counts against (its kind and its service).
    pub fn new<'k>(
        waits: &BTreeMap<&'p str, Vec<&'p str>>,
        priority: impl Fn(&str) -> Duration,
        budget_keys: impl Fn(&str) -> Vec<&'k str>,
        limits: &BTreeMap<String, usize>,
    ) -> Schedule<'p> {
        let addresses: Vec<&str> = waits.keys().copied().collect();
        let index: HashMap<&str, usize> = addresses.iter().enumerate().map(|(i, a)| (*a, i)).collect();
        let waits: Vec<Vec<usize>> = waits
            .values()
            .map(|ws| {
                let mut w: Vec<usize> = ws.iter().filter_map(|a| index.get(a).copied()).collect();
                w.sort_unstable();
                w.dedup();
                w
            })
            .collect();
        let mut dependents = vec![Vec::new(); addresses.len()];
        for (i, ws) in waits.iter().enumerate() {
            for w in ws {
                dependents[*w].push(i);
            }
        }
        let missing: Vec<usize> = waits.iter().map(Vec::len).collect();
        let priority: Vec<Duration> = addresses.iter().map(|a| priority(a)).collect();

        let mut slot_index: HashMap<&str, usize> = HashMap::new();
        let mut slots = Vec::new();
        let slots_of = addresses
            .iter()
            .map(|a| {
                let mut mine = Vec::new();
                for key in budget_keys(a) {
                    let Some((name, cap)) = limits.get_key_value(key) else { continue };
                    let s = *slot_index.entry(name.as_str()).or_insert_with(|| {
                        // A budget of zero would never let its actions start.
                        slots.push(Slot { cap: (*cap).max(1), running: 0, parked: BinaryHeap::new() });
                        slots.len() - 1
                    });
                    if !mine.contains(&s) {
                        mine.push(s);
                    }
                }
                mine
            })
            .collect();

        let ready = (0..addresses.len()).filter(|i| missing[*i] == 0).map(|i| (priority[i], Reverse(i))).collect();
        Schedule {
            status: vec![Status::Waiting; addresses.len()],
            addresses,
            waits,
            dependents,
            missing,
            priority,
            ready,
            slots,
            slots_of,
            unpropagated: Vec::new(),
        }
    }

    pub fn address(&self, i: usize) -> &'p str {
        self.addresses[i]
    }

    /// The ready action to start next, best first, skipping (and parking) those whose budget
    /// is spent; `None` when nothing can start now.
    pub fn next(&mut self) -> Option<usize> {
        // A budget with room lets its best parked actions compete again. Released actions that
        // another budget holds back park there; at most a budget's room is released per round.
        for slot in &mut self.slots {
            for _ in slot.running..slot.cap {
                match slot.parked.pop() {
                    Some(e) => self.ready.push(e),
                    None => break,
                }
            }
        }
        while let Some(entry) = self.ready.pop() {
            let i = entry.1 .0;
            match self.slots_of[i].iter().find(|s| self.slots[**s].running >= self.slots[**s].cap) {
                Some(full) => self.slots[*full].parked.push(entry),
                None => return Some(i),
            }
        }
        None
    }

    /// The action `next` returned was started.
    pub fn started(&mut self, i: usize) {
        self.status[i] = Status::Running;
        for s in &self.slots_of[i] {
            self.slots[*s].running += 1;
        }
    }

    /// The action finished (`ok`) or failed, after running or without starting.
    pub fn finished(&mut self, i: usize, ok: bool) {
        if self.status[i] == Status::Running {
            for s in &self.slots_of[i] {
                let slot = &mut self.slots[*s];
                slot.running = slot.running.saturating_sub(1);
            }
        }
        if !ok {
            self.status[i] = Status::Failed;
            self.unpropagated.push(i);
            return;
        }
        self.status[i] = Status::Done;
        for d in &self.dependents[i] {
            self.missing[*d] -= 1;
            if self.missing[*d] == 0 && self.status[*d] == Status::Waiting {
                self.ready.push((self.priority[*d], Reverse(*d)));
            }
        }
    }

    /// Blocks everything waiting, directly or not, on a failure since the last call. Returns
    /// (blocked, because) level by level from the failures, each level in address order;
    /// `because` is the first of its waits (in address order) that failed or was blocked.
    pub fn block_dependents(&mut self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut level = std::mem::take(&mut self.unpropagated);
        while !level.is_empty() {
            let mut next: Vec<usize> = level.iter().flat_map(|f| &self.dependents[*f]).copied().filter(|d| self.status[*d] == Status::Waiting).collect();
            next.sort_unstable();
            next.dedup();
            let settled = |s: Status| matches!(s, Status::Failed | Status::Blocked);
            let because: Vec<usize> = next.iter().map(|d| self.waits[*d].iter().copied().find(|w| settled(self.status[*w])).unwrap_or(*d)).collect();
            for (d, b) in next.iter().zip(because) {
                self.status[*d] = Status::Blocked;
                out.push((*d, b));
            }
            level = next;
        }
        out
    }

    /// Actions never started, in address order.
    pub fn not_started(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.addresses.len()).filter(|i| self.status[*i] == Status::Waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(edges: &[(&'a str, &[&'a str])]) -> BTreeMap<&'a str, Vec<&'a str>> {
        edges.iter().map(|(n, ws)| (*n, ws.to_vec())).collect()
    }

    /// Runs to the end with `parallelism`, finishing the oldest running action first; `fail`
    /// names actions that fail. Returns the start order and the blocked (address, because).
    fn run(s: &mut Schedule<'_>, parallelism: usize, fail: &[&str]) -> (Vec<String>, Vec<(String, String)>) {
        let (mut order, mut blocked, mut running) = (vec![], vec![], std::collections::VecDeque::new());
        loop {
            for (b, why) in s.block_dependents() {
                blocked.push((s.address(b).to_string(), s.address(why).to_string()));
            }
            while running.len() < parallelism {
                let Some(i) = s.next() else { break };
                s.started(i);
                order.push(s.address(i).to_string());
                running.push_back(i);
            }
            let Some(i) = running.pop_front() else { break };
            s.finished(i, !fail.contains(&s.address(i)));
        }
        (order, blocked)
    }

    #[test]
    fn ready_actions_start_by_priority_then_address() {
        let waits = graph(&[("a", &[]), ("b", &["a"]), ("c", &[]), ("d", &[]), ("e", &["d"])]);
        let weight = |a: &str| Duration::from_secs(if a == "d" { 5 } else { 1 });
        let prio = crate::apply::critical::priorities(&waits, weight);
        let mut s = Schedule::new(&waits, |a| prio[a], |_| vec![], &BTreeMap::new());
        let (order, blocked) = run(&mut s, 1, &[]);
        // d leads its chain (5 + 1), then a → b (2) before the lone c and the tail e.
        assert_eq!(order, ["d", "a", "b", "c", "e"]);
        assert!(blocked.is_empty());
        assert_eq!(s.not_started().count(), 0);
    }

    #[test]
    fn a_failure_blocks_its_dependents_transitively_and_nothing_else() {
        // x fails: y waits on it, z on y (and on the unrelated w, which still runs).
        let waits = graph(&[("w", &[]), ("x", &[]), ("y", &["x"]), ("z", &["w", "y"]), ("v", &["w"])]);
        let mut s = Schedule::new(&waits, |_| Duration::from_secs(1), |_| vec![], &BTreeMap::new());
        let (order, blocked) = run(&mut s, 4, &["x"]);
        assert_eq!(order, ["w", "x", "v"]);
        let pairs: Vec<(&str, &str)> = blocked.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(pairs, [("y", "x"), ("z", "y")]);
    }

    #[test]
    fn a_spent_budget_parks_its_actions_while_other_services_proceed() {
        let waits = graph(&[("q1", &[]), ("q2", &[]), ("q3", &[]), ("k1", &[])]);
        let limits = BTreeMap::from([("queue".to_string(), 1)]);
        let keys = |a: &str| vec![if a.starts_with('q') { "queue" } else { "key" }];
        let mut s = Schedule::new(&waits, |_| Duration::from_secs(1), keys, &limits);
        // One queue at a time: the key starts beside the first queue, the others are parked.
        let mut first = vec![];
        while let Some(i) = s.next() {
            s.started(i);
            first.push(s.address(i));
        }
        assert_eq!(first, ["k1", "q1"]);
        // Nothing is lost: each finish lets the next parked queue start.
        s.finished(1, true);
        let i = s.next().expect("a queue");
        assert_eq!(s.address(i), "q2");
        s.started(i);
        assert_eq!(s.next(), None);
    }

    #[test]
    fn parked_actions_all_run_in_the_end() {
        let names: Vec<String> = (0..50).map(|i| format!("q{i:02}")).collect();
        let waits: BTreeMap<&str, Vec<&str>> = names.iter().map(|n| (n.as_str(), vec![])).collect();
        let limits = BTreeMap::from([("q".to_string(), 2)]);
        let mut s = Schedule::new(&waits, |_| Duration::from_secs(1), |_| vec!["q"], &limits);
        let (order, _) = run(&mut s, 8, &[]);
        assert_eq!(order.len(), 50);
        assert_eq!(order, names, "address order among equal priorities");
    }
}
