//! The admin services of pub/sub: topics and subscriptions (the five CRUD services each,
//! with their figures in `list` and `get`), publishing, seeking, pulling and acknowledging.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use zato_broker::pubsub::figures::{subscription_figures, topic_figures};
use zato_broker::pubsub::subscriptions::{self, SeekTarget, is_message_id};
use zato_broker::pubsub::topics;
use zato_common::model::{
    OutgoingRest, SecurityDefinition, Subscription, SubscriptionDelivery, Topic,
};
use zato_common::pubsub::Publication;

use super::AdminKind;
use super::crud::{References, parse};
use crate::pubsub::pull;
use crate::service::{Context, Request, Response, Service, ServiceError};

/// Who publishes through the admin API.
const ADMIN_PUBLISHER: &str = "admin";

#[async_trait::async_trait]
impl AdminKind for Topic {
    const SERVICES: &'static str = "zato.pubsub.topic";
    const CLEANS_UP: bool = true;

    async fn check(
        &self,
        refs: &References<'_>,
        _current: Option<&str>,
    ) -> Result<(), ServiceError> {
        for (i, publisher) in self.publishers.iter().enumerate() {
            refs.require::<SecurityDefinition>(&format!("publishers[{i}]"), publisher)
                .await?;
        }
        Ok(())
    }

    async fn check_delete(name: &str, refs: &References<'_>) -> Result<(), ServiceError> {
        refs.refuse_if_used::<Subscription>("topic", name, |s| s.topic == name)
            .await
    }

    /// The topic's streams, one per partition: publishes never make them.
    async fn stored(&self, refs: &References<'_>) -> Result<(), ServiceError> {
        topics::create_streams(refs.ctx.broker(), &self.name).await?;
        Ok(())
    }

    /// A deleted topic's messages go with it.
    async fn deleted(topic: Self, refs: &References<'_>) -> Result<(), ServiceError> {
        topics::delete_streams(refs.ctx.broker(), &topic.name).await?;
        Ok(())
    }

