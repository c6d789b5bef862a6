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
    /// Run the HTTP API, projections and (with KAFKA_BROKERS) the relay in one process.
    Up,
    /// Run the HTTP API only.
    Serve,
    /// Publish the event log to Kafka (needs KAFKA_BROKERS).
    Relay,
    /// Run a projection worker (Kafka consumer group, or the event store's log without Kafka).
    Project,
    /// Create the database if needed and apply migrations.
    Migrate,
    /// Administration from the command line.
    #[command(subcommand)]
    Admin(AdminCommand),
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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,rdkafka=warn,tower_http=info"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        subscriber.json().init();
    } else {
        subscriber.init();
    }

    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("commerce: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    let shutdown = commerce::shutdown_on_signal();
    match cli.command {
        Role::Up => commerce::up(&config, shutdown).await,
        Role::Migrate => {
            commerce::database(&config).await?;
            tracing::info!("database is up to date");
            Ok(())
        }
        Role::Serve => {
            let pool = commerce::database(&config).await?;
            let listener = TcpListener::bind(config.http_addr).await?;
            commerce::serve(&config, pool, listener, shutdown).await
        }
        Role::Relay => {
            let pool = commerce::database(&config).await?;
            commerce::relay(&config, pool, shutdown).await
        }
        Role::Project => {
            let pool = commerce::database(&config).await?;
            commerce::project(&config, pool, shutdown).await
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
            Ok(())
        }
    }
}
