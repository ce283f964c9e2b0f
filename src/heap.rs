//! Large buffers in huge pages, for a large runbook's text and model.
//!
//! Parsing a large runbook allocates its model in hundreds of thousands of
//! small pieces on the walking thread's heap, and a few large vectors. Each
//! fresh 4 KiB page of them cost a page fault the first time it was
//! written: about a quarter of the walk's time in the profile of `list` on
//! a 10 MB runbook. Where the system hands out transparent huge pages on
//! request (`madvise` mode), one fault then brings 2 MiB:
//! [`room_for`] grows the heap ahead by about what the model will take and
//! asks for that room in huge pages; [`huge_capacity`] and [`push`] do the
//! same for a large vector.
//!
//! The room only with glibc's allocator on Linux, where the heap's top is
//! found with `sbrk(0)`; huge pages only on Linux. Elsewhere nothing
//! changes.

/// Grows the heap of the calling thread's allocator by about `bytes`, kept
/// as the heap's free top (the allocations that follow on this thread are
/// carved from it), and asks for that room in huge pages. Nothing happens
/// on another thread than the process's first, which allocates from an
/// arena of its own.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn room_for(bytes: usize) {
    // Each piece asked for is below glibc's mmap threshold (128 KiB, fixed
    // once M_TOP_PAD is set), so it is carved from the heap's top; once the
    // top runs out the heap grows by the piece and the pad.
    const PIECE: usize = 64 * 1024;
    let Ok(pad) = libc::c_int::try_from(bytes) else {
        return;
    };
    // SAFETY: getpid and gettid cannot fail.
    if unsafe { libc::gettid() != libc::getpid() } {
        return;
    }
    // SAFETY: mallopt, sbrk(0), malloc and free are called as documented;
    // sbrk(0) only reads the current end of the heap.
    let (before, after) = unsafe {
        if libc::mallopt(libc::M_TOP_PAD, pad) != 1 {
            return;
        }
        let before = libc::sbrk(0) as usize;
        let mut taken = Vec::new();
        while libc::sbrk(0) as usize == before && taken.len() < 64 {
            let p = libc::malloc(PIECE);
            if p.is_null() {
                break;
            }
            taken.push(p);
        }
        for p in taken {
            libc::free(p);
        }
        // Freeing may have given the top back beyond the pad.
        (before, libc::sbrk(0) as usize)
    };
    if after > before {
        huge_pages_at(before, after - before);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn room_for(_bytes: usize) {}

/// Asks for the memory of a vector's whole capacity, used or not, in huge
/// pages (see the module's documentation). Small vectors, and other
/// systems, are left as they are.
pub(crate) fn huge_capacity<T>(v: &Vec<T>) {
    huge_pages_at(v.as_ptr() as usize, v.capacity() * std::mem::size_of::<T>());
}

/// Pushes onto a vector that may grow large, asking for huge pages each
/// time it moves to a larger buffer.
pub(crate) fn push<T>(v: &mut Vec<T>, item: T) {
    let before = v.capacity();
    v.push(item);
    if v.capacity() != before {
        huge_capacity(v);
    }
}

/// The 2 MiB-aligned part of `start..start + len`, in huge pages.
fn huge_pages_at(start: usize, len: usize) {
    const HUGE: usize = 2 << 20;
    #[cfg(target_os = "linux")]
    {
        let first = start.next_multiple_of(HUGE);
        let end = (start + len) / HUGE * HUGE;
        if end > first {
            // SAFETY: the range lies within a live allocation, and the
            // advice changes how its pages are backed, not what they hold.
            // A kernel without transparent huge pages refuses it: then
            // nothing changes.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len, HUGE);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Huge pages change how memory is backed, never what it holds: a
    /// vector grown past several huge pages reads back whole.
    #[test]
    fn huge_pages_change_no_byte() {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..(3u64 << 20) {
            push(&mut v, i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
        huge_capacity(&v);
        for (i, &x) in (0u64..).zip(&v) {
            assert_eq!(x, i.wrapping_mul(0x9e37_79b9_7f4a_7c15), "at {i}");
        }
    }
}
