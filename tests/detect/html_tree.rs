//! Scrubbed HTML read by a browser's parser: html5ever (Servo's HTML5 tokenizer and tree
//! builder, the WHATWG algorithm) parses each mail body before and after scrubbing, and the
//! two documents must have the same element tree — the same elements with the same attribute
//! names in the same nesting, the same comments and doctype — with only text and attribute
//! values changed. The replacement is full of markup (`<`, `>`, quotes, `&`, `=`, `-->`), so a
//! span encoded for the wrong context shows up as a different tree.
//!
//! The segmenter's own structure check (`spans::check`) compares the document with itself as
//! the segmenter reads it; this one asks an independent parser.

use std::borrow::Cow;
use std::cell::RefCell;

use html5ever::interface::{ElemName, ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::{Attribute, LocalName, Namespace, QualName, parse_document};
use piigate::detect::spans::{Replacement, SpanScanner, TextKind};
use proptest::prelude::*;

/// A replacement that breaks every context it is not encoded for.
const NASTY: &str = "<b x=\"y\" z='w'>&amp; a=b `c` -->]]></b><!--";

/// One node of a parsed document.
#[derive(Debug)]
struct Node {
    data: Data,
    parent: Option<usize>,
    children: Vec<usize>,
}

#[derive(Debug)]
enum Data {
    Document,
    Doctype(String),
    Element {
        name: QualName,
        attrs: Vec<Attribute>,
        /// A `template`'s contents (a separate fragment).
        contents: Option<usize>,
    },
    Text(String),
    Comment(String),
    Pi(String),
}

/// An element's name, owned (the arena is behind a `RefCell`, so no borrow of it can outlive
/// the call).
#[derive(Debug)]
struct Name(QualName);

impl ElemName for Name {
    fn ns(&self) -> &Namespace {
        &self.0.ns
    }

    fn local_name(&self) -> &LocalName {
        &self.0.local
    }
}

/// A minimal DOM for html5ever's tree builder: nodes in an arena, handles are indices.
#[derive(Default)]
struct Arena {
    nodes: RefCell<Vec<Node>>,
}

impl Arena {
    fn new() -> Self {
        let a = Self::default();
        a.push(Data::Document);
        a
    }

    fn push(&self, data: Data) -> usize {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node {
            data,
            parent: None,
            children: Vec::new(),
        });
        nodes.len() - 1
    }

    fn detach(&self, child: usize) {
        let mut nodes = self.nodes.borrow_mut();
        if let Some(p) = nodes[child].parent.take() {
            nodes[p].children.retain(|&c| c != child);
        }
    }

    /// Inserts `child` into `parent` at `at` (the end when `None`), merging text into an
    /// adjacent text node as a DOM does.
    fn insert(&self, parent: usize, at: Option<usize>, child: NodeOrText<usize>) {
        let node = match child {
            NodeOrText::AppendText(t) => {
                let mut nodes = self.nodes.borrow_mut();
                let at = at.unwrap_or(nodes[parent].children.len());
                if at > 0 {
                    let prev = nodes[parent].children[at - 1];
                    if let Data::Text(s) = &mut nodes[prev].data {
                        s.push_str(&t);
                        return;
                    }
                }
                drop(nodes);
                self.push(Data::Text(t.to_string()))
            }
            NodeOrText::AppendNode(n) => {
                self.detach(n);
                n
            }
        };
        let mut nodes = self.nodes.borrow_mut();
        let at = at.unwrap_or(nodes[parent].children.len());
        nodes[parent].children.insert(at, node);
        nodes[node].parent = Some(parent);
    }

    /// The tree as lines: one per node, indented by depth, with values masked when `values`
    /// is false.
    fn render(&self, values: bool) -> Vec<String> {
        let mut out = Vec::new();
        self.render_node(0, 0, values, &mut out);
        out
    }

    fn render_node(&self, n: usize, depth: usize, values: bool, out: &mut Vec<String>) {
        let nodes = self.nodes.borrow();
        let pad = "  ".repeat(depth);
        let v = |s: &str| {
            if values {
                s.to_owned()
            } else {
                "…".to_owned()
            }
        };
        let (line, contents) = match &nodes[n].data {
            Data::Document => ("#document".to_owned(), None),
            Data::Doctype(name) => (format!("<!DOCTYPE {name}>"), None),
            Data::Element {
                name,
                attrs,
                contents,
            } => {
                let attrs: Vec<String> = attrs
                    .iter()
                    .map(|a| format!("{}:{}={:?}", &*a.name.ns, &*a.name.local, v(&a.value)))
                    .collect();
                (
                    format!("<{}:{} {}>", &*name.ns, &*name.local, attrs.join(" ")),
                    *contents,
                )
            }
            Data::Text(t) => (format!("#text {:?}", v(t)), None),
            Data::Comment(t) => (format!("<!-- {:?} -->", v(t)), None),
            Data::Pi(t) => (format!("<?{t}>"), None),
        };
        out.push(format!("{pad}{line}"));
        let children = nodes[n].children.clone();
        drop(nodes);
        if let Some(c) = contents {
            self.render_node(c, depth + 1, values, out);
        }
        for c in children {
            self.render_node(c, depth + 1, values, out);
        }
    }
}

