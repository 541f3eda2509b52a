//! Realistic analytics payloads and the policies the rewrite benches run.
//!
//! Shapes follow what Segment's analytics.js/analytics-node and PostHog's SDKs send: `track`,
//! `identify` and `page` events with `userId`, `anonymousId`, `traits` (email, phone, name,
//! address), `context` (ip, userAgent, library, page, campaign) and free-form `properties`;
//! batches are `{"batch":[…],"sentAt":…}`. Values vary per event (a small deterministic PRNG)
//! so branch predictors and string lengths are not flattered by repetition. Compact JSON, as
//! SDKs send it.

#![allow(dead_code, unreachable_pub, missing_docs)]

use std::fmt::Write as _;
use std::sync::Arc;

use piigate::crypto::{EnvelopeSealer, TokenKey};
use piigate::detect::{Class, Detector};
use piigate::keys::{KeyId, SecretKey};
use piigate::policy::action::{EncryptAction, MaskAction, Normalize, RedactAction, TokenizeAction};
use piigate::policy::selector::parse;
use piigate::policy::{
    Action, Automaton, DetectMode, DetectPolicy, FieldPlan, FieldPlans, FieldRule, FieldTarget,
    JsonPath, Plan, Rule, RuleId, Unselected,
};

const FIRST: &[&str] = &[
    "Jane", "José", "Amira", "Wei", "Olu", "Priya", "Lars", "Zoë",
];
const LAST: &[&str] = &[
    "Doe", "Müller", "Khan", "Zhang", "Adeyemi", "Sharma", "Berg", "O'Neil",
];
const EVENTS: &[&str] = &[
    "Order Completed",
    "Product Viewed",
    "Checkout Started",
    "Signed Up",
    "Cart Viewed",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn uuid(r: &mut Rng) -> String {
    let a = r.next();
    let b = r.next();
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a >> 32,
        a & 0xffff,
        (b >> 52) & 0xfff,
        (b >> 40) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

/// Where an event's values come from: `r` for everything, or — for one person's batch — the
/// identity (user id, anonymous id, traits) from `person`, restarted for every event.
struct Draw<'a> {
    r: &'a mut Rng,
    person: Option<Rng>,
}

impl Draw<'_> {
    /// The source of identity values.
    fn id(&mut self) -> &mut Rng {
        match &mut self.person {
            Some(p) => p,
            None => self.r,
        }
    }
}

/// One Segment-style `track` event of roughly 1 KB.
fn event(r: &mut Rng, out: &mut String) {
    event_of(&mut Draw { r, person: None }, out);
}

fn event_of(d: &mut Draw<'_>, out: &mut String) {
    let first = d.id().pick(FIRST);
    let last = d.id().pick(LAST);
    let user = d.id().below(1_000_000);
    let products = 1 + d.r.below(3);
    let event = d.r.pick(EVENTS);
    let anon = uuid(d.id());
    let r = &mut *d.r;
    let _ = write!(
        out,
        r#"{{"type":"track","event":"{event}","userId":"user_{user:06}","anonymousId":"{anon}","messageId":"ajs-{msg}","timestamp":"2024-05-{day:02}T12:{min:02}:56.789Z","#,
        msg = uuid(r),
        day = 1 + r.below(28),
        min = r.below(60),
    );
    let _ = write!(
        out,
        r#""context":{{"ip":"203.0.{a}.{b}","userAgent":"{ua}","locale":"en-US","library":{{"name":"analytics.js","version":"4.1.0"}},"page":{{"path":"/checkout","referrer":"https://www.example.com/cart","title":"Checkout","url":"https://shop.example.com/checkout?step={step}"}},"campaign":{{"name":"spring_sale","source":"newsletter","medium":"email"}}}},"#,
        a = r.below(256),
        b = r.below(256),
        ua = r.pick(AGENTS),
        step = r.below(4),
    );
    let n = d.id().below(1000);
    let p = d.id().below(1000);
    let q = d.id().below(10000);
    let st = 1 + d.id().below(999);
    let z = d.id().below(100_000);
    let r = &mut *d.r;
    let _ = write!(
        out,
        r#""traits":{{"email":"{f}.{l}{n}@Example.com","phone":"+1 555 {p:03} {q:04}","name":"{f} {l}","address":{{"street":"{st} Main St","city":"Springfield","postalCode":"{z:05}","country":"US"}},"plan":"premium","logins":{lg}}},"#,
        f = first.to_lowercase(),
        l = last.to_lowercase().replace('\'', ""),
        lg = r.below(500),
    );
    let _ = write!(
        out,
        r#""properties":{{"orderId":"ord_{o}","total":{t}.{c:02},"revenue":{t2}.99,"currency":"USD","coupon":"SPRING","products":["#,
        o = r.next() % 10_000_000,
        t = 10 + r.below(500),
        c = r.below(100),
        t2 = r.below(400),
    );
    for i in 0..products {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            r#"{{"product_id":"sku-{id}","name":"Item \"{id}\"","price":{p}.99,"quantity":{q},"category":"apparel"}}"#,
            id = r.below(10_000),
            p = 5 + r.below(100),
            q = 1 + r.below(3),
        );
    }
    let _ = write!(
        out,
        r#"]}},"integrations":{{"All":true,"Mixpanel":false}}}}"#
    );
}

