//! Critical-path scheduling for the applier: expected durations per kind, the longest remaining chain behind each action, and the measured critical path of a finished run.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use crate::plan::Action;

/// Expected duration of one action, by kind and operation. The applier starts the ready action
/// with the longest expected chain ahead of it first, so slow resources (and everything waiting on
/// them) are not queued behind many quick ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// Keyed by kind (`aws.eks.cluster`) or by kind and action (`aws.eks.cluster:delete`); the
    /// more specific key wins.
    pub by_kind: BTreeMap<String, Duration>,
    /// For every kind and action not in `by_kind`.
    pub default: Duration,
}

impl Default for Weights {
    /// Typical AWS durations of the slow resources; everything else is about a second.
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(m * 60);
        let by_kind = [
            ("aws.ec2.nat_gateway", min(2)),
            ("aws.ec2.nat_gateway:delete", min(1)),
            ("aws.eks.cluster", min(10)),
            ("aws.eks.cluster:delete", min(5)),
            ("aws.eks.nodegroup", min(4)),
            ("aws.rds.instance", min(8)),
            ("aws.rds.instance:delete", min(5)),
            // DNS validation: ACM sees the record and issues within minutes.
            ("aws.acm.certificate_validation", min(5)),
            ("aws.eks.addon", min(2)),
            // A change is INSYNC on every Route 53 name server within about a minute.
            ("aws.route53.record", min(1)),
        ]
        .into_iter()
        .map(|(k, d)| (k.to_string(), d))
        .collect();
        Weights { by_kind, default: Duration::from_secs(1) }
    }
}

impl Weights {
    /// Every action weighs the same: the scheduler then favours the longest chain by count of steps.
    pub fn uniform() -> Weights {
        Weights { by_kind: BTreeMap::new(), default: Duration::from_secs(1) }
    }

    pub fn weight(&self, kind: &str, action: Action) -> Duration {
        let op = match action {
            Action::NoOp => return Duration::ZERO,
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        };
        self.by_kind.get(&format!("{kind}:{op}")).or_else(|| self.by_kind.get(kind)).copied().unwrap_or(self.default)
    }
}

/// The service a kind belongs to (`aws.eks.cluster` → `aws.eks`): the unit of per-service
/// concurrency budgets, since AWS throttles per service API.
pub fn service_of(kind: &str) -> &str {
    match kind.match_indices('.').nth(1) {
        Some((i, _)) => &kind[..i],
        None => kind,
    }
}

/// Dependents of each node: the reverse of `waits` (node → what it waits on).
fn dependents<'a>(waits: &BTreeMap<&'a str, Vec<&'a str>>) -> HashMap<&'a str, Vec<&'a str>> {
    let mut out: HashMap<&str, Vec<&str>> = waits.keys().map(|k| (*k, vec![])).collect();
    for (node, ws) in waits {
        for w in ws {
            if let Some(d) = out.get_mut(w) {
                d.push(node);
            }
        }
    }
    out
}

/// Nodes in an order where each comes after everything it waits on (Kahn's algorithm). Nodes on
/// a cycle (which the planner never produces) are left out.
fn topological<'a>(waits: &BTreeMap<&'a str, Vec<&'a str>>, deps: &HashMap<&'a str, Vec<&'a str>>) -> Vec<&'a str> {
    let mut missing: HashMap<&str, usize> = waits.iter().map(|(k, ws)| (*k, ws.iter().filter(|w| waits.contains_key(*w)).count())).collect();
    let mut order: Vec<&str> = waits.keys().filter(|k| missing[*k] == 0).copied().collect();
    let mut i = 0;
    while i < order.len() {
        for d in &deps[order[i]] {
            let n = missing.get_mut(d).expect("every dependent is a node");
            *n -= 1;
            if *n == 0 {
                order.push(d);
            }
        }
        i += 1;
    }
    order
}

/// Each node's priority: its own weight plus the heaviest chain of nodes that wait on it,
/// directly or not. Starting the highest first is the classic critical-path list schedule.
pub fn priorities<'a>(waits: &BTreeMap<&'a str, Vec<&'a str>>, weight: impl Fn(&str) -> Duration) -> HashMap<&'a str, Duration> {
    let deps = dependents(waits);
    let order = topological(waits, &deps);
    let mut rank: HashMap<&str, Duration> = waits.keys().map(|k| (*k, weight(k))).collect();
    for node in order.iter().rev() {
        let tail = deps[node].iter().map(|d| rank[d]).max().unwrap_or_default();
        *rank.get_mut(node).expect("node") = weight(node) + tail;
    }
    rank
}

/// The longest chain of a finished run by measured durations, against the run's wall time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticalPath {
    /// First to last: each waited on the one before it.
    pub addresses: Vec<String>,
    /// Sum of the measured durations along the chain: no schedule could have finished sooner.
    pub critical_ms: u64,
    pub wall_ms: u64,
}

impl CriticalPath {
    /// Wall time over the critical path (1.0 is the fastest possible); `None` for an empty path.
    pub fn ratio(&self) -> Option<f64> {
        (self.critical_ms > 0).then(|| self.wall_ms as f64 / self.critical_ms as f64)
    }
}

