//! The platform dev stack under a hostile network and kill -9: lost responses, throttles, 5xx and resets through the fault proxy, and the binary killed at random moments of the apply.
//!
//! Each run must converge within two applies to exactly what a clean apply creates (counted
//! through the SDK, not cairn), re-plan as a no-op, and destroy to nothing within two runs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::conformance::{assert_holds, assert_no_op, converge, empty};
use crate::faults::{FaultProxy, Faults};
use crate::harness::{repo_root, start_moto_with, unique, Workspace};

/// moto serves plain http and stores no Performance Insights; its EKS has no cluster security group.
// moto's EKS has no access configuration (every cluster reads as CONFIG_MAP; dev has no access entries).
const VARS: [&str; 10] = crate::moto_vars::PLATFORM_ON_MOTO;

fn platform(name: &str) -> Workspace {
    platform_at(name, &start_moto_with(&[]))
}

fn platform_at(name: &str, moto: &str) -> Workspace {
    let text = std::fs::read_to_string(repo_root().join("stacks/platform.yaml")).expect("stacks/platform.yaml");
    let text = text
        .replacen("stack: platform", &format!("stack: {name}"), 1)
        .replace("alias/platform-", &format!("alias/{name}-"))
        .replace("platform-${env}", &format!("{name}-${{env}}"))
        .replace("allowed_security_group_ids: [\"${cluster.cluster_security_group_id}\"]", "allowed_security_group_ids: []");
    // moto gives every EKS cluster the same OIDC issuer, so two platforms (each with an IRSA
    // provider for its cluster) cannot share one emulator: each of these tests starts its own.
    Workspace::with_stack(&text, name, "dev").at_endpoint(moto)
}

fn with_vars<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.extend(VARS);
    v
}

/// What a clean apply creates, per kind: the creates of a plan against empty state.
fn wanted(ws: &Workspace) -> BTreeMap<String, usize> {
    let plan = ws.plan_json(&VARS);
    let mut want = BTreeMap::new();
    for a in plan["actions"].as_array().into_iter().flatten() {
        assert_eq!(a["action"], "create", "a plan against empty state only creates: {a}");
        *want.entry(a["kind"].as_str().unwrap_or_default().to_string()).or_insert(0) += 1;
    }
    assert!(want.values().sum::<usize>() >= 40, "the platform plan has only {want:?}");
    want
}

fn apply_destroy_under(mode: &str, faults: Faults) {
    let name = unique("hf");
    let ws = platform(&name);
    let want = wanted(&ws);
    let proxy = FaultProxy::start(&ws.endpoint(), faults.clone());
    let what = format!("platform dev apply under {mode}");
    let runs = converge(&ws, &proxy, &with_vars(&["apply", "--auto-approve"]), &what);
    proxy.set_faults(Faults::none());
    let stats = proxy.stats();
    eprintln!("{what}: converged in {runs} run(s); {} requests, {} faulted", stats.requests, stats.faulted());
    assert!(stats.faulted() > 0, "{what}: no fault was injected");
    assert_holds(&ws, &want, &what);
    assert_no_op(&ws, &VARS, &what);

    let what = format!("platform dev destroy under {mode}");
    proxy.set_faults(faults);
    converge(&ws, &proxy, &with_vars(&["destroy", "--auto-approve"]), &what);
    proxy.set_faults(Faults::none());
    assert_holds(&ws, &empty(&want), &what);
    assert!(ws.cairn(&["state", "list"]).stdout.trim().is_empty(), "{what}: state is not empty");
}

#[test]
fn platform_converges_with_lost_responses() {
    apply_destroy_under("10% lost responses", Faults::lost(0.1, 101));
}

#[test]
fn platform_converges_with_throttling() {
    apply_destroy_under("10% throttles", Faults::throttle(0.1, 102));
}

#[test]
fn platform_converges_with_server_errors() {
    apply_destroy_under("10% 5xx", Faults::server_error(0.1, 103));
}

#[test]
fn platform_converges_with_resets() {
    apply_destroy_under("10% resets", Faults::reset(0.1, 104));
}

/// kill -9 at 20 seeded moments of the apply; after each, re-apply, check, destroy. The trials
/// run in four lanes, each with its own emulator (see `platform`), five trials per lane.
#[test]
fn platform_survives_kill_9_at_random_moments() {
    let lanes: Vec<_> = (0..4u64).map(|lane| std::thread::spawn(move || kill_lane(lane, 5))).collect();
    let mut finished_before_kill = 0;
    for lane in lanes {
        finished_before_kill += lane.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    }
    assert!(finished_before_kill < 10, "{finished_before_kill} of 20 applies finished before their kill: the moments do not fall inside applies");
}

/// Runs `trials` kill trials on one emulator; returns how many applies finished before their kill.
fn kill_lane(lane: u64, trials: u64) -> u32 {
    let moto = start_moto_with(&[]);
    // A clean apply first: it says how long an apply takes, so the kills fall inside one.
    let ws = platform_at(&unique("hk"), &moto);
    let want = wanted(&ws);
    let proxy = FaultProxy::start(&moto, Faults::none());
    let started = Instant::now();
    converge(&ws, &proxy, &with_vars(&["apply", "--auto-approve"]), "clean platform apply");
    let clean = started.elapsed();
    assert_holds(&ws, &want, "clean platform apply");
    converge(&ws, &proxy, &with_vars(&["destroy", "--auto-approve"]), "clean platform destroy");
    eprintln!("platform dev (lane {lane}): a clean apply takes {clean:?}");
    let mut finished_before_kill = 0;
    // The first apply on a fresh emulator is the slowest; an apply that beats its kill
    // shortens the estimate, so later moments fall inside the apply.
    let mut estimate = clean;
    for trial in 0..trials {
        let mut rng = fastrand::Rng::with_seed(20 + lane * trials + trial);
        let at = estimate.mul_f64(0.05 + 0.85 * rng.f64());
        // A fresh stack per trial: a destroyed database leaves its final snapshot name taken.
        let ws = platform_at(&unique("hk"), &moto);
        let what = format!("platform dev killed {at:?} into apply (lane {lane}, trial {trial})");
        let spawned = Instant::now();
        let mut child = ws.cairn_command(&with_vars(&["apply", "--auto-approve"]), &[]).spawn().expect("spawn cairn");
        let deadline = spawned + at;
        let mut exited = None;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("wait for cairn") {
                exited = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        match exited {
            Some(status) => {
                assert!(status.success(), "{what}: the apply failed before it was killed ({status})");
                finished_before_kill += 1;
                estimate = estimate.min(spawned.elapsed());
            }
            None => {
                child.kill().expect("kill -9 cairn");
                let _ = child.wait();
            }
        }
        converge(&ws, &proxy, &with_vars(&["apply", "--auto-approve"]), &what);
        assert_holds(&ws, &want, &what);
        assert_no_op(&ws, &VARS, &what);
        converge(&ws, &proxy, &with_vars(&["destroy", "--auto-approve"]), &format!("{what}, destroy"));
        assert_holds(&ws, &empty(&want), &format!("{what}, destroy"));
    }
    finished_before_kill
}
