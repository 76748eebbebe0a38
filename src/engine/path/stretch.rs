//! Which stretches of a round a retry goes back to. Behind a rate limit, answers are lost
//! in episodes: at the start, while the rate is above the limit, and each time the
//! controller probes above it again. In between, the round went out at a rate the path
//! bore, and its samples say so. After such a round the next one retries only the silent
//! targets sent in a lossy stretch, not every silent target again: behind a 2,000/s
//! policer a whole retry round of a /16 is 25 s, the lossy stretches' a few.
//!
//! Time is cut into slots; a slot is lossy if a sample sent in it was lost, if no sample
//! was sent in it to say otherwise, or if the rate in it reached one at which a sample
//! was ever lost, or the limit's known level: loss a little above a limit is too thin
//! for a few samples to show, and one probe in a hundred lost is a host in four hundred.
//! Sampling is sparse, so a stretch also counts as lossy when the slot before or after
//! it is.

use std::ops::Range;

/// Samples are tallied per slot of this many ns, by when they were sent (about ten
/// samples a slot at 40 a second).
pub const SLOT_NS: u64 = 250_000_000;
/// The most slots a timeline keeps (about 18 h); later stretches count as lossy.
const MAX_SLOTS: usize = 1 << 18;

#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    samples: u32,
    lost: u32,
    /// The rate was above what the path was known to bear.
    over: bool,
    /// The highest rate in effect, pps (0: unpaced or not known).
    rate: u64,
    /// The lowest rate a lost sample was sent at.
    lost_at: Option<u64>,
}

/// Samples' outcomes by when they were sent.
#[derive(Debug, Default)]
pub struct Timeline {
    slots: Vec<Slot>,
}

impl Timeline {
    fn slot_mut(&mut self, at_ns: u64) -> Option<&mut Slot> {
        let k = usize::try_from(at_ns / SLOT_NS)
            .ok()
            .filter(|&k| k < MAX_SLOTS)?;
        if self.slots.len() <= k {
            self.slots.resize(k + 1, Slot::default());
        }
        self.slots.get_mut(k)
    }

    /// A sample sent at `sent_ns` at `rate` pps was answered, or not.
    pub fn resolve(&mut self, sent_ns: u64, rate: Option<u64>, answered: bool) {
        if let Some(s) = self.slot_mut(sent_ns) {
            s.samples = s.samples.saturating_add(1);
            if !answered {
                s.lost = s.lost.saturating_add(1);
                if let Some(r) = rate {
                    s.lost_at = Some(s.lost_at.map_or(r, |l| l.min(r)));
                }
            }
        }
    }

    /// At `at_ns` the rate was `rate` pps.
    pub fn rate(&mut self, at_ns: u64, rate: u64) {
        if let Some(s) = self.slot_mut(at_ns) {
            s.rate = s.rate.max(rate);
        }
    }

    /// At `at_ns` the rate was above what the path was known to bear.
    pub fn over(&mut self, at_ns: u64) {
        if let Some(s) = self.slot_mut(at_ns) {
            s.over = true;
        }
    }

    /// The lowest rate any sample was lost at.
    fn lossy_rate(&self) -> Option<u64> {
        self.slots.iter().filter_map(|s| s.lost_at).min()
    }

    /// Whether probes sent from `from_ns` to `to_ns` may have lost answers (the
    /// filter works the lowest lossy rate out once for all spans).
    #[cfg(test)]
    fn lossy(&self, from_ns: u64, to_ns: u64) -> bool {
        self.lossy_above(from_ns, to_ns, self.lossy_rate())
    }

    /// `lossy`, with the lowest rate a sample was lost at worked out once.
    fn lossy_above(&self, from_ns: u64, to_ns: u64, lossy_rate: Option<u64>) -> bool {
        let (a, b) = (from_ns / SLOT_NS, to_ns.max(from_ns) / SLOT_NS);
        // Nothing measured, or sent as fast as loss was ever seen.
        let unsure = |k: u64| {
            let s = usize::try_from(k).ok().and_then(|k| self.slots.get(k));
            s.is_none_or(|s| s.samples == 0 || lossy_rate.is_some_and(|r| s.rate >= r))
        };
        let lost = |k: u64| {
            let s = usize::try_from(k).ok().and_then(|k| self.slots.get(k));
            s.is_some_and(|s| s.lost > 0 || s.over)
        };
        (a..=b).any(unsure) || (a.saturating_sub(1)..=b.saturating_add(1)).any(lost)
    }
}

/// Positions of the permutation that went out together (a sender's chunk), and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub positions: (u64, u64),
    pub from_ns: u64,
    pub to_ns: u64,
}

/// The positions a retry round probes (silent targets among them): sorted, disjoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    ranges: Vec<Range<u64>>,
}

