//! The `huiyi` command line: the server (`cargo run --release` starts it
//! with built-in defaults: HTTP on 127.0.0.1:8470, media on UDP 40000 + one
//! port per worker) and its subcommands. In the library so that the test
//! crate can build the same program for its network-namespace scenarios.

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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Ad-hoc meetings outside the schedule (signed links from the command line).
    Meeting {
        #[command(subcommand)]
        action: MeetingAction,
    },
    /// Accounts.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Prints a coturn configuration (/etc/turnserver.conf) matching this
    /// server's `[turn]` and `[sfu]` settings.
    TurnConfig,
    /// Recordings (under `recording.dir`).
    Recording {
        #[command(subcommand)]
        action: RecordingAction,
    },
}

#[derive(clap::Subcommand, Debug)]
enum RecordingAction {
    /// Lists the recordings, newest first.
    List,
    /// Composes recording ID into one MP4 (composite.mp4 in its directory)
    /// with ffmpeg (`recording.ffmpeg`).
    Compose {
        /// The recording's id (`huiyi recording list`).
        id: String,
    },
}

#[derive(clap::Subcommand, Debug)]
enum AuditAction {
    /// Walks the audit log's hash chain; exits 1 if a record was changed or removed.
    Verify,
}

#[derive(clap::Subcommand, Debug)]
enum AdminAction {
    /// Creates an account and prints its one-time password (to this
    /// terminal only; it must be changed at the first login). The only way
    /// to make an administrator (admin, security, auditor).
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// admin, security, auditor, secretary, chair, participant or venue.
        #[arg(long)]
        role: String,
    },
}

#[derive(clap::Subcommand, Debug)]
enum MeetingAction {
    /// Creates a meeting and prints one personal join link per participant.
    Create {
        /// The meeting's title.
        #[arg(long)]
        title: String,
        /// A participant as NAME or NAME:ROLE (chair, secretary, venue,
        /// participant, observer); repeatable. The first is the chair unless
        /// a role says otherwise.
        #[arg(long = "participant", value_name = "NAME[:ROLE]", required = true)]
        participants: Vec<String>,
        /// Hours the links stay valid, from now.
        #[arg(long, default_value_t = 24)]
        hours: u64,
    },
}

/// Runs the `huiyi` command with the process's arguments and exits.
pub fn main() {
    if let Err(e) = run() {
        eprintln!("huiyi: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
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
    if let Some(Command::Meeting { action: MeetingAction::Create { title, participants, hours } }) =
        &cli.command
    {
        return create_meeting(&config, title, participants, *hours);
    }
    if let Some(Command::Admin { action: AdminAction::Create { username, name, role } }) = &cli.command {
        let role: crate::store::AccountRole = serde_json::from_value(serde_json::Value::String(role.clone()))
            .map_err(|_| {
                anyhow::anyhow!(
                    "--role {role:?}: use admin, security, auditor, secretary, chair, participant or venue"
                )
            })?;
        let username = crate::services::accounts::check_names(username, name)
            .map_err(|e| anyhow::anyhow!("--username/--name: {e}"))?;
        let store = open_store(&config)?;
        let password = crate::auth::one_time_password();
        crate::services::accounts::create_account(&store, &username, name.trim(), role, &password, true)?;
        println!("account {username:?} ({}) created; one-time password: {password}", role.as_str());
        println!("it must be changed at the first login");
        return Ok(());
    }
    if let Some(Command::TurnConfig) = &cli.command {
        print!("{}", crate::services::turn::coturn_config(&config));
        if !config.turn.enabled() {
            eprintln!(
                "huiyi: turn.urls is empty: set it (and turn.secret) so participants are given the relay"
            );
        }
        return Ok(());
    }
    if let Some(Command::Recording { action }) = &cli.command {
        return recording(&config, action);
    }
    if let Some(Command::Audit { action: AuditAction::Verify }) = &cli.command {
        use crate::store::Store as _;
        let report = open_store(&config)?.audit_verify().map_err(|e| anyhow::anyhow!("{e}"))?;
        let head = report.head_hash.as_deref().unwrap_or("-");
        match report.broken_at {
            None => {
                println!(
                    "audit log intact: {} records, newest #{} hash {head}",
                    report.records,
                    report.head_seq.unwrap_or(0)
                );
                println!(
                    "(keep this hash elsewhere: a later check shows whether records were cut off the end)"
                );
                return Ok(());
            }
            Some(seq) => {
                eprintln!("huiyi: the audit log was tampered with: record #{seq} does not fit the chain ({} records)", report.records);
                std::process::exit(1);
            }
        }
    }
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
        crate::run(config, listener, shutdown_signal()).await
    })
}

