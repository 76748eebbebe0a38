//! Reverse DNS for hosts that answered: after the scan (never slowing it), many lookups at
//! once, each abandoned after its own timeout. getnameinfo cannot be cancelled, so an
//! abandoned lookup's thread runs on and its answer is dropped; it keeps its slot until it
//! ends, so at most `CONCURRENCY` threads ever exist. When every slot is held by an
//! abandoned lookup and none ends within another timeout, the rest are not tried.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Lookup threads alive at once, abandoned ones included.
pub const CONCURRENCY: usize = 64;

/// What reverse DNS found.
#[derive(Debug, Default)]
pub struct Resolved {
    pub names: HashMap<u32, String>,
    /// Lookups given up on after the timeout.
    pub abandoned: u64,
    /// Addresses never looked up: every slot stayed held by an abandoned lookup.
    pub skipped: u64,
}

/// How often a wait for answers checks whether to stop.
const STOP_CHECK: Duration = Duration::from_millis(10);

/// Resolves `addrs` (keyed by target index); returns the names found in time. Once
/// `stop()` is true (an interrupt), lookups in flight are abandoned, the rest skipped,
/// and the names found so far returned.
pub fn resolve(addrs: &[(u32, IpAddr)], timeout: Duration, stop: &dyn Fn() -> bool) -> Resolved {
    resolve_with(addrs, timeout, stop, |a| dns_lookup::lookup_addr(&a).ok())
}

/// `resolve` with the lookup as a parameter, so the scheduling can be tested without DNS.
pub fn resolve_with<F>(
    addrs: &[(u32, IpAddr)],
    timeout: Duration,
    stop: &dyn Fn() -> bool,
    lookup: F,
) -> Resolved
where
    F: Fn(IpAddr) -> Option<String> + Send + Sync + Clone + 'static,
{
    let (tx, rx) = mpsc::channel::<(u32, Option<String>)>();
    let mut out = Resolved::default();
    // Started and still wanted, by target index.
    let mut waiting: HashMap<u32, Instant> = HashMap::new();
    // Threads alive: those waited for and those abandoned.
    let mut running = 0;
    let mut next = 0;
    // Since when every slot has been held by an abandoned lookup.
    let mut stalled: Option<Instant> = None;
    loop {
        if stop() {
            out.abandoned += waiting.len() as u64;
            out.skipped = (addrs.len() - next) as u64;
            break;
        }
        while running < CONCURRENCY && next < addrs.len() {
            let (i, a) = addrs[next];
            let (tx, lookup) = (tx.clone(), lookup.clone());
            std::thread::spawn(move || {
                let _ = tx.send((i, lookup(a)));
            });
            waiting.insert(i, Instant::now());
            running += 1;
            next += 1;
        }
        if waiting.is_empty() && next == addrs.len() {
            break;
        }
        let deadline = match waiting.values().min() {
            Some(&oldest) => oldest + timeout,
            None => *stalled.get_or_insert_with(Instant::now) + timeout,
        };
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait.min(STOP_CHECK)) {
            Ok((i, name)) => {
                running -= 1;
                stalled = None;
                if waiting.remove(&i).is_some() {
                    if let Some(name) = name.filter(|n| n.parse::<IpAddr>().is_err()) {
                        out.names.insert(i, name);
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(RecvTimeoutError::Timeout) => {
                let before = waiting.len();
                waiting.retain(|_, started| started.elapsed() < timeout);
                out.abandoned += (before - waiting.len()) as u64;
                if stalled.is_some_and(|s| s.elapsed() >= timeout) {
                    out.skipped = (addrs.len() - next) as u64;
                    break;
                }
            }
            // Unreachable while `tx` lives; nothing more can arrive either way.
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn slow_lookups_are_abandoned_and_fast_ones_kept() {
        let addrs: Vec<(u32, IpAddr)> = (0..200).map(|i| (i, Ipv4Addr::from(i).into())).collect();
        let t = Instant::now();
        let found = resolve_with(&addrs, Duration::from_millis(100), &|| false, |a| {
            let IpAddr::V4(a) = a else { return None };
            let n = u32::from(a);
            if n % 50 == 0 {
                std::thread::sleep(Duration::from_secs(3));
            }
            // Numeric answers mean "no name" (what getnameinfo gives without NI_NAMEREQD).
            (n % 2 == 0)
                .then(|| format!("h{n}.test"))
                .or(Some(a.to_string()))
        });
        let names = &found.names;
        assert_eq!(names.len(), 100 - 4);
        assert_eq!(names[&2], "h2.test");
        assert!(!names.contains_key(&50));
        assert_eq!((found.abandoned, found.skipped), (4, 0));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }

    #[test]
    fn threads_stay_bounded_when_every_lookup_hangs() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        use std::sync::Arc;
        let live = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let addrs: Vec<(u32, IpAddr)> = (0..1000).map(|i| (i, Ipv4Addr::from(i).into())).collect();
        let t = Instant::now();
        let (l, m) = (live.clone(), most.clone());
        let found = resolve_with(&addrs, Duration::from_millis(100), &|| false, move |_| {
            let now = l.fetch_add(1, SeqCst) + 1;
            m.fetch_max(now, SeqCst);
            std::thread::sleep(Duration::from_secs(2));
            l.fetch_sub(1, SeqCst);
            None
        });
        assert!(
            most.load(SeqCst) <= CONCURRENCY,
            "{} threads",
            most.load(SeqCst)
        );
        assert_eq!(found.abandoned, CONCURRENCY as u64);
        assert_eq!(found.skipped, 1000 - CONCURRENCY as u64);
        assert!(found.names.is_empty());
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }

    #[test]
    fn a_stop_ends_the_lookups_and_keeps_the_names_found() {
        use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
        let addrs: Vec<(u32, IpAddr)> = (0..300).map(|i| (i, Ipv4Addr::from(i).into())).collect();
        let stop = AtomicBool::new(false);
        let t = Instant::now();
        let found = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                stop.store(true, Relaxed);
            });
            // Even addresses answer at once; odd ones hang far past the stop.
            resolve_with(
                &addrs,
                Duration::from_secs(30),
                &|| stop.load(Relaxed),
                |a| {
                    let IpAddr::V4(a) = a else { return None };
                    if u32::from(a) % 2 == 1 {
                        std::thread::sleep(Duration::from_secs(5));
                    }
                    Some(format!("h{}.test", u32::from(a)))
                },
            )
        });
        let took = t.elapsed();
        assert!(took < Duration::from_millis(1500), "{took:?}");
        assert!(!found.names.is_empty() && found.names.keys().all(|i| i % 2 == 0));
        assert_eq!(found.abandoned, CONCURRENCY as u64);
        assert_eq!(
            found.names.len() as u64 + found.abandoned + found.skipped,
            300
        );
    }

    #[test]
    fn slots_freed_by_slow_lookups_are_reused() {
        let addrs: Vec<(u32, IpAddr)> = (0..150).map(|i| (i, Ipv4Addr::from(i).into())).collect();
        // The first 64 hang past the timeout but end within the next one; the rest answer.
        let found = resolve_with(&addrs, Duration::from_millis(200), &|| false, |a| {
            let IpAddr::V4(a) = a else { return None };
            if u32::from(a) < 64 {
                std::thread::sleep(Duration::from_millis(300));
            }
            Some(format!("h{}.test", u32::from(a)))
        });
        assert_eq!((found.abandoned, found.skipped), (64, 0));
        assert_eq!(found.names.len(), 150 - 64);
    }
}