/// A single track event (about 1 KB).
pub fn track_event() -> Vec<u8> {
    let mut s = String::new();
    event(&mut Rng(0x9E37_79B9_7F4A_7C15), &mut s);
    s.into_bytes()
}

/// A `{"batch":[…]}` payload of at least `target` bytes.
pub fn batch(target: usize) -> Vec<u8> {
    let mut r = Rng(0xD1B5_4A32_D192_ED03);
    let mut s = String::with_capacity(target + 2048);
    s.push_str(r#"{"batch":["#);
    let mut first = true;
    while s.len() < target.saturating_sub(120) {
        if !first {
            s.push(',');
        }
        first = false;
        event(&mut r, &mut s);
    }
    s.push_str(r#"],"sentAt":"2024-05-01T12:34:57.001Z","writeKey":"wk_live_0123456789"}"#);
    s.into_bytes()
}

/// A `{"batch":[…]}` of one person's events (what a browser or mobile SDK flushes): user id,
/// anonymous id and traits repeat in every event, the rest varies as in [`batch`].
pub fn person_batch(target: usize) -> Vec<u8> {
    let mut r = Rng(0xD1B5_4A32_D192_ED03);
    let mut s = String::with_capacity(target + 2048);
    s.push_str(r#"{"batch":["#);
    let mut first = true;
    while s.len() < target.saturating_sub(120) {
        if !first {
            s.push(',');
        }
        first = false;
        event_of(
            &mut Draw {
                r: &mut r,
                person: Some(Rng(0x2545_F491_4F6C_DD1D)),
            },
            &mut s,
        );
    }
    s.push_str(r#"],"sentAt":"2024-05-01T12:34:57.001Z","writeKey":"wk_live_0123456789"}"#);
    s.into_bytes()
}

/// Selectors of the typical policy, by rule: each event's identifiers tokenized, the email
/// tokenized wherever it appears, phone encrypted, name masked, IP dropped, address redacted.
pub const TYPICAL: &[(&[&str], Kind)] = &[
    (&["$.userId", "$.batch[*].userId"], Kind::Tokenize),
    (&["$..email"], Kind::TokenizeEmail),
    (
        &["$.traits.phone", "$.batch[*].traits.phone"],
        Kind::Encrypt,
    ),
    (&["$.traits.name", "$.batch[*].traits.name"], Kind::Mask),
    (&["$.context.ip", "$.batch[*].context.ip"], Kind::Drop),
    (
        &["$.traits.address", "$.batch[*].traits.address"],
        Kind::Redact,
    ),
];

/// [`TYPICAL`] with the emails named by path instead of `$..email`: what the descendant
/// selector costs (every object stays live under it).
pub const EXPLICIT: &[(&[&str], Kind)] = &[
    (&["$.userId", "$.batch[*].userId"], Kind::Tokenize),
    (
        &["$.traits.email", "$.batch[*].traits.email"],
        Kind::TokenizeEmail,
    ),
    (
        &["$.traits.phone", "$.batch[*].traits.phone"],
        Kind::Encrypt,
    ),
    (&["$.traits.name", "$.batch[*].traits.name"], Kind::Mask),
    (&["$.context.ip", "$.batch[*].context.ip"], Kind::Drop),
    (
        &["$.traits.address", "$.batch[*].traits.address"],
        Kind::Redact,
    ),
];

/// Action kinds the bench policies use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tokenize,
    TokenizeEmail,
    Encrypt,
    Mask,
    Redact,
    Drop,
}

fn kid() -> KeyId {
    KeyId::new("k1").expect("key id")
}

pub fn action(kind: Kind) -> Action {
    match kind {
        Kind::Tokenize | Kind::TokenizeEmail => Action::Tokenize(TokenizeAction {
            key: TokenKey::new(kid(), &SecretKey::from_bytes([1; 32])),
            normalize: if kind == Kind::Tokenize {
                Normalize::None
            } else {
                Normalize::Email
            },
            prefix: "tok_".into(),
            rotation: None,
        }),
        Kind::Encrypt => Action::Encrypt(EncryptAction {
            sealer: EnvelopeSealer::new(kid(), &SecretKey::from_bytes([2; 32])),
            domain: "segment".into(),
        }),
        Kind::Mask => Action::Mask(MaskAction { keep_last: 4 }),
        Kind::Redact => Action::Redact(RedactAction {
            replacement: "[REDACTED]".into(),
        }),
        Kind::Drop => Action::Drop,
    }
}

/// Builds a plan from `rules`, mapping each kind through `map` (to swap crypto for a cheap
/// action while keeping the selectors).
pub fn plan(
    rules: &[(&[&str], Kind)],
    map: impl Fn(Kind) -> Kind,
) -> (Vec<(JsonPath, RuleId)>, Plan) {
    let mut paths = Vec::new();
    let mut out = Vec::new();
    for (id, (selectors, kind)) in rules.iter().enumerate() {
        for s in *selectors {
            paths.push((parse(s).expect("selector"), id as RuleId));
        }
        out.push(Rule::new(action(map(*kind))));
    }
    let plan = Plan::new(Automaton::build(&paths).expect("automaton"), out);
    (paths, plan)
}

/// The typical policy with every value action replaced by a constant `redact` (drop stays):
/// the same selection and splicing work, almost no action cost.
pub fn cheap(kind: Kind) -> Kind {
    if kind == Kind::Drop {
        Kind::Drop
    } else {
        Kind::Redact
    }
}

/// `plan` with detection in `mode` (enforce: the default config's `redact` with
/// `[REDACTED:<class>]` per class), and with the request's selected values searched for in
/// the unselected leaves detection found nothing in (each echo redacted as its class) when
/// `echo`.
pub fn detecting_echo(plan: Plan, mode: DetectMode, echo: bool) -> Plan {
    let mut plan = detecting(plan, mode);
    if echo && let Some(detect) = plan.unselected.detect.take() {
        let redact = |c: Option<Class>| {
            Action::Redact(RedactAction {
                replacement: c
                    .map_or_else(
                        || "[REDACTED]".to_owned(),
                        |c| format!("[REDACTED:{}]", c.as_str()),
                    )
                    .into(),
            })
        };
        let scrub = piigate::policy::action::ScrubAction::echoes_only(
            Class::ALL.iter().map(|&c| (c, redact(Some(c)))),
            redact(None),
        );
        let mut policy = Arc::try_unwrap(detect).expect("one owner");
        policy.echo = Some(Action::Scrub(scrub));
        plan.unselected.detect = Some(Arc::new(policy));
    }
    plan
}

/// The plan with detection on in `mode` (enforce: the default action,
/// `[REDACTED:<class>]` per class).
pub fn detecting(mut plan: Plan, mode: DetectMode) -> Plan {
    let actions = match mode {
        DetectMode::Observe => Vec::new(),
        DetectMode::Enforce => Class::ALL
            .iter()
            .map(|c| {
                Action::Redact(RedactAction {
                    replacement: format!("[REDACTED:{}]", c.as_str()).into(),
                })
            })
            .collect(),
    };
    plan.unselected = Unselected {
        detect: Some(Arc::new(DetectPolicy {
            echo: None,
            mode,
            detector: Detector::default(),
            actions,
        })),
        drop: false,
        root: "$".into(),
    };
    plan
}

/// Percent-encodes `value` as a form serialiser does (unreserved bytes kept, space as `+`).
fn form_encode(value: &str, out: &mut String) {
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

/// One hit as gtag.js puts it on a line of its `/g/collect` batch (or a form body): event
/// name, the user's id, email and phone as event parameters, the page, and a few numbers.
fn hit(r: &mut Rng, s: &mut String) {
    let (first, last) = (r.pick(FIRST), r.pick(LAST));
    let _ = write!(s, "en={}&uid=", r.pick(EVENTS).replace(' ', "+"));
    form_encode(&format!("user-{:08x}", r.next() as u32), s);
    s.push_str("&ep.email=");
    form_encode(
        &format!(
            "{}.{}@example.com",
            first.to_lowercase(),
            last.to_lowercase()
        ),
        s,
    );
    s.push_str("&ep.phone=");
    form_encode(&format!("+1 555 {:04}", r.below(10_000)), s);
    s.push_str("&dl=");
    form_encode(
        &format!("https://shop.example.com/p/{}?ref=mail", r.below(100_000)),
        s,
    );
    let _ = write!(
        s,
        "&_et={}&epn.value={}.{:02}&ep.currency=EUR&_s={}",
        r.below(5000),
        r.below(500),
        r.below(100),
        r.below(40)
    );
}

/// A URL-encoded form body of about 1 KB: hits joined by `&` into one form (a Stripe or
/// Mixpanel-style POST carries about this many pairs).
pub fn form_body() -> Vec<u8> {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let mut s = String::new();
    while s.len() < 900 {
        if !s.is_empty() {
            s.push('&');
        }
        hit(&mut r, &mut s);
    }
    s.into_bytes()
}

/// A gtag.js batch of at least `target` bytes: one hit a line, lines joined by CRLF.
pub fn form_lines(target: usize) -> Vec<u8> {
    let mut r = Rng(0xD1B5_4A32_D192_ED03);
    let mut s = String::with_capacity(target + 512);
    while s.len() < target {
        if !s.is_empty() {
            s.push_str("\r\n");
        }
        hit(&mut r, &mut s);
    }
    s.into_bytes()
}

/// NDJSON of at least `target` bytes: one track event a line.
pub fn ndjson(target: usize) -> Vec<u8> {
    let mut r = Rng(0xD1B5_4A32_D192_ED03);
    let mut s = String::with_capacity(target + 2048);
    while s.len() < target {
        event(&mut r, &mut s);
        s.push('\n');
    }
    s.into_bytes()
}

/// Form rules for [`form_body`] and [`form_lines`]: the user id tokenized, the email tokenized
/// as an email, the phone encrypted; each kind mapped through `map` as in [`plan`].
pub fn field_plans(map: impl Fn(Kind) -> Kind) -> FieldPlans {
    let rule = |name: &str, kind: Kind| FieldRule {
        name: name.into(),
        target: FieldTarget::Whole(action(map(kind))),
        class: None,
    };
    FieldPlans {
        form: FieldPlan {
            rules: vec![
                rule("uid", Kind::Tokenize),
                rule("ep.email", Kind::TokenizeEmail),
                rule("ep.phone", Kind::Encrypt),
            ],
            ..FieldPlan::default()
        },
        ..FieldPlans::default()
    }
}
