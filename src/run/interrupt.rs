//! SIGINT/SIGTERM: counted, not fatal, so an interrupted scan still writes what it has.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// Routes SIGINT and SIGTERM to `count`. Once two have arrived the default action is
/// restored, so a third ends the process at once even if the writer hangs.
pub fn install(count: Arc<AtomicUsize>) -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM] {
        let c = Arc::clone(&count);
        // SAFETY: the action only touches an atomic, which is async-signal-safe.
        unsafe {
            signal_hook::low_level::register(sig, move || {
                if c.fetch_add(1, Relaxed) >= 2 {
                    signal_hook::low_level::emulate_default_handler(sig).ok();
                }
            })?;
        }
    }
    Ok(())
}