    /// Adds each topic's figures: depth, messages published, the publish rate (per second,
    /// over the last few seconds) and the age of its oldest message.
    async fn annotate(views: &mut [Value], refs: &References<'_>) -> Result<(), ServiceError> {
        let pubsub = refs.ctx.pubsub();
        for view in views {
            let Some(name) = view["name"].as_str().map(str::to_owned) else {
                continue;
            };
            let figures = topic_figures(refs.ctx.broker(), &name).await?;
            let mut figures = json!(figures);
            figures["publish_rate"] = json!(pubsub.figures().publish_rate(&name));
            view["figures"] = figures;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl AdminKind for Subscription {
    const SERVICES: &'static str = "zato.pubsub.subscription";
    const CLEANS_UP: bool = true;

    async fn check(
        &self,
        refs: &References<'_>,
        current: Option<&str>,
    ) -> Result<(), ServiceError> {
        refs.require::<Topic>("topic", &self.topic).await?;
        match &self.delivery {
            SubscriptionDelivery::Service { service } => {
                refs.require_service("delivery.service", service)?
            }
            SubscriptionDelivery::Rest { connection } => {
                refs.require::<OutgoingRest>("delivery.connection", connection)
                    .await?
            }
            SubscriptionDelivery::Pull { security, .. } => {
                refs.require::<SecurityDefinition>("delivery.security", security)
                    .await?
            }
        }
        if let Some(current) = current
            && let Some(stored) = refs.config.get::<Subscription>(current).await?
        {
            if stored.topic != self.topic {
                return Err(ServiceError::BadRequest(
                    "topic: a subscription keeps its topic; create another subscription instead"
                        .into(),
                ));
            }
            if stored.name != self.name {
                return Err(ServiceError::BadRequest(
                    "name: a subscription keeps its name (its group and dead letters are under it)"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The subscription's group on its topic, at its start position (an edit keeps the
    /// group's position).
    async fn stored(&self, refs: &References<'_>) -> Result<(), ServiceError> {
        subscriptions::attach(refs.ctx.broker(), self).await?;
        Ok(())
    }

    async fn deleted(subscription: Self, refs: &References<'_>) -> Result<(), ServiceError> {
        subscriptions::detach(refs.ctx.broker(), &subscription.name, &subscription.topic).await?;
        Ok(())
    }

    /// Adds each subscription's figures: backlog, pending, waiting, the age of its oldest
    /// unacknowledged message, deliveries, the delivery rate, retries, expired messages and
    /// dead letters.
    async fn annotate(views: &mut [Value], refs: &References<'_>) -> Result<(), ServiceError> {
        let pubsub = refs.ctx.pubsub();
        for view in views {
            let (Some(name), Some(topic)) = (
                view["name"].as_str().map(str::to_owned),
                view["topic"].as_str().map(str::to_owned),
            ) else {
                continue;
            };
            let figures = subscription_figures(refs.ctx.broker(), &name, &topic).await?;
            let mut figures = json!(figures);
            figures["delivery_rate"] = json!(pubsub.figures().delivery_rate(&name));
            view["figures"] = figures;
        }
        Ok(())
    }
}

/// `zato.pubsub.publish {name, data, attributes?, ordering_key?, expires_in_ms?,
/// publisher?}`: `{"id"}` once Redis has the message.
pub struct Publish;

#[async_trait::async_trait]
impl Service for Publish {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let Value::Object(mut fields) = request.payload else {
            return Err(ServiceError::BadRequest("expected a JSON object".into()));
        };
        let name = match fields.remove("name") {
            Some(Value::String(name)) => name,
            _ => {
                return Err(ServiceError::BadRequest(
                    "name: the topic is required".into(),
                ));
            }
        };
        let publisher = match fields.remove("publisher") {
            Some(Value::String(publisher)) => publisher,
            _ => ADMIN_PUBLISHER.to_owned(),
        };
        if !fields.contains_key("data") {
            return Err(ServiceError::BadRequest("data: required".into()));
        }
        let publication: Publication = parse(Value::Object(fields), "request")?;
        let id = ctx.pubsub().publish(&name, publication, &publisher).await?;
        Ok(Response::json(json!({"id": id, "topic": name})))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeekRequest {
    name: String,
    /// `start` or `end`.
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    time_ms: Option<u64>,
    #[serde(default)]
    message_id: Option<String>,
}

/// `zato.pubsub.subscription.seek {name, to: "start"|"end"} | {name, time_ms} | {name,
/// message_id}`: what follows the target is delivered (again), what precedes it counts as
/// acknowledged.
pub struct Seek;

#[async_trait::async_trait]
impl Service for Seek {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let seek: SeekRequest = parse(request.payload, "request")?;
        let target = match (seek.to.as_deref(), seek.time_ms, seek.message_id) {
            (Some("start"), None, None) => SeekTarget::Start,
            (Some("end"), None, None) => SeekTarget::End,
            (None, Some(ms), None) => SeekTarget::Time(ms),
            (None, None, Some(id)) if is_message_id(&id) => SeekTarget::Message(id),
            (None, None, Some(id)) => {
                return Err(ServiceError::BadRequest(format!(
                    "message_id: '{id}' is not a message id ([<partition>/]<ms>-<seq>)"
                )));
            }
            _ => {
                return Err(ServiceError::BadRequest(
                    "give one of to (\"start\" or \"end\"), time_ms or message_id".into(),
                ));
            }
        };
        let Some(subscription) = ctx.pubsub().subscription(&seek.name) else {
            return Err(ServiceError::NotFound(format!(
                "no subscription '{}'",
                seek.name
            )));
        };
        let position = subscriptions::seek(ctx.broker(), &subscription, &target).await?;
        let figures =
            subscription_figures(ctx.broker(), &subscription.name, &subscription.topic).await?;
        Ok(Response::json(json!({
            "subscription": subscription.name,
            "position": position,
            "backlog": figures.backlog,
        })))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PullRequest {
    name: String,
    #[serde(default)]
    max: Option<usize>,
    #[serde(default)]
    wait_ms: u64,
}

/// `zato.pubsub.subscription.pull {name, max?, wait_ms?}`: `{"messages": [...]}`.
pub struct Pull;

#[async_trait::async_trait]
impl Service for Pull {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let pull: PullRequest = parse(request.payload, "request")?;
        let messages = pull::pull_messages(
            ctx.pubsub(),
            &pull.name,
            pull.max,
            Duration::from_millis(pull.wait_ms),
        )
        .await?;
        Ok(Response::json(json!({"messages": messages})))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckRequest {
    name: String,
    ids: Vec<String>,
}

/// `zato.pubsub.subscription.ack {name, ids}`: `{"acknowledged": n}`, how many of them were
/// still unacknowledged.
pub struct Ack;

#[async_trait::async_trait]
impl Service for Ack {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let ack: AckRequest = parse(request.payload, "request")?;
        let acknowledged = pull::ack(ctx.pubsub(), &ack.name, &ack.ids).await?;
        Ok(Response::json(json!({"acknowledged": acknowledged})))
    }
}

/// `zato.pubsub.subscription.nack {name, ids}`: the messages go to the next pull at once.
pub struct Nack;

#[async_trait::async_trait]
impl Service for Nack {
    async fn handle(&self, request: Request, ctx: &Context) -> Result<Response, ServiceError> {
        let nack: AckRequest = parse(request.payload, "request")?;
        pull::nack(ctx.pubsub(), &nack.name, &nack.ids).await?;
        Ok(Response::json(json!({"returned": nack.ids.len()})))
    }
}
