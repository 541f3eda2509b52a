//! Stable rejection codes.
//!
//! Every request the gateway refuses ends as a [`RejectCode`]. The code string and its HTTP
//! status are part of the public interface (clients and dashboards match on them); the message
//! text is fixed per code and is a `&'static str`, so nothing from a payload can ever reach it.

use http::StatusCode;

/// Why a request was not forwarded (or why forwarding failed).
///
/// Variants are in alphabetical order; `as_str` values are stable and never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectCode {
    /// The request's head is invalid (an HTTP/1.1 request without `Host`, or two `Host`s).
    BadRequest,
    /// The request body exceeded `max_body_bytes` (or decoded past `max_decoded_bytes`).
    BodyTooLarge,
    /// The gateway itself failed; nothing was forwarded.
    Internal,
    /// The body is not valid for its content type (malformed JSON, bad encoding).
    MalformedBody,
    /// The query string (or a policed header) could not be parsed for policing.
    MalformedQuery,
    /// A request method the route cannot forward.
    MethodNotAllowed,
    /// JSON nesting exceeds `max_json_depth` (a nesting bomb); nothing was forwarded.
    NestingTooDeep,
    /// No route matches the request's host and path: piigate is never an open proxy.
    NoRoute,
    /// The route is at its concurrency limit; retry later (sent with `Retry-After`).
    Overloaded,
    /// The data subject opted out (`Sec-GPC: 1` / `DNT: 1`) and the route blocks on opt-out.
    OptOutBlocked,
    /// The body is valid but breaks a policy limit (for example nesting past `max_json_depth`).
    PolicyViolation,
    /// The client took too long to send the request.
    RequestTimeout,
    /// The subject-secret store is unreachable: subject-scoped values cannot be keyed, so nothing
    /// is forwarded.
    StoreUnavailable,
    /// A forward-proxy target no route names: piigate never tunnels blindly.
    TargetNotAllowed,
    /// The upstream answered with something that is not HTTP, or the connection broke.
    UpstreamFailed,
    /// The upstream did not answer within `upstream_timeout_ms`.
    UpstreamTimeout,
    /// The upstream could not be reached (connect or TLS failure).
    UpstreamUnreachable,
    /// The route has rules and the body's content type or encoding is not one it can police.
    UnsupportedMediaType,
    /// A transfer coding other than `chunked` (RFC 9112 §6.1: 501): piigate neither decodes
    /// nor forwards coded framing it cannot police.
    UnsupportedTransferCoding,
}

impl RejectCode {
    /// Every code, for metric pre-registration.
    pub const ALL: [Self; 19] = [
        Self::BadRequest,
        Self::BodyTooLarge,
        Self::Internal,
        Self::MalformedBody,
        Self::MalformedQuery,
        Self::MethodNotAllowed,
        Self::NestingTooDeep,
        Self::NoRoute,
        Self::OptOutBlocked,
        Self::Overloaded,
        Self::PolicyViolation,
        Self::RequestTimeout,
        Self::StoreUnavailable,
        Self::TargetNotAllowed,
        Self::UpstreamFailed,
        Self::UpstreamTimeout,
        Self::UpstreamUnreachable,
        Self::UnsupportedMediaType,
        Self::UnsupportedTransferCoding,
    ];

    /// Whether the code is decided before a route is chosen (the request's head, its framing,
    /// routing itself): such refusals are counted under route `-`, never under a route.
    pub const fn before_routing(self) -> bool {
        matches!(
            self,
            Self::BadRequest
                | Self::MethodNotAllowed
                | Self::NoRoute
                | Self::TargetNotAllowed
                | Self::UnsupportedTransferCoding
        )
    }

    /// The stable snake_case code, used in response bodies, logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::BodyTooLarge => "body_too_large",
            Self::Internal => "internal_error",
            Self::MalformedBody => "malformed_body",
            Self::MalformedQuery => "malformed_query",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NestingTooDeep => "nesting_too_deep",
            Self::NoRoute => "no_route",
            Self::OptOutBlocked => "opt_out_blocked",
            Self::Overloaded => "overloaded",
            Self::PolicyViolation => "policy_violation",
            Self::RequestTimeout => "request_timeout",
            Self::StoreUnavailable => "store_unavailable",
            Self::TargetNotAllowed => "target_not_allowed",
            Self::UpstreamFailed => "upstream_failed",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamUnreachable => "upstream_unreachable",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UnsupportedTransferCoding => "unsupported_transfer_coding",
        }
    }

    /// The HTTP status the client receives.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MalformedBody => StatusCode::BAD_REQUEST,
            Self::MalformedQuery => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NestingTooDeep => StatusCode::BAD_REQUEST,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::OptOutBlocked => StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::PolicyViolation => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::TargetNotAllowed => StatusCode::FORBIDDEN,
            Self::UpstreamFailed => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::UpstreamUnreachable => StatusCode::BAD_GATEWAY,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
        }
    }

    /// A fixed, human-readable explanation. Never contains request data.
    pub const fn message(self) -> &'static str {
        match self {
            Self::BadRequest => "the request head is invalid (missing or repeated Host)",
            Self::BodyTooLarge => "request body exceeds the route's size limit",
            Self::Internal => "the gateway failed to process the request; nothing was forwarded",
            Self::MalformedBody => {
                "request body could not be parsed for its content type; nothing was forwarded"
            }
            Self::MalformedQuery => {
                "the query string or a policed header could not be parsed; nothing was forwarded"
            }
            Self::MethodNotAllowed => "method not allowed on this route",
            Self::NestingTooDeep => {
                "request body nests deeper than the gateway's limit; nothing was forwarded"
            }
            Self::NoRoute => "no route matches this request",
            Self::OptOutBlocked => {
                "the user opted out of this recipient (Sec-GPC or DNT); nothing was forwarded"
            }
            Self::Overloaded => "the route is at its concurrency limit; retry later",
            Self::PolicyViolation => {
                "request body breaks a policy limit (for example nesting depth); nothing was forwarded"
            }
            Self::RequestTimeout => "the request was not received in time",
            Self::StoreUnavailable => {
                "the subject store is unavailable, so subject-scoped values cannot be keyed; nothing was forwarded"
            }
            Self::TargetNotAllowed => "the forward proxy only connects to hosts a route names",
            Self::UpstreamFailed => "the upstream connection failed or answered with invalid HTTP",
            Self::UpstreamTimeout => "the upstream did not answer in time",
            Self::UpstreamUnreachable => "the upstream could not be reached",
            Self::UnsupportedMediaType => {
                "the route cannot police this content type or encoding; nothing was forwarded"
            }
            Self::UnsupportedTransferCoding => {
                "transfer codings other than chunked are not supported; nothing was forwarded"
            }
        }
    }
}

impl std::fmt::Display for RejectCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
