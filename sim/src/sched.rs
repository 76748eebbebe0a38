//! Timer heap of packets waiting for their send time.

use crate::engine::Planned;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Entry {
    seq: u64,
    item: Planned,
}

// Earliest due first; equal times keep insertion order so a bad copy planned
// before the good reply also leaves before it.
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.item.due, o.seq).cmp(&(self.item.due, self.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}

impl Eq for Entry {}

#[derive(Default)]
pub struct Scheduler {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

impl Scheduler {
    pub fn push(&mut self, item: Planned) {
        self.seq += 1;
        self.heap.push(Entry {
            seq: self.seq,
            item,
        });
    }

    /// When the next packet is due, if any.
    pub fn next_due(&self) -> Option<u64> {
        self.heap.peek().map(|e| e.item.due)
    }

    /// Removes and returns the next packet if it is due at `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<Planned> {
        if self.next_due()? <= now {
            self.heap.pop().map(|e| e.item)
        } else {
            None
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(due: u64, kind: u16) -> Planned {
        Planned {
            due,
            target: 0,
            kind,
            pkt: Vec::new(),
        }
    }

    #[test]
    fn earliest_first_then_fifo() {
        let mut s = Scheduler::default();
        s.push(p(30, 1));
        s.push(p(10, 2));
        s.push(p(10, 3));
        s.push(p(20, 4));
        assert_eq!(s.next_due(), Some(10));
        assert!(s.pop_due(5).is_none());
        let order: Vec<u16> = std::iter::from_fn(|| s.pop_due(25))
            .map(|x| x.kind)
            .collect();
        assert_eq!(order, vec![2, 3, 4]);
        assert_eq!(s.len(), 1);
    }
}
