//! Reference implementation of the rewrite semantics, for differential tests and fuzzing only.
//!
//! It shares nothing with the streaming engine but the actions: parsing and validation are
//! serde_json's, selectors are evaluated directly against each node's path (no automaton), and
//! the tree is rebuilt rather than spliced. It is slow and recursive on purpose — obviously
//! correct beats fast here.
//!
//! Why not plain `serde_json::Value`: a `Value` keeps the last of duplicate keys and rewrites
//! number spellings (`1E6` → `1000000.0`), while the semantics hand actions every duplicate and
//! the exact spelling. So documents are parsed through `&RawValue`, one level at a time, into a
//! [`Node`] tree that keeps member order, duplicates, exact number text and each value's byte
//! span in the input. [`Node::to_value`] gives a `Value` where one is wanted.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::policy::action::ActionError;
use crate::policy::selector::{Axis, JsonPath, Test};
use crate::policy::{Action, Applied, ApplyCx, Leaf, LeafKind, Plan, RuleId};

/// A parsed JSON value that keeps what `serde_json::Value` loses.
#[derive(Debug, Clone)]
pub struct Node {
    /// Byte range of the value in the parsed input (empty for nodes the reference created).
    pub span: (usize, usize),
    /// The value.
    pub kind: Kind,
}

/// The shape of a [`Node`].
#[derive(Debug, Clone)]
pub enum Kind {
    /// Members in input order, duplicates kept.
    Object(Vec<(String, Node)>),
    /// Elements.
    Array(Vec<Node>),
    /// Decoded string.
    String(String),
    /// Exact spelling.
    Number(String),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// Why the reference refused a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefError {
    /// serde_json (or the UTF-8 check before it) refused it.
    Invalid,
    /// Nesting past the limit.
    TooDeep,
    /// An action failed.
    Action(ActionError),
}

/// A leaf an action was applied to, for leak checks.
#[derive(Debug, Clone)]
pub struct Touched {
    /// The text the action saw.
    pub text: String,
    /// The field it saw.
    pub field: String,
    /// The rule applied.
    pub rule: RuleId,
    /// The leaf's byte span in the input.
    pub span: (usize, usize),
    /// The replacement text when the action replaced it.
    pub replacement: Option<String>,
}

/// Result of a reference rewrite.
#[derive(Debug, Clone)]
pub struct RefOutput {
    /// The rewritten document.
    pub doc: Node,
    /// Every leaf an action saw, in document order.
    pub touched: Vec<Touched>,
    /// Whether anything was replaced or dropped.
    pub changed: bool,
    /// How many members, elements or roots were dropped.
    pub dropped: usize,
}

/// Parses `input` (strict RFC 8259 through serde_json) into a [`Node`] tree, refusing nesting
/// deeper than `max_depth`.
///
/// # Errors
/// [`RefError::Invalid`] or [`RefError::TooDeep`].
pub fn parse(input: &[u8], max_depth: usize) -> Result<Node, RefError> {
    let text = std::str::from_utf8(input).map_err(|_| RefError::Invalid)?;
    let raw: &RawValue = serde_json::from_str(text).map_err(|_| RefError::Invalid)?;
    node(text, raw, 0, max_depth)
}

fn node(base: &str, raw: &RawValue, depth: usize, max_depth: usize) -> Result<Node, RefError> {
    let text = raw.get();
    // `raw` borrows from `base`, so its position is the pointer difference.
    let start = text.as_ptr() as usize - base.as_ptr() as usize;
    let span = (start, start + text.len());
    let kind = match text.as_bytes().first() {
        Some(b'{') | Some(b'[') if depth >= max_depth => return Err(RefError::TooDeep),
        Some(b'{') => {
            let Members(members) = serde_json::from_str(text).map_err(|_| RefError::Invalid)?;
            let mut out = Vec::with_capacity(members.len());
            for (k, v) in members {
                out.push((k, node(base, v, depth + 1, max_depth)?));
            }
            Kind::Object(out)
        }
        Some(b'[') => {
            let items: Vec<&RawValue> =
                serde_json::from_str(text).map_err(|_| RefError::Invalid)?;
            let mut out = Vec::with_capacity(items.len());
            for v in items {
                out.push(node(base, v, depth + 1, max_depth)?);
            }
            Kind::Array(out)
        }
        Some(b'"') => Kind::String(serde_json::from_str(text).map_err(|_| RefError::Invalid)?),
        Some(b't') => Kind::Bool(true),
        Some(b'f') => Kind::Bool(false),
        Some(b'n') => Kind::Null,
        _ => Kind::Number(text.to_owned()),
    };
    Ok(Node { span, kind })
}

