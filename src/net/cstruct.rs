//! Arrays of the C structs the batch system calls (sendmmsg, recvmmsg) read and fill,
//! made in one place with the one `unsafe` their zeroing needs.

/// A C struct whose all-zero bytes are a valid value (null pointers, zero lengths).
///
/// # Safety
/// Implement only for plain-data C types with no references, enums or niches.
pub unsafe trait Zeroable: Copy {}

// SAFETY: libc's plain C structs: integers and raw pointers, all-zero is valid.
unsafe impl Zeroable for libc::iovec {}
unsafe impl Zeroable for libc::mmsghdr {}
unsafe impl Zeroable for libc::msghdr {}
unsafe impl Zeroable for libc::sockaddr_storage {}
unsafe impl Zeroable for libc::sockaddr_ll {}

/// One zeroed `T`.
pub fn zeroed<T: Zeroable>() -> T {
    // SAFETY: `Zeroable` promises all-zero bytes are a valid `T`.
    unsafe { std::mem::zeroed() }
}

/// `n` zeroed `T`s, to be pointed at the batch's buffers before each call.
pub fn zeroed_vec<T: Zeroable>(n: usize) -> Vec<T> {
    vec![zeroed(); n]
}
