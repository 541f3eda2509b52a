//! What one request disclosed: per-request tallies for the disclosure ledger.
//!
//! The ledger records, per recipient, *which category* of personal data left and *how*
//! (`clear`, `tokenized`, …). The rewriter knows both at each leaf: the rule (or detected class)
//! gives the class, hence the CCPA category; the action and what it did give the
//! [`Treatment`]. Counting per rule id would not do — a route has several plans (body, each
//! JSON-in-field plan, forms, query, headers) with their own rule ids — so the rewriter counts
//! straight into the ledger's cells: a [`DisclosureTally`] of (category, treatment) counters,
//! a fixed array with no allocation. Fields found by detection are counted per normalised path
//! and class in a [`FieldTally`], which allocates once per *distinct* path per request and is
//! capped ([`MAX_REQUEST_PATHS`]).
//!
//! The service turns both into ledger records once per request.

use std::collections::HashMap;

use crate::detect::{Category, Class};

/// Distinct field paths one request may add; further paths are counted under
/// [`OTHER_PATHS`]. Bounds the allocation a hostile payload (a million distinct keys) can cause.
pub const MAX_REQUEST_PATHS: usize = 256;

/// Longest field path recorded, in bytes; a deeper or longer path is counted under
/// [`OTHER_PATHS`].
pub const MAX_PATH_BYTES: usize = 256;

/// The path that stands for "a path past a cap". The ledger uses the same label for its
/// per-route cap.
pub const OTHER_PATHS: &str = "(other paths)";

/// The ledger's label for values whose rule names no class and whose selector does not say.
pub const UNCLASSIFIED: &str = "unclassified";

/// How a value left the gateway, as the ledger records it. Variants in the order the report
/// lists them, from most to least revealing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Treatment {
    /// Forwarded as it came (a `keep` rule, or detection in `observe` mode).
    Clear,
    /// `tokenize`.
    Tokenized,
    /// `encrypt`, `encrypt_deterministic`, `fpe`.
    Encrypted,
    /// `hash`.
    Hashed,
    /// `mask`.
    Masked,
    /// `generalize`.
    Generalized,
    /// `redact`.
    Redacted,
    /// `drop`, allow-list mode, or a `hash`/`generalize` that could not read the value.
    Dropped,
}

/// Per-request counts per (CCPA category or unclassified, treatment). No allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisclosureTally {
    counts: [[u32; Treatment::COUNT]; CATEGORY_SLOTS],
    /// Bit [`DisclosureTally::cell`] set for every cell counted above zero: a request uses a
    /// handful of the 96 cells, and the ledger visits only those.
    used: u128,
}

/// Fields detection found in one request: normalised path → count per class.
#[derive(Debug, Default, Clone)]
pub struct FieldTally {
    paths: HashMap<Box<str>, [u32; Class::COUNT]>,
    other: [u32; Class::COUNT],
    per_class: [u32; Class::COUNT],
}

/// Category slots: the eleven CCPA categories, then "unclassified".
const CATEGORY_SLOTS: usize = Category::ALL.len() + 1;

// Every cell has its bit in `DisclosureTally::used`.
const _: () = assert!(DisclosureTally::CELLS <= u128::BITS as usize);

// === impl Treatment ===

impl Treatment {
    /// Number of treatments.
    pub const COUNT: usize = 8;
    /// Every treatment, in index order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Clear,
        Self::Tokenized,
        Self::Encrypted,
        Self::Hashed,
        Self::Masked,
        Self::Generalized,
        Self::Redacted,
        Self::Dropped,
    ];

    /// Stable label: the ledger's `treatment` column.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Clear => "clear",
            Self::Tokenized => "tokenized",
            Self::Encrypted => "encrypted",
            Self::Hashed => "hashed",
            Self::Masked => "masked",
            Self::Generalized => "generalized",
            Self::Redacted => "redacted",
            Self::Dropped => "dropped",
        }
    }

    /// Whether the value reached the recipient in some form (redacted and dropped values did
    /// not). Pseudonymised, encrypted, masked and generalised values still count: they remain
    /// personal information of the person for the report.
    pub(crate) const fn discloses(self) -> bool {
        !matches!(self, Self::Redacted | Self::Dropped)
    }

    /// Parses [`Treatment::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// The ledger's category label of a class: [`Category::as_str`], or [`UNCLASSIFIED`].
