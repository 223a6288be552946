//! Error answers: always JSON `{"error": "...", "cid": "..."}` with an `X-Zato-CID` header.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder};
use serde_json::json;

/// The header every answer carries.
pub const CID_HEADER: &str = "X-Zato-CID";

/// A response builder with the status and the cid header set.
pub fn builder(status: u16, cid: &str) -> HttpResponseBuilder {
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
