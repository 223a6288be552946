//! The admin services: the admin API is made of services, as in Zato, so every admin call
//! is also invocable (`zato.channel.http.create`, ...) and counted in the statistics.

mod amqp;
mod cluster;
mod crud;
mod dead_letters;
pub mod deployed;
mod http_channel;
mod job;
mod outgoing;
mod pubsub;
mod security;
mod send;
mod services;
mod zmq;

use std::sync::Arc;

pub use crud::AdminKind;

use crate::service::ServiceRegistry;
use crate::worker_store::WorkerStore;

/// Registers every admin service.
pub fn register(registry: &mut ServiceRegistry, store: &Arc<WorkerStore>) {
    crud::register::<zato_common::model::HttpChannel>(registry, store);
    crud::register::<zato_common::model::SecurityDefinition>(registry, store);
    crud::register::<zato_common::model::AmqpDefinition>(registry, store);
    crud::register::<zato_common::model::AmqpChannel>(registry, store);
    crud::register::<zato_common::model::AmqpOutgoing>(registry, store);
    crud::register::<zato_common::model::ZmqChannel>(registry, store);
    crud::register::<zato_common::model::ZmqOutgoing>(registry, store);
    crud::register::<zato_common::model::Job>(registry, store);
    crud::register::<zato_common::model::OutgoingRest>(registry, store);
    crud::register::<zato_common::model::OutgoingSql>(registry, store);
    crud::register::<zato_common::model::Topic>(registry, store);
    crud::register::<zato_common::model::Subscription>(registry, store);
    registry
        .register("zato.service.list", services::ListServices)
        .register("zato.service.get", deployed::GetDeployed)
        .register("zato.service.undeploy", deployed::Undeploy)
        .register("zato.service.rollback", deployed::Rollback)
        .register("zato.cluster.status", cluster::ClusterStatus)
        .register("zato.outgoing.amqp.publish", send::PublishAmqp)
        .register("zato.outgoing.zmq.send", send::SendZmq)
        .register("zato.outgoing.rest.ping", outgoing::PingRest)
        .register("zato.outgoing.sql.ping", outgoing::PingSql)
        .register("zato.outgoing.reseal", outgoing::Reseal)
        .register("zato.scheduler.job.execute", job::ExecuteJob)
        .register("zato.dlq.list", dead_letters::DeadLetterAction::List)
        .register("zato.dlq.replay", dead_letters::DeadLetterAction::Replay)
        .register("zato.dlq.purge", dead_letters::DeadLetterAction::Purge)
        .register("zato.pubsub.publish", pubsub::Publish)
        .register("zato.pubsub.subscription.seek", pubsub::Seek)
        .register("zato.pubsub.subscription.pull", pubsub::Pull)
        .register("zato.pubsub.subscription.ack", pubsub::Ack)
        .register("zato.pubsub.subscription.nack", pubsub::Nack);
}
