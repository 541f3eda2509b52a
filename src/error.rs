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
    /// The request can be read in more than one way (two content types, a header spelled two
    /// ways, a form pair some servers split differently…); which rule it broke is carried so
    /// the message can name it.
    AmbiguousRequest(Ambiguity),
    /// The request's head is invalid: not HTTP/1.x, framing that reads more than one way, an
    /// HTTP/1.1 request without `Host`, or two `Host`s.
    BadRequest,
    /// The request path cannot be reduced to one normalised path (see [`PathFault`]).
    BadPath(PathFault),
    /// The request body exceeded `max_body_bytes` (or decoded past `max_decoded_bytes`).
    BodyTooLarge,
    /// The request head is past the head size limit or its field count (431).
    HeaderTooLarge,
    /// The gateway itself failed; nothing was forwarded.
    Internal,
    /// The body is not valid for its content type (malformed JSON, bad encoding).
    MalformedBody,
    /// The query string (or a policed header) could not be parsed for policing.
    MalformedQuery,
    /// A value a selector chain reads as a document of its own (base64 JSON, JSON text in a
    /// string, a URL) does not decode as the chain says (see [`WrapFault`]).
    MalformedWrapped(WrapFault),
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
    /// The request target is longer than any upstream could be sent (414).
    TargetTooLong,
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
    ///
    /// Codes that carry the rule they broke appear once, with a representative rule: metrics
    /// count per code ([`Self::slot`]), the access log names the rule.
    pub const ALL: [Self; 24] = [
        Self::AmbiguousRequest(Ambiguity::ContentTypeRepeated),
        Self::BadPath(PathFault::InvalidEscape),
        Self::BadRequest,
        Self::BodyTooLarge,
        Self::HeaderTooLarge,
        Self::Internal,
        Self::MalformedBody,
        Self::MalformedQuery,
        Self::MalformedWrapped(WrapFault::Base64),
        Self::MethodNotAllowed,
        Self::NestingTooDeep,
        Self::NoRoute,
        Self::OptOutBlocked,
        Self::Overloaded,
        Self::PolicyViolation,
        Self::RequestTimeout,
        Self::StoreUnavailable,
        Self::TargetNotAllowed,
        Self::TargetTooLong,
        Self::UpstreamFailed,
        Self::UpstreamTimeout,
        Self::UpstreamUnreachable,
        Self::UnsupportedMediaType,
        Self::UnsupportedTransferCoding,
    ];

    /// Whether the code can only be decided before a route is chosen (the request's head and
    /// framing, routing itself): such refusals are counted under route `-`, never a route's.
    pub(crate) const fn before_routing_only(self) -> bool {
        matches!(
            self,
            Self::BadRequest
                | Self::HeaderTooLarge
                | Self::MethodNotAllowed
                | Self::TargetNotAllowed
                | Self::TargetTooLong
                | Self::UnsupportedTransferCoding
        )
    }

    /// Whether the code can only arise once a route was chosen (its body, its limits, its
    /// upstream): never counted under route `-`.
    pub(crate) const fn needs_route(self) -> bool {
        matches!(
            self,
            Self::BodyTooLarge
                | Self::MalformedBody
                | Self::MalformedQuery
                | Self::NestingTooDeep
                | Self::Overloaded
                | Self::OptOutBlocked
                | Self::PolicyViolation
                | Self::RequestTimeout
                | Self::StoreUnavailable
                | Self::UpstreamFailed
                | Self::UpstreamTimeout
                | Self::UpstreamUnreachable
                | Self::UnsupportedMediaType
        )
    }

    /// This code's position in [`Self::ALL`] (the rule a code carries does not matter).
    pub fn slot(self) -> usize {
        let d = std::mem::discriminant(&self);
        Self::ALL
            .iter()
            .position(|c| std::mem::discriminant(c) == d)
            .unwrap_or(0)
    }

    /// The broken rule's stable name, for codes that carry one (logged as `rule`).
    pub const fn rule(self) -> Option<&'static str> {
        match self {
            Self::AmbiguousRequest(a) => Some(a.as_str()),
            Self::BadPath(p) => Some(p.as_str()),
            Self::MalformedWrapped(w) => Some(w.as_str()),
            _ => None,
        }
    }

    /// The stable snake_case code, used in response bodies, logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AmbiguousRequest(_) => "ambiguous_request",
            Self::BadPath(_) => "bad_path",
            Self::BadRequest => "bad_request",
            Self::BodyTooLarge => "body_too_large",
            Self::HeaderTooLarge => "header_too_large",
            Self::Internal => "internal_error",
            Self::MalformedBody => "malformed_body",
            Self::MalformedQuery => "malformed_query",
            Self::MalformedWrapped(_) => "malformed_wrapped_value",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NestingTooDeep => "nesting_too_deep",
            Self::NoRoute => "no_route",
            Self::OptOutBlocked => "opt_out_blocked",
            Self::Overloaded => "overloaded",
            Self::PolicyViolation => "policy_violation",
            Self::RequestTimeout => "request_timeout",
            Self::StoreUnavailable => "store_unavailable",
            Self::TargetNotAllowed => "target_not_allowed",
            Self::TargetTooLong => "target_too_long",
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
            Self::AmbiguousRequest(_) | Self::BadPath(_) => StatusCode::BAD_REQUEST,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeaderTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::MalformedBody => StatusCode::BAD_REQUEST,
            Self::MalformedQuery => StatusCode::BAD_REQUEST,
            Self::MalformedWrapped(_) => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NestingTooDeep => StatusCode::BAD_REQUEST,
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::OptOutBlocked => StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::PolicyViolation => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::TargetNotAllowed => StatusCode::FORBIDDEN,
            Self::TargetTooLong => StatusCode::URI_TOO_LONG,
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
            Self::AmbiguousRequest(a) => a.message(),
            Self::BadPath(p) => p.message(),
            Self::BadRequest => {
                "the request head is invalid (malformed, ambiguous framing, or a missing or repeated Host)"
            }
            Self::BodyTooLarge => "request body exceeds the route's size limit",
            Self::HeaderTooLarge => "the request head exceeds the gateway's size or field limit",
            Self::Internal => "the gateway failed to process the request; nothing was forwarded",
            Self::MalformedBody => {
                "request body could not be parsed for its content type; nothing was forwarded"
            }
            Self::MalformedQuery => {
                "the query string or a policed header could not be parsed; nothing was forwarded"
            }
            Self::MalformedWrapped(w) => w.message(),
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
            Self::TargetTooLong => "the request target exceeds the gateway's length limit",
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

