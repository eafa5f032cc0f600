//! Files compiled into the binary (the dashboard's, the agents' app's), served with their media
//! type, an ETag so a browser revalidates instead of downloading again (`no-cache`: a new server
//! version is picked up at once), and the page's content security policy.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::Error;

pub fn serve<Files: RustEmbed>(
    path: &str,
    headers: &HeaderMap,
    csp: &'static str,
) -> Result<Response, Error> {
    let file = Files::get(path).ok_or_else(|| Error::NotFound("no such file".into()))?;
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        file.data.into_owned().into_response()
    };
    let h = response.headers_mut();
    let mime = file.metadata.mimetype();
    let text = mime.starts_with("text/") || mime.ends_with("javascript");
    let content_type = if text {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    let value = |v: &str| HeaderValue::from_str(v).map_err(|e| Error::Internal(e.to_string()));
    h.insert(header::CONTENT_TYPE, value(&content_type)?);
    h.insert(header::ETAG, value(&etag)?);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}
