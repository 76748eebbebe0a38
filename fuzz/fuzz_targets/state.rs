//! Untrusted bytes as a resume state file (`--resume FILE`): parsing must never panic,
//! and whatever it accepts must answer `is_answered` for any index.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sweep::run::state::State;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = State::parse(data) {
        for i in [0, 1, 7, 8, state.answered.len() * 8, usize::MAX] {
            let _ = state.is_answered(i);
        }
    }
});
