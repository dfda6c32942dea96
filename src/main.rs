//! The `cairn` command: parses arguments, wires the engine to AWS and state, prints, and sets the exit code.

mod cli;
mod commands;
mod crash_hook;
mod render;
mod session;
mod style;

use std::process::ExitCode;

use cairn_engine::plan::PlanMode;
use clap::Parser;

use crate::cli::{Cli, Command, StackArgs};
use crate::commands::{import_tf, offline, run, state};
use crate::style::Style;

fn main() -> ExitCode {
    // Like any Unix filter, stop quietly when the reader goes away (`cairn plan | head`).
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,aws_config=error,aws_smithy_runtime=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let style = Style::detect(cli.no_color);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(dispatch(cli, &style)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Some(r) = e.downcast_ref::<session::Reported>() {
                eprint!("{}", r.text);
                eprintln!("{} {}", style.red("Error:"), r.summary);
            } else {
                eprintln!("{} {e:#}", style.red("Error:"));
            }
            ExitCode::from(1)
        }
    }
}

async fn dispatch(cli: Cli, style: &Style) -> anyhow::Result<u8> {
    match cli.command {
        Command::Plan { stack, aws, output, out, detailed_exitcode, destroy, refresh, allow_destroy, compact } => {
            let flags = run::PlanFlags { out: out.as_deref(), detailed: detailed_exitcode, destroy, refresh, allow_destroy: &allow_destroy, compact };
            run::cmd_plan(&stack, &aws, &output, flags, style).await
        }
        Command::Apply { plan_file, stack, env, vars, state_dir, aws, output, auto_approve, parallelism, service_limits, allow_destroy } => {
            let stack_args = match (stack, env) {
                (Some(stack), Some(env)) => Some(StackArgs { stack, env, vars, state_dir: state_dir.clone() }),
                (None, None) => None,
                _ if plan_file.is_some() => None,
                _ => anyhow::bail!("apply needs both --stack FILE and --env ENV (or a saved plan file)"),
            };
            run::cmd_apply(
                run::ApplyArgs {
                    plan_file: plan_file.as_deref(),
                    stack: stack_args,
                    state_dir,
                    aws: &aws,
                    output: &output,
                    auto_approve,
                    parallelism,
                    service_limits: &service_limits,
                    allow_destroy: &allow_destroy,
                    mode: PlanMode::Apply,
                },
                style,
            )
            .await
        }
        Command::Destroy { stack, aws, output, auto_approve, parallelism, service_limits, allow_destroy } => {
            let state_dir = stack.state_dir.clone();
            run::cmd_apply(
                run::ApplyArgs {
                    plan_file: None,
                    stack: Some(stack),
                    state_dir,
                    aws: &aws,
                    output: &output,
                    auto_approve,
                    parallelism,
                    service_limits: &service_limits,
                    allow_destroy: &allow_destroy,
                    mode: PlanMode::Destroy,
                },
                style,
            )
            .await
        }
        Command::Validate { stack, env, vars, json } => offline::cmd_validate(&stack, env.as_deref(), &vars, json, style),
        Command::Schema => offline::cmd_schema(),
        Command::Graph { stack, format } => offline::cmd_graph(&stack, format),
        Command::IamActions { json } => offline::cmd_iam_actions(json),
        Command::IamPolicy { stack, purpose, account_id } => offline::cmd_iam_policy(&stack, purpose, account_id.as_deref()).await,
        Command::Tags { stack, aws, live, json } => state::cmd_tags(&stack, &aws, live, json).await,
        Command::Output { stack, name, json } => state::cmd_output(&stack, name.as_deref(), json).await,
        Command::Import { from: Some(cli::ImportFrom::Terraform(args)), .. } => import_tf::cmd_import_terraform(&args).await,
        Command::Import { stack: Some(stack), aws, address: Some(address), id: Some(id), .. } => state::cmd_import(&stack, &aws, &address, &id).await,
        Command::Import { .. } => {
            Err(anyhow::anyhow!("usage: cairn import --stack FILE --env ENV ADDRESS ID, or cairn import terraform --tfstate FILE --env ENV --out STACK.yaml"))
        }
        Command::State { command } => state::cmd_state(&command).await,
    }
}
