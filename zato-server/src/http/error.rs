//! Error answers: always JSON `{"error": "...", "cid": "..."}` with an `X-Zato-CID` header.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, HttpResponseBuilder};
use serde_json::json;

/// The header every answer carries (`X-Zato-CID`), lower case as HTTP/2 and `from_static`
/// want it.
const CID_HEADER: HeaderName = HeaderName::from_static("x-zato-cid");

/// A response builder with the status and the cid header set.
pub fn builder(status: u16, cid: &str) -> HttpResponseBuilder {
    builder_with(status, cid_header(cid.to_owned()))
}

/// `cid` as a header value, taking the string's bytes rather than copying them (`-` for a
/// cid from elsewhere that no header could carry).
pub fn cid_header(cid: String) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from(cid))
        .unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// A response builder with the status and a cid header made beforehand.
pub fn builder_with(status: u16, cid: HeaderValue) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    );
    builder.insert_header((CID_HEADER, cid));
    builder
}

/// A JSON error answer.
pub fn error(status: u16, message: &str, cid: &str) -> HttpResponse {
    builder(status, cid).json(json!({"error": message, "cid": cid}))
}