fn open_store(config: &Config) -> anyhow::Result<crate::store::SqliteStore> {
    crate::store::SqliteStore::open(&config.data_dir.join("huiyi.db"))
        .map_err(|e| anyhow::anyhow!("data_dir: cannot open the database: {e}"))
}

fn create_meeting(config: &Config, title: &str, participants: &[String], hours: u64) -> anyhow::Result<()> {
    use crate::token::{random_id, Claims, Role, Signer};
    anyhow::ensure!(!title.trim().is_empty(), "--title must not be empty");
    anyhow::ensure!((1..=24 * 366).contains(&hours), "--hours must be between 1 and 8784");
    let signer = Signer::load_or_create(&config.data_dir).with_context(|| {
        format!("data_dir: cannot read or create the signing key in {}", config.data_dir.display())
    })?;
    let meeting = random_id(9);
    let now = crate::clock::unix_millis() / 1000;
    let base = crate::http::common::public_base_url(config);
    println!("会议 / Meeting: {title}  (id {meeting}, links valid {hours} h)");
    for (i, entry) in participants.iter().enumerate() {
        let (name, role) = match entry.rsplit_once(':') {
            Some((name, role)) => {
                let role: Role =
                    serde_json::from_value(serde_json::Value::String(role.trim().to_lowercase()))
                        .map_err(|_| anyhow::anyhow!("--participant {entry:?}: unknown role {role:?}"))?;
                (name.trim(), role)
            }
            None if i == 0 => (entry.trim(), Role::Chair),
            None => (entry.trim(), Role::Participant),
        };
        anyhow::ensure!(!name.is_empty(), "--participant {entry:?}: the name is empty");
        let claims = Claims {
            m: meeting.clone(),
            t: title.trim().to_string(),
            p: format!("p{}", i + 1),
            n: name.to_string(),
            r: role,
            nbf: now.saturating_sub(300),
            exp: now + hours * 3600,
            e: 0,
        };
        println!("{name} ({role:?}): {base}/?token={}", signer.sign(&claims));
    }
    Ok(())
}

fn recording(config: &Config, action: &RecordingAction) -> anyhow::Result<()> {
    use crate::recording::compose;
    let root = config.data_dir.join(&config.recording.dir);
    match action {
        RecordingAction::List => {
            for (dir, m) in crate::recording::scan(&root) {
                let composite = compose::ComposeState::load(&dir).map_or("-".into(), |c| c.state);
                println!(
                    "{}  {:<11}  {:>6} s  {:>8} KiB  composite: {:<9}  {} ({})",
                    m.id,
                    format!("{:?}", m.state).to_lowercase(),
                    m.duration_ms() / 1000,
                    m.bytes / 1024,
                    composite,
                    m.title,
                    m.meeting
                );
            }
            Ok(())
        }
        RecordingAction::Compose { id } => {
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                anyhow::bail!("{id:?} is not a recording id (huiyi recording list)");
            }
            let mut shown = -1i64;
            let out = compose::compose(&config.recording.ffmpeg, &root.join(id), |p| {
                let pct = (p * 100.0) as i64;
                if pct / 10 != shown / 10 {
                    shown = pct;
                    eprintln!("composing {id}: {pct} %");
                }
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", out.display());
            Ok(())
        }
    }
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

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is
/// called, not when it is first awaited: a signal that arrives while the
/// server is still starting (migrating, hashing the first passwords) stops
/// it gracefully as soon as it is up, instead of killing it half-way.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    #[cfg(unix)]
    let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    async move {
        #[cfg(unix)]
        {
            match (terminate, interrupt) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                        _ = int.recv() => tracing::info!("Ctrl-C: shutting down"),
                    }
                }
                (t, i) => {
                    tracing::error!(term = ?t.err(), int = ?i.err(), "cannot listen for signals");
                    std::future::pending::<()>().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
