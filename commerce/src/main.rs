//! `commerce`: the event-sourced commerce engine. See `commerce --help`.

use clap::{Parser, Subcommand};
use commerce::Config;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "commerce",
    version,
    about = "Event-sourced CQRS commerce engine"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", global = true)]
    log_format: String,
    #[command(subcommand)]
    command: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Run the HTTP API, projections, (with KAFKA_BROKERS) the relay and (with SMTP_URL) the
    /// notifier in one process.
    Up {
        /// First seed a demo catalog (three categories, six products, a demo admin whose
        /// password is printed) unless it is there already.
        #[arg(long)]
        demo: bool,
    },
    /// Run the HTTP API only.
    Serve,
    /// Publish the event log to Kafka (needs KAFKA_BROKERS).
    Relay,
    /// Run a projection worker (Kafka consumer group, or the event store's log without Kafka).
    Project,
    /// Email customers about their orders (needs SMTP_URL).
    Notify,
    /// Run the payment provider simulator on its own (keys from RAZORPAY_*, webhooks to
    /// SIMULATOR_WEBHOOK_URL).
    PaymentSimulator,
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Administration from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Recompute the hash chains of the whole event store; exit status 1 on tampering.
    Verify,
    /// Replay history from the event store.
    #[command(subcommand)]
    Replay(ReplayCommand),
    /// Rebuild projections from the event store into a new generation, then switch to it,
    /// while the API keeps serving.
    Rebuild {
        /// Projections to rebuild.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(projections::registry::names()))]
        names: Vec<String>,
        /// Rebuild every projection.
        #[arg(long)]
        all: bool,
    },
    /// Write the JSON Schema of every event type and version (`<Type>.v<N>.schema.json`).
    Schemas {
        /// Target folder.
        #[arg(long, default_value = "docs/events")]
        out: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum ReplayCommand {
    /// An order's timeline and its state now, at a time, or at a version.
    Order {
        /// The order id.
        id: uuid::Uuid,
        /// RFC 3339 instant.
        #[arg(long, conflicts_with = "version")]
        at: Option<String>,
        /// Stream version.
        #[arg(long)]
        version: Option<i64>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account. The password comes from ADMIN_PASSWORD or the first line of
    /// standard input.
    Create {
        /// The admin's email.
        #[arg(long)]
        email: String,
        /// The admin's display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

impl Role {
    /// The role's name, as traces record it.
    fn name(&self) -> &'static str {
        match self {
            Role::Up { .. } => "up",
            Role::Serve => "serve",
            Role::Relay => "relay",
            Role::Project => "project",
            Role::Notify => "notify",
            Role::PaymentSimulator => "payment-simulator",
            Role::Migrate => "migrate",
            Role::Admin(_) => "admin",
            Role::Verify => "verify",
            Role::Replay(_) => "replay",
            Role::Rebuild { .. } => "rebuild",
            Role::Schemas { .. } => "schemas",
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,rdkafka=warn,tower_http=info"));
    let traces = match commerce::telemetry::provider(cli.command.name()) {
        Ok(traces) => traces,
        Err(e) => {
            eprintln!("commerce: traces: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        use tracing_subscriber::Layer;
        let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
        let fmt = if cli.log_format == "json" {
            fmt.json().boxed()
        } else {
            fmt.boxed()
        };
        // Logs follow RUST_LOG; exported spans have their own filter (`info` for the engine),
        // so quiet logs do not cut traces short.
        tracing_subscriber::registry()
            .with(fmt.with_filter(filter))
            .with(traces.as_ref().map(|provider| {
                commerce::telemetry::layer(provider).with_filter(commerce::telemetry::filter())
            }))
            .init();
    }

    let code = match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("commerce: {e:#}");
            std::process::ExitCode::FAILURE
        }
    };
    // Whatever spans are still batched go out before the process ends.
    if let Some(traces) = traces {
        let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
    }
    code
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let config = cli.config;
    let shutdown = commerce::shutdown_on_signal();
    let done = std::process::ExitCode::SUCCESS;
    if matches!(
        cli.command,
        Role::Up { .. }
            | Role::Serve
            | Role::Relay
            | Role::Project
            | Role::Notify
            | Role::Rebuild { .. }
    ) {
        commerce::exporter::start(config.metrics_endpoint()?, shutdown.clone()).await?;
    }
    match cli.command {
        Role::Rebuild { names, all } => {
            commerce::rebuild(&config, &names, all).await.map(|()| done)
        }
        Role::Schemas { out } => {
            std::fs::create_dir_all(&out)?;
            for schema in events::schemas::all() {
                let path = out.join(schema.file_name());
                std::fs::write(&path, serde_json::to_string_pretty(&schema.schema)? + "\n")?;
                println!("{}", path.display());
            }
            Ok(done)
        }
        Role::Verify => Ok(if commerce::verify_store(&config).await? {
            done
        } else {
            std::process::ExitCode::from(1)
        }),
        Role::Replay(ReplayCommand::Order { id, at, version }) => {
            let point = match (at, version) {
                (Some(at), _) => commands::PointInTime::Time(
                    chrono::DateTime::parse_from_rfc3339(&at)
                        .map_err(|e| anyhow::anyhow!("--at must be an RFC 3339 time: {e}"))?
                        .with_timezone(&chrono::Utc),
                ),
                (None, Some(v)) => commands::PointInTime::Version(v),
                (None, None) => commands::PointInTime::Now,
            };
            commerce::replay_order(&config, id, point)
                .await
                .map(|()| done)
        }
        Role::Up { demo } => {
            if demo {
                commerce::demo::seed(&config).await?;
            }
            commerce::up(&config, shutdown).await.map(|()| done)
        }
        Role::Migrate => {
            commerce::database(&config).await?;
            tracing::info!("database is up to date");
            Ok(done)
        }
        Role::Serve => {
            let pool = commerce::database(&config).await?;
            let listener = TcpListener::bind(config.http_addr).await?;
            commerce::serve(&config, pool, listener, shutdown)
                .await
                .map(|()| done)
        }
        Role::Relay => {
            let pool = commerce::database(&config).await?;
            commerce::relay(&config, pool, shutdown)
                .await
                .map(|()| done)
        }
        Role::Project => {
            let pool = commerce::database(&config).await?;
            commerce::project(&config, pool, shutdown)
                .await
                .map(|()| done)
        }
        Role::PaymentSimulator => commerce::payment_simulator(&config, shutdown)
            .await
            .map(|()| done),
        Role::Notify => {
            let pool = commerce::database(&config).await?;
            commerce::notify(&config, pool, shutdown)
                .await
                .map(|()| done)
        }
        Role::Admin(AdminCommand::Create { email, name }) => {
            let password = match std::env::var("ADMIN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    eprintln!("password for {email}:");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let id = commerce::create_admin(&config, &email, &name, password).await?;
            println!("{id}");
            tracing::info!(account_id = %id, "admin account created");
            Ok(done)
        }
    }
}
