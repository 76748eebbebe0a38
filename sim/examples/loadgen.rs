//! Load generator for measuring sweep-sim: sends ICMP echo requests over a raw
//! socket at a fixed rate and reports replies and RTTs.
//!
//! Run inside the simulator's namespace only:
//!   ip netns exec NS loadgen COUNT RATE SPAN [BASE]
//! Targets are limited to 198.18.0.0/15 (the lab block).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sweep_sim::packet::checksum;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: u64 = arg(&args, 1, 100_000);
    let rate: u64 = arg(&args, 2, 50_000).max(1);
    let span: u32 = arg(&args, 3, 4096).clamp(1, 1 << 17);
    let base: Ipv4Addr = arg(&args, 4, Ipv4Addr::new(198, 18, 0, 0));
    let base = u32::from(base);
    let lab = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    assert!(
        base & 0xfffe_0000 == lab && (base + span - 1) & 0xfffe_0000 == lab,
        "targets must stay inside 198.18.0.0/15"
    );
    // SAFETY: plain socket calls with checked results.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
    let big: libc::c_int = 64 << 20;
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &big as *const _ as *const libc::c_void,
            4,
        );
    }
    let start = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let id = (std::process::id() & 0xffff) as u16;
    let rx = {
        let done = done.clone();
        std::thread::spawn(move || {
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 100_000,
            };
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    &tv as *const _ as *const libc::c_void,
                    16,
                );
            }
            let mut buf = [0u8; 2048];
            let (mut got, mut other) = (0u64, 0u64);
            let mut rtts: Vec<u64> = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let n =
                    unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
                if n <= 0 {
                    continue;
                }
                let p = &buf[..n as usize];
                let ihl = usize::from(p[0] & 15) * 4;
                if p.len() < ihl + 16 || p[ihl] != 0 || p[ihl + 4..ihl + 6] != id.to_be_bytes() {
                    other += 1;
                    continue;
                }
                let sent = u64::from_be_bytes(p[ihl + 8..ihl + 16].try_into().unwrap());
                let now = start.elapsed().as_nanos() as u64;
                rtts.push(now.saturating_sub(sent));
                got += 1;
            }
            (got, other, rtts)
        })
    };
    // Sleep between 1 ms batches rather than spinning, so the sender doesn't
    // eat a core the simulator needs.
    let per_ms = (rate / 1000).max(1);
    let mut pkt = vec![0u8; 8 + 24];
    for i in 0..count {
        if i % per_ms == 0 {
            let due = Duration::from_millis(i / per_ms);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let dst = base + (i % u64::from(span)) as u32;
        pkt.fill(0);
        pkt[0] = 8;
        pkt[4..6].copy_from_slice(&id.to_be_bytes());
        pkt[6..8].copy_from_slice(&(i as u16).to_be_bytes());
        pkt[8..16].copy_from_slice(&(start.elapsed().as_nanos() as u64).to_be_bytes());
        let c = checksum(&pkt);
        pkt[2..4].copy_from_slice(&c.to_be_bytes());
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: dst.to_be(),
            },
            sin_zero: [0; 8],
        };
        unsafe {
            libc::sendto(
                fd,
                pkt.as_ptr() as *const libc::c_void,
                pkt.len(),
                0,
                &sa as *const _ as *const libc::sockaddr,
                16,
            );
        }
    }
    let send_secs = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(2));
    done.store(true, Ordering::Relaxed);
    let (got, other, mut rtts) = rx.join().unwrap();
    rtts.sort_unstable();
    let pct = |q: f64| {
        rtts.get(((rtts.len() as f64 - 1.0) * q) as usize)
            .map_or(0.0, |&v| v as f64 / 1e6)
    };
    println!(
        "sent {count} in {send_secs:.2}s ({:.0}/s), replies {got} ({:.2}%), other {other}, rtt ms p0 {:.3} p50 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
        count as f64 / send_secs,
        100.0 * got as f64 / count as f64,
        pct(0.0),
        pct(0.5),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
}
