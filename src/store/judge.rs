//! The event rules, pure: what one run's sighting of an address says against what the
//! inventory knew of it before (arpwatch's "new station", "changed ethernet address",
//! "flip flop", and sweep's own up/down words). Every backend calls `judge` the same way,
//! so these tests hold for all of them.

use crate::results::row::Status;
use crate::wire::ether::Mac;
use std::fmt;

/// What the inventory knows of one address: the state its last probing run left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The status the last run that probed it found.
    pub status: Status,
    /// Up at least once before.
    pub ever_up: bool,
    /// The MACs of its last sighting up with MACs (its own first, then a conflict's).
    pub macs: Vec<Mac>,
    /// Its MAC before the last change (arpwatch's flip-flop is a change back to it).
    pub prev_mac: Option<Mac>,
    /// The run that last probed it.
    pub last_run: i64,
}

/// What one run found about one address it probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub addr: std::net::IpAddr,
    pub status: Status,
    pub detail: String,
    /// Empty for a routed host (no layer 2): nothing is judged about MACs then.
    pub macs: Vec<Mac>,
}

/// The kinds of event, as the `event` column spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    New,
    Gone,
    Back,
    MacChanged,
    FlipFlop,
    NewMac,
    ConflictAppeared,
    ConflictGone,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::New,
        EventKind::Gone,
        EventKind::Back,
        EventKind::MacChanged,
        EventKind::FlipFlop,
        EventKind::NewMac,
        EventKind::ConflictAppeared,
        EventKind::ConflictGone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::New => "new",
            EventKind::Gone => "gone",
            EventKind::Back => "back",
            EventKind::MacChanged => "mac-changed",
            EventKind::FlipFlop => "flip-flop",
            EventKind::NewMac => "new-mac",
            EventKind::ConflictAppeared => "conflict-appeared",
            EventKind::ConflictGone => "conflict-gone",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One judged event: its kind and the MACs it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Judged {
    pub kind: EventKind,
    pub mac: Option<Mac>,
    pub old_mac: Option<Mac>,
}

/// Where this sighting stands against what was known.
#[derive(Debug, Clone, Copy)]
pub enum Before<'a> {
    /// No run has probed the address.
    Never,
    /// An earlier run probed it last: the usual case.
    Earlier(&'a Known),
    /// Another part of this same run (a shard over an overlap, or the interrupted run a
    /// resumed one continues) probed it already; `gone_retracted`: that part had called it
    /// gone and the caller has taken that event back, because it is up after all.
    SameRun {
        known: &'a Known,
        gone_retracted: bool,
    },
    /// A run that started later has already been recorded for it: this older sighting is
    /// history, not news (two scans recording at once, the later one first).
    Later(&'a Known),
}

/// What `judge` decides: the events, and the state to keep (`None`: keep what is there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub events: Vec<Judged>,
    pub after: Option<Known>,
    /// Counts as one more run that saw it up (`times_seen`).
    pub counts_up: bool,
}

