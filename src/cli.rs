//! Command-line interface definition (clap): verbs and flags follow Terraform's conventions.

use std::path::PathBuf;

use cairn_resources::throttle::{parse_rate_limit, RateOverride};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "cairn", version, about = "Declarative AWS infrastructure: plan exactly what will change, apply it safely.", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Never colour output (colour is used only on a terminal, and never when NO_COLOR is set).
    #[arg(long, global = true)]
    pub no_color: bool,
}

#[derive(Args, Debug, Clone)]
pub struct StackArgs {
    /// The stack file.
    #[arg(long, short = 's', env = "CAIRN_STACK", value_name = "FILE")]
    pub stack: PathBuf,
    /// The environment (one of the stack's `environments`).
    #[arg(long, short = 'e', env = "CAIRN_ENV", value_name = "ENV")]
    pub env: String,
    /// Set a var for this run: --var name=value (repeatable). Wins over the environment's value.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Where local state lives: <DIR>/<stack>/<env>.db.
    #[arg(long, env = "CAIRN_STATE_DIR", default_value = ".cairn", value_name = "DIR")]
    pub state_dir: PathBuf,
}

#[derive(Args, Debug, Clone, Default)]
pub struct AwsArgs {
    /// Send every AWS call to this endpoint (LocalStack, moto). AWS_ENDPOINT_URL works too.
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Named profile from ~/.aws/config (default: the standard credential chain).
    #[arg(long, env = "AWS_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Wait this many seconds for a state lock held by someone else before failing.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// Start a family of AWS calls at another rate than AWS's published limit (repeatable):
    /// SERVICE[.SCOPE]=RATE[/BURST] or SERVICE[.SCOPE]=unlimited, e.g. ec2.describe=20,
    /// ec2.CreateNatGateway=1/10, iam=unlimited. SCOPE is read, write or an API action.
    #[arg(long = "rate-limit", value_name = "SERVICE[.SCOPE]=RATE[/BURST]", value_parser = rate_limit)]
    pub rate_limits: Vec<RateOverride>,
}

fn rate_limit(text: &str) -> Result<RateOverride, String> {
    parse_rate_limit(text).map_err(|e| e.to_string())
}

/// Parses `--service-limit KEY=N`.
fn service_limit(text: &str) -> Result<(String, usize), String> {
    cairn_engine::apply::parse_service_limit(text).map_err(|e| e.to_string())
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Machine-readable output (same as --format json).
    #[arg(long)]
    pub json: bool,
}