/// Object members as borrowed raw values, duplicates kept.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    out.push((k, map.next_value::<&'de RawValue>()?));
                }
                Ok(Members(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                Err(serde::de::Error::custom("not an object"))
            }
        }
        d.deserialize_map(V)
    }
}

/// A path label.
#[derive(Debug, Clone)]
enum Label {
    Name(String),
    Index(usize),
}

/// Whether `steps` match the label sequence exactly (RFC 9535 semantics, by backtracking).
fn path_matches(steps: &[crate::policy::selector::Step], labels: &[Label]) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return labels.is_empty();
    };
    let test = |l: &Label| {
        step.tests.iter().any(|t| match (t, l) {
            (Test::Wildcard, _) => true,
            (Test::Name(n), Label::Name(x)) => crate::policy::fold::members_equal(n, x),
            (Test::Index(i), Label::Index(x)) => *i as usize == *x,
            _ => false,
        })
    };
    match step.axis {
        Axis::Child => labels
            .split_first()
            .is_some_and(|(l, tail)| test(l) && path_matches(rest, tail)),
        Axis::Descendant => {
            (0..labels.len()).any(|k| test(&labels[k]) && path_matches(rest, &labels[k + 1..]))
        }
    }
}

/// The rule selecting the node at `labels`, if any: the lowest id among matching selectors.
fn rule_for(paths: &[(JsonPath, RuleId)], labels: &[Label]) -> Option<RuleId> {
    paths
        .iter()
        .filter(|(p, _)| path_matches(&p.steps, labels))
        .map(|(_, r)| *r)
        .min()
}

struct Cx<'r, 'a, 'b> {
    paths: &'r [(JsonPath, RuleId)],
    plan: &'r Plan,
    apply: &'a mut ApplyCx<'b>,
    touched: Vec<Touched>,
    changed: bool,
    dropped: usize,
}

/// Rewrites `input` with the semantics of [`super::rewrite_json`]: `paths` are the selectors
/// (with their rules) the plan's automaton was built from; actions come from `plan`.
///
/// # Errors
/// [`RefError`] when the input is refused or an action fails.
pub fn rewrite(
    input: &[u8],
    paths: &[(JsonPath, RuleId)],
    plan: &Plan,
    max_depth: usize,
    cx: &mut ApplyCx<'_>,
) -> Result<RefOutput, RefError> {
    let doc = parse(input, max_depth)?;
    let mut c = Cx {
        paths,
        plan,
        apply: cx,
        touched: Vec::new(),
        changed: false,
        dropped: 0,
    };
    let mut labels = Vec::new();
    let doc = match visit(&mut c, doc, &mut labels, "")? {
        Some(doc) => doc,
        None => {
            // `drop` on the root: an empty value of the same kind.
            c.changed = true;
            Node {
                span: (0, 0),
                kind: Kind::Null,
            }
        }
    };
    Ok(RefOutput {
        doc,
        touched: c.touched,
        changed: c.changed,
        dropped: c.dropped,
    })
}

/// Visits an unselected node; returns `None` when it is to be removed.
fn visit(
    c: &mut Cx<'_, '_, '_>,
    node: Node,
    labels: &mut Vec<Label>,
    field: &str,
) -> Result<Option<Node>, RefError> {
    if let Some(rule) = rule_for(c.paths, labels) {
        let action = &c.plan.rule(rule).action;
        if action.is_drop() {
            c.changed = true;
            c.dropped += 1;
            if labels.is_empty() {
                let kind = match node.kind {
                    Kind::Object(_) => Kind::Object(Vec::new()),
                    Kind::Array(_) => Kind::Array(Vec::new()),
                    _ => Kind::Null,
                };
                return Ok(Some(Node { span: (0, 0), kind }));
            }
            return Ok(None);
        }
        return apply_all(c, action, rule, node, field);
    }
    let Node { span, kind } = node;
    let kind = match kind {
        Kind::Object(members) => {
            let mut out = Vec::with_capacity(members.len());
            for (k, v) in members {
                labels.push(Label::Name(k.clone()));
                let v = visit(c, v, labels, &k);
                labels.pop();
                if let Some(v) = v? {
                    out.push((k, v));
                }
            }
            Kind::Object(out)
        }
        Kind::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.into_iter().enumerate() {
                labels.push(Label::Index(i));
                let v = visit(c, v, labels, field);
                labels.pop();
                if let Some(v) = v? {
                    out.push(v);
                }
            }
            Kind::Array(out)
        }
        scalar => scalar,
    };
    Ok(Some(Node { span, kind }))
}

