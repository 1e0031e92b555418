//! `turngate`: serve calls (the default), run the demo, or run a simulator.

#![allow(clippy::print_stderr, reason = "a command-line tool reports problems on stderr")]

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use turngate_server::config::{Config, LogFormat, Overrides};
use turngate_server::{ServerBuilder, demo};

#[derive(Debug, Parser)]
#[command(name = "turngate", version, about = "Race-free conversational AI sessions")]
struct Cli {
    /// A TOML configuration file (also `TURNGATE_CONFIG`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The address to listen on (overrides `TURNGATE_LISTEN`).
    #[arg(long, global = true)]
    listen: Option<String>,
    /// Redis for several workers (overrides `TURNGATE_REDIS_URL`).
    #[arg(long, global = true)]
    redis_url: Option<String>,
    /// `text` or `json` (overrides `TURNGATE_LOG_FORMAT`).
    #[arg(long, global = true, value_parser = parse_log_format)]
    log_format: Option<LogFormat>,
    /// Serve unauthenticated doors on a non-loopback address anyway (sets
    /// `auth.allow_unauthenticated`).
    #[arg(long, global = true)]
    insecure: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve calls and chats (the default).
    Serve,
    /// Run simulated calls over every protocol and a chat through a local
    /// server with the built-in simulators, print what happened, and exit 0
    /// only if everything behaved.
    Demo,
}

fn parse_log_format(text: &str) -> Result<LogFormat, String> {
    match text {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(format!("`{other}` is neither `text` nor `json`")),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let flags = Overrides {
        listen: cli.listen.clone(),
        redis_url: cli.redis_url.clone(),
        log_format: cli.log_format,
        insecure: cli.insecure,
    };
    let env = |name: &str| std::env::var(name).ok();
    let config = match Config::load(cli.config.as_deref(), &env, &flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("turngate: bad configuration: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    // Serving exposes doors: refuse one that is open to other machines
    // before anything starts (the demo serves on loopback only).
    if matches!(cli.command, None | Some(Command::Serve))
        && let Err(error) = check_exposure(&config)
    {
        eprintln!("turngate: bad configuration: {error}");
        return std::process::ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("turngate: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => {
                install_tracing(config.log_format, "turngate_server=info,turngate=info,warn");
                serve(config).await
            }
            Command::Demo => {
                install_tracing(config.log_format, "error");
                demo::run(config).await.map_err(anyhow::Error::from)
            }
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("turngate: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn check_exposure(config: &Config) -> Result<(), turngate_server::config::ConfigError> {
    let listen = config.listen_addr()?;
    let admin = config.admin_addr()?;
    config.check_exposure(&listen, admin.as_ref(), &[]).map(|_| ())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let addr = config.listen_addr()?;
    let server = ServerBuilder::new(config).build().await.context("starting the server")?;
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!(%addr, "listening");
    server.serve(listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

fn install_tracing(format: LogFormat, default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
