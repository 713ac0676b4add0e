//! The command line: parse arguments, dispatch, map outcomes to exit codes.
//!
//! Owns: the subcommands, their help text and their exit codes
//! (0 success, 1 the command's own failure such as an invalid file, 2 usage).
//! Must never: hold daemon logic; `run` hands over to `app`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::{self, RunOptions};
use crate::config::{self, CONFIG_PATH_ENV, DEFAULT_CONFIG_PATH, Diagnostics};

#[derive(Debug, Parser)]
#[command(
    name = "kafka-self-healing",
    version,
    about = "Watches Apache Kafka brokers, KRaft controllers and ZooKeeper nodes, repairs what is safe to repair with the operator's own tools, and escalates the rest to people.",
    long_about = None,
    disable_help_subcommand = true,
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (what the systemd unit starts).
    Run {
        #[command(flatten)]
        config: ConfigArg,
        /// Decide, log and audit recovery actions ("would run: ..."), but execute none of them
        /// (an `ansible` step runs as `ansible-playbook --check`, which changes nothing).
        #[arg(long)]
        dry_run: bool,
    },
    /// List incidents and their attempts, newest first; `incidents reset NODE` re-arms an escalated node.
    #[command(args_conflicts_with_subcommands = true)]
    Incidents {
        #[command(subcommand)]
        action: Option<IncidentsCommand>,
        #[command(flatten)]
        config: ConfigArg,
        /// Only this node (its `node_id`, as in the configuration).
        #[arg(long)]
        node: Option<String>,
        /// Only incidents opened within this time (e.g. 24h, 7d).
        #[arg(long)]
        since: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
        output: CheckFormat,
    },
    /// Stop all recovery actions (monitoring goes on) until `resume`, or for a while.
    Pause {
        #[command(flatten)]
        config: ConfigArg,
        /// How long, e.g. 30m or 2h; without it, until `resume`.
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
    },
    /// Lift a pause.
    Resume {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// A node's maintenance window: while it lasts, the node being down is
    /// expected — no incident, no action. The first step of a rolling restart.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// Check a configuration file and print every problem with its line and column.
    ///
    /// Exit status: 0 valid (warnings may be printed), 1 invalid, 2 usage error.
    Validate {
        /// The file to check [default: $KAFKA_SELF_HEALING_CONFIG or /etc/kafka-self-healing/config.yaml].
        file: Option<PathBuf>,
    },
    /// Probe every node once now and print a table of nodes and cluster findings.
    ///
    /// Failures are confirmed with quick re-probes before they count. Exit status:
    /// 0 healthy, 1 degraded (or cannot tell), 2 failed, 3 the configuration is invalid.
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
        output: CheckFormat,
    },
    /// Ask the running daemon (its HTTP API) for the status of every node,
    /// open incidents and its own state.
    ///
    /// Exit status: 0 healthy, 1 degraded (or cannot tell), 2 failed, 3 the
    /// daemon does not answer (or the configuration is invalid).
    Status {
        /// The daemon's base URL [default: from the configuration's system.metrics].
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
        output: CheckFormat,
    },
    /// Send an operator's message to every configured notification channel
    /// (through the running daemon's outbox, or directly when it is not running).
    ///
    /// Exit status: 0 delivered everywhere, 1 kept for a retry somewhere (or an error).
    Alert {
        /// The message; its first line is the subject.
        message: String,
        /// info, warning, error or critical.
        #[arg(long, default_value = "warning", value_parser = ["info", "warning", "error", "critical"])]
        severity: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Send a test message to each configured notification channel now, and
    /// print each one's result or its exact error. Every configured channel is
    /// tested whatever its routing; PagerDuty and Alertmanager get the test's
    /// resolution right after it, so no alert stays open. Nothing is queued.
    ///
    /// Exit status: 0 every channel delivered, 1 one failed (or an error).
    NotifyTest {
        /// Test only this channel (smtp, slack, teams, webhook, pagerduty,
        /// alertmanager, command, or an external notification plugin's name).
        #[arg(long)]
        channel: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Availability per node, incidents, MTTR, recovery success rate,
    /// escalations and notification delivery, from the state store.
    Report {
        /// The last 30 days.
        #[arg(long, conflicts_with = "since")]
        month: bool,
        /// The period, e.g. 24h or 7d [default: 7d].
        #[arg(long)]
        since: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
        output: ReportFormat,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Built-in and external plugins: list them, or run one once.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the help of the command, or of the given subcommand (`help incidents reset`).
    Help {
        /// The subcommand, and its subcommand, whose help to print.
        #[arg(value_name = "COMMAND")]
        command: Vec<String>,
    },
}

/// `help [COMMAND…]`: the help of the named subcommand; exit 2 for an unknown one.
fn help(path: &[String]) -> ExitCode {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    let mut current = &mut cmd;
    for name in path {
        match current.find_subcommand_mut(name) {
            Some(sub) => current = sub,
            None => {
                eprintln!("error: unknown command `{name}`; `kafka-self-healing --help` lists them");
                return ExitCode::from(2);
            }
        }
    }
    match current.print_help() {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// Every built-in and discovered plugin: kind, source, enabled, priority, load errors.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
        output: CheckFormat,
    },
    /// Run one plugin once and print its input and output (a monitor probes a
    /// node; a recovery plugin runs with "dry_run": true; a notifier gets a test message).
    Test {
        /// The plugin's name.
        name: String,
        #[command(flatten)]
        config: ConfigArg,
        /// The node to use [default: the first node that lists the plugin, else the first node].
        #[arg(long)]
        node: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReportFormat {
    Markdown,
    Json,
    /// One self-contained HTML page with charts (redirect it to a file).
    Html,
}

#[derive(Debug, Subcommand)]
enum MaintenanceCommand {
    /// Start NODE's maintenance window (default one hour; it always ends by itself).
    Start {
        /// The node's `node_id`, as in the configuration (e.g. kafka-broker-1).
        #[arg(long)]
        node: String,
        /// How long, e.g. 30m or 2h.
        #[arg(long = "for", value_name = "DURATION", default_value = "1h")]
        duration: String,
        /// Why, for the audit trail and the logs.
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// End NODE's maintenance window now: if it is still down, that is an incident.
    End {
        /// The node's `node_id`, as in the configuration (e.g. kafka-broker-1).
        #[arg(long)]
        node: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
enum IncidentsCommand {
    /// Re-arm NODE after an escalation: the daemon acts on it again if it is still down.
    Reset {
        /// The node's `node_id`, as in the configuration (e.g. kafka-broker-1).
        node: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CheckFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration: every default filled in, every secret as ***.
    Show {
        #[command(flatten)]
        config: ConfigArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Yaml)]
        output: Format,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// Configuration file.
    #[arg(long, short = 'c', value_name = "FILE", env = CONFIG_PATH_ENV, default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, dry_run } => run(&config.config, RunOptions { dry_run }),
        Command::Help { command } => help(&command),
        Command::Validate { file } => {
            let file = file
                .unwrap_or_else(|| std::env::var_os(CONFIG_PATH_ENV).map_or(DEFAULT_CONFIG_PATH.into(), PathBuf::from));
            validate(&file)
        }
        Command::Config(ConfigCommand::Show { config, output }) => show(&config.config, output),
        Command::Check { config, output } => check(&config.config, output),
        Command::Status { url, config, output } => status(url, &config.config, output),
        Command::Plugins(PluginsCommand::List { config, output }) => {
            let loaded = match load_or_exit(&config.config) {
                Ok(l) => l,
                Err(code) => return code,
            };
            let registry = &loaded.plugins;
            let listing = registry.listing();
            match output {
                CheckFormat::Table => print!("{}", crate::plugin_inspect::table(&listing)),
                CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&listing).unwrap_or_default()),
            }
            if listing.iter().any(|l| l.error.is_some()) { ExitCode::from(1) } else { ExitCode::SUCCESS }
        }
        Command::Plugins(PluginsCommand::Test { name, config, node }) => {
            let loaded = match load_or_exit(&config.config) {
                Ok(l) => l,
                Err(code) => return code,
            };
            let registry = loaded.plugins.clone();
            let runtime = match runtime(false, 1) {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            let security = loaded.security.clone();
            match runtime.block_on(crate::plugin_inspect::test(
                &loaded.config,
                security,
                &registry,
                &name,
                node.as_deref(),
            )) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(text) => {
                    eprintln!("{text}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Alert { message, severity, config } => alert(&config.config, &message, &severity),
        Command::NotifyTest { channel, config } => notify_test(&config.config, channel.as_deref()),
        Command::Report { month, since, output, config } => state_command(&config.config, |dir, cfg| {
            let period = match (month, since) {
                (true, _) => std::time::Duration::from_secs(30 * 86_400),
                (false, Some(s)) => crate::operate::parse_duration(&s)?,
                (false, None) => std::time::Duration::from_secs(7 * 86_400),
            };
            let report = crate::operate::report(dir, cfg, period)?;
            match output {
                ReportFormat::Markdown => print!("{}", crate::report::markdown(&report)),
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
                ReportFormat::Html => print!("{}", crate::report_html::html(&report)),
            }
            Ok(())
        }),
        Command::Incidents { action: Some(IncidentsCommand::Reset { node, config }), .. } => {
            state_command(&config.config, |dir, cfg| {
                if !cfg.cluster.nodes().any(|(_, n)| n.node_id == node) {
                    return Err(format!("no node `{node}` in the configuration"));
                }
                crate::operate::reset(dir, &crate::operate::AuditFile::of(cfg), &node)?;
                println!("{node}: re-armed; the daemon acts on it again if it is still down");
                Ok(())
            })
        }
        Command::Incidents { action: None, config, node, since, output } => state_command(&config.config, |dir, _| {
            let since = since.as_deref().map(crate::operate::parse_duration).transpose()?;
            let incidents = crate::operate::list(dir, node.as_deref(), since)?;
            match output {
                CheckFormat::Table => print!("{}", crate::operate::table(&incidents)),
                CheckFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&incidents).unwrap_or_default())
                }
            }
            Ok(())
        }),
        Command::Pause { config, duration } => state_command(&config.config, |dir, cfg| {
            let duration = duration.as_deref().map(crate::operate::parse_duration).transpose()?;
            let until = crate::operate::pause(dir, &crate::operate::AuditFile::of(cfg), duration)?;
            println!("recovery paused {until}; monitoring goes on");
            if cfg.ha.enabled {
                println!("with several healers: every healer holds it (the backend keeps it), whichever leads");
            }
            Ok(())
        }),
        Command::Maintenance(MaintenanceCommand::Start { node, duration, reason, config }) => {
            state_command(&config.config, |dir, cfg| {
                if !cfg.cluster.nodes().any(|(_, n)| n.node_id == node) {
                    return Err(format!("no node `{node}` in the configuration"));
                }
                let duration = crate::operate::parse_duration(&duration)?;
                let until = crate::operate::maintenance_start(
                    dir,
                    &crate::operate::AuditFile::of(cfg),
                    &node,
                    duration,
                    &reason,
                )?;
                println!("{node}: in maintenance until {until}; no incident and no action while it lasts");
                Ok(())
            })
        }
        Command::Maintenance(MaintenanceCommand::End { node, config }) => state_command(&config.config, |dir, cfg| {
            let was = crate::operate::maintenance_end(dir, &crate::operate::AuditFile::of(cfg), &node)?;
            println!("{node}: {}", if was { "maintenance ended" } else { "was not in maintenance" });
            Ok(())
        }),
        Command::Resume { config } => state_command(&config.config, |dir, cfg| {
            let was = crate::operate::resume(dir, &crate::operate::AuditFile::of(cfg))?;
            println!("{}", if was { "recovery resumed" } else { "recovery was not paused" });
            Ok(())
        }),
    }
}

/// Loads the configuration and runs `f` with its state directory; errors exit 1.
fn state_command(file: &Path, f: impl FnOnce(&str, &config::Config) -> Result<(), String>) -> ExitCode {
    let loaded = match load_or_exit(file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    match f(&loaded.config.system.state_dir, &loaded.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn check(file: &Path, output: CheckFormat) -> ExitCode {
    let loaded = match load_or_exit(file) {
        Ok(l) => l,
        Err(_) => return ExitCode::from(3),
    };
    let runtime = match runtime(true, 3) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let report = runtime.block_on(crate::watch::check_round(&loaded.config, &loaded.security, loaded.plugins.clone()));
    match output {
        CheckFormat::Table => print!("{}", report.table()),
        CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
    }
    ExitCode::from(report.exit_code())
}

fn status(url: Option<String>, file: &Path, output: CheckFormat) -> ExitCode {
    let url = match url {
        Some(u) => u,
        None => match load_or_exit(file) {
            Ok(loaded) => crate::status_client::url_of(&loaded.config),
            Err(_) => return ExitCode::from(3),
        },
    };
    let runtime = match runtime(false, 3) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match runtime.block_on(crate::status_client::fetch_status(&url)) {
        Ok(value) => {
            match output {
                CheckFormat::Table => print!("{}", crate::status_client::table(&value)),
                CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default()),
            }
            ExitCode::from(crate::status_client::exit_code(&value))
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
    }
}

/// The configuration and a single-threaded runtime, for a command that sends notifications.
fn loaded_with_runtime(file: &Path) -> Result<(crate::setup::Loaded, tokio::runtime::Runtime), ExitCode> {
    Ok((load_or_exit(file)?, runtime(false, 1)?))
}

fn alert(file: &Path, message: &str, severity: &str) -> ExitCode {
    let (loaded, runtime) = match loaded_with_runtime(file) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let config = &loaded.config;
    let n = crate::notify::manual::compose(
        config,
        message,
        severity,
        &crate::operate::login(),
        std::time::SystemTime::now(),
    );
    let result = runtime.block_on(async {
        // The running daemon delivers from its outbox; ask whether it runs.
        let daemon_up = config.system.metrics.enabled
            && crate::http_client::build(|b| b)
                .0
                .get(format!("{}/health", crate::status_client::url_of(config)))
                .timeout(std::time::Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
        crate::notify::manual::send(config, &loaded.plugins, &n, daemon_up).await.map(|o| (o, daemon_up))
    });
    let audit = crate::operate::AuditFile::of(config);
    match result {
        Ok((outcomes, daemon_up)) => {
            let mut all = true;
            for (channel, outcome) in &outcomes {
                match outcome {
                    crate::notify::manual::Outcome::Delivered => println!("{channel}: delivered"),
                    crate::notify::manual::Outcome::Kept(why) => {
                        all = false;
                        println!("{channel}: NOT delivered yet ({why}); kept in the outbox, the daemon retries it");
                    }
                }
            }
            let delivered: Vec<&str> = outcomes
                .iter()
                .filter(|(_, o)| *o == crate::notify::manual::Outcome::Delivered)
                .map(|(c, _)| c.as_str())
                .collect();
            let record = serde_json::json!({"subject": n.subject, "severity": severity, "delivered": delivered, "via_daemon": daemon_up});
            if let Err(e) =
                crate::operate::record_operator(&config.system.state_dir, &audit, "manual_alert", None, record)
            {
                eprintln!("warning: the alert is not in the audit trail: {e}");
            }
            if all { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn notify_test(file: &Path, only: Option<&str>) -> ExitCode {
    let (loaded, runtime) = match loaded_with_runtime(file) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let config = &loaded.config;
    let now = std::time::SystemTime::now();
    let n = crate::notify::rehearsal::compose(config, &crate::operate::login(), &crate::host::hostname(), now);
    let results = match runtime.block_on(crate::notify::rehearsal::send(config, &loaded.plugins, &n, only)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let width = results.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    let mut all = true;
    for (channel, result) in &results {
        match result {
            Ok(what) => println!("{channel:<width$}  OK      {what}"),
            Err(why) => {
                all = false;
                println!("{channel:<width$}  FAILED  {why}");
            }
        }
    }
    let audit = crate::operate::AuditFile::of(config);
    let outcome: serde_json::Map<String, serde_json::Value> = results
        .iter()
        .map(|(c, r)| {
            (c.to_string(), serde_json::json!(r.as_ref().map_or_else(|e| format!("failed: {e}"), Clone::clone)))
        })
        .collect();
    let record = serde_json::json!({"subject": n.subject, "results": outcome});
    if let Err(e) = crate::operate::record_operator(&config.system.state_dir, &audit, "notify_test", None, record) {
        eprintln!("warning: the test is not in the audit trail: {e}");
    }
    if all { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// The async runtime of a command (`multi` for the daemon and `check`); an
/// error is printed and exits with `code`.
fn runtime(multi: bool, code: u8) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder =
        if multi { tokio::runtime::Builder::new_multi_thread() } else { tokio::runtime::Builder::new_current_thread() };
    builder.enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::from(code)
    })
}

fn print_report(report: &Diagnostics) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{report}");
}

/// Loads `file`, or prints every problem and gives the exit status to return.
fn load_or_exit(file: &Path) -> Result<crate::setup::Loaded, ExitCode> {
    crate::setup::load(file).map_err(|report| {
        print_report(&report);
        ExitCode::from(1)
    })
}

fn validate(file: &Path) -> ExitCode {
    match load_or_exit(file) {
        Ok(loaded) => {
            let mut out = std::io::stdout().lock();
            for w in loaded.warnings.warnings() {
                let _ = writeln!(out, "{}", w.display(file));
            }
            let _ = writeln!(out, "OK: {}: {}", file.display(), loaded.config.summary());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn show(file: &Path, output: Format) -> ExitCode {
    let loaded = match load_or_exit(file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let value = match serde_json::to_value(&loaded.config) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: cannot serialize the configuration: {e}");
            return ExitCode::from(1);
        }
    };
    let text = match output {
        Format::Json => serde_json::to_string_pretty(&value).unwrap_or_default(),
        Format::Yaml => to_yaml(&value),
    };
    println!("{text}");
    ExitCode::SUCCESS
}

/// Renders JSON data as YAML (the configuration's own format).
fn to_yaml(value: &serde_json::Value) -> String {
    use yaml_rust2::{Yaml, YamlEmitter, yaml::Hash};
    fn convert(v: &serde_json::Value) -> Yaml {
        match v {
            serde_json::Value::Null => Yaml::Null,
            serde_json::Value::Bool(b) => Yaml::Boolean(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Yaml::Integer(i),
                (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => Yaml::Integer(f as i64),
                (None, Some(f)) => Yaml::Real(f.to_string()),
                (None, None) => Yaml::Real(n.to_string()),
            },
            serde_json::Value::String(s) => Yaml::String(s.clone()),
            serde_json::Value::Array(a) => Yaml::Array(a.iter().map(convert).collect()),
            serde_json::Value::Object(o) => {
                let mut h = Hash::new();
                for (k, v) in o {
                    h.insert(Yaml::String(k.clone()), convert(v));
                }
                Yaml::Hash(h)
            }
        }
    }
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    if emitter.dump(&convert(value)).is_err() {
        return String::new();
    }
    out.trim_start_matches("---\n").to_string()
}

fn run(file: &Path, options: RunOptions) -> ExitCode {
    let loaded = match load_or_exit(file) {
        Ok(l) => l,
        Err(code) => return code,
    };
    if let Err(e) = crate::logging::init(&loaded.config.logging) {
        eprintln!("error: {e:#}");
        return ExitCode::from(1);
    }
    let runtime = match runtime(true, 1) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let daemon = async {
        let signals = app::signals()?;
        app::run(loaded, options, signals).await
    };
    match runtime.block_on(daemon) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(message = "The daemon stopped on an error.", error = %format!("{e:#}"));
            ExitCode::from(1)
        }
    }
}
