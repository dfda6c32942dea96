//! The GitHub Actions example run the way its workflow runs it, with remote state in the emulator's S3.
//!
//! The bootstrap is applied first (OIDC provider, state bucket and key, role boundary, plan and
//! apply roles). Then the `run:` scripts of `examples/github-actions/cairn.yml` that call cairn
//! are read from the workflow itself and run by bash as a runner would, each job on its own
//! runner directory, with the credentials the workflow's "assume" step gives (a web identity
//! token for the job's role): the plan job on a checkout, the apply job on a runner holding only
//! the plan file, and the plan job again on a fresh checkout, which finds nothing to change.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::harness::{repo_root, runtime, sdk_config_at, start_moto_with, Run, Workspace};

const WORKFLOW: &str = "examples/github-actions/cairn.yml";
const STATE_BUCKET: &str = "acme-platform-cairn-state";

fn workflow() -> cairn_engine::yaml::Node {
    let text = std::fs::read_to_string(repo_root().join(WORKFLOW)).expect(WORKFLOW);
    cairn_engine::yaml::parse(&text).unwrap_or_else(|d| panic!("{WORKFLOW} is not YAML: {d:?}"))
}

/// The workflow-level `env:` value `name`.
fn workflow_env(name: &str) -> String {
    workflow().get("env").and_then(|e| e.get(name)).and_then(|v| v.as_str()).map(str::to_string).unwrap_or_else(|| panic!("{WORKFLOW} sets no env.{name}"))
}

/// The `run:` scripts of a job's steps that call cairn, in order, with `${{ matrix.env }}`
/// filled in as Actions does before the shell sees them.
fn cairn_steps(job: &str, env: &str) -> Vec<(String, String)> {
    let root = workflow();
    let steps = root
        .get("jobs")
        .and_then(|j| j.get(job))
        .and_then(|j| j.get("steps"))
        .and_then(|s| s.as_seq())
        .unwrap_or_else(|| panic!("{WORKFLOW}: no jobs.{job}.steps"));
    let out: Vec<(String, String)> = steps
        .iter()
        .filter_map(|s| {
            let run = s.get("run")?.as_str()?;
            run.lines().any(|l| l.trim_start().starts_with("cairn ")).then(|| {
                let name = s.get("name").and_then(|n| n.as_str()).unwrap_or_default().to_string();
                let script = run.replace("${{ matrix.env }}", env);
                assert!(!script.contains("${{"), "step `{name}` uses an expression this test does not provide:\n{script}");
                (name, script)
            })
        })
        .collect();
    assert!(!out.is_empty(), "{WORKFLOW}: job {job} runs no cairn command");
    out
}

/// One runner: a working directory and the files Actions gives each job.
struct Runner {
    dir: tempfile::TempDir,
    temp: tempfile::TempDir,
}

impl Runner {
    /// A runner with the repository checked out: the workflow's stack at its path.
    fn checkout(stack_text: &str) -> Runner {
        let r = Runner::empty();
        let path = r.dir.path().join(workflow_env("STACK"));
        std::fs::create_dir_all(path.parent().expect("stack dir")).expect("checkout dirs");
        std::fs::write(path, stack_text).expect("stack file");
        r
    }

    fn empty() -> Runner {
        Runner { dir: tempfile::tempdir().expect("runner dir"), temp: tempfile::tempdir().expect("runner temp") }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.temp.path().join(name)
    }

    /// Runs one step's script as Actions does (`bash -e`, pipefail), as the job's role.
    fn step(&self, name: &str, script: &str, endpoint: &str, token: &Path, role_arn: &str) -> Run {
        let cairn = PathBuf::from(env!("CARGO_BIN_EXE_cairn"));
        let path = format!("{}:{}", cairn.parent().expect("bin dir").display(), std::env::var("PATH").unwrap_or_default());
        let out = Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("STACK", workflow_env("STACK"))
            .env("RUNNER_TEMP", self.temp.path())
            .env("GITHUB_OUTPUT", self.file("output"))
            .env("GITHUB_STEP_SUMMARY", self.file("summary"))
            .env("GITHUB_RUN_ID", "4242")
            // What the workflow's "assume" step exports: a web identity, no keys.
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_WEB_IDENTITY_TOKEN_FILE", token)
            .env("AWS_ROLE_ARN", role_arn)
            .env("AWS_ROLE_SESSION_NAME", "gha")
            .env("NO_COLOR", "1")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .env_remove("CAIRN_STACK")
            .env_remove("CAIRN_ENV")
            .env_remove("CAIRN_STATE_S3_BUCKET")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("step `{name}`: cannot run bash: {e}"));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs every cairn step of `job`; each must succeed, as the job would stop at a failing one.
    fn job(&self, job: &str, env: &str, endpoint: &str, token: &Path, role_arn: &str) {
        for (name, script) in cairn_steps(job, env) {
            let r = self.step(&name, &script, endpoint, token, role_arn);
            assert_eq!(r.code, 0, "step `{name}` of job {job} failed ({}):\n--- script\n{script}\n--- stdout\n{}\n--- stderr\n{}", r.code, r.stdout, r.stderr);
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.file("output")).unwrap_or_default()
    }
}

