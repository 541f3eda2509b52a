//! Synthetic responses: the JSON error body every rejection gets.

use bytes::Bytes;
use http::{HeaderValue, Response, header};

use super::Body;
use crate::error::RejectCode;

/// `{"error":{"code":"…","message":"…"}}` with the code's status. The message is the code's
/// fixed text, so no request data can reach it.
pub fn reject(code: RejectCode) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::from(error_body(code))));
    *resp.status_mut() = code.status();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if code == RejectCode::Overloaded {
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// The JSON error of `code`: `{"error":{"code":"…","message":"…"}}`.
pub fn error_body(code: RejectCode) -> String {
    format!(
        r#"{{"error":{{"code":"{}","message":"{}"}}}}"#,
        code.as_str(),
        code.message()
    )
}

/// A complete in-memory body.
pub fn full(bytes: Bytes) -> Body {
    Body::full(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_renders_valid_json() {
        let rules = crate::error::Ambiguity::ALL
            .map(RejectCode::AmbiguousRequest)
            .into_iter()
            .chain(crate::error::PathFault::ALL.map(RejectCode::BadPath))
            .chain(crate::error::WrapFault::ALL.map(RejectCode::MalformedWrapped));
        for code in RejectCode::ALL.into_iter().chain(rules) {
            let v: serde_json::Value = serde_json::from_str(&error_body(code)).expect("valid JSON");
            assert_eq!(v["error"]["code"], code.as_str());
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
    }
}