/// The rule an ambiguous request broke: each names one way in which two HTTP servers could
/// read the same bytes differently (docs/BOUNDARY.md has the grammar and the why of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ambiguity {
    /// `:authority` (or an absolute-form target) and `Host` name different hosts.
    AuthorityMismatch,
    /// The body reads as another type than its label (JSON sent as a form, a form hidden in
    /// JSON-labelled text).
    BodyTypeMismatch,
    /// The query parameter naming the body's coding (`[routes.body_coding]`) appears more
    /// than once, or in a spelling only some servers fold to its name.
    BodyCodingParam,
    /// On a route that finds the people a body is about, the form field holding the body's
    /// document (`[routes.body_coding]`, `form:NAME`) appears more than once or in a spelling
    /// servers fold to its name: whose document the recipient reads is a guess.
    BodyCodingField,
    /// Two `Content-Encoding` header lines.
    ContentEncodingRepeated,
    /// `Content-Type` does not parse as one media type with parameters.
    ContentTypeMalformed,
    /// `Content-Type` parameters repeated, or in the RFC 2231 `name*=` form.
    ContentTypeParameter,
    /// Two `Content-Type` header lines, or one listing two media types.
    ContentTypeRepeated,
    /// A cookie the route forwards has a value servers split or unquote differently (`,`,
    /// whitespace, `"`, `\`, non-ASCII), or a name that is not a token.
    CookieValue,
    /// A form or query field name servers read differently: whitespace or control characters
    /// at its ends, a `%` left after decoding, brackets outside `name[key]…`.
    FieldName,
    /// A raw `;` in a policed form or query string: a pair separator to some servers, text to
    /// others.
    FieldSeparator,
    /// A header spelled with `_` that servers fold into a header the gateway reads or that
    /// is present with `-`.
    HeaderSpelling,
    /// A line of a body read one form per line holds a byte some line splitters break at and
    /// others keep: a lone CR, another control character, raw non-ASCII text (U+0085, U+2028
    /// and U+2029 are line breaks to Python's `str.splitlines` and JavaScript's `/^$/m`).
    LineBreak,
    /// A base64 value with characters of both alphabets (`+/` and `-_`): decoders that accept
    /// both, drop the foreign ones or refuse read it three ways.
    WrappedBase64Alphabet,
    /// Whitespace inside a base64 value: skipped by lenient decoders, refused by strict ones.
    WrappedBase64Whitespace,
    /// An encoded `?` (`%3F`) before a URL's query: a doubly-encoded URL, whose query only a
    /// reader that decodes it first sees.
    WrappedUrlEncodedQuery,
}

