//! Member names that are personal data, on routes with detection.
//!
//! A map keyed by the person (`{"by_email": {"alice@example.com": 3}}`, scores per user id,
//! counts per phone) puts the value where detection, which reads values, never looked: the
//! name leaves in clear while everything around it is policed. So on a route with `detect`,
//! every member name of an object the walk reads (unselected, or inside what a rule other than
//! `keep` selects) is classified as a value would be, and looked up in the request's selected
//! values where leaves are. A name that is data takes its member with it in `enforce` (counted
//! `dropped` under its class) and is counted `clear` in `observe`. Why the member goes rather
//! than the name being tokenized: ARCHITECTURE.md, 2026-12-06.
//!
//! The classification is remembered per distinct name for the request
//! ([`HintCache::name_class`]), so a batch that repeats the same field names pays a cache
//! lookup per member. Echoes: in the one pass the selected values are not all known until
//! the end, so names are noted and looked up in the fill-in; one that echoes sends the
//! document to the two passes, whose second looks names up as it meets them.

use super::{Key, Mode, Next, Walker, decoded, malformed, own_seg, scan};
use crate::detect::Class;
use crate::policy::names::HintCache;
use crate::policy::{ActionKind, DetectMode, DetectPolicy, EchoCounts};
use crate::rewrite::RewriteError;

/// What a member name turned out to be.
#[derive(Clone, Copy)]
enum Verdict {
    /// A value of this class.
    Class(Class),
    /// A value the request's rules select, recurring here.
    Echo(EchoCounts),
}

impl<'p> Walker<'_, 'p, '_, '_, '_> {
    /// Polices the name of the top frame's member at `key`, whose value starts at `value_at`:
    /// `Some` when the member was dropped for its name (the walk continues after it).
    #[inline]
    pub(super) fn police_name(
        &mut self,
        detect: &'p DetectPolicy,
        key: Key,
        value_at: usize,
    ) -> Result<Option<Next>, RewriteError> {
        match self.top.mode {
            Mode::Live(_) | Mode::Scan => {}
            Mode::Selected(rule) if self.plan.rule(rule).action.kind() != ActionKind::Keep => {}
            // Nothing of a dropped subtree is written; what a `keep` selects is declared.
            Mode::Selected(_) | Mode::Dropped | Mode::Wrapped(_) => return Ok(None),
        }
        // The collecting pass reads what rules select, nothing else.
        if self.cx.collecting() {
            return Ok(None);
        }
        let Some(verdict) = self.name_verdict(detect, key)? else {
            return Ok(None);
        };
        self.name_found(detect, key, verdict, value_at)
    }

    /// What `key` is, if it is data; `None` also when it is left for the fill-in.
    fn name_verdict(
        &mut self,
        detect: &'p DetectPolicy,
        key: Key,
    ) -> Result<Option<Verdict>, RewriteError> {
        let input = self.input;
        let raw = &input[key.start..key.end];
        let name: &[u8] = if key.escaped {
            self.bufs.key.clear();
            super::escape::decode_into(raw, &mut self.bufs.key);
            &self.bufs.key
        } else {
            raw
        };
        let class = self
            .cx
            .hints
            .get_or_insert_with(HintCache::new)
            .name_class(&detect.detector, name)
            .ok_or_else(|| malformed(key.start, "invalid UTF-8"))?;
        if let Some(class) = class {
            return Ok(Some(Verdict::Class(class)));
        }
        if !detect.echoes_in_leaves() {
            return Ok(None);
        }
        // Each distinct name once per walk: the selected values do not change during it.
        let hints = self.cx.hints.get_or_insert_with(HintCache::new);
        let seen = hints.seen_in_walk(&detect.detector, name);
        if let Some(later) = self.deferred.as_mut() {
            if seen.is_none() {
                later.names.push(key);
            }
            return Ok(None);
        }
        if seen == Some(false) {
            return Ok(None);
        }
        // Checked by `name_class` above.
        let text = std::str::from_utf8(name).map_err(|_| malformed(key.start, "invalid UTF-8"))?;
        let counts = detect.echoes_in(text, self.cx);
        if counts.is_some()
            && let Some(hints) = self.cx.hints.as_mut()
        {
            hints.echoed_in_walk(name);
        }
        Ok(counts.map(Verdict::Echo))
    }

    /// Counts the member whose name is data under its path and, in `enforce`, drops it.
    #[cold]
    #[inline(never)]
    fn name_found(
        &mut self,
        detect: &'p DetectPolicy,
        key: Key,
        verdict: Verdict,
        value_at: usize,
    ) -> Result<Option<Next>, RewriteError> {
        let own = own_seg(self.depth, true, Some(key));
        let segs = std::mem::take(&mut self.segs);
        let recorded = match verdict {
            Verdict::Class(class) => self.record_segs(detect, &segs, own, class),
            Verdict::Echo(counts) => counts
                .classes()
                .try_for_each(|class| self.record_segs(detect, &segs, own, class)),
        };
        self.segs = segs;
        recorded?;
        // The value's class, for the ledger; an echo of a rule without one has none.
        let class = match verdict {
            Verdict::Class(class) => Some(class),
            Verdict::Echo(counts) => counts.spans().next().flatten(),
        };
        if detect.mode == DetectMode::Observe {
            self.cx.observe_value(class);
            return Ok(None);
        }
        self.top.dropping = true;
        self.cx.withhold(class);
        let end = scan::skip_value(
            self.input,
            value_at,
            self.depth,
            self.max_depth,
            &mut self.kinds,
        )?;
        Ok(Some(Next::Skipped(end)))
    }

    /// The fill-in's look at the names the one pass noted, now that every selected value is
    /// known: whether one of them echoes one (the document must then be redone in two
    /// passes, where names are looked up as they are met).
    pub(super) fn names_echo(
        &mut self,
        detect: &DetectPolicy,
        names: &[Key],
    ) -> Result<bool, RewriteError> {
        let input = self.input;
        for key in names {
            let name = decoded(&input[key.start..key.end], key.escaped, &mut self.bufs.seg)
                .ok_or_else(|| malformed(key.start, "invalid UTF-8"))?;
            if detect.echoes_in(name, self.cx).is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
