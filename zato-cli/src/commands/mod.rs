//! One module per command; [`run`] sends each parsed command to its module.

mod collection;
mod config_check;
mod dlq;
mod invoke;
mod job;
mod outgoing;
mod publish;
mod service;
mod status;
mod subscription;
mod topic;

use crate::cli::{AmqpWhat, ChannelKind, Cli, Command, ConfigAction, PublishTo, SendTo};
use crate::client::AdminClient;
use crate::output::Output;
use collection::Collection;

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let out = Output {
        json: cli.global.json,
    };
    let admin = || {
        AdminClient::new(
            &cli.global.url,
            cli.global.token.as_deref(),
            cli.global.ca_cert.as_deref(),
        )
    };
    match &cli.command {
        Command::Invoke {
            service,
            payload,
            is_async,
        } => invoke::run(&admin()?, out, service, payload.as_deref(), *is_async),
        Command::Channel { kind, action } => {
            let collection = match kind {
                ChannelKind::Http => Collection::HTTP_CHANNEL,
                ChannelKind::Amqp => Collection::AMQP_CHANNEL,
                ChannelKind::Zmq => Collection::ZMQ_CHANNEL,
            };
            collection.run(&admin()?, out, action)
        }
        Command::Outgoing { kind, action } => outgoing::run(&admin()?, out, *kind, action),
        Command::Secrets { action } => outgoing::secrets(admin, out, action),
        Command::Amqp {
            what: AmqpWhat::Definition { action },
        } => Collection::AMQP_DEFINITION.run(&admin()?, out, action),
        Command::Security { action } => Collection::SECURITY.run(&admin()?, out, action),
        Command::Job { action } => job::run(&admin()?, out, action),
        Command::Topic { action } => topic::run(&admin()?, out, action),
        Command::Subscription { action } => subscription::run(&admin()?, out, action),
        Command::Publish {
            to:
                PublishTo::Amqp {
                    name,
                    body,
                    routing_key,
                    headers,
                },
        } => publish::publish_amqp(&admin()?, out, name, body, routing_key.as_deref(), headers),
        Command::Send {
            to: SendTo::Zmq { name, body },
        } => publish::send_zmq(&admin()?, out, name, body),
        Command::Service { action } => service::run(admin, out, action),
        Command::Status => status::run(&admin()?, out),
        Command::Dlq { redis, action } => dlq::run(redis, out, action),
        Command::Config {
            action: ConfigAction::Check { file, kind },
        } => config_check::run(out, file, *kind),
        Command::Quickstart(args) => crate::quickstart::run(args),
    }
}