impl Ambiguity {
    /// Every rule.
    pub const ALL: [Self; 16] = [
        Self::AuthorityMismatch,
        Self::BodyCodingField,
        Self::BodyCodingParam,
        Self::BodyTypeMismatch,
        Self::ContentEncodingRepeated,
        Self::ContentTypeMalformed,
        Self::ContentTypeParameter,
        Self::ContentTypeRepeated,
        Self::CookieValue,
        Self::FieldName,
        Self::FieldSeparator,
        Self::HeaderSpelling,
        Self::LineBreak,
        Self::WrappedBase64Alphabet,
        Self::WrappedBase64Whitespace,
        Self::WrappedUrlEncodedQuery,
    ];

    /// The rule's stable name (the access log's `rule` field).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthorityMismatch => "authority_mismatch",
            Self::BodyCodingField => "body_coding_field",
            Self::BodyCodingParam => "body_coding_param",
            Self::BodyTypeMismatch => "body_type_mismatch",
            Self::ContentEncodingRepeated => "content_encoding_repeated",
            Self::ContentTypeMalformed => "content_type_malformed",
            Self::ContentTypeParameter => "content_type_parameter",
            Self::ContentTypeRepeated => "content_type_repeated",
            Self::CookieValue => "cookie_value",
            Self::FieldName => "field_name",
            Self::FieldSeparator => "field_separator",
            Self::HeaderSpelling => "header_spelling",
            Self::LineBreak => "line_break",
            Self::WrappedBase64Alphabet => "wrapped_base64_alphabet",
            Self::WrappedBase64Whitespace => "wrapped_base64_whitespace",
            Self::WrappedUrlEncodedQuery => "wrapped_url_encoded_query",
        }
    }

    /// A fixed text naming the rule; never request data.
    pub const fn message(self) -> &'static str {
        match self {
            Self::AuthorityMismatch => {
                "the request's authority and its Host header name different hosts; nothing was forwarded"
            }
            Self::BodyCodingField => {
                "the form field holding the body's document is repeated or spelled in a way servers read differently; nothing was forwarded"
            }
            Self::BodyCodingParam => {
                "the query parameter naming the body's coding is repeated or spelled in a way servers read differently; nothing was forwarded"
            }
            Self::BodyTypeMismatch => {
                "the body reads as another type than its Content-Type says; nothing was forwarded"
            }
            Self::ContentEncodingRepeated => {
                "the request has more than one Content-Encoding header; send one list; nothing was forwarded"
            }
            Self::ContentTypeMalformed => {
                "the Content-Type header is not one media type with parameters; nothing was forwarded"
            }
            Self::ContentTypeParameter => {
                "a Content-Type parameter is repeated or uses the name*= form; nothing was forwarded"
            }
            Self::ContentTypeRepeated => {
                "the request has more than one Content-Type; nothing was forwarded"
            }
            Self::CookieValue => {
                "a cookie the route forwards has a value servers read differently (a comma, whitespace, quotes or a backslash); nothing was forwarded"
            }
            Self::FieldName => {
                "a form or query field name has surrounding whitespace, control characters, a decoded '%' or malformed brackets; nothing was forwarded"
            }
            Self::FieldSeparator => {
                "a form or query string contains a raw ';', which some servers read as a pair separator; nothing was forwarded"
            }
            Self::HeaderSpelling => {
                "a header name with '_' collides with a header spelled with '-'; nothing was forwarded"
            }
            Self::LineBreak => {
                "a body line holds a character line splitters treat differently (a lone CR, a control character, raw non-ASCII text); nothing was forwarded"
            }
            Self::WrappedBase64Alphabet => {
                "a base64 value mixes the standard and URL-safe alphabets; nothing was forwarded"
            }
            Self::WrappedBase64Whitespace => {
                "a base64 value contains whitespace, which decoders skip or refuse; nothing was forwarded"
            }
            Self::WrappedUrlEncodedQuery => {
                "a URL has an encoded '?' before its query (doubly encoded); nothing was forwarded"
            }
        }
    }
}

/// Why a value a selector chain reads as a document of its own could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrapFault {
    /// Not base64: a character outside the alphabet, a length no encoding has, or padding
    /// that is not the value's last one or two characters in the right number.
    Base64,
    /// The value is an object or an array where the chain expects text.
    NotText,
    /// The decoded document is not valid JSON.
    NotJson,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
    /// The query string inside the value does not parse (an invalid escape, a name that is
    /// not UTF-8).
    Query,
    /// The URL does not parse: control characters, surrounding spaces, an invalid scheme.
    Url,
}

impl WrapFault {
    /// Every fault.
    pub const ALL: [Self; 6] = [
        Self::Base64,
        Self::NotText,
        Self::NotJson,
        Self::NotUtf8,
        Self::Query,
        Self::Url,
    ];