fn policy(ws: &Workspace, stack: &Path, purpose: &str, account: &str) -> Value {
    let r = ws.cairn_raw(&["iam-policy", "--stack", &stack.display().to_string(), "--env", "dev", "--for", purpose, "--account-id", account]);
    r.assert_code(0);
    let p: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("iam-policy --for {purpose} is not JSON ({e}):\n{}", r.stdout));
    let problems = cairn_engine::iam_policy::audit(&p, "orders", "dev");
    assert!(problems.is_empty(), "the generated {purpose} policy breaks its own rules: {problems:#?}");
    p
}

#[test]
fn the_workflow_plans_saves_applies_elsewhere_and_converges_with_state_in_s3() {
    // Its own emulator: the OIDC provider, the state bucket and the key alias are one per account.
    let endpoint = start_moto_with(&[]);
    let stack_text = std::fs::read_to_string(repo_root().join(workflow_env("STACK"))).expect("the workflow's stack");
    let bootstrap_text = std::fs::read_to_string(repo_root().join("examples/github-actions/bootstrap.yaml")).expect("bootstrap.yaml");
    assert!(
        stack_text.contains(&format!("bucket: {STATE_BUCKET}")) && bootstrap_text.contains(&format!("state_bucket: {STATE_BUCKET}")),
        "one state bucket name in both"
    );

    let (account, s3, iam) = runtime().block_on(async {
        let config = sdk_config_at(&endpoint, "test", "test").await;
        let sts = aws_sdk_sts::Client::new(&config);
        let account = sts.get_caller_identity().send().await.expect("GetCallerIdentity").account().unwrap_or_default().to_string();
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&config).force_path_style(true).build());
        (account, s3, aws_sdk_iam::Client::new(&config))
    });

    // The administrator's bootstrap, with the roles' policies generated from the stack.
    let admin = Workspace::with_stack(&bootstrap_text, "deploy-bootstrap", "dev").at_endpoint(&endpoint);
    let checkout = Runner::checkout(&stack_text);
    let stack_path = checkout.dir.path().join(workflow_env("STACK"));
    let plan_policy = policy(&admin, &stack_path, "plan", &account);
    let apply_policy = policy(&admin, &stack_path, "apply", &account);
    for p in [&plan_policy, &apply_policy] {
        let text = p.to_string();
        assert!(text.contains(&format!("arn:aws:s3:::{STATE_BUCKET}/stacks/orders/dev/lock.json")), "state lock in the policy: {text}");
        assert!(text.contains("alias/cairn-state"), "state key in the policy: {text}");
    }
    assert!(!plan_policy.to_string().contains("sqs:CreateQueue") && apply_policy.to_string().contains("sqs:CreateQueue"));
    admin.cairn(&["apply", "--auto-approve", "--var", &format!("plan_policy={plan_policy}"), "--var", &format!("apply_policy={apply_policy}")]).assert_code(0);
    let plan_role = admin.cairn(&["output", "plan_role_arn"]).stdout.trim().to_string();
    let apply_role = admin.cairn(&["output", "apply_role_arn"]).stdout.trim().to_string();
    assert!(plan_role.contains(":role/") && apply_role.contains(":role/") && plan_role != apply_role, "{plan_role} {apply_role}");

    runtime().block_on(async {
        // Each role is trusted by exactly its GitHub environment.
        for (arn, sub) in [(&plan_role, "repo:acme/platform:environment:dev-plan"), (&apply_role, "repo:acme/platform:environment:dev")] {
            let role = iam.get_role().role_name(arn.rsplit('/').next().unwrap_or_default()).send().await.expect("GetRole");
            let trust = urldecode(role.role().and_then(|r| r.assume_role_policy_document()).unwrap_or_default());
            let trust: Value = serde_json::from_str(&trust).expect("trust policy");
            let cond = &trust["Statement"][0]["Condition"]["StringEquals"];
            assert_eq!(cond["token.actions.githubusercontent.com:sub"], sub, "{trust}");
            assert_eq!(cond["token.actions.githubusercontent.com:aud"], "sts.amazonaws.com", "{trust}");
        }
        // The state bucket: versioned, SSE-KMS, private, TLS only.
        let enabled = match s3.get_bucket_versioning().bucket(STATE_BUCKET).send().await {
            Ok(v) => v.status().map(|s| s.as_str().to_string()) == Some("Enabled".into()),
            // moto names the document's root GetBucketVersioningResponse, which the SDK refuses; the Status inside is right.
            Err(e) => e.raw_response().and_then(|r| r.body().bytes()).is_some_and(|b| String::from_utf8_lossy(b).contains("<Status>Enabled</Status>")),
        };
        assert!(enabled, "the state bucket is versioned");
        let sse = s3.get_bucket_encryption().bucket(STATE_BUCKET).send().await.expect("GetBucketEncryption");
        let rule =
            sse.server_side_encryption_configuration().and_then(|c| c.rules().first()).and_then(|r| r.apply_server_side_encryption_by_default()).cloned();
        assert_eq!(rule.map(|r| r.sse_algorithm().as_str().to_string()).as_deref(), Some("aws:kms"));
        let block = s3.get_public_access_block().bucket(STATE_BUCKET).send().await.expect("GetPublicAccessBlock");
        assert_eq!(block.public_access_block_configuration().and_then(|c| c.restrict_public_buckets()), Some(true));
        let policy = s3.get_bucket_policy().bucket(STATE_BUCKET).send().await.expect("GetBucketPolicy");
        assert!(policy.policy().unwrap_or_default().contains("aws:SecureTransport"));
        // moto evaluates only StringEquals conditions and counts every other one as met, so
        // the TLS-only Deny would refuse every object call made over its plain HTTP; on AWS
        // the runners speak HTTPS. Checked above, and removed for the emulator's sake.
        s3.delete_bucket_policy().bucket(STATE_BUCKET).send().await.expect("DeleteBucketPolicy");
    });

    let token = checkout.temp.path().join("web-identity-token");
    std::fs::write(&token, "header.payload.signature").expect("token file");

    // The plan job, on a checkout, as the plan role.
    checkout.job("plan", "dev", &endpoint, &token, &plan_role);
    assert!(checkout.output().contains("changes=true"), "the first plan has changes: {}", checkout.output());
    let summary = std::fs::read_to_string(checkout.file("summary")).unwrap_or_default();
    assert!(summary.contains("worker_role"), "the plan is in the job summary:\n{summary}");
    assert!(!checkout.dir.path().join(".cairn").exists(), "no local state: the stack names an S3 backend");
    let plan_file = checkout.dir.path().join("plan-dev.json");
    assert!(plan_file.exists(), "the plan job saves plan-dev.json");

    // The apply job, on another runner that holds nothing but the downloaded artifact.
    let runner = Runner::empty();
    std::fs::copy(&plan_file, runner.dir.path().join("plan-dev.json")).expect("download the artifact");
    runner.job("apply", "dev", &endpoint, &token, &apply_role);
    assert!(!runner.dir.path().join(".cairn").exists(), "the apply runner keeps no local state");

    runtime().block_on(async {
        let head = s3.head_object().bucket(STATE_BUCKET).key("stacks/orders/dev/state.json").send().await.expect("state.json in the state bucket");
        assert_eq!(head.server_side_encryption().map(|s| s.as_str()), Some("aws:kms"), "state is written with SSE-KMS");
        let role = iam.get_role().role_name("orders-dev-worker-role").send().await.expect("the stack's role");
        let boundary = role.role().and_then(|r| r.permissions_boundary()).and_then(|b| b.permissions_boundary_arn()).map(str::to_string);
        assert_eq!(boundary, Some(format!("arn:aws:iam::{account}:policy/cairn-workload-boundary")), "the stack's boundary is on its role");
    });

    // The next run's plan job, on a fresh checkout: the remote state says everything is there.
    let again = Runner::checkout(&stack_text);
    again.job("plan", "dev", &endpoint, &token, &plan_role);
    assert!(again.output().contains("changes=false"), "nothing left to change: {}", again.output());
}

fn urldecode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(if c == b'+' { b' ' } else { c });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