impl Filter {
    /// The positions of `spans`, in any order, merged.
    pub fn of(spans: impl IntoIterator<Item = Range<u64>>) -> Filter {
        let mut all: Vec<Range<u64>> = spans.into_iter().filter(|r| r.start < r.end).collect();
        all.sort_by_key(|r| r.start);
        let mut ranges: Vec<Range<u64>> = Vec::with_capacity(all.len());
        for r in all {
            match ranges.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => ranges.push(r),
            }
        }
        Filter { ranges }
    }

    /// The lossy stretches of `spans` by `timeline`, within `within` if the round before
    /// was narrowed too (a span covers positions that round skipped).
    pub fn lossy(spans: &[Span], timeline: &Timeline, within: Option<&Filter>) -> Filter {
        let rate = timeline.lossy_rate();
        let lossy = Filter::of(
            spans
                .iter()
                .filter(|s| timeline.lossy_above(s.from_ns, s.to_ns, rate))
                .map(|s| s.positions.0..s.positions.1),
        );
        match within {
            Some(w) => lossy.and(w),
            None => lossy,
        }
    }

    /// The positions in both.
    fn and(&self, other: &Filter) -> Filter {
        let mut out = Vec::new();
        let (mut i, mut j) = (0, 0);
        while let (Some(a), Some(b)) = (self.ranges.get(i), other.ranges.get(j)) {
            let (start, end) = (a.start.max(b.start), a.end.min(b.end));
            if start < end {
                out.push(start..end);
            }
            if a.end <= b.end {
                i += 1;
            } else {
                j += 1;
            }
        }
        Filter { ranges: out }
    }

    #[inline]
    pub fn allows(&self, pos: u64) -> bool {
        let k = self.ranges.partition_point(|r| r.end <= pos);
        self.ranges.get(k).is_some_and(|r| r.start <= pos)
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// Ten samples a slot for `secs` seconds, those in `lossy` (ms) lost one in four.
    fn timeline(secs: u64, lossy: Range<u64>) -> Timeline {
        let mut t = Timeline::default();
        for k in 0..secs * 40 {
            let at = k * 25 * MS;
            let lost = lossy.contains(&(at / MS)) && k % 4 == 0;
            t.rate(at, if lost { 2_100 } else { 1_900 });
            t.resolve(at, Some(2_000), !lost);
        }
        t
    }

    #[test]
    fn a_stretch_is_lossy_near_a_lost_sample_or_where_nothing_was_measured() {
        let t = timeline(10, 2_000..3_000);
        assert!(!t.lossy(0, 1_000 * MS));
        assert!(t.lossy(1_800 * MS, 1_900 * MS), "the slot before");
        assert!(t.lossy(2_500 * MS, 2_600 * MS));
        assert!(t.lossy(3_100 * MS, 3_200 * MS), "the slot after");
        assert!(!t.lossy(3_600 * MS, 9_000 * MS));
        assert!(t.lossy(9_900 * MS, 11_000 * MS), "past the last sample");
        let mut over = timeline(10, 0..0);
        assert!(!over.lossy(5_000 * MS, 5_100 * MS));
        over.over(5_300 * MS);
        assert!(over.lossy(5_000 * MS, 5_100 * MS));
        // Far past the last slot kept: nothing measured there.
        assert!(over.lossy(u64::MAX - 1, u64::MAX));
        // As fast as a sample was lost at, even far from it.
        let mut fast = timeline(10, 2_000..3_000);
        assert!(!fast.lossy(6_000 * MS, 6_100 * MS));
        fast.rate(6_050 * MS, 2_000);
        assert!(fast.lossy(6_000 * MS, 6_100 * MS));
    }

    #[test]
    fn the_lossy_spans_merge_and_stay_within_the_round_before() {
        let t = timeline(10, 2_000..3_000);
        let spans: Vec<Span> = (0..100u64)
            .map(|k| Span {
                positions: (k * 10, k * 10 + 10),
                from_ns: k * 100 * MS,
                to_ns: k * 100 * MS + 50 * MS,
            })
            .collect();
        let f = Filter::lossy(&spans, &t, None);
        // Slots 8..=11 (2 s to 3 s) lost samples; spans reaching into slots 7 to 12 are
        // next to them: spans 17 (1.70 s to 1.75 s) to 32 (3.20 s to 3.25 s).
        assert_eq!(
            (f.ranges().len(), f.ranges().first()),
            (1, Some(&(170..330)))
        );
        assert!(f.allows(170) && f.allows(329) && !f.allows(169) && !f.allows(330));
        let before = Filter::of([0..200, 300..310, 320..1000]);
        let g = Filter::lossy(&spans, &t, Some(&before));
        assert_eq!(g.ranges(), &[170..200, 300..310, 320..330]);
        assert!(Filter::lossy(&spans, &timeline(10, 0..0), None).is_empty());
    }

    #[test]
    fn filters_merge_overlaps_and_intersect() {
        let f = Filter::of([5..10, 0..3, 8..12, 12..14, 20..20]);
        assert_eq!(f.ranges(), &[0..3, 5..14]);
        assert!(!f.allows(3) && f.allows(13) && !f.allows(14));
        assert_eq!(
            f.and(&Filter::of([2..6, 13..30])).ranges(),
            &[2..3, 5..6, 13..14]
        );
        assert!(f.and(&Filter::default()).is_empty());
    }
}