/// The critical path over the nodes that ran (`measured`); nodes that did not run weigh nothing
/// and are left off the path. `None` when nothing ran.
pub fn critical_path(waits: &BTreeMap<&str, Vec<&str>>, measured: &HashMap<String, Duration>, wall: Duration) -> Option<CriticalPath> {
    let deps = dependents(waits);
    let order = topological(waits, &deps);
    // Earliest finish of each node had every action started the moment its dependencies finished.
    let mut finish: HashMap<&str, (Duration, Option<&str>)> = HashMap::new();
    for node in &order {
        let own = measured.get(*node).copied().unwrap_or_default();
        let before = waits[node].iter().filter_map(|w| finish.get(w).map(|(f, _)| (*f, *w))).max();
        let (start, prev) = match before {
            Some((f, w)) => (f, Some(w)),
            None => (Duration::ZERO, None),
        };
        finish.insert(node, (start + own, prev));
    }
    // Ties go to the first address, so the answer does not depend on hash order.
    let (total, std::cmp::Reverse(mut node)) = order.iter().filter(|n| measured.contains_key(**n)).map(|n| (finish[n].0, std::cmp::Reverse(*n))).max()?;
    let mut path = vec![node.to_string()];
    while let Some(prev) = finish[node].1 {
        if measured.contains_key(prev) {
            path.push(prev.to_string());
        }
        node = prev;
    }
    path.reverse();
    Some(CriticalPath { addresses: path, critical_ms: total.as_millis() as u64, wall_ms: wall.as_millis() as u64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph<'a>(edges: &[(&'a str, &[&'a str])]) -> BTreeMap<&'a str, Vec<&'a str>> {
        edges.iter().map(|(n, ws)| (*n, ws.to_vec())).collect()
    }

    fn ms(pairs: &[(&str, u64)]) -> HashMap<String, Duration> {
        pairs.iter().map(|(k, v)| (k.to_string(), Duration::from_millis(*v))).collect()
    }

    // vpc → subnet → cluster → oidc → role, with a slow NAT gateway on a side branch and a bucket alone.
    fn platform<'a>() -> BTreeMap<&'a str, Vec<&'a str>> {
        graph(&[
            ("vpc", &[]),
            ("subnet", &["vpc"]),
            ("nat", &["subnet"]),
            ("route", &["nat"]),
            ("cluster", &["subnet"]),
            ("oidc", &["cluster"]),
            ("role", &["oidc"]),
            ("bucket", &[]),
        ])
    }

    #[test]
    fn the_critical_path_follows_the_longest_measured_chain() {
        let measured = ms(&[("vpc", 100), ("subnet", 200), ("nat", 900), ("route", 50), ("cluster", 1500), ("oidc", 300), ("role", 100), ("bucket", 2000)]);
        let cp = critical_path(&platform(), &measured, Duration::from_millis(2600)).expect("a path");
        assert_eq!(cp.addresses, ["vpc", "subnet", "cluster", "oidc", "role"]);
        assert_eq!(cp.critical_ms, 2200);
        assert_eq!(cp.wall_ms, 2600);
        assert_eq!(cp.ratio().map(|r| (r * 100.0).round()), Some(118.0));

        // A slower NAT gateway moves the path onto its branch; a lone slow bucket can be the whole path.
        let measured = ms(&[("vpc", 100), ("subnet", 200), ("nat", 3000), ("route", 50), ("cluster", 1500), ("bucket", 10)]);
        assert_eq!(critical_path(&platform(), &measured, Duration::from_secs(4)).expect("a path").addresses, ["vpc", "subnet", "nat", "route"]);
        let measured = ms(&[("vpc", 100), ("bucket", 5000)]);
        let cp = critical_path(&platform(), &measured, Duration::from_secs(5)).expect("a path");
        assert_eq!((cp.addresses.as_slice(), cp.critical_ms), (&["bucket".to_string()][..], 5000));
    }

    #[test]
    fn nodes_that_did_not_run_are_left_off_and_nothing_run_is_no_path() {
        // The cluster failed: its dependents never ran, the chain before it still counts.
        let measured = ms(&[("vpc", 100), ("subnet", 200), ("nat", 10), ("route", 10)]);
        let cp = critical_path(&platform(), &measured, Duration::from_secs(1)).expect("a path");
        assert_eq!(cp.addresses, ["vpc", "subnet", "nat", "route"]);
        assert_eq!(critical_path(&platform(), &HashMap::new(), Duration::from_secs(1)), None);
        assert_eq!(CriticalPath { addresses: vec![], critical_ms: 0, wall_ms: 5 }.ratio(), None);
    }

    #[test]
    fn priorities_are_own_weight_plus_the_heaviest_chain_of_dependents() {
        let weights = Weights::default();
        let kinds: HashMap<&str, &str> = [
            ("vpc", "aws.ec2.vpc"),
            ("subnet", "aws.ec2.subnet"),
            ("nat", "aws.ec2.nat_gateway"),
            ("route", "aws.ec2.route_table"),
            ("cluster", "aws.eks.cluster"),
            ("oidc", "aws.iam.oidc_provider"),
            ("role", "aws.iam.role"),
            ("bucket", "aws.s3.bucket"),
        ]
        .into_iter()
        .collect();
        let p = priorities(&platform(), |n| weights.weight(kinds[n], Action::Create));
        let s = |n: &str| p[n].as_secs();
        assert_eq!([s("role"), s("oidc"), s("cluster"), s("route"), s("nat")], [1, 2, 602, 1, 121]);
        assert_eq!([s("subnet"), s("vpc"), s("bucket")], [603, 604, 1]);
    }

    #[test]
    fn weights_prefer_the_kind_and_action_then_the_kind_then_the_default() {
        let w = Weights::default();
        assert_eq!(w.weight("aws.eks.cluster", Action::Create), Duration::from_secs(600));
        assert_eq!(w.weight("aws.eks.cluster", Action::Delete), Duration::from_secs(300));
        assert_eq!(w.weight("aws.sqs.queue", Action::Update), Duration::from_secs(1));
        assert_eq!(w.weight("aws.sqs.queue", Action::NoOp), Duration::ZERO);
        assert_eq!([service_of("aws.eks.nodegroup"), service_of("fake.queue"), service_of("x")], ["aws.eks", "fake.queue", "x"]);
    }
}