    /// The fault's stable name (the access log's `rule` field).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Base64 => "wrapped_base64",
            Self::NotText => "wrapped_not_text",
            Self::NotJson => "wrapped_not_json",
            Self::NotUtf8 => "wrapped_not_utf8",
            Self::Query => "wrapped_query",
            Self::Url => "wrapped_url",
        }
    }

    /// A fixed text naming the fault; never request data.
    pub const fn message(self) -> &'static str {
        match self {
            Self::Base64 => {
                "a wrapped value is not valid base64 (characters, length or padding); nothing was forwarded"
            }
            Self::NotText => {
                "a value a rule reads as an encoded document is an object or array; nothing was forwarded"
            }
            Self::NotJson => "a wrapped value is not valid JSON; nothing was forwarded",
            Self::NotUtf8 => "a wrapped value does not decode to UTF-8 text; nothing was forwarded",
            Self::Query => {
                "the query string inside a wrapped value cannot be parsed; nothing was forwarded"
            }
            Self::Url => "a URL a rule reads does not parse; nothing was forwarded",
        }
    }
}

/// Why a request path cannot be reduced to one normalised path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathFault {
    /// A raw `\`: Windows servers and WHATWG URL parsers read it as `/`.
    Backslash,
    /// `..` segments climb above the root or out of the route's prefix.
    ClimbsOut,
    /// A `.` or `..` segment spelled with percent-escapes (`%2e`).
    EncodedDotSegment,
    /// `%25`: servers that decode twice read the escape behind it.
    EncodedPercent,
    /// `%2F` or `%5C`: a separator to servers that decode before splitting.
    EncodedSeparator,
    /// A NUL or another control character, raw or percent-encoded.
    Control,
    /// `%` not followed by two hex digits (`%u002e`, `%zz`).
    InvalidEscape,
    /// The request target is not an absolute path (`*`).
    NotOriginForm,
    /// The decoded path is not UTF-8 (overlong or invalid sequences).
    NotUtf8,
    /// A `;`: a path parameter to Tomcat, Jetty and Spring, text to other servers.
    Semicolon,
    /// The normalised target, joined to the upstream's base path, is longer than a request
    /// target may be (percent-encoding and the base path lengthen what the client sent).
    TooLong,
}

impl PathFault {
    /// Every rule.
    pub const ALL: [Self; 11] = [
        Self::Backslash,
        Self::ClimbsOut,
        Self::EncodedDotSegment,
        Self::EncodedPercent,
        Self::EncodedSeparator,
        Self::Control,
        Self::InvalidEscape,
        Self::NotOriginForm,
        Self::NotUtf8,
        Self::Semicolon,
        Self::TooLong,
    ];

    /// The rule's stable name (the access log's `rule` field).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Backslash => "path_backslash",
            Self::ClimbsOut => "path_climbs_out",
            Self::EncodedDotSegment => "path_encoded_dot_segment",
            Self::EncodedPercent => "path_encoded_percent",
            Self::EncodedSeparator => "path_encoded_separator",
            Self::Control => "path_control",
            Self::InvalidEscape => "path_invalid_escape",
            Self::NotOriginForm => "path_not_origin_form",
            Self::NotUtf8 => "path_not_utf8",
            Self::Semicolon => "path_semicolon",
            Self::TooLong => "path_too_long",
        }
    }

    /// A fixed text naming the rule; never request data.
    pub const fn message(self) -> &'static str {
        match self {
            Self::Backslash => "the path contains a backslash; nothing was forwarded",
            Self::ClimbsOut => {
                "the path's '..' segments climb above the root or out of the route's prefix; nothing was forwarded"
            }
            Self::EncodedDotSegment => {
                "a path segment is '.' or '..' written with percent-escapes; nothing was forwarded"
            }
            Self::EncodedPercent => {
                "the path contains an encoded '%' (%25), which servers that decode twice misread; nothing was forwarded"
            }
            Self::EncodedSeparator => {
                "the path contains an encoded slash or backslash (%2F, %5C); nothing was forwarded"
            }
            Self::Control => "the path contains a NUL or control character; nothing was forwarded",
            Self::InvalidEscape => {
                "the path contains '%' not followed by two hex digits; nothing was forwarded"
            }
            Self::NotOriginForm => {
                "the request target is not an absolute path; nothing was forwarded"
            }
            Self::NotUtf8 => "the path does not decode to UTF-8; nothing was forwarded",
            Self::Semicolon => {
                "the path contains ';', a path parameter to some servers and text to others; nothing was forwarded"
            }
            Self::TooLong => {
                "the normalised request target is longer than an upstream request target may be; nothing was forwarded"
            }
        }
    }
}