pub fn category_label(class: Option<Class>) -> &'static str {
    class.map_or(UNCLASSIFIED, |c| c.category().as_str())
}

// === impl DisclosureTally ===

impl Default for DisclosureTally {
    fn default() -> Self {
        Self {
            counts: [[0; Treatment::COUNT]; CATEGORY_SLOTS],
            used: 0,
        }
    }
}

impl DisclosureTally {
    /// Number of cells: every (category or unclassified, treatment) pair.
    pub const CELLS: usize = CATEGORY_SLOTS * Treatment::COUNT;

    /// The cell's index in `0..CELLS`: what [`DisclosureTally::counted`] yields and
    /// [`DisclosureTally::cell_labels`] reads back.
    const fn cell(slot: usize, t: Treatment) -> usize {
        slot * Treatment::COUNT + t as usize
    }

    /// The (category label, treatment) of a cell index from [`DisclosureTally::counted`].
    pub fn cell_labels(cell: usize) -> (&'static str, Treatment) {
        let label = Category::ALL
            .get(cell / Treatment::COUNT)
            .map_or(UNCLASSIFIED, |c| c.as_str());
        (label, Treatment::ALL[cell % Treatment::COUNT])
    }

    /// Counts one value of `class` (`None`: unclassified) treated as `t`.
    #[inline]
    pub(crate) fn bump(&mut self, class: Option<Class>, t: Treatment) {
        self.add(class, t, 1);
    }

    /// Counts `n` values.
    #[inline]
    pub fn add(&mut self, class: Option<Class>, t: Treatment, n: u32) {
        if n == 0 {
            return;
        }
        let slot = class.map_or(CATEGORY_SLOTS - 1, |c| c.category() as usize);
        let cell = &mut self.counts[slot][t as usize];
        *cell = cell.saturating_add(n);
        self.used |= 1 << Self::cell(slot, t);
    }

    /// Adds another tally (NDJSON lines, query + body of one request).
    pub fn absorb(&mut self, other: &Self) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a = a.saturating_add(*b);
            }
        }
        self.used |= other.used;
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Non-zero cells as (cell index, count), in index order; see
    /// [`DisclosureTally::cell_labels`].
    pub fn counted(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        let mut left = self.used;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let cell = left.trailing_zeros() as usize;
            left &= left - 1;
            let n = self.counts[cell / Treatment::COUNT][cell % Treatment::COUNT];
            Some((cell, n))
        })
    }

    /// Non-zero cells as (category label, treatment, count).
    pub fn cells(&self) -> impl Iterator<Item = (&'static str, Treatment, u32)> + '_ {
        self.counted().map(|(cell, n)| {
            let (label, t) = Self::cell_labels(cell);
            (label, t, n)
        })
    }

    /// Total values counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().map(|n| u64::from(*n)).sum()
    }

    /// Count for one cell (tests and reports).
    pub fn get(&self, class: Option<Class>, t: Treatment) -> u32 {
        let slot = class.map_or(CATEGORY_SLOTS - 1, |c| c.category() as usize);
        self.counts[slot][t as usize]
    }
}

// === impl FieldTally ===

impl FieldTally {
    /// Counts one leaf of `class` found at `path` (already normalised: no values). Allocates
    /// only for a path not seen yet in this request, and at most [`MAX_REQUEST_PATHS`] times.
    pub fn record(&mut self, path: &str, class: Class) {
        let i = class.index();
        self.per_class[i] = self.per_class[i].saturating_add(1);
        let counts = if path.len() > MAX_PATH_BYTES {
            &mut self.other
        } else if let Some(c) = self.paths.get_mut(path) {
            c
        } else if self.paths.len() < MAX_REQUEST_PATHS {
            self.paths.entry(path.into()).or_insert([0; Class::COUNT])
        } else {
            &mut self.other
        };
        counts[i] = counts[i].saturating_add(1);
    }

    /// Whether nothing was detected.
    pub fn is_empty(&self) -> bool {
        self.per_class.iter().all(|n| *n == 0)
    }

    /// Detections per class, indexed by [`Class::index`].
    pub(crate) fn per_class(&self) -> &[u32; Class::COUNT] {
        &self.per_class
    }

    /// Total detections.
    pub fn total(&self) -> u64 {
        self.per_class.iter().map(|n| u64::from(*n)).sum()
    }

