//! The main loop: read requests, plan replies, send them when due.

use crate::engine::{Engine, Planned};
use crate::lan::Lan;
use crate::profile::Key;
use crate::sched::Scheduler;
use crate::tun::Tun;
use std::io;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Blocks SIGINT/SIGTERM except inside ppoll, so a signal can't slip in
/// between checking STOP and going to sleep. Returns the mask ppoll uses.
fn install_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: plain libc signal setup on zeroed, then initialised, sigsets.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        let mut block: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        for sig in [libc::SIGINT, libc::SIGTERM] {
            if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            libc::sigaddset(&mut block, sig);
        }
        let mut old: libc::sigset_t = std::mem::zeroed();
        if libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        for sig in [libc::SIGINT, libc::SIGTERM] {
            libc::sigdelset(&mut old, sig);
        }
        // Timer slack would add up to 50 us to every wake-up.
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
        Ok(old)
    }
}

/// Waits until the device is readable, `timeout` passes or a signal arrives.
fn wait(tun: &Tun, timeout: Duration, mask: &libc::sigset_t) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: tun.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: pfd, ts and mask are valid for the duration of the call.
    let rc = unsafe { libc::ppoll(&mut pfd, 1, &ts, mask) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

/// Switches this thread to SCHED_FIFO at a low real-time priority. The loop
/// always blocks in ppoll when idle, and the kernel's RT throttling keeps a
/// share of CPU for everything else even under a flood.
pub fn set_realtime() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: valid param struct; pid 0 is the calling thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[derive(Debug, Default)]
pub struct RunStats {
    pub packets_in: u64,
    pub write_errors: u64,
    pub pending_at_exit: usize,
    /// Replies dropped because MAX_PENDING were already waiting.
    pub overflow: u64,
    pub max_late_ns: u64,
    /// Packets sent more than 1 ms after their due time.
    pub late_1ms: u64,
    pub elapsed: Duration,
}

/// Most packets read before sending due replies again, so a flood of requests
/// can't starve the replies.
const READ_BATCH: usize = 256;
/// Cap on replies waiting in the heap (~100 bytes each): a flood with long
/// RTTs can't eat all memory.
const MAX_PENDING: usize = 4_000_000;

/// What the loop drives: the engine on a TUN device (IP packets), the
/// segment on a TAP device (frames).
pub trait Responder {
    /// Plans what to send for one packet read at `now`.
    fn handle(&mut self, now: u64, buf: &[u8], out: &mut Vec<Planned>);
    /// Counts a planned packet that was written.
    fn sent(&mut self, target: Key, kind: u16);
}

impl Responder for Engine {
    fn handle(&mut self, now: u64, buf: &[u8], out: &mut Vec<Planned>) {
        Engine::handle(self, now, buf, out)
    }

    fn sent(&mut self, target: Key, kind: u16) {
        Engine::sent(self, target, kind)
    }
}

impl Responder for Lan {
    fn handle(&mut self, now: u64, buf: &[u8], out: &mut Vec<Planned>) {
        Lan::handle(self, now, buf, out)
    }

    fn sent(&mut self, target: Key, kind: u16) {
        self.engine.sent(target, kind)
    }
}

pub fn run(tun: &mut Tun, engine: &mut impl Responder, limit: Duration) -> io::Result<RunStats> {
    let mask = install_signals()?;
    let start = Instant::now();
    let now = || start.elapsed().as_nanos() as u64;
    let mut sched = Scheduler::default();
    let mut planned: Vec<Planned> = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let mut st = RunStats::default();
    while !STOP.load(Ordering::SeqCst) && start.elapsed() < limit {
        // Send everything due.
        let t = now();
        while let Some(p) = sched.pop_due(t) {
            let late = t - p.due;
            st.max_late_ns = st.max_late_ns.max(late);
            st.late_1ms += u64::from(late > 1_000_000);
            match tun.send(&p.pkt) {
                Ok(()) => engine.sent(p.target, p.kind),
                Err(_) => st.write_errors += 1,
            }
        }
        let timeout = match sched.next_due() {
            Some(due) => Duration::from_nanos(due.saturating_sub(now())),
            None => Duration::from_millis(200),
        };
        wait(tun, timeout.min(Duration::from_millis(200)), &mask)?;
        // Read a batch of requests.
        for _ in 0..READ_BATCH {
            let Some(n) = tun.recv(&mut buf)? else { break };
            st.packets_in += 1;
            engine.handle(now(), &buf[..n], &mut planned);
            for p in planned.drain(..) {
                if sched.len() < MAX_PENDING {
                    sched.push(p);
                } else {
                    st.overflow += 1;
                }
            }
        }
    }
    st.pending_at_exit = sched.len();
    st.elapsed = start.elapsed();
    Ok(st)
}
