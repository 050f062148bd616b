//! The `mlplane` command: `mlplane server` runs the tracking server, every other subcommand
//! is a plain HTTP client of a running server.
//!
//! This file parses the command line, dispatches to `commands::*` and turns the outcome into
//! an exit code. Errors are `anyhow` chains printed once on stderr, like `{:#}` but with a
//! cause dropped when its parent's message already ends with it.
//!
//! Invariants:
//! - exit 0 on success; 1 when the server answered with an error body
//!   ([`client::ApiFailure`] somewhere in the chain); 2 for usage errors (clap's own exit),
//!   connection failures, local file errors and a server that fails to start;
//! - nothing here unwraps user input: flags go through clap value parsers, the rest returns
//!   errors.

mod client;
mod commands;
mod output;

use clap::{Parser, Subcommand};
use client::{ApiFailure, Client};
use output::Output;
use std::process::ExitCode;

/// mlplane: a self-hosted ML tracking platform.
#[derive(Debug, Parser)]
#[command(name = "mlplane", version, about, propagate_version = true)]
struct Cli {
    /// Base URL of the mlplane server (client commands only).
    #[arg(
        long,
        global = true,
        env = "MLPLANE_URL",
        default_value = "http://127.0.0.1:5050"
    )]
    url: String,

    /// Workspace to work in (client commands only).
    #[arg(
        short,
        long,
        global = true,
        env = "MLPLANE_WORKSPACE",
        default_value = "default"
    )]
    workspace: String,

    /// API token sent as `Authorization: Bearer` (client commands only) [default: the one
    /// `mlplane login` stored for --url].
    #[arg(long, global = true, env = "MLPLANE_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// Output format of client commands.
    #[arg(short, long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,

    /// PEM file of CA certificates to trust for an https:// --url (a private CA or a
    /// self-signed server certificate), besides the system's.
    #[arg(long, global = true, env = "MLPLANE_CA_CERT")]
    ca_cert: Option<std::path::PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the mlplane server.
    Server(commands::server::ServerArgs),
    /// Create, inspect and manage experiments.
    #[command(subcommand, visible_alias = "exp")]
    Experiments(commands::experiments::ExperimentsCmd),
    /// Create runs, log metrics, params, tags and logs, and inspect them.
    #[command(subcommand)]
    Runs(commands::runs::RunsCmd),
    /// Upload, download and list run artifacts.
    #[command(subcommand)]
    Artifacts(commands::artifacts::ArtifactsCmd),
    /// Submit command jobs from spec files, follow, list and cancel them.
    #[command(subcommand)]
    Job(commands::jobs::JobCmd),
    /// Define compute targets (where jobs run, how many at once) and list them.
    #[command(subcommand)]
    Compute(commands::compute::ComputeCmd),
    /// Register command components (jobs use them with `component: azureml:name:version`).
    #[command(subcommand)]
    Component(commands::component::ComponentCmd),
    /// Create data versions from spec files (uploading local files), show, list, download.
    #[command(subcommand)]
    Data(commands::data::AssetCmd),
    /// Create model versions from spec files (uploading local files), show, list, download.
    #[command(subcommand)]
    Model(commands::data::AssetCmd),
    /// Register environments from spec files (a `pip_requirements` or `conda_file` next to
    /// the spec is sent with it), show and list them.
    #[command(subcommand)]
    Environment(commands::data::AssetCmd),
    /// Sign in with a user's password (MLPLANE_PASSWORD or standard input) and store an API
    /// token for --url in ~/.config/mlplane/credentials (mode 0600).
    Login {
        #[arg(long)]
        user: String,
    },
    /// Make, list and revoke your API tokens.
    #[command(subcommand)]
    Token(commands::identity::TokenCmd),
    /// Create, list and delete users (administrators).
    #[command(subcommand)]
    User(commands::identity::UserCmd),
    /// Grant and take roles in the workspace (Owners and administrators).
    #[command(subcommand)]
    RoleBinding(commands::identity::RoleBindingCmd),
    /// Set, list and delete workspace secrets (values are never shown).
    #[command(subcommand)]
    Secret(commands::secrets::SecretCmd),
    /// Read the audit log.
    #[command(subcommand)]
    Audit(commands::secrets::AuditCmd),
}

fn main() -> ExitCode {
    // reqwest is built with `rustls-no-provider`; https needs a process-wide crypto provider.
    // An Err only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let Cli {
        url,
        workspace,
        token,
        output,
        ca_cert,
        command,
    } = cli;
    let token = token
        .filter(|t| !t.is_empty())
        .or_else(|| commands::identity::stored_token(&url));
    let client = || Client::new(&url, &workspace, token.as_deref(), ca_cert.as_deref());
    match command {
        Command::Server(args) => commands::server::run(args).await,
        Command::Experiments(cmd) => commands::experiments::run(&client()?, output, cmd).await,
        Command::Runs(cmd) => commands::runs::run(&client()?, output, cmd).await,
        Command::Artifacts(cmd) => commands::artifacts::run(&client()?, output, cmd).await,
        Command::Job(cmd) => commands::jobs::run(&client()?, output, cmd).await,
        Command::Compute(cmd) => commands::compute::run(&client()?, output, cmd).await,
        Command::Component(cmd) => commands::component::run(&client()?, output, cmd).await,
        Command::Data(cmd) => {
            commands::data::run(&client()?, output, commands::data::Kind::Data, cmd).await
        }
        Command::Environment(cmd) => {
            commands::data::run(&client()?, output, commands::data::Kind::Environment, cmd).await
        }
        Command::Model(cmd) => {
            commands::data::run(&client()?, output, commands::data::Kind::Model, cmd).await
        }
        Command::Login { user } => commands::identity::login(&url, &user, ca_cert.as_deref()).await,
        Command::Token(cmd) => commands::identity::token(&client()?, output, cmd).await,
        Command::User(cmd) => commands::identity::user(&client()?, output, cmd).await,
        Command::RoleBinding(cmd) => {
            commands::identity::role_binding(&client()?, output, cmd).await
        }
        Command::Secret(cmd) => commands::secrets::run(&client()?, output, cmd).await,
        Command::Audit(cmd) => commands::secrets::audit(&client()?, output, cmd).await,
    }
}

/// Prints the error chain once and picks the exit code.
fn report(e: &anyhow::Error) -> ExitCode {
    if is_broken_pipe(e) {
        // `mlplane runs list | head`: the reader left, which is not our failure.
        return ExitCode::SUCCESS;
    }
    eprintln!("error: {}", chain(e));
    match e.chain().find_map(|c| c.downcast_ref::<ApiFailure>()) {
        Some(failure) => {
            for line in failure.extra_lines() {
                eprintln!("  {line}");
            }
            ExitCode::from(1)
        }
        None => ExitCode::from(2),
    }
}

/// The error chain joined with `": "`, like `{:#}`, but without a cause that its parent's
/// message already ends with (error types that both print and expose their source).
fn chain(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.last().is_some_and(|prev| prev.ends_with(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn error_chain_drops_a_cause_its_parent_already_printed() {
        let inner = anyhow::anyhow!("disk full");
        let e = inner.context("store: disk full").context("server failed");
        assert_eq!(chain(&e), "server failed: store: disk full");
        let e = anyhow::anyhow!("a").context("b");
        assert_eq!(chain(&e), "b: a");
    }
}
