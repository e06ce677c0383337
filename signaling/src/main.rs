//! `huiyi`: the Huiyi server. `cargo run --release` starts it with built-in
//! defaults: HTTP on 127.0.0.1:8470, media on UDP 40000 + one port per worker.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use huiyi_config::{Config, LogFormat, Sources};
use tracing_subscriber::EnvFilter;

/// Huiyi (会议): video meetings for county departments.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// A TOML configuration file (see config/huiyi.toml for every key).
    #[arg(long, env = "HUIYI_CONFIG")]
    config: Option<PathBuf>,
    /// Override one key, e.g. `--set sfu.udp_port=41000` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Shorthand for `--set http.listen=ADDR`.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Shorthand for `--set data_dir=DIR`.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut overrides = cli.overrides.clone();
    if let Some(listen) = &cli.listen {
        overrides.push(format!("http.listen=\"{listen}\""));
    }
    if let Some(dir) = &cli.data_dir {
        overrides.push(format!("data_dir=\"{dir}\""));
    }
    let config = match Config::load(&Sources::from_process(cli.config.clone(), overrides)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("huiyi: {e}");
            std::process::exit(2);
        }
    };
    if cli.print_config {
        print!("{}", toml::to_string(&config).context("serializing the configuration")?);
        return Ok(());
    }
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("huiyi-control")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.http.listen)
            .await
            .with_context(|| format!("http.listen: cannot listen on {}", config.http.listen))?;
        huiyi_signaling::run(config, listener, shutdown_signal()).await
    })
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_from_env("HUIYI_LOG").unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true).with_ansi(ansi);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        _ = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