/// Judges `seen` (made by run `run`) against `before`. `mac_is_new` says whether a MAC
/// was never seen on any address (the caller remembers the ones this run has shown).
pub fn judge(
    before: Before,
    seen: &Sighting,
    run: i64,
    mac_is_new: &mut dyn FnMut(Mac) -> bool,
) -> Judgement {
    let up = seen.status == Status::Up;
    let mut events = Vec::new();
    let push =
        |events: &mut Vec<Judged>, kind, mac, old_mac| events.push(Judged { kind, mac, old_mac });
    let (known, status_event) = match before {
        Before::Later(_) => {
            // Only the aggregates learn from it (the caller keeps first/last seen).
            return Judgement {
                events,
                after: None,
                counts_up: up,
            };
        }
        Before::Never => (None, up.then_some(EventKind::New)),
        Before::Earlier(k) => (
            Some(k),
            match (k.status == Status::Up, up) {
                (true, false) => Some(EventKind::Gone),
                (false, true) if k.ever_up => Some(EventKind::Back),
                (false, true) => Some(EventKind::New),
                _ => None,
            },
        ),
        Before::SameRun {
            known,
            gone_retracted,
        } => {
            if known.status == Status::Up || !up {
                // Up already in this run, or still not: the best status of the run stays.
                let mut after = known.clone();
                after.status = after.status.max(seen.status);
                return Judgement {
                    events,
                    after: Some(after),
                    counts_up: false,
                };
            }
            // Up now, not up in the part before: judged as the run's first sighting would
            // have been. That part called it gone only if it was up before the run.
            let kind = match (gone_retracted, known.ever_up) {
                (true, _) => None,
                (false, true) => Some(EventKind::Back),
                (false, false) => Some(EventKind::New),
            };
            (Some(known), kind)
        }
    };
    let mut after = known.cloned().unwrap_or(Known {
        status: seen.status,
        ever_up: false,
        macs: Vec::new(),
        prev_mac: None,
        last_run: run,
    });
    after.status = seen.status;
    after.last_run = run;
    after.ever_up |= up;
    if let Some(kind) = status_event {
        push(&mut events, kind, seen.macs.first().copied(), None);
    }
    // MACs are judged only from an answer that carried them (a routed host has none).
    if up && !seen.macs.is_empty() {
        let old = &after.macs;
        let now = seen.macs[0];
        if let Some(&was) = old.first() {
            // A conflict settling on one of its claimants is no change of hands.
            if !seen.macs.contains(&was) && !old.contains(&now) {
                let kind = if after.prev_mac == Some(now) {
                    EventKind::FlipFlop
                } else {
                    EventKind::MacChanged
                };
                push(&mut events, kind, Some(now), Some(was));
                after.prev_mac = Some(was);
            }
        }
        for &m in &seen.macs {
            if mac_is_new(m) {
                push(&mut events, EventKind::NewMac, Some(m), None);
            }
        }
        match (old.len() > 1, seen.macs.len() > 1) {
            (false, true) => push(
                &mut events,
                EventKind::ConflictAppeared,
                seen.macs.get(1).copied(),
                Some(now),
            ),
            (true, false) => push(
                &mut events,
                EventKind::ConflictGone,
                Some(now),
                old.iter().copied().find(|&m| m != now),
            ),
            _ => {}
        }
        after.macs = seen.macs.clone();
    }
    Judgement {
        events,
        after: Some(after),
        counts_up: up,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const A: Mac = Mac([0x02, 0, 0, 0, 0, 0xa]);
    const B: Mac = Mac([0x02, 0, 0, 0, 0, 0xb]);
    const C: Mac = Mac([0x02, 0, 0, 0, 0, 0xc]);

    fn seen(status: Status, macs: &[Mac]) -> Sighting {
        Sighting {
            addr: "198.18.0.1".parse().unwrap(),
            status,
            detail: String::new(),
            macs: macs.to_vec(),
        }
    }

    fn known(status: Status, macs: &[Mac]) -> Known {
        Known {
            status,
            ever_up: true,
            macs: macs.to_vec(),
            prev_mac: None,
            last_run: 1,
        }
    }

    /// Judges with a registry of MACs seen anywhere, as a backend keeps it.
    fn kinds(before: Before, s: &Sighting, macs: &mut HashSet<Mac>) -> Vec<EventKind> {
        judge(before, s, 2, &mut |m| macs.insert(m))
            .events
            .iter()
            .map(|j| j.kind)
            .collect()
    }

    use EventKind::*;
    use Status::{Down, Unreachable, Up};

    #[test]
    fn up_and_down_words() {
        let mut reg = HashSet::new();
        assert_eq!(kinds(Before::Never, &seen(Up, &[]), &mut reg), [New]);
        assert_eq!(kinds(Before::Never, &seen(Down, &[]), &mut reg), []);
        let up = known(Up, &[]);
        assert_eq!(
            kinds(Before::Earlier(&up), &seen(Down, &[]), &mut reg),
            [Gone]
        );
        assert_eq!(
            kinds(Before::Earlier(&up), &seen(Unreachable, &[]), &mut reg),
            [Gone]
        );
        assert_eq!(kinds(Before::Earlier(&up), &seen(Up, &[]), &mut reg), []);
        let down = known(Down, &[]);
        assert_eq!(
            kinds(Before::Earlier(&down), &seen(Up, &[]), &mut reg),
            [Back]
        );
        assert_eq!(
            kinds(Before::Earlier(&down), &seen(Down, &[]), &mut reg),
            []
        );
        // Probed before but never up: its first answer is news, not a return.
        let never_up = Known {
            ever_up: false,
            ..known(Down, &[])
        };
        assert_eq!(
            kinds(Before::Earlier(&never_up), &seen(Up, &[]), &mut reg),
            [New]
        );
    }

    #[test]
    fn macs_change_flip_and_are_new() {
        let mut reg = HashSet::from([A]);
        let k = known(Up, &[A]);
        let v = judge(Before::Earlier(&k), &seen(Up, &[B]), 2, &mut |m| {
            reg.insert(m)
        });
        let got: Vec<_> = v
            .events
            .iter()
            .map(|j| (j.kind, j.mac, j.old_mac))
            .collect();
        assert_eq!(
            got,
            [(MacChanged, Some(B), Some(A)), (NewMac, Some(B), None)]
        );
        let after = v.after.unwrap();
        assert_eq!((after.macs.clone(), after.prev_mac), (vec![B], Some(A)));
        // Back to the MAC it had before: arpwatch's flip flop, and A is no new MAC.
        let v = judge(Before::Earlier(&after), &seen(Up, &[A]), 3, &mut |m| {
            reg.insert(m)
        });
        let got: Vec<_> = v
            .events
            .iter()
            .map(|j| (j.kind, j.mac, j.old_mac))
            .collect();
        assert_eq!(got, [(FlipFlop, Some(A), Some(B))]);
        // And to a third: changed, not a flip-flop.
        let after = v.after.unwrap();
        assert_eq!(after.prev_mac, Some(B));
        assert_eq!(
            kinds(Before::Earlier(&after), &seen(Up, &[C]), &mut reg),
            [MacChanged, NewMac]
        );
        // A routed answer (no MAC) judges nothing about MACs and keeps the old ones.
        let v = judge(Before::Earlier(&k), &seen(Up, &[]), 2, &mut |_| true);
        assert!(v.events.is_empty());
        assert_eq!(v.after.unwrap().macs, [A]);
    }

    #[test]
    fn conflicts_appear_and_go_without_a_change() {
        let mut reg = HashSet::from([A, B]);
        let k = known(Up, &[A]);
        let v = judge(Before::Earlier(&k), &seen(Up, &[A, B]), 2, &mut |m| {
            reg.insert(m)
        });
        let got: Vec<_> = v
            .events
            .iter()
            .map(|j| (j.kind, j.mac, j.old_mac))
            .collect();
        assert_eq!(got, [(ConflictAppeared, Some(B), Some(A))]);
        let after = v.after.unwrap();
        // The other claimant answering first is still the same conflict, no change.
        assert_eq!(
            kinds(Before::Earlier(&after), &seen(Up, &[B, A]), &mut reg),
            []
        );
        // Only A again: the conflict is gone, A kept its address.
        assert_eq!(
            kinds(Before::Earlier(&after), &seen(Up, &[A]), &mut reg),
            [ConflictGone]
        );
        // Only B: the conflict is gone, settled on the other claimant (no new MAC).
        assert_eq!(
            kinds(Before::Earlier(&after), &seen(Up, &[B]), &mut reg),
            [ConflictGone]
        );
        // Down: nobody can say whether the conflict is over.
        assert_eq!(
            kinds(Before::Earlier(&after), &seen(Down, &[]), &mut reg),
            [Gone]
        );
        // A new address in conflict from its first sighting.
        let mut fresh = HashSet::new();
        assert_eq!(
            kinds(Before::Never, &seen(Up, &[A, B]), &mut fresh),
            [New, NewMac, NewMac, ConflictAppeared]
        );
    }

    #[test]
    fn a_second_part_of_one_run_counts_once() {
        let mut reg = HashSet::new();
        // The interrupted part found it up: the resumed part's sighting adds nothing.
        let k = Known {
            last_run: 2,
            ..known(Up, &[])
        };
        let v = judge(
            Before::SameRun {
                known: &k,
                gone_retracted: false,
            },
            &seen(Up, &[]),
            2,
            &mut |m| reg.insert(m),
        );
        assert!(v.events.is_empty() && !v.counts_up);
        // The first part called it gone, the second found it: the gone was taken back and
        // nothing is said (it was up before the run and is up now).
        let k = Known {
            last_run: 2,
            ..known(Down, &[])
        };
        let same = |gone_retracted| Before::SameRun {
            known: &k,
            gone_retracted,
        };
        assert_eq!(kinds(same(true), &seen(Up, &[]), &mut reg), []);
        // Not gone before: it was down before the run, so it is back.
        assert_eq!(kinds(same(false), &seen(Up, &[]), &mut reg), [Back]);
        let v = judge(same(false), &seen(Up, &[]), 2, &mut |_| false);
        assert!(v.counts_up);
        // Still down: nothing, and the run's status stays the best one it found.
        let v = judge(same(false), &seen(Unreachable, &[]), 2, &mut |_| false);
        assert!(v.events.is_empty());
        assert_eq!(v.after.unwrap().status, Unreachable);
    }

    #[test]
    fn an_older_run_recorded_late_is_history_only() {
        let k = known(Up, &[A]);
        let v = judge(Before::Later(&k), &seen(Down, &[]), 2, &mut |_| true);
        assert!(v.events.is_empty() && v.after.is_none() && !v.counts_up);
        let v = judge(Before::Later(&k), &seen(Up, &[B]), 2, &mut |_| true);
        assert!(v.events.is_empty() && v.after.is_none() && v.counts_up);
    }

    #[test]
    fn kinds_round_trip_their_words() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EventKind::parse("old"), None);
    }
}