impl OutputArgs {
    pub fn format(&self) -> OutputFormat {
        if self.json {
            OutputFormat::Json
        } else {
            self.format
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what apply would change, without changing anything.
    Plan {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        aws: AwsArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// Save the plan to FILE; `cairn apply FILE` applies exactly it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
        /// Plan the deletion of everything in state.
        #[arg(long)]
        destroy: bool,
        /// Skip reading AWS; compare with what state recorded.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
        refresh: bool,
        /// Allow deleting or replacing a protected resource (repeatable).
        #[arg(long, value_name = "ADDRESS")]
        allow_destroy: Vec<String>,
        /// Group resources with identical changes into one line (automatic past 50 changing resources).
        #[arg(long)]
        compact: bool,
    },
    /// Apply changes: a saved plan file, or a fresh plan after confirmation.
    Apply {
        /// A plan saved with `plan --out`. Without it, cairn plans and asks first.
        plan_file: Option<PathBuf>,
        #[arg(long, short = 's', env = "CAIRN_STACK", value_name = "FILE")]
        stack: Option<PathBuf>,
        #[arg(long, short = 'e', env = "CAIRN_ENV", value_name = "ENV")]
        env: Option<String>,
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        #[arg(long, env = "CAIRN_STATE_DIR", default_value = ".cairn", value_name = "DIR")]
        state_dir: PathBuf,
        #[command(flatten)]
        aws: AwsArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        /// How many AWS mutations may run at once.
        #[arg(long, default_value_t = cairn_engine::apply::DEFAULT_PARALLELISM, value_name = "N")]
        parallelism: usize,
        /// Most actions in flight at once for a service or kind, within --parallelism
        /// (repeatable): KEY=N, e.g. eks=1, rds=4, ec2.nat_gateway=1. Defaults: eks=4, rds=2,
        /// ec2.nat_gateway=2, wafv2=1.
        #[arg(long = "service-limit", value_name = "KEY=N", value_parser = service_limit)]
        service_limits: Vec<(String, usize)>,
        #[arg(long, value_name = "ADDRESS")]
        allow_destroy: Vec<String>,
    },
    /// Delete every resource of the stack in this environment, in reverse dependency order.
    Destroy {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        aws: AwsArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[arg(long)]
        auto_approve: bool,
        #[arg(long, default_value_t = cairn_engine::apply::DEFAULT_PARALLELISM, value_name = "N")]
        parallelism: usize,
        /// Most deletes in flight at once for a service or kind (repeatable): KEY=N, as for apply.
        #[arg(long = "service-limit", value_name = "KEY=N", value_parser = service_limit)]
        service_limits: Vec<(String, usize)>,
        /// Allow deleting a protected resource (repeatable).
        #[arg(long, value_name = "ADDRESS")]
        allow_destroy: Vec<String>,
    },
    /// Check a stack file offline: syntax, types, references, cycles, required tags.
    Validate {
        #[arg(long, short = 's', env = "CAIRN_STACK", value_name = "FILE")]
        stack: PathBuf,
        /// Check one environment (default: every environment the stack defines).
        #[arg(long, short = 'e', value_name = "ENV")]
        env: Option<String>,
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of stack files (for editor completion and validation).
    Schema,
    /// Print the dependency graph.
    Graph {
        #[command(flatten)]
        stack: StackArgs,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Print outputs recorded by the last apply.
    Output {
        #[command(flatten)]
        stack: StackArgs,
        /// One output's value alone.
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Bring an existing AWS resource under management at ADDRESS, or a whole Terraform state (`import terraform`).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Import {
        #[command(subcommand)]
        from: Option<ImportFrom>,
        #[command(flatten)]
        stack: Option<StackArgs>,
        #[command(flatten)]
        aws: AwsArgs,
        /// The stack address, e.g. `orders` or `subnet[0]`.
        #[arg(required = true)]
        address: Option<String>,
        /// The physical id (queue URL, bucket name, key id, role name, ARN...).
        #[arg(required = true)]
        id: Option<String>,
    },
    /// Inspect or repair state.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Print the least-privilege IAM policy needed to run plan, apply or destroy on this stack.
    IamPolicy {
        #[command(flatten)]
        stack: StackArgs,
        /// Which command the policy is for.
        #[arg(long = "for", value_enum, default_value_t = PolicyPurpose::Apply)]
        purpose: PolicyPurpose,
        /// The account id to put in ARNs (default: the environment's account_id, else `*`).
        #[arg(long, value_name = "ID")]
        account_id: Option<String>,
    },
    /// Report tag coverage: resources carrying every required tag / taggable resources.
    Tags {
        #[command(flatten)]
        stack: StackArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// Read tags from AWS instead of state.
        #[arg(long)]
        live: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the IAM actions each resource type calls (the raw material of least-privilege policies).
    IamActions {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyPurpose {
    Plan,
    Apply,
    Destroy,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Subcommand, Debug)]
pub enum ImportFrom {
    /// Write a cairn stack and state from a Terraform state, without changing anything in AWS.
    Terraform(ImportTerraformArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ImportTerraformArgs {
    /// The Terraform state: a `terraform.tfstate` file, or the output of `terraform show -json`.
    #[arg(long, value_name = "FILE")]
    pub tfstate: PathBuf,
    /// The cairn environment to record the resources in.
    #[arg(long, short = 'e', value_name = "ENV")]
    pub env: String,
    /// The stack file to write (refused if it exists).
    #[arg(long, value_name = "STACK.yaml")]
    pub out: PathBuf,
    /// The stack's name (default: the --out file's name without extension).
    #[arg(long, value_name = "NAME")]
    pub stack_name: Option<String>,
    /// The region (default: the one in the state's ARNs, else AWS_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Print the stack and the mapping table; write nothing (no stack file, no state).
    #[arg(long)]
    pub dry_run: bool,
    /// Where local state lives: <DIR>/<stack>/<env>.db.
    #[arg(long, env = "CAIRN_STATE_DIR", default_value = ".cairn", value_name = "DIR")]
    pub state_dir: PathBuf,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// List recorded resources.
    List {
        #[command(flatten)]
        stack: StateArgs,
        #[arg(long)]
        json: bool,
    },
    /// Show one recorded resource.
    Show {
        #[command(flatten)]
        stack: StateArgs,
        address: String,
    },
    /// List every applied version of the state.
    History {
        #[command(flatten)]
        stack: StateArgs,
        #[arg(long)]
        json: bool,
    },
    /// Remove a lock left by a run that no longer exists.
    Unlock {
        #[command(flatten)]
        stack: StateArgs,
    },
    /// Record another region or account for the state (the resources were moved or re-created there).
    Migrate {
        #[command(flatten)]
        stack: StateArgs,
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        #[arg(long, value_name = "ACCOUNT_ID")]
        account: Option<String>,
    },
}

/// State commands need only the stack's name, which they read from the stack file.
#[derive(Args, Debug, Clone)]
pub struct StateArgs {
    #[arg(long, short = 's', env = "CAIRN_STACK", value_name = "FILE")]
    pub stack: PathBuf,
    #[arg(long, short = 'e', env = "CAIRN_ENV", value_name = "ENV")]
    pub env: String,
    #[arg(long, env = "CAIRN_STATE_DIR", default_value = ".cairn", value_name = "DIR")]
    pub state_dir: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_resources::throttle::{Bucket, Scope};

    #[test]
    fn apply_takes_service_and_rate_limits() {
        let cli = Cli::try_parse_from([
            "cairn",
            "apply",
            "-s",
            "stack.yaml",
            "-e",
            "dev",
            "--service-limit",
            "eks=1",
            "--service-limit",
            "ec2.nat_gateway=3",
            "--rate-limit",
            "ec2.describe=20",
            "--rate-limit",
            "iam=unlimited",
        ])
        .expect("parses");
        let Command::Apply { service_limits, aws, .. } = cli.command else { panic!("not apply") };
        assert_eq!(service_limits, [("aws.eks".to_string(), 1), ("aws.ec2.nat_gateway".to_string(), 3)]);
        assert_eq!(aws.rate_limits.len(), 2);
        assert_eq!((aws.rate_limits[0].service.as_str(), &aws.rate_limits[0].scopes[..]), ("ec2", &[Scope::Read][..]));
        assert_eq!(aws.rate_limits[0].bucket, Some(Bucket::new(20.0, 20.0)));
        assert_eq!(aws.rate_limits[1].bucket, None);
    }

    #[test]
    fn destroy_takes_service_limits_and_plan_takes_rate_limits() {
        let cli = Cli::try_parse_from(["cairn", "destroy", "-s", "s.yaml", "-e", "dev", "--service-limit", "rds=1"]).expect("parses");
        assert!(matches!(cli.command, Command::Destroy { ref service_limits, .. } if service_limits == &[("aws.rds".to_string(), 1)]));
        let cli = Cli::try_parse_from(["cairn", "plan", "-s", "s.yaml", "-e", "dev", "--rate-limit", "kms.CreateKey=2/4"]).expect("parses");
        let Command::Plan { aws, .. } = cli.command else { panic!("not plan") };
        assert_eq!(aws.rate_limits[0].bucket, Some(Bucket::new(2.0, 4.0)));
    }

    #[test]
    fn malformed_limits_are_refused_with_the_syntax() {
        for args in [
            ["cairn", "apply", "--service-limit", "eks"],
            ["cairn", "apply", "--service-limit", "eks=0"],
            ["cairn", "apply", "--rate-limit", "ec2.describe=fast"],
            ["cairn", "apply", "--rate-limit", "ec2.createTags=1"],
        ] {
            let err = Cli::try_parse_from(args).expect_err("refused").to_string();
            assert!(err.contains(args[3]), "{err}");
        }
        // Budgets are for commands that apply: plan has no --service-limit.
        assert!(Cli::try_parse_from(["cairn", "plan", "-s", "s.yaml", "-e", "dev", "--service-limit", "eks=1"]).is_err());
    }
}
