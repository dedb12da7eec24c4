//! Reading a request body the same way at every door: bounded in size (by `Content-Length`
//! before reading, and while reading a chunked body) and in time (the whole body within a
//! deadline, so a peer that trickles bytes cannot hold a worker's connection).

use actix_web::http::header::{CONTENT_LENGTH, HeaderMap};
use actix_web::web;
use futures_util::StreamExt as _;
use std::time::Duration;

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over `limit` bytes, announced or counted.
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not all there within the deadline.
    Timeout,
    /// The connection broke or the framing was wrong mid-body.
    Unreadable,
}

/// Reads the whole body of a request with `headers`, at most `limit` bytes within `within`.
pub async fn read(
    headers: &HeaderMap,
    mut payload: web::Payload,
    limit: usize,
    within: Duration,
) -> Result<web::Bytes, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let read = async {
        let mut body = web::BytesMut::with_capacity(declared.unwrap_or(4096).min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
            if body.len() + chunk.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(within, read)
        .await
        .map_err(|_| BodyError::Timeout)?
}
