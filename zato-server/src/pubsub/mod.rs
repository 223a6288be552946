//! Pub/sub on this server: the topics and subscriptions it serves from, its share of
//! delivering every push subscription, and publishing.
//!
//! Every server runs a consumer for every active `service` and `rest` subscription, so no
//! subscription is tied to one server: each message of a subscription goes to one of them,
//! with the claims, take-over, retries and dead letters of the work-queue consumer. `pull`
//! subscriptions have no consumer; their subscribers pull from any server.

pub mod delivery;
pub mod figures;
pub mod pull;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use tracing::{info, warn};
use zato_broker::{
    Backoff, Broker, BrokerError, ConfigCache, ConfigSnapshot, ConfigStore, ConsumerHandle,
    QueueConsumer, SkippedObjects,
};
use zato_common::ConfigChange;
use zato_common::model::{Subscription, SubscriptionDelivery, Topic};
use zato_common::pubsub::{Publication, TopicMessage};

use crate::dispatcher::Dispatcher;
use crate::service::ServiceError;

use figures::Figures;

/// The objects the runtime follows, and the consumers it runs.
struct State {
    topics: ConfigCache<Topic>,
    subscriptions: ConfigCache<Subscription>,
    /// The push subscriptions this server delivers, with the settings their consumer has.
    running: BTreeMap<String, (Arc<Subscription>, ConsumerHandle)>,
    /// After [`PubSub::stop`], nothing starts again.
    stopped: bool,
    /// Whether this server has made the streams and groups its first load names.
    ensured: bool,
}

/// This server's pub/sub.
pub struct PubSub {
    broker: Broker,
    dispatcher: OnceLock<Weak<Dispatcher>>,
    state: Mutex<State>,
    /// What publishes read: the topics, swapped whole on every change.
    topics: ArcSwap<BTreeMap<String, Arc<Topic>>>,
    subscriptions: ArcSwap<BTreeMap<String, Arc<Subscription>>>,
    figures: Arc<Figures>,
    /// Pulls waiting for messages now (long polls), at most [`pull::MAX_WAITING_PULLS`].
    waiting_pulls: tokio::sync::Semaphore,
}

impl PubSub {
    /// A runtime with no topics yet, recording unreadable objects in `skipped`.
    pub fn new(broker: Broker, skipped: &SkippedObjects) -> Arc<Self> {
        Arc::new(Self {
            broker,
            dispatcher: OnceLock::new(),
            state: Mutex::new(State {
                topics: ConfigCache::reporting_to(skipped.clone()),
                subscriptions: ConfigCache::reporting_to(skipped.clone()),
                running: BTreeMap::new(),
                stopped: false,
                ensured: false,
            }),
            topics: ArcSwap::default(),
            subscriptions: ArcSwap::default(),
            figures: Arc::default(),
            waiting_pulls: tokio::sync::Semaphore::new(pull::MAX_WAITING_PULLS),
        })
    }

    /// Gives the runtime the dispatcher its deliveries run through.
    pub fn bind(&self, dispatcher: &Arc<Dispatcher>) {
        let _ = self.dispatcher.set(Arc::downgrade(dispatcher));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.load().get(name).cloned()
    }

    /// A subscription by name.
    pub fn subscription(&self, name: &str) -> Option<Arc<Subscription>> {
        self.subscriptions.load().get(name).cloned()
    }

    /// Every subscription.
    pub fn subscriptions(&self) -> Arc<BTreeMap<String, Arc<Subscription>>> {
        self.subscriptions.load_full()
    }

    /// Every topic.
    pub fn topics(&self) -> Arc<BTreeMap<String, Arc<Topic>>> {
        self.topics.load_full()
    }

    /// The sampled figures (rates, and what the metrics report).
    pub fn figures(&self) -> &Arc<Figures> {
        &self.figures
    }

    /// Replaces every topic and subscription with a snapshot's.
    pub fn apply_snapshot(&self, snapshot: &ConfigSnapshot) {
        let mut state = self.lock();
        state.topics.load(snapshot);
        state.subscriptions.load(snapshot);
        self.reconcile(&mut state);
        info!(
            topics = state.topics.len(),
            subscriptions = state.subscriptions.len(),
            delivering = state.running.len(),
            "pub/sub loaded"
        );
    }

    /// Applies one change of a topic or subscription.
    pub fn apply_change(&self, change: &ConfigChange) {
        let mut state = self.lock();
        let changed =
            !state.topics.apply(change).is_empty() | !state.subscriptions.apply(change).is_empty();
        if changed {
            self.reconcile(&mut state);
        }
    }