/// Applies a value action to every scalar leaf of `node`.
fn apply_all(
    c: &mut Cx<'_, '_, '_>,
    action: &Action,
    rule: RuleId,
    node: Node,
    field: &str,
) -> Result<Option<Node>, RefError> {
    let Node { span, kind } = node;
    let (text, leaf_kind) = match kind {
        Kind::Object(members) => {
            let mut out = Vec::new();
            for (k, v) in members {
                if let Some(v) = apply_all(c, action, rule, v, &k)? {
                    out.push((k, v));
                }
            }
            return Ok(Some(Node {
                span,
                kind: Kind::Object(out),
            }));
        }
        Kind::Array(items) => {
            let mut out = Vec::new();
            for v in items {
                if let Some(v) = apply_all(c, action, rule, v, field)? {
                    out.push(v);
                }
            }
            return Ok(Some(Node {
                span,
                kind: Kind::Array(out),
            }));
        }
        Kind::Null => {
            return Ok(Some(Node {
                span,
                kind: Kind::Null,
            }));
        }
        Kind::String(s) => (s, LeafKind::String),
        Kind::Number(n) => (n, LeafKind::Number),
        Kind::Bool(b) => (b.to_string(), LeafKind::Bool),
    };
    let leaf = Leaf {
        text: &text,
        kind: leaf_kind,
        field,
    };
    let mut repl = Vec::new();
    let applied = action
        .apply(&leaf, c.apply, &mut repl)
        .map_err(RefError::Action)?;
    let replacement =
        (applied == Applied::Replaced).then(|| String::from_utf8_lossy(&repl).into_owned());
    c.touched.push(Touched {
        text: text.clone(),
        field: field.to_owned(),
        rule,
        span,
        replacement: replacement.clone(),
    });
    match applied {
        Applied::Kept => {
            let kind = match leaf_kind {
                LeafKind::String => Kind::String(text),
                LeafKind::Number => Kind::Number(text),
                LeafKind::Bool => Kind::Bool(text == "true"),
            };
            Ok(Some(Node { span, kind }))
        }
        Applied::Replaced => {
            c.changed = true;
            Ok(Some(Node {
                span,
                kind: Kind::String(replacement.unwrap_or_default()),
            }))
        }
        Applied::Dropped => {
            c.changed = true;
            c.dropped += 1;
            Ok(None)
        }
    }
}

// === impl Node ===

impl Node {
    /// Structural equality ignoring spans: member order, duplicates, decoded strings and exact
    /// number spellings all count.
    pub fn same(&self, other: &Self) -> bool {
        match (&self.kind, &other.kind) {
            (Kind::Object(a), Kind::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, va), (kb, vb))| ka == kb && va.same(vb))
            }
            (Kind::Array(a), Kind::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
            }
            (Kind::String(a), Kind::String(b)) | (Kind::Number(a), Kind::Number(b)) => a == b,
            (Kind::Bool(a), Kind::Bool(b)) => a == b,
            (Kind::Null, Kind::Null) => true,
            _ => false,
        }
    }

    /// Every string in the tree, keys included, decoded.
    pub fn strings(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut todo = vec![self];
        while let Some(n) = todo.pop() {
            match &n.kind {
                Kind::Object(m) => {
                    for (k, v) in m {
                        out.push(k.as_str());
                        todo.push(v);
                    }
                }
                Kind::Array(items) => todo.extend(items),
                Kind::String(s) | Kind::Number(s) => out.push(s),
                Kind::Bool(_) | Kind::Null => {}
            }
        }
        out
    }

    /// Compact JSON text (serde_json's string escaping; numbers as spelled).
    pub(crate) fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        let quote = |s: &str, out: &mut String| {
            out.push_str(&serde_json::to_string(s).unwrap_or_default());
        };
        match &self.kind {
            Kind::Object(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    quote(k, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
            Kind::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            Kind::String(s) => quote(s, out),
            Kind::Number(n) => out.push_str(n),
            Kind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Kind::Null => out.push_str("null"),
        }
    }

    /// The `serde_json::Value` of this tree (last duplicate wins, numbers normalised).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.to_json()).unwrap_or(serde_json::Value::Null)
    }
}

