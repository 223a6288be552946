//! The command line, as clap types. Each command's behaviour lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The default admin API address: the first server of a quickstart or a default install.
pub const DEFAULT_URL: &str = "http://127.0.0.1:17010";

#[derive(Debug, Parser)]
#[command(
    name = "zato",
    version,
    about = "Operate a Zato cluster: invoke services, manage its configuration, inspect it.",
    after_help = "Start here: `zato quickstart` runs a whole cluster on this machine."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every admin API command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Any server of the cluster.
    #[arg(long, env = "ZATO_URL", default_value = DEFAULT_URL, global = true)]
    pub url: String,
    /// The admin token (the servers' `admin_token`).
    #[arg(long, env = "ZATO_ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// For an `https://` URL: the PEM certificate of the CA that signed the servers'
    /// certificates; without it, the system's trusted roots.
    #[arg(long, env = "ZATO_CA_CERT", global = true)]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Print JSON (for scripts) instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a service and print its response.
    Invoke {
        service: String,
        /// The request, as JSON.
        #[arg(long)]
        payload: Option<String>,
        /// Queue it for any server and return at once with its cid.
        #[arg(long = "async")]
        is_async: bool,
    },
    /// Channels: how requests reach services.
    Channel {
        #[arg(value_enum)]
        kind: ChannelKind,
        #[command(subcommand)]
        action: Crud,
    },
    /// Outgoing connections (AMQP and ZeroMQ through the connector, REST and SQL from every
    /// server).
    Outgoing {
        #[arg(value_enum)]
        kind: OutgoingKind,
        #[command(subcommand)]
        action: OutgoingAction,
    },
    /// AMQP broker definitions.
    Amqp {
        #[command(subcommand)]
        what: AmqpWhat,
    },
    /// Security definitions (basic auth, API keys).
    Security {
        #[command(subcommand)]
        action: Crud,
    },
    /// Scheduler jobs.
    Job {
        #[command(subcommand)]
        action: JobAction,
    },
    /// Pub/sub topics: where publishers put messages for the topic's subscriptions.
    Topic {
        #[command(subcommand)]
        action: TopicAction,
    },
    /// Pub/sub subscriptions: each gets every message of its topic, delivered to a service,
    /// POSTed through an outgoing REST connection, or pulled.
    Subscription {
        #[command(subcommand)]
        action: SubscriptionAction,
    },
    /// Publish a message through an outgoing connection.
    Publish {
        #[command(subcommand)]
        to: PublishTo,
    },
    /// Send a message through an outgoing connection.
    Send {
        #[command(subcommand)]
        to: SendTo,
    },
    /// The key that seals the outgoing connections' secrets.
    Secrets {
        #[command(subcommand)]
        action: SecretsAction,
    },
    /// Services deployed at run time as WebAssembly components: a `.wasm` component as it
    /// is, or a Python module built into one.
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Members, singleton holders, queue depths and dead letters of the cluster, then its
    /// topics and subscriptions.
    Status,
    /// Dead letters (of the servers, the connector, broadcasts and each pub/sub
    /// subscription), read from Redis directly.
    Dlq {
        #[command(flatten)]
        redis: RedisArgs,
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Configuration files.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Run a whole cluster on this machine: Redis, servers, a scheduler and a connector.
    Quickstart(QuickstartArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChannelKind {
    Http,
    Amqp,
    Zmq,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutgoingKind {
    Amqp,
    Zmq,
    Rest,
    Sql,
}

#[derive(Debug, Subcommand)]
pub enum OutgoingAction {
    #[command(flatten)]
    Crud(Crud),
    /// Check that a REST or SQL connection's other side answers, from the server at --url.
    Ping { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SecretsAction {
    /// Print a new random key for the servers' `secret_key` (ZATO_SECRET_KEY).
    NewKey,
    /// After a rotation (the new key as `secret_key`, the old one as
    /// `previous_secret_key` on every server): seal every stored secret with the new key.
    Reseal,
}

#[derive(Debug, Subcommand)]
pub enum AmqpWhat {
    /// AMQP broker definitions (where RabbitMQ is, how to log in).
    Definition {
        #[command(subcommand)]
        action: Crud,
    },
}

/// What can be done to a config collection.
#[derive(Debug, Subcommand)]
pub enum Crud {
    /// List them all.
    List,
    /// Show one.
    Get { name: String },
    /// Create one from a JSON object (--file or --data) and/or the flags.
    Create(CreateArgs),
    /// Delete one.
    Delete { name: String },
}

#[derive(Debug, Subcommand)]
pub enum JobAction {
    #[command(flatten)]
    Crud(Crud),
    /// Run a job's service now, out of its schedule.
    Execute { name: String },
}

#[derive(Debug, Subcommand)]
pub enum TopicAction {
    #[command(flatten)]
    Crud(Crud),
    /// Change a topic: the fields given replace the stored ones.
    Edit(EditArgs),
    /// Publish a message to a topic and print its id.
    Publish(TopicPublishArgs),
}

#[derive(Debug, Subcommand)]
pub enum SubscriptionAction {
    #[command(flatten)]
    Crud(Crud),
    /// Change a subscription: the fields given replace the stored ones (its name and topic
    /// stay).
    Edit(EditArgs),
    /// Move where a subscription reads its topic: what follows is delivered (again), what
    /// precedes counts as acknowledged.
    Seek(SeekArgs),
    /// Take messages of a pull subscription and print them.
    Pull(PullArgs),
    /// Acknowledge pulled messages: they are done with.
    Ack {
        name: String,
        /// The ids of the messages, as `pull` prints them.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Return pulled messages at once, for the next pull, instead of at their ack deadline.
    Nack {
        name: String,
        /// The ids of the messages, as `pull` prints them.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
}

/// The changes of an edit: a JSON object whose fields replace the stored object's. A nested
/// object given (`delivery`, `retry`) replaces the stored one whole.
#[derive(Debug, Args)]
pub struct EditArgs {
    /// The object to change.
    pub name: String,
    /// A file with the changes as a JSON object (`-` for standard input).
    #[arg(long, conflicts_with = "data", required_unless_present = "data")]
    pub file: Option<PathBuf>,
    /// The changes as a JSON object, e.g. `{"max_messages": 5000}`.
    #[arg(long)]
    pub data: Option<String>,
}

#[derive(Debug, Args)]
pub struct TopicPublishArgs {
    pub topic: String,
    /// The message, as JSON (a string is `'"text"'`).
    #[arg(long)]
    pub data: String,
    /// A message attribute, `key=value`; may be repeated.
    #[arg(long = "attribute", value_name = "KEY=VALUE")]
    pub attributes: Vec<String>,
    /// Messages with the same key are delivered in order, one at a time.
    #[arg(long)]
    pub ordering_key: Option<String>,
    /// Drop the message, delivered or not, after this many milliseconds.
    #[arg(long)]
    pub expires_in_ms: Option<u64>,
}

#[derive(Debug, Args)]
pub struct SeekArgs {
    pub name: String,
    #[command(flatten)]
    pub target: SeekTarget,
}

/// Where to seek to: exactly one of the three.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SeekTarget {
    /// The start of what the topic retains, or its end (nothing left to deliver).
    #[arg(long, value_enum)]
    pub to: Option<SeekEnd>,
    /// The first message published at or after this time: milliseconds since the epoch or
    /// an RFC 3339 timestamp (`2025-01-31T12:00:00Z`).
    #[arg(long, value_name = "TIME", value_parser = crate::input::epoch_ms)]
    pub time: Option<u64>,
    /// The message after this one (an id as `pull` prints it, `<ms>-<seq>`).
    #[arg(long)]
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeekEnd {
    Start,
    End,
}

impl SeekEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            SeekEnd::Start => "start",
            SeekEnd::End => "end",
        }
    }
}

#[derive(Debug, Args)]
pub struct PullArgs {
    pub name: String,
    /// At most this many messages (the subscription's batch size by default).
    #[arg(long)]
    pub max: Option<usize>,
    /// Wait up to this long for a first message when there is none (the server waits a
    /// minute at most).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub wait_ms: Option<u64>,
    /// Acknowledge the messages once they are printed.
    #[arg(long)]
    pub ack: bool,
}

/// The object to create: a JSON object, with the flags' fields set over it (topics and
/// subscriptions take theirs in the JSON object, besides `--name`).
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A file with the object as JSON (`-` for standard input).
    #[arg(long, conflicts_with = "data")]
    pub file: Option<PathBuf>,
    /// The object as JSON.
    #[arg(long)]
    pub data: Option<String>,
    /// Sets `name`.
    #[arg(long)]
    pub name: Option<String>,
    /// Sets `url_path` (HTTP channels).
    #[arg(long)]
    pub path: Option<String>,
    /// Sets `service`.
    #[arg(long)]
    pub service: Option<String>,
    /// Sets `method` (HTTP channels).
    #[arg(long)]
    pub method: Option<String>,
    /// Sets `security`, the name of a security definition (HTTP channels).
    #[arg(long)]
    pub security: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PublishTo {
    /// Publish BODY (JSON, or else taken as a string) through outgoing AMQP connection NAME.
    Amqp {
        name: String,
        body: String,
        #[arg(long)]
        routing_key: Option<String>,
        /// A message header, `key=value`; may be repeated.
        #[arg(long = "header", value_name = "KEY=VALUE")]
        headers: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SendTo {
    /// Send BODY (JSON, or else taken as a string) through outgoing ZeroMQ connection NAME.
    Zmq { name: String, body: String },
}

#[derive(Debug, Subcommand)]
pub enum ServiceAction {
    /// Deploy FILE as service NAME, or as its next version if NAME is deployed already.
    ///
    /// FILE is a `.wasm` component of the `zato:service` world, uploaded as it is, or a `.py`
    /// module defining one `zato_service.Service` subclass, built with componentize-py first.
    Deploy(DeployArgs),
    /// Build a `.py` service module into a component (what `deploy` does first), e.g. in CI.
    Build {
        /// The Python module; its name must be a Python identifier (`my_service.py`).
        file: PathBuf,
        /// Where to write the component.
        #[arg(short, long, value_name = "OUT.wasm")]
        output: PathBuf,
    },
    /// Every service (built in, compiled in, deployed), with call counts, latency and, for
    /// deployed ones, each server's state.
    List,
    /// A deployed service: its current version, history, limits and each server's state.
    Get { name: String },
    /// Remove a deployed service from every server.
    Undeploy { name: String },
    /// Make an earlier version current again, as a new version (the previous one by default).
    Rollback {
        name: String,
        /// The version to go back to (`zato service get` lists them).
        #[arg(long)]
        version: Option<u64>,
    },
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The `.wasm` component or `.py` service module.
    pub file: PathBuf,
    /// The service's name, as channels, jobs and `zato invoke` call it.
    #[arg(long)]
    pub name: String,
    /// CPU time one call may use before it is stopped (504). Absent: the service's current
    /// limit, or the server's default for a first deployment.
    #[arg(long)]
    pub deadline_ms: Option<u64>,
    /// Memory one instance may grow to, in MB (a call that needs more fails). Absent: as for
    /// --deadline-ms.
    #[arg(long)]
    pub memory_mb: Option<u32>,
}

/// Where the dead letters are.
#[derive(Debug, Args)]
pub struct RedisArgs {
    /// The cluster's Redis.
    #[arg(
        long,
        env = "ZATO_REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        global = true
    )]
    pub redis_url: String,
    /// The cluster's name.
    #[arg(long, env = "ZATO_CLUSTER", default_value = "zato", global = true)]
    pub cluster: String,
    /// A PEM file of CA certificates to trust for a `rediss://` Redis instead of the system's
    /// roots (the members' `broker.redis_ca_path`).
    #[arg(long, env = "ZATO_BROKER__REDIS_CA_PATH", global = true)]
    pub redis_ca_path: Option<String>,
    /// The partitions of the cluster's work queues and topics (the members'
    /// `broker.partitions`), so that every partition's dead letters are read.
    #[arg(
        long,
        env = "ZATO_BROKER__PARTITIONS",
        default_value_t = 1,
        global = true
    )]
    pub partitions: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DlqSource {
    /// Work for the servers (1:any).
    Server,
    /// Work for the connector.
    Connector,
    /// Broadcasts and config changes (1:all).
    All,
}

impl DlqSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DlqSource::Server => "server",
            DlqSource::Connector => "connector",
            DlqSource::All => "all",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum DlqAction {
    /// Show dead letters (of every source unless --source or --subscription).
    List {
        #[arg(long, value_enum)]
        source: Option<DlqSource>,
        /// Those of this pub/sub subscription (source `sub:<NAME>`).
        #[arg(long, value_name = "NAME", conflicts_with = "source")]
        subscription: Option<String>,
        /// At most this many per source.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Send dead letters back to their stream (every source unless --source), or a
    /// subscription's back to it (--subscription).
    Replay {
        #[arg(long, value_enum)]
        source: Option<DlqSource>,
        /// Those of this pub/sub subscription (source `sub:<NAME>`).
        #[arg(long, value_name = "NAME", conflicts_with = "source")]
        subscription: Option<String>,
        /// Only these dead letters (ids as `zato dlq list` shows them); may be repeated.
        #[arg(long = "id")]
        ids: Vec<String>,
    },
    /// Delete dead letters (every source unless --source or --subscription).
    Purge {
        #[arg(long, value_enum)]
        source: Option<DlqSource>,
        /// Those of this pub/sub subscription (source `sub:<NAME>`).
        #[arg(long, value_name = "NAME", conflicts_with = "source")]
        subscription: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ConfigKind {
    Server,
    Scheduler,
    Connector,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Load FILE the way the binary would (file, then ZATO_* variables) and check it.
    Check {
        file: PathBuf,
        /// Which binary the file is for; guessed from the file name when absent.
        #[arg(long, value_enum)]
        kind: Option<ConfigKind>,
    },
}

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Where the configs, logs, Redis data and admin token live.
    #[arg(long, default_value = "zato-quickstart")]
    pub dir: PathBuf,
    /// How many servers.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=10))]
    pub servers: u16,
    /// Use this Redis instead of starting one.
    #[arg(long)]
    pub redis_url: Option<String>,
    /// The first server's port; the others follow it, the connector listens on +10 and the
    /// scheduler on +20.
    #[arg(long, default_value_t = 17010)]
    pub base_port: u16,
    /// The cluster's name.
    #[arg(long, default_value = "quickstart")]
    pub cluster: String,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// `rollback --version` is the service's version, not the program's `--version`.
    #[test]
    fn service_commands_parse() {
        let cli = Cli::try_parse_from(["zato", "service", "rollback", "crm", "--version", "3"]);
        assert!(matches!(
            cli.map(|c| c.command),
            Ok(Command::Service {
                action: ServiceAction::Rollback {
                    version: Some(3),
                    ..
                }
            })
        ));
        let cli = Cli::try_parse_from([
            "zato",
            "service",
            "deploy",
            "crm.py",
            "--name",
            "crm",
            "--memory-mb",
            "256",
        ]);
        assert!(matches!(
            cli.map(|c| c.command),
            Ok(Command::Service {
                action: ServiceAction::Deploy(DeployArgs {
                    deadline_ms: None,
                    memory_mb: Some(256),
                    ..
                })
            })
        ));
        let cli = Cli::try_parse_from(["zato", "service", "build", "crm.py", "-o", "crm.wasm"]);
        assert!(matches!(
            cli.map(|c| c.command),
            Ok(Command::Service {
                action: ServiceAction::Build { .. }
            })
        ));
        assert!(Cli::try_parse_from(["zato", "service", "deploy", "crm.py"]).is_err());
    }

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("zato").chain(args.iter().copied())).map(|c| c.command)
    }

    #[test]
    fn topic_commands_parse() {
        assert!(matches!(
            parse(&["topic", "list"]),
            Ok(Command::Topic {
                action: TopicAction::Crud(Crud::List)
            })
        ));
        assert!(matches!(
            parse(&["topic", "create", "--name", "orders"]),
            Ok(Command::Topic {
                action: TopicAction::Crud(Crud::Create(CreateArgs { name: Some(_), .. }))
            })
        ));
        let Ok(Command::Topic {
            action: TopicAction::Publish(publish),
        }) = parse(&[
            "topic",
            "publish",
            "orders",
            "--data",
            r#"{"id": 7}"#,
            "--attribute",
            "region=eu",
            "--attribute",
            "tier=gold",
            "--ordering-key",
            "customer-7",
            "--expires-in-ms",
            "60000",
        ])
        else {
            panic!("topic publish does not parse");
        };
        assert_eq!(publish.topic, "orders");
        assert_eq!(publish.attributes, ["region=eu", "tier=gold"]);
        assert_eq!(publish.ordering_key.as_deref(), Some("customer-7"));
        assert_eq!(publish.expires_in_ms, Some(60_000));
        assert!(
            parse(&["topic", "publish", "orders"]).is_err(),
            "--data is required"
        );
        assert!(matches!(
            parse(&[
                "topic",
                "edit",
                "orders",
                "--data",
                r#"{"max_messages": 5}"#
            ]),
            Ok(Command::Topic {
                action: TopicAction::Edit(EditArgs { data: Some(_), .. })
            })
        ));
        assert!(parse(&["topic", "edit", "orders"]).is_err(), "no changes");
        assert!(
            parse(&[
                "topic", "edit", "orders", "--file", "t.json", "--data", "{}"
            ])
            .is_err()
        );
    }

    #[test]
    fn subscription_commands_parse() {
        assert!(matches!(
            parse(&["subscription", "seek", "billing", "--to", "start"]),
            Ok(Command::Subscription {
                action: SubscriptionAction::Seek(SeekArgs {
                    target: SeekTarget {
                        to: Some(SeekEnd::Start),
                        time: None,
                        message_id: None,
                    },
                    ..
                })
            })
        ));
        assert!(matches!(
            parse(&[
                "subscription",
                "seek",
                "billing",
                "--time",
                "1970-01-01T00:00:02Z"
            ]),
            Ok(Command::Subscription {
                action: SubscriptionAction::Seek(SeekArgs {
                    target: SeekTarget {
                        time: Some(2_000),
                        ..
                    },
                    ..
                })
            })
        ));
        assert!(matches!(
            parse(&["subscription", "seek", "billing", "--time", "1700000000000"]),
            Ok(Command::Subscription {
                action: SubscriptionAction::Seek(SeekArgs {
                    target: SeekTarget {
                        time: Some(1_700_000_000_000),
                        ..
                    },
                    ..
                })
            })
        ));
        assert!(matches!(
            parse(&[
                "subscription",
                "seek",
                "billing",
                "--message-id",
                "1700000000000-0"
            ]),
            Ok(Command::Subscription {
                action: SubscriptionAction::Seek(SeekArgs {
                    target: SeekTarget {
                        message_id: Some(_),
                        ..
                    },
                    ..
                })
            })
        ));
        assert!(
            parse(&["subscription", "seek", "billing"]).is_err(),
            "no target"
        );
        assert!(
            parse(&[
                "subscription",
                "seek",
                "billing",
                "--to",
                "end",
                "--time",
                "5"
            ])
            .is_err(),
            "two targets"
        );
        assert!(parse(&["subscription", "seek", "billing", "--time", "soon"]).is_err());
        assert!(parse(&["subscription", "seek", "billing", "--to", "middle"]).is_err());

        assert!(matches!(
            parse(&[
                "subscription",
                "pull",
                "billing",
                "--max",
                "10",
                "--wait-ms",
                "5000",
                "--ack"
            ]),
            Ok(Command::Subscription {
                action: SubscriptionAction::Pull(PullArgs {
                    max: Some(10),
                    wait_ms: Some(5000),
                    ack: true,
                    ..
                })
            })
        ));
        assert!(
            parse(&["subscription", "pull", "billing", "--wait-ms", "60001"]).is_err(),
            "longer than the server waits"
        );
        let Ok(Command::Subscription {
            action: SubscriptionAction::Ack { name, ids },
        }) = parse(&["subscription", "ack", "billing", "1-0", "2-0"])
        else {
            panic!("subscription ack does not parse");
        };
        assert_eq!(name, "billing");
        assert_eq!(ids, ["1-0", "2-0"]);
        assert!(
            parse(&["subscription", "ack", "billing"]).is_err(),
            "no ids"
        );
        assert!(matches!(
            parse(&["subscription", "nack", "billing", "1-0"]),
            Ok(Command::Subscription {
                action: SubscriptionAction::Nack { .. }
            })
        ));
        assert!(matches!(
            parse(&["subscription", "delete", "billing"]),
            Ok(Command::Subscription {
                action: SubscriptionAction::Crud(Crud::Delete { .. })
            })
        ));
    }

    #[test]
    fn dlq_takes_a_subscription_or_a_source() {
        assert!(matches!(
            parse(&["dlq", "list", "--subscription", "billing"]),
            Ok(Command::Dlq {
                action: DlqAction::List {
                    source: None,
                    subscription: Some(_),
                    ..
                },
                ..
            })
        ));
        assert!(matches!(
            parse(&["dlq", "purge"]),
            Ok(Command::Dlq {
                action: DlqAction::Purge {
                    source: None,
                    subscription: None,
                },
                ..
            })
        ));
        for action in ["list", "replay", "purge"] {
            let both = parse(&[
                "dlq",
                action,
                "--source",
                "server",
                "--subscription",
                "billing",
            ]);
            assert!(
                both.is_err(),
                "dlq {action} takes --source or --subscription"
            );
        }
    }
}