    /// Publishes the read snapshots, then starts a consumer for each active push
    /// subscription of an existing topic that has none (or one with older settings) and
    /// stops those no longer wanted. A stopping consumer finishes what it runs.
    fn reconcile(&self, state: &mut State) {
        self.topics.store(Arc::new(
            state
                .topics
                .values()
                .map(|t| (t.name.clone(), Arc::new(t.clone())))
                .collect(),
        ));
        let subscriptions: BTreeMap<String, Arc<Subscription>> = state
            .subscriptions
            .values()
            .map(|s| (s.name.clone(), Arc::new(s.clone())))
            .collect();
        self.subscriptions.store(Arc::new(subscriptions.clone()));
        let wanted: BTreeMap<&String, &Arc<Subscription>> = subscriptions
            .iter()
            .filter(|(_, s)| {
                s.is_active
                    && !matches!(s.delivery, SubscriptionDelivery::Pull { .. })
                    && state.topics.get(&s.topic).is_some()
            })
            .collect();
        let current: Vec<String> = state.running.keys().cloned().collect();
        for name in current {
            let keep = wanted
                .get(&name)
                .is_some_and(|s| state.running.get(&name).is_some_and(|(r, _)| r == *s));
            if !keep && let Some((_, consumer)) = state.running.remove(&name) {
                tokio::spawn(consumer.stop());
            }
        }
        if state.stopped {
            return;
        }
        let Some(dispatcher) = self.dispatcher.get() else {
            return;
        };
        if !state.ensured {
            state.ensured = true;
            self.ensure_streams(state);
        }
        for (name, subscription) in wanted {
            if state.running.contains_key(name) {
                continue;
            }
            let router = delivery::router(dispatcher.clone(), subscription.clone());
            let consumer =
                QueueConsumer::subscription(self.broker.clone(), subscription, router).spawn();
            state
                .running
                .insert(name.clone(), (subscription.clone(), consumer));
        }
    }

    /// Makes, in the background, the topics' streams and the subscriptions' groups that are
    /// missing from some partition: topics and subscriptions stored before `partitions` grew
    /// (or before Redis lost its data). Consumers that start meanwhile wait for their groups.
    /// Tried again, with a growing pause, until it is done or the server stops.
    fn ensure_streams(&self, state: &State) {
        let broker = self.broker.clone();
        let topics: Vec<String> = state.topics.values().map(|t| t.name.clone()).collect();
        let subscriptions: Vec<Subscription> = state.subscriptions.values().cloned().collect();
        tokio::spawn(async move {
            let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
            loop {
                match make_streams(&broker, &topics, &subscriptions).await {
                    Ok(()) => return,
                    Err(e) => warn!(error = %e, "cannot make the topics' streams and groups yet"),
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff.next_delay()) => {}
                    () = broker.cancel_token().cancelled() => return,
                }
            }
        });
    }

    /// Stops every consumer, letting what runs finish (the server's drain).
    pub async fn stop(&self) {
        let consumers: Vec<ConsumerHandle> = {
            let mut state = self.lock();
            state.stopped = true;
            std::mem::take(&mut state.running)
                .into_values()
                .map(|(_, consumer)| consumer)
                .collect()
        };
        futures_util::future::join_all(consumers.into_iter().map(ConsumerHandle::stop)).await;
    }

    /// Publishes a message to the topic `name` as `publisher`; its id once Redis has it.
    pub async fn publish(
        &self,
        name: &str,
        publication: Publication,
        publisher: &str,
    ) -> Result<String, ServiceError> {
        publication
            .validate()
            .map_err(|e| ServiceError::BadRequest(format!("invalid message: {e}")))?;
        let topic = match self.topic(name) {
            Some(topic) => topic,
            // Created a moment ago on another server, not yet here over 1:all: asked once.
            None => match ConfigStore::new(self.broker.clone())
                .get::<Topic>(name)
                .await?
            {
                Some(topic) => Arc::new(topic),
                None => return Err(ServiceError::NotFound(format!("no topic '{name}'"))),
            },
        };
        if !topic.is_active {
            return Err(ServiceError::Conflict(format!(
                "topic '{name}' is inactive and takes no messages"
            )));
        }
        let message = TopicMessage {
            data: publication.data,
            attributes: publication.attributes,
            ordering_key: publication.ordering_key,
            expires_at_ms: publication
                .expires_in_ms
                .map(|ms| zato_common::clock::unix_ms().saturating_add(ms)),
            publisher: publisher.to_owned(),
        };
        match self.broker.publish_to_topic(&topic, &message).await {
            Ok(id) => Ok(id),
            Err(BrokerError::NotFound { .. }) => {
                Err(ServiceError::NotFound(format!("no topic '{name}'")))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The streams of `topics` and the groups of `subscriptions` missing from some partition.
async fn make_streams(
    broker: &Broker,
    topics: &[String],
    subscriptions: &[Subscription],
) -> zato_broker::Result<()> {
    for topic in topics {
        zato_broker::pubsub::topics::create_streams(broker, topic).await?;
    }
    for subscription in subscriptions {
        zato_broker::pubsub::subscriptions::ensure_groups(broker, subscription).await?;
    }
    Ok(())
}
