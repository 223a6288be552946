//! Reading a request body, bounded.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_LENGTH, HeaderMap};
use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};

/// Why a body could not be read.
pub enum BodyError {
    /// Larger than the limit (413).
    TooLarge { limit: usize },
    /// The client broke off (400).
    Broken(String),
    /// The client took longer than the limit to send the body (408).
    TooSlow,
}

/// Reads the whole body within `time_limit`, refusing more than `limit` bytes (and a
/// `Content-Length` above it before reading anything). The time limit keeps a client that
/// trickles its body byte by byte from holding a worker's connection for ever.
///
/// The timer is armed only for a body still on its way: the connection hands a request
/// over as soon as its head is parsed and feeds it the body that came along right after,
/// in the same turn, so such a body is there at the second look. Arming and cancelling a
/// timer costs more than reading a small body.
pub async fn read(
    headers: &HeaderMap,
    payload: impl Stream<Item = Result<Bytes, PayloadError>> + Unpin,
    limit: usize,
    time_limit: std::time::Duration,
) -> Result<Vec<u8>, BodyError> {
    let mut reading = pin!(read_all(headers, payload, limit));
    let mut looked = false;
    let arrived = poll_fn(|cx| match reading.as_mut().poll(cx) {
        Poll::Ready(read) => Poll::Ready(Some(read)),
        // Be polled again once the connection is done with this turn.
        Poll::Pending if !looked => {
            looked = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Poll::Pending => Poll::Ready(None),
    })
    .await;
    match arrived {
        Some(read) => read,
        None => tokio::time::timeout(time_limit, reading)
            .await
            .unwrap_or(Err(BodyError::TooSlow)),
    }
}

async fn read_all(
    headers: &HeaderMap,
    mut payload: impl Stream<Item = Result<Bytes, PayloadError>> + Unpin,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| BodyError::Broken(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl BodyError {
    /// The answer for this error.
    pub fn respond(&self, cid: &str) -> actix_web::HttpResponse {
        match self {
            BodyError::TooLarge { limit } => super::error::error(
                413,
                &format!("request body is larger than {limit} bytes"),
                cid,
            ),
            BodyError::Broken(e) => {
                super::error::error(400, &format!("could not read the request body: {e}"), cid)
            }
            BodyError::TooSlow => {
                super::error::error(408, "the request body was not received in time", cid)
            }
        }
    }
}