impl TreeSink for Arena {
    type Handle = usize;
    type Output = Self;
    type ElemName<'a> = Name;

    fn finish(self) -> Self {
        self
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> usize {
        0
    }

    fn elem_name<'a>(&'a self, target: &'a usize) -> Name {
        match &self.nodes.borrow()[*target].data {
            Data::Element { name, .. } => Name(name.clone()),
            _ => panic!("not an element"),
        }
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> usize {
        let contents = flags.template.then(|| self.push(Data::Document));
        self.push(Data::Element {
            name,
            attrs,
            contents,
        })
    }

    fn create_comment(&self, text: StrTendril) -> usize {
        self.push(Data::Comment(text.to_string()))
    }

    fn create_pi(&self, target: StrTendril, data: StrTendril) -> usize {
        self.push(Data::Pi(format!("{target} {data}")))
    }

    fn append(&self, parent: &usize, child: NodeOrText<usize>) {
        self.insert(*parent, None, child);
    }

    fn append_based_on_parent_node(
        &self,
        element: &usize,
        prev_element: &usize,
        child: NodeOrText<usize>,
    ) {
        if self.nodes.borrow()[*element].parent.is_some() {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn append_doctype_to_document(
        &self,
        name: StrTendril,
        _public: StrTendril,
        _system: StrTendril,
    ) {
        let d = self.push(Data::Doctype(name.to_string()));
        self.insert(0, None, NodeOrText::AppendNode(d));
    }

    fn get_template_contents(&self, target: &usize) -> usize {
        match &self.nodes.borrow()[*target].data {
            Data::Element {
                contents: Some(c), ..
            } => *c,
            _ => panic!("not a template"),
        }
    }

    fn same_node(&self, x: &usize, y: &usize) -> bool {
        x == y
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, sibling: &usize, new_node: NodeOrText<usize>) {
        let (parent, at) = {
            let nodes = self.nodes.borrow();
            let parent = nodes[*sibling].parent.expect("sibling has a parent");
            let at = nodes[parent]
                .children
                .iter()
                .position(|c| c == sibling)
                .expect("sibling is a child");
            (parent, at)
        };
        self.insert(parent, Some(at), new_node);
    }

    fn add_attrs_if_missing(&self, target: &usize, attrs: Vec<Attribute>) {
        let mut nodes = self.nodes.borrow_mut();
        if let Data::Element { attrs: have, .. } = &mut nodes[*target].data {
            for a in attrs {
                if !have.iter().any(|h| h.name == a.name) {
                    have.push(a);
                }
            }
        }
    }

    fn remove_from_parent(&self, target: &usize) {
        self.detach(*target);
    }

    fn reparent_children(&self, node: &usize, new_parent: &usize) {
        let mut nodes = self.nodes.borrow_mut();
        let children = std::mem::take(&mut nodes[*node].children);
        for &c in &children {
            nodes[c].parent = Some(*new_parent);
        }
        nodes[*new_parent].children.extend(children);
    }
}

/// The document html5ever builds from `html`, as lines (values masked or not).
fn tree(html: &str, values: bool) -> Vec<String> {
    parse_document(Arena::new(), Default::default())
        .one(html)
        .render(values)
}

/// What a reader of `html` reads, as a browser parses it: the document's text (every text
/// node in document order, so words split by inline markup such as `<wbr>` or `<b>` read
/// whole), each attribute value and each comment.
pub(crate) fn readings(html: &str) -> Vec<String> {
    let arena = parse_document(Arena::new(), Default::default()).one(html);
    let nodes = arena.nodes.borrow();
    let mut text = String::new();
    let mut out = Vec::new();
    for node in nodes.iter() {
        match &node.data {
            Data::Element { attrs, .. } => out.extend(attrs.iter().map(|a| a.value.to_string())),
            Data::Comment(t) => out.push(t.clone()),
            _ => {}
        }
    }
    let mut stack = vec![0];
    while let Some(n) = stack.pop() {
        if let Data::Text(t) = &nodes[n].data {
            text.push_str(t);
        }
        if let Data::Element {
            contents: Some(c), ..
        } = &nodes[n].data
        {
            stack.push(*c);
        }
        stack.extend(nodes[n].children.iter().rev());
    }
    out.push(text);
    out
}

/// The text of each text node of `html` on its own, as a browser parses it: what a script
/// reads out of a `<script>` element (a JSON-LD block is parsed from exactly this).
pub(crate) fn text_nodes(html: &str) -> Vec<String> {
    let arena = parse_document(Arena::new(), Default::default()).one(html);
    let nodes = arena.nodes.borrow();
    nodes
        .iter()
        .filter_map(|n| match &n.data {
            Data::Text(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// `html` with every span replaced by [`NASTY`]; `None` when nothing was found.
fn scrubbed(scanner: &SpanScanner, html: &str) -> Option<String> {
    let mut out = Vec::new();
    let done = scanner
        .scrub(
            html,
            TextKind::Html,
            None,
            |_, buf| {
                buf.extend_from_slice(NASTY.as_bytes());
                Ok::<_, ()>(Replacement::Replaced)
            },
            &mut out,
        )
        .expect("infallible");
    (done.replaced > 0).then(|| String::from_utf8(out).expect("UTF-8 in, UTF-8 out"))
}

/// Panics, with both trees, unless scrubbing `html` keeps its element tree.
fn same_tree(scanner: &SpanScanner, html: &str) -> bool {
    let Some(out) = scrubbed(scanner, html) else {
        return false;
    };
    let (before, after) = (tree(html, false), tree(&out, false));
    if before != after {
        let first = before
            .iter()
            .zip(&after)
            .position(|(a, b)| a != b)
            .unwrap_or(before.len().min(after.len()));
        panic!(
            "scrubbing changed the element tree at node {first}:\n  before: {:?}\n  after:  {:?}\ninput:  {html:?}\noutput: {out:?}",
            before.get(first),
            after.get(first),
        );
    }
    // The values did change: the replacement is somewhere in the parsed document.
    assert_ne!(tree(html, true), tree(&out, true), "{html:?}");
    true
}

/// An end tag whose attribute has no value (`</b a=>`) ends at its first `>` for a browser; what
/// follows is text, so a replacement there that writes quotes cannot make the tag run on.
#[test]
fn an_end_tag_with_an_attribute_without_a_value_keeps_the_tree_when_scrubbed() {
    let scanner = SpanScanner::default();
    for html in [
        "<p><b>x</b a=>call 10.0.0.5 or write alice@example.com</p><p title=\"t\">y</p>",
        "<p>x</p q=>alice@example.com \"</p><i>z</i>",
    ] {
        assert!(same_tree(&scanner, html), "{html}");
    }
}

/// An iframe's `srcdoc` is a document of its own, parsed after the attribute is decoded: with
/// the address in it escaped once more (`&amp;#64;`), scrubbing replaces it, and both the outer
/// document and the one inside keep their element trees whatever the replacement holds.
#[test]
fn a_srcdoc_document_keeps_its_element_tree_when_scrubbed() {
    let scanner = SpanScanner::default();
    for html in [
        "<iframe srcdoc=\"&lt;p&gt;Hi alice&amp;#64;example.com&lt;/p&gt;&lt;p title=&quot;alice&amp;commat;example.com&quot;&gt;x&lt;/p&gt;\"></iframe>",
        "<iframe srcdoc='&lt;a href=\"mailto:alice&amp;#x40;example.com\"&gt;mail&lt;/a&gt;'></iframe><p>after</p>",
    ] {
        assert!(same_tree(&scanner, html), "{html}");
        let out = scrubbed(&scanner, html).expect("scrubbed");
        let inner = |doc: &str| {
            readings(doc)
                .into_iter()
                .find(|a| a.contains('<'))
                .expect("the srcdoc document")
        };
        let (before, after) = (inner(html), inner(&out));
        let read = |doc: &str| readings(doc).join("\n");
        assert!(read(&before).contains("alice@example.com"), "{before}");
        assert!(!read(&after).contains("alice"), "{after}");
        assert_eq!(tree(&before, false), tree(&after, false), "{out}");
    }
}

#[test]
fn html_mails_of_the_span_corpus_keep_their_element_tree() {
    let scanner = SpanScanner::default();
    let mut mails = 0;
    let mut scrubbed = 0;
    for line in super::spans::CORPUS.lines() {
        let r: super::span_score::Record = serde_json::from_str(line).expect("corpus record");
        if r.kind != "html" {
            continue;
        }
        mails += 1;
        scrubbed += usize::from(same_tree(&scanner, &r.text));
    }
    assert!(mails >= 400, "{mails} HTML items");
    assert!(scrubbed * 10 >= mails * 9, "{scrubbed} of {mails} scrubbed");
}

/// Markup as mail templates write it, and as people and broken tools do.
const MARKUP: &[&str] = &[
    "<p>",
    "</p>",
    "<br/>",
    "<br>",
    "<table><tr><td width=600>",
    "</td></tr></table>",
    "<td style=\"padding:8px 0;color:#333\">",
    "<a href=\"https://t.example/c?e=bob%40example.org&amp;u=7\">",
    "<a href='mailto:alice@example.com'>",
    "<a href=mailto:alice@example.com>",
    "</a>",
    "<img alt=\"Alice 0300-1234567\" src=x.png>",
    "<img alt='4111 1111 1111 1111'/>",
    "<input value=alice@example.com type=text>",
    "<div title=\"DE89 3704 0044 0532 0130 00\" data-x=1>",
    "</div>",
    "<!-- 203.0.113.9 -->",
    "<!-- alice@example.com --!>",
    "<!-->",
    "<!--->",
    "<!---->",
    "<![CDATA[ 203.0.113.9 ]]>",
    "<!DOCTYPE html>",
    "<?xml version=\"1.0\"?>",
    "<script>var e='alice@example.com';</script>",
    "<style>p{font-size:14px} a[href*=\"alice@example.com\"]{}</style>",
    "<title>Order for alice@example.com</title>",
    "<textarea>0300 1234567</textarea>",
    "<svg><text>alice@example.com</text></svg>",
    "<svg><![CDATA[ 4111 1111 1111 1111 ]]></svg>",
    "<ul><li>one<li>two</ul>",
    "<b><i>x</b></i>",
    "</ x>",
    "<a title=x'y>",
    "<span class=a\"b>",
    "<iframe srcdoc=\"&lt;p&gt;alice&amp;#64;example.com &lt;b&gt;x&lt;/b&gt;&lt;/p&gt;\"></iframe>",
    "<script type=\"application/ld+json\">{\"email\":\"alice\\u0040example.com\"}</script>",
    "<a href=\"https://t.example/c?u=YWxpY2VAZXhhbXBsZS5jb20%3D&amp;n=1\">",
];

/// Personal data, some written escaped.
const PII: &[&str] = &[
    "alice@example.com",
    "alice&#64;example.com",
    "bob%40example.org",
    "0300-1234567",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "DE89 3704 0044 0532 0130 00",
    "203.0.113.9",
    "2001:db8::1",
    "536-22-8726",
    "742 Evergreen Terrace",
    "0300&nbsp;1234567",
];

/// Text around them, including the bytes that matter to a tokenizer. A `<` is never followed
/// by a letter here: a browser reads `<alice@example.com>` as a tag named by the address, and
/// replacing the address renames the tag (that is the point); the comparison stays exact by
/// keeping names out of the way (the segmenter's unit tests cover that reading).
const FILLER: &[&str] = &[
    "Hello",
    " ",
    "\n",
    "the order",
    "&amp;",
    "&",
    "< ",
    ">",
    "\"",
    "'",
    "=",
    "-",
    "--",
    "/",
    "é",
    "12",
    "$19.99",
    "1 < 2",
    "a > b",
];

fn html() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(FILLER).prop_map(str::to_owned),
            2 => prop::sample::select(PII).prop_map(|p| format!(" {p} ")),
            3 => prop::sample::select(MARKUP).prop_map(str::to_owned),
            // A value of personal data inside an attribute, quoted each way.
            1 => (prop::sample::select(PII), prop::sample::select(&["\"", "'", ""][..]))
                .prop_map(|(p, q)| {
                    let p = if q.is_empty() { p.replace(' ', "") } else { p.to_owned() };
                    format!("<span title={q}{p}{q} class=x>")
                }),
        ],
        1..30,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    // 256 cases in CI; `PROPTEST_CASES=100000` for a longer hunt.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    /// Any mix of markup, text and personal data keeps its element tree when scrubbed.
    #[test]
    fn generated_html_keeps_its_element_tree(doc in html()) {
        same_tree(&SpanScanner::default(), &doc);
    }
}
