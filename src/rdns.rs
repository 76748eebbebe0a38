//! Reverse DNS for hosts that answered: after the scan (never slowing it), many lookups at
//! once, each abandoned after its own timeout. getnameinfo cannot be cancelled, so a slow
//! lookup's thread is left to finish on its own and its answer is dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Lookups in flight at once.
const CONCURRENCY: usize = 64;

/// Resolves `addrs` (keyed by target index); returns the names found in time.
pub fn resolve(addrs: &[(u32, IpAddr)], timeout: Duration) -> HashMap<u32, String> {
    resolve_with(addrs, timeout, |a| dns_lookup::lookup_addr(&a).ok())
}

/// `resolve` with the lookup as a parameter, so the scheduling can be tested without DNS.
pub fn resolve_with<F>(
    addrs: &[(u32, IpAddr)],
    timeout: Duration,
    lookup: F,
) -> HashMap<u32, String>
where
    F: Fn(IpAddr) -> Option<String> + Send + Sync + Clone + 'static,
{
    let (tx, rx) = mpsc::channel::<(u32, Option<String>)>();
    let mut names = HashMap::new();
    let mut in_flight: HashMap<u32, Instant> = HashMap::new();
    let mut next = 0;
    while next < addrs.len() || !in_flight.is_empty() {
        while in_flight.len() < CONCURRENCY && next < addrs.len() {
            let (i, a) = addrs[next];
            let (tx, lookup) = (tx.clone(), lookup.clone());
            std::thread::spawn(move || {
                let _ = tx.send((i, lookup(a)));
            });
            in_flight.insert(i, Instant::now());
            next += 1;
        }
        let soonest = in_flight
            .values()
            .min()
            .copied()
            .unwrap_or_else(Instant::now)
            + timeout;
        match rx.recv_timeout(soonest.saturating_duration_since(Instant::now())) {
            Ok((i, name)) => {
                if in_flight.remove(&i).is_some() {
                    if let Some(name) = name.filter(|n| n.parse::<IpAddr>().is_err()) {
                        names.insert(i, name);
                    }
                }
            }
            Err(_) => in_flight.retain(|_, started| started.elapsed() < timeout),
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn slow_lookups_are_abandoned_and_fast_ones_kept() {
        let addrs: Vec<(u32, IpAddr)> = (0..200).map(|i| (i, Ipv4Addr::from(i).into())).collect();
        let t = Instant::now();
        let names = resolve_with(&addrs, Duration::from_millis(100), |a| {
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
        assert_eq!(names.len(), 100 - 4);
        assert_eq!(names[&2], "h2.test");
        assert!(!names.contains_key(&50));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }
}
