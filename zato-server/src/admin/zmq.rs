//! Admin rules of ZeroMQ channels and outgoing connections.

use zato_common::model::{ZmqChannel, ZmqOutgoing};

use super::AdminKind;
use super::crud::References;
use crate::service::ServiceError;

#[async_trait::async_trait]
impl AdminKind for ZmqChannel {
    const SERVICES: &'static str = "zato.channel.zmq";

    async fn check(
        &self,
        refs: &References<'_>,
        _current: Option<&str>,
    ) -> Result<(), ServiceError> {
        refs.require_service("service", &self.service)
    }
}

#[async_trait::async_trait]
impl AdminKind for ZmqOutgoing {
    const SERVICES: &'static str = "zato.outgoing.zmq";
}