    /// (path, class, count) for every non-zero entry, [`OTHER_PATHS`] last.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Class, u32)> + '_ {
        self.paths
            .iter()
            .map(|(p, c)| (&**p, c))
            .chain(std::iter::once((OTHER_PATHS, &self.other)))
            .flat_map(|(p, counts)| {
                counts
                    .iter()
                    .zip(Class::ALL)
                    .filter(|(n, _)| **n > 0)
                    .map(move |(n, c)| (p, c, *n))
            })
    }

    /// Adds another tally.
    pub fn absorb(&mut self, other: &Self) {
        for (p, c, n) in other.entries() {
            let i = c.index();
            let counts = if p == OTHER_PATHS {
                &mut self.other
            } else if let Some(mine) = self.paths.get_mut(p) {
                mine
            } else if self.paths.len() < MAX_REQUEST_PATHS {
                self.paths.entry(p.into()).or_insert([0; Class::COUNT])
            } else {
                &mut self.other
            };
            counts[i] = counts[i].saturating_add(n);
            self.per_class[i] = self.per_class[i].saturating_add(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn treatment_labels_are_distinct_and_parse() {
        let labels: std::collections::HashSet<_> =
            Treatment::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(labels.len(), Treatment::COUNT);
        assert_eq!(Treatment::parse("masked"), Some(Treatment::Masked));
    }

    #[test]
    fn tally_cells_are_labelled_by_category() {
        let mut t = DisclosureTally::default();
        t.bump(Some(Class::Email), Treatment::Tokenized);
        t.bump(Some(Class::IpAddress), Treatment::Tokenized);
        t.bump(None, Treatment::Dropped);
        let cells: Vec<_> = t.cells().collect();
        assert_eq!(
            cells,
            vec![
                ("identifiers", Treatment::Tokenized, 2),
                (UNCLASSIFIED, Treatment::Dropped, 1)
            ]
        );
        assert_eq!(t.total(), 3);
    }

    /// The ledger reads only the cells `counted` yields: it must yield every non-zero cell,
    /// once, with its count, after bumps, zero adds and absorbs alike.
    #[test]
    fn counted_cells_are_exactly_the_non_zero_ones() {
        let classes: Vec<Option<Class>> = std::iter::once(None)
            .chain(Class::ALL.iter().copied().map(Some))
            .collect();
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as usize
        };
        for _ in 0..200 {
            let (mut a, mut b) = (DisclosureTally::default(), DisclosureTally::default());
            for _ in 0..next() % 12 {
                let class = classes[next() % classes.len()];
                let t = Treatment::ALL[next() % Treatment::COUNT];
                let n = u32::try_from(next() % 3).unwrap_or(0);
                if next() % 2 == 0 {
                    a.add(class, t, n)
                } else {
                    b.add(class, t, n)
                }
            }
            a.absorb(&b);
            let mut full = Vec::new();
            for (slot, row) in a.counts.iter().enumerate() {
                for (t, n) in row.iter().enumerate() {
                    if *n > 0 {
                        full.push((slot * Treatment::COUNT + t, *n));
                    }
                }
            }
            assert_eq!(a.counted().collect::<Vec<_>>(), full);
            assert_eq!(a.is_empty(), full.is_empty());
            for (cell, n) in a.counted() {
                let (label, t) = DisclosureTally::cell_labels(cell);
                let class = classes.iter().find(|c| category_label(**c) == label);
                assert_eq!(class.map(|c| a.get(*c, t)), Some(n));
            }
        }
    }

    #[test]
    fn field_tally_caps_distinct_paths() {
        let mut f = FieldTally::default();
        for i in 0..MAX_REQUEST_PATHS + 10 {
            f.record(&format!("$.k{i}"), Class::Email);
        }
        f.record("$.k0", Class::Phone);
        f.record(&"x".repeat(MAX_PATH_BYTES + 1), Class::Email);
        assert_eq!(f.paths.len(), MAX_REQUEST_PATHS);
        let other: u32 = f
            .entries()
            .filter(|(p, _, _)| *p == OTHER_PATHS)
            .map(|(_, _, n)| n)
            .sum();
        assert_eq!(other, 11);
        assert_eq!(f.total(), (MAX_REQUEST_PATHS + 12) as u64);
        let mut g = FieldTally::default();
        g.absorb(&f);
        assert_eq!(g.total(), f.total());
    }
}
