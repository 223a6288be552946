//! What the embedding server gives a deployed service: the `host` interface of the world.
//!
//! The server implements [`ServiceHost`] once per call, with that call's service name and cid
//! already in it, so a guest can never act as another service or under another cid.

use crate::bindings::zato::service::{host, types};
use crate::state::State;
use crate::{GuestError, Level, Response, RestRequest, RestResponse};

/// The cluster, as one call of a deployed service sees it. Every method answers the guest:
/// an `Err` is handed to the service as a WIT error (which it may catch), never a trap.
#[async_trait::async_trait]
pub trait ServiceHost: Send + Sync + 'static {
    /// Runs `service` on this server now, with this call's cid.
    async fn invoke(&self, service: String, payload: String) -> Result<Response, GuestError>;
    /// Queues `service` for any server; the new request's cid.
    async fn invoke_async(&self, service: String, payload: String) -> Result<String, GuestError>;
    /// Calls an outgoing REST connection.
    async fn rest_call(
        &self,
        connection: String,
        request: RestRequest,
    ) -> Result<RestResponse, GuestError>;
    /// A query on an outgoing SQL connection; the rows as JSON text.
    async fn sql_query(
        &self,
        connection: String,
        statement: String,
        params: String,
    ) -> Result<String, GuestError>;
    /// A statement on an outgoing SQL connection; the rows it affected.
    async fn sql_execute(
        &self,
        connection: String,
        statement: String,
        params: String,
    ) -> Result<u64, GuestError>;
    /// Publishes through an outgoing AMQP connection.
    async fn amqp_publish(
        &self,
        connection: String,
        body: String,
        routing_key: Option<String>,
        headers: Vec<(String, String)>,
    ) -> Result<(), GuestError>;
    /// Sends through an outgoing ZeroMQ connection.
    async fn zmq_send(&self, connection: String, body: String) -> Result<(), GuestError>;
    /// Publishes to a pub/sub topic; the message id.
    async fn publish(
        &self,
        topic: String,
        data: String,
        attributes: Vec<(String, String)>,
        ordering_key: Option<String>,
    ) -> Result<String, GuestError>;
    /// The service's own key-value store.
    async fn kv_get(&self, key: String) -> Result<Option<String>, GuestError>;
    async fn kv_set(
        &self,
        key: String,
        value: String,
        ttl_ms: Option<u64>,
    ) -> Result<(), GuestError>;
    async fn kv_delete(&self, key: String) -> Result<bool, GuestError>;
    /// One line of the service's own log.
    fn log(&self, level: Level, message: &str);
}

impl types::Host for State {}

impl State {
    /// The host of the call in progress. An instance is only ever run inside a call, so
    /// none here would be this crate's bug; it is answered as an error, never a panic.
    fn host(&self) -> Result<&dyn ServiceHost, GuestError> {
        self.host.as_deref().ok_or_else(|| GuestError {
            kind: crate::ErrorKind::Internal,
            message: "no call in progress".into(),
        })
    }
}

impl host::Host for State {
    async fn invoke(&mut self, service: String, payload: String) -> Result<Response, GuestError> {
        self.host()?.invoke(service, payload).await
    }

    async fn invoke_async(
        &mut self,
        service: String,
        payload: String,
    ) -> Result<String, GuestError> {
        self.host()?.invoke_async(service, payload).await
    }

    async fn rest_call(
        &mut self,
        connection: String,
        request: RestRequest,
    ) -> Result<RestResponse, GuestError> {
        self.host()?.rest_call(connection, request).await
    }

    async fn sql_query(
        &mut self,
        connection: String,
        statement: String,
        params: String,
    ) -> Result<String, GuestError> {
        self.host()?.sql_query(connection, statement, params).await
    }

    async fn sql_execute(
        &mut self,
        connection: String,
        statement: String,
        params: String,
    ) -> Result<u64, GuestError> {
        self.host()?
            .sql_execute(connection, statement, params)
            .await
    }

    async fn amqp_publish(
        &mut self,
        connection: String,
        body: String,
        routing_key: Option<String>,
        headers: Vec<(String, String)>,
    ) -> Result<(), GuestError> {
        self.host()?
            .amqp_publish(connection, body, routing_key, headers)
            .await
    }

    async fn zmq_send(&mut self, connection: String, body: String) -> Result<(), GuestError> {
        self.host()?.zmq_send(connection, body).await
    }

    async fn publish(
        &mut self,
        topic: String,
        data: String,
        attributes: Vec<(String, String)>,
        ordering_key: Option<String>,
    ) -> Result<String, GuestError> {
        self.host()?
            .publish(topic, data, attributes, ordering_key)
            .await
    }

    async fn kv_get(&mut self, key: String) -> Result<Option<String>, GuestError> {
        self.host()?.kv_get(key).await
    }

    async fn kv_set(
        &mut self,
        key: String,
        value: String,
        ttl_ms: Option<u64>,
    ) -> Result<(), GuestError> {
        self.host()?.kv_set(key, value, ttl_ms).await
    }

    async fn kv_delete(&mut self, key: String) -> Result<bool, GuestError> {
        self.host()?.kv_delete(key).await
    }

    async fn log(&mut self, level: Level, message: String) {
        if let Some(host) = &self.host {
            host.log(level, &message);
        }
    }
}