// === differential check ===

/// What the streaming engine and the reference agreed on.
#[derive(Debug)]
pub struct Agreed {
    /// The reference's result.
    pub reference: RefOutput,
    /// The streaming engine's output document (the input itself when unchanged).
    pub output: Vec<u8>,
    /// Whether the engine reported [`crate::rewrite::Outcome::Rewritten`].
    pub rewritten: bool,
}

/// Runs the streaming engine and the reference on the same input and checks that they agree:
///
/// - both accept or both refuse;
/// - `Unchanged` exactly when the reference changed nothing;
/// - the output parses to the same tree as the reference's (order, duplicates, decoded
///   strings, exact number spellings);
/// - bytes outside selected values are the input's: with no drop the output is exactly the
///   input with each replaced leaf's span swapped for its JSON-encoded replacement; with drops
///   it is a subsequence of that.
///
/// `nonces` makes a fresh nonce source for each side; give both the same deterministic
/// sequence so encrypted values compare byte for byte.
///
/// Returns `Ok(None)` when both refused.
///
/// # Errors
/// A description of the first disagreement (it may quote the test input, never real data).
pub fn differential(
    input: &[u8],
    paths: &[(JsonPath, RuleId)],
    plan: &Plan,
    limits: &crate::rewrite::Limits,
    nonces: &mut dyn FnMut() -> Box<dyn crate::crypto::NonceSource>,
) -> Result<Option<Agreed>, String> {
    use crate::rewrite::{Outcome, json::rewrite_json};

    let mut engine_nonces = nonces();
    let mut out = Vec::new();
    let engine = {
        let mut cx = ApplyCx::new(engine_nonces.as_mut());
        rewrite_json(input, plan, limits, &mut cx, &mut out)
    };
    let mut ref_nonces = nonces();
    let reference = {
        let mut cx = ApplyCx::new(ref_nonces.as_mut());
        rewrite(input, paths, plan, limits.max_depth, &mut cx)
    };
    let (outcome, reference) = match (engine, reference) {
        (Err(_), Err(_)) => return Ok(None),
        (Ok(o), Ok(r)) => (o, r),
        (e, r) => return Err(format!("acceptance differs: engine {e:?}, reference {r:?}")),
    };
    let rewritten = outcome == Outcome::Rewritten;
    if rewritten != reference.changed {
        return Err(format!(
            "engine says {outcome:?}, reference changed = {}",
            reference.changed
        ));
    }
    if !rewritten {
        if !out.is_empty() {
            return Err("Unchanged but out was written".into());
        }
        out.extend_from_slice(input);
    }
    let parsed = parse(&out, usize::MAX).map_err(|e| {
        format!(
            "engine output does not parse ({e:?}): {}",
            String::from_utf8_lossy(&out)
        )
    })?;
    if !parsed.same(&reference.doc) {
        return Err(format!(
            "trees differ:\n engine:    {}\n reference: {}",
            parsed.to_json(),
            reference.doc.to_json()
        ));
    }
    let mut expected = Vec::with_capacity(input.len());
    let mut at = 0;
    let mut edits: Vec<&Touched> = reference
        .touched
        .iter()
        .filter(|t| t.replacement.is_some())
        .collect();
    edits.sort_by_key(|t| t.span.0);
    for t in edits {
        expected.extend_from_slice(&input[at..t.span.0]);
        let text = t.replacement.as_deref().unwrap_or_default();
        expected.extend_from_slice(serde_json::to_string(text).unwrap_or_default().as_bytes());
        at = t.span.1;
    }
    expected.extend_from_slice(&input[at..]);
    // A dropped root is replaced by `null`/`{}`/`[]` (a node with an empty span): nothing
    // of the input is left to compare.
    let root_dropped = reference.doc.span == (0, 0);
    let faithful = if root_dropped {
        true
    } else if reference.dropped == 0 {
        out == expected
    } else {
        is_subsequence(&out, &expected)
    };
    if !faithful {
        return Err(format!(
            "bytes outside selected values changed:\n engine:   {}\n expected: {}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&expected)
        ));
    }
    Ok(Some(Agreed {
        reference,
        output: out,
        rewritten,
    }))
}

fn is_subsequence(small: &[u8], big: &[u8]) -> bool {
    let mut it = big.iter();
    small.iter().all(|b| it.any(|c| c == b))
}
