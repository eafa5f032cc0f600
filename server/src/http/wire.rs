//! Request bodies and replies in the protocol's encodings: MessagePack for sync calls (JSON accepted
//! too, for debugging), JSON for the rest. Every malformed, oversized or mistyped body is answered
//! with the server's own error shape.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::RequestExt;
use bytes::BytesMut;
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use serde::de::DeserializeOwned;
use sync_core::protocol::{self, Limits, PROTOCOL_VERSION, VERSION_HEADER};
use tokio::sync::OwnedSemaphorePermit;

use crate::budget::ByteBudget;
use crate::error::Error;
use crate::http::admission::{self, Place};

/// The encoding of a body or a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    MsgPack,
    Json,
}

impl Format {
    fn of_content_type(headers: &HeaderMap) -> Option<Format> {
        let ct = headers.get(CONTENT_TYPE)?.to_str().ok()?;
        let essence = ct.split(';').next().unwrap_or("").trim();
        match essence {
            protocol::CONTENT_TYPE | "application/msgpack" | "application/x-msgpack" => {
                Some(Format::MsgPack)
            }
            "application/json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// The reply format a client asked for with `Accept`: JSON only if it asked for JSON and not for
/// MessagePack.
impl<S: Send + Sync> FromRequestParts<S> for Format {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Format, Error> {
        check_version(&parts.headers)?;
        let accept = parts
            .headers
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Ok(
            if accept.contains("application/json") && !accept.contains("msgpack") {
                Format::Json
            } else {
                Format::MsgPack
            },
        )
    }
}

fn check_version(headers: &HeaderMap) -> Result<(), Error> {
    match headers.get(VERSION_HEADER) {
        None => Ok(()),
        Some(v)
            if v.to_str().ok().and_then(|s| s.trim().parse::<u16>().ok())
                == Some(PROTOCOL_VERSION) =>
        {
            Ok(())
        }
        Some(_) => Err(Error::bad_request(
            "unsupported_protocol_version",
            format!("this server speaks fieldsync protocol {PROTOCOL_VERSION}"),
        )),
    }
}

/// Reads a body within its size limit (`DefaultBodyLimit`) and at the minimum rate of
/// [`admission::BODY_MIN_RATE`] after a grace: by the time `n` bytes have arrived, the next may
/// take until `BODY_GRACE + n / BODY_MIN_RATE` after the start. A body that trickles is refused
/// `408 body_too_slow` within seconds rather than holding the server's attention for as long as
/// its bytes keep coming. With a `budget`, every byte read takes room in it, kept in the returned
/// permit.
async fn body_bytes(
    req: Request,
    budget: Option<&ByteBudget>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), Error> {
    let start = tokio::time::Instant::now();
    let mut body = req.into_limited_body();
    let mut read = BytesMut::new();
    let mut room: Option<OwnedSemaphorePermit> = None;
    loop {
        let allowed = start + admission::body_deadline(read.len() as u64);
        let frame = match tokio::time::timeout_at(allowed, body.frame()).await {
            Err(_) => return Err(Error::SlowBody),
            Ok(None) => return Ok((read.freeze(), room)),
            Ok(Some(frame)) => frame.map_err(|e| {
                if too_large(&e) {
                    Error::PayloadTooLarge
                } else {
                    Error::bad_request("malformed", format!("the body could not be read: {e}"))
                }
            })?,
        };
        if let Ok(data) = frame.into_data() {
            if let Some(budget) = budget {
                let more = budget.take(data.len()).await?;
                match &mut room {
                    Some(room) => room.merge(more),
                    None => room = Some(more),
                }
            }
            read.extend_from_slice(&data);
        }
    }
}

/// Whether a body error is the size limit's, however deep the layers (decompression) wrapped it.
fn too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// A sync request body, MessagePack or JSON by its `Content-Type`, with the room it takes in the
/// body budget: the caller holds it for as long as it holds the request.
pub struct Wire<T>(pub T, pub Option<OwnedSemaphorePermit>);

impl<S, T> FromRequest<S> for Wire<T>
where
    S: Send + Sync,
    Limits: FromRef<S>,
    Arc<ByteBudget>: FromRef<S>,
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Wire<T>, Error> {
        check_version(req.headers())?;
        let format = Format::of_content_type(req.headers()).ok_or(Error::UnsupportedMediaType {
            expected: protocol::CONTENT_TYPE,
        })?;
        let budget = Arc::<ByteBudget>::from_ref(state);
        let (bytes, room) = body_bytes(req, Some(&budget)).await?;
        let value = match format {
            // The server's own limits, which an operator may have raised above the defaults.
            Format::MsgPack => protocol::decode(&bytes, &Limits::from_ref(state))?,
            Format::Json => serde_json::from_slice(&bytes)
                .map_err(|e| Error::bad_request("malformed", e.to_string()))?,
        };
        Ok(Wire(value, room))
    }
}

/// A request body as it came (a CSV file), read within its size limit and minimum rate.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Error;

    async fn from_request(req: Request, _: &S) -> Result<RawBody, Error> {
        Ok(RawBody(body_bytes(req, None).await?.0))
    }
}

/// A JSON request body.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Error;

    async fn from_request(req: Request, _: &S) -> Result<JsonBody<T>, Error> {
        if Format::of_content_type(req.headers()) != Some(Format::Json) {
            return Err(Error::UnsupportedMediaType {
                expected: "application/json",
            });
        }
        let (bytes, _) = body_bytes(req, None).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| Error::bad_request("malformed", e.to_string()))
    }
}

/// A sync reply in the format the client asked for, holding the call's places (`admission`) until
/// the client has read it all or gone: a device that asks and never reads holds its own places, and
/// the server holds at most that many unread answers of it (each for at most the write timeout).
pub struct Reply<T>(pub Format, pub T, pub [Place; 2]);

impl<T: protocol::EncodedSize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let Reply(format, value, places) = self;
        let (content_type, bytes) = match format {
            Format::MsgPack => (protocol::CONTENT_TYPE, protocol::encode_sized(&value)),
            Format::Json => match serde_json::to_vec(&value) {
                Ok(json) => ("application/json", json),
                Err(e) => {
                    return Error::Internal(format!("a reply did not encode: {e}")).into_response()
                }
            },
        };
        let body = Held {
            rest: Bytes::from(bytes),
            _places: places,
        };
        ([(CONTENT_TYPE, content_type)], Body::new(body)).into_response()
    }
}

/// A reply's bytes, handed to hyper a piece at a time (of 1 MiB), holding the call's places until the last
/// piece is taken: hyper takes the next only once it has written most of the previous ones, so the
/// places are held while the client is still reading. Handed over whole, the body would end (and
/// give the places back) the moment hyper queued its bytes.
struct Held {
    rest: Bytes,
    _places: [Place; 2],
}

/// The most of a reply handed to hyper at once.
const PIECE: usize = 1 << 20;

impl HttpBody for Held {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.rest.len().min(PIECE);
        let piece = self.rest.split_to(n);
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}

/// A path parameter, refused in the server's error shape (`invalid_id`) when it does not parse, e.g.
/// a device id that is not a UUID.
pub struct PathParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<PathParam<T>, Error> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathParam(p.0))
            .map_err(|e| Error::bad_request("invalid_id", e.body_text()))
    }
}

/// Query parameters, refused in the server's error shape (`invalid_query`) when they do not parse.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<QueryParams<T>, Error> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|e| Error::bad_request("invalid_query", e.body_text()))
    }
}
