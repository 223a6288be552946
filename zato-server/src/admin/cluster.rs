//! `zato.cluster.status`: live members, singleton holders, queue depths, dead letters.

use serde_json::{Map, Value, json};
use zato_broker::janitor::queue_info;
use zato_broker::members::list_members;
use zato_broker::{DEAD_LETTER_SOURCES, DeadLetters, Queue, SINGLETON_LEASES, lease_holder};

use crate::service::{Context, Request, Response, Service, ServiceError};

pub struct ClusterStatus;

#[async_trait::async_trait]
impl Service for ClusterStatus {
    async fn handle(&self, _request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let broker = ctx.broker();
        let members = list_members(broker).await?;
        let mut leaders = Map::new();
        for role in SINGLETON_LEASES {
            let holder = lease_holder(broker, role).await?;
            leaders.insert(role.to_owned(), json!(holder.map(|h| h.holder)));
        }
        let mut queues = Vec::new();
        for queue in [Queue::Server, Queue::Connector] {
            queues.push(queue_info(broker, queue).await?);
        }
        let dead = DeadLetters::new(broker.clone());
        let mut dead_letters = Map::new();
        for source in DEAD_LETTER_SOURCES {
            dead_letters.insert(source.to_owned(), json!(dead.len(source).await?));
        }
        Ok(Response::json(json!({
            "cluster": broker.keys().prefix(),
            "members": members,
            "leaders": Value::Object(leaders),
            "queues": queues,
            "dead_letters": Value::Object(dead_letters),
        })))
    }
}
