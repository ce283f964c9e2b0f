//! Memory faulted in ahead, and in huge pages, for a large runbook's model.
//!
//! Parsing a large runbook allocates its model in hundreds of thousands of
//! small pieces on the walking thread's heap. Each fresh page of it cost a
//! page fault the first time it was written: about a quarter of the walk's
//! time in the profile of `list` on a 10 MB runbook. [`grow`] makes the
//! heap larger by about what the model will take, before the walk; a helper
//! thread then faults that room in ([`Room::populate`]) while the walk
//! starts, a megabyte per system call instead of a fault per page. Large
//! buffers (the text, the room, the model's vectors) are asked for in huge
//! pages ([`huge_capacity`], [`push`]).
//!
//! The room only with glibc's allocator on Linux, where the heap's top is
//! found with `sbrk(0)`; huge pages only on Linux. Elsewhere nothing
//! changes.

use std::ops::Range;

/// Heap pages not yet touched, to be faulted in.
#[derive(Debug)]
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
pub(crate) struct Room(Range<usize>);

/// Grows the heap of the calling thread's allocator by about `bytes`, kept
/// as the heap's free top: the allocations that follow on this thread are
/// carved from it. None when the heap could not be grown that way.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub(crate) fn grow(bytes: usize) -> Option<Room> {
    // Each piece asked for is below glibc's mmap threshold (128 KiB, fixed
    // once M_TOP_PAD is set), so it is carved from the heap's top; once the
    // top runs out the heap grows by the piece and the pad.
    const PIECE: usize = 64 * 1024;
    let pad = libc::c_int::try_from(bytes).ok()?;
    // SAFETY: getpid and gettid cannot fail.
    if unsafe { libc::gettid() != libc::getpid() } {
        // Another thread allocates from an arena of its own, not the heap.
        return None;
    }
    // SAFETY: mallopt, sbrk(0), malloc and free are called as documented;
    // sbrk(0) only reads the current end of the heap.
    unsafe {
        if libc::mallopt(libc::M_TOP_PAD, pad) != 1 {
            return None;
        }
        let before = libc::sbrk(0) as usize;
        let mut taken = Vec::new();
        let mut after = before;
        while after == before && taken.len() < 64 {
            let p = libc::malloc(PIECE);
            if p.is_null() {
                break;
            }
            taken.push(p);
            after = libc::sbrk(0) as usize;
        }
        for p in taken {
            libc::free(p);
        }
        // Freeing may have given the top back beyond the pad.
        let after = libc::sbrk(0) as usize;
        (after > before).then_some(Room(before..after))
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn grow(_bytes: usize) -> Option<Room> {
    None
}

impl Room {
    /// The room in huge pages (see `huge_capacity`).
    pub(crate) fn huge_pages(&self) {
        huge_pages_at(self.0.start, self.0.end - self.0.start);
    }

    /// Faults the room in. Its contents are left alone: what the allocator
    /// has written there already stays, the rest reads as zeros as before.
    pub(crate) fn populate(&self) {
        #[cfg(target_os = "linux")]
        {
            // A megabyte a call: the kernel holds the process's map lock
            // while it faults a range in, and a thread being started (its
            // stack mapped) waited out the whole room.
            const STEP: usize = 1 << 20;
            const PAGE: usize = 4096;
            let mut start = self.0.start.next_multiple_of(PAGE);
            let end = self.0.end / PAGE * PAGE;
            while start < end {
                let len = STEP.min(end - start);
                // SAFETY: the range lies within the heap's mapping, and
                // MADV_POPULATE_WRITE changes no byte of it. An older
                // kernel refuses the advice (EINVAL): then nothing is done.
                let refused = unsafe {
                    libc::madvise(start as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE)
                } != 0;
                if refused {
                    return;
                }
                start += len;
            }
        }
    }
}

/// Asks for the memory of a vector's whole capacity, used or not, in huge
/// pages where the system hands them out on request (transparent huge
/// pages in `madvise` mode): one fault per 2 MiB written instead of one per
/// 4 KiB. Small vectors, and other systems, are left as they are.
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

fn huge_pages_at(start: usize, len: usize) {
    const HUGE: usize = 2 << 20;
    #[cfg(target_os = "linux")]
    {
        let first = start.next_multiple_of(HUGE);
        let end = (start + len) / HUGE * HUGE;
        if end > first {
            // SAFETY: the range lies within a live allocation, and the
            // advice changes how its pages are backed, not what they hold.
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

    /// Huge pages and faulting in change how memory is backed, never what
    /// it holds: a vector grown past several huge pages reads back whole.
    #[test]
    fn huge_pages_and_faulting_in_change_no_byte() {
        let mut v: Vec<u64> = Vec::new();
        for i in 0..(3u64 << 20) {
            push(&mut v, i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        }
        let start = v.as_ptr() as usize;
        let room = Room(start..start + v.capacity() * 8);
        room.huge_pages();
        room.populate();
        for (i, &x) in (0u64..).zip(&v) {
            assert_eq!(x, i.wrapping_mul(0x9e37_79b9_7f4a_7c15), "at {i}");
        }
    }
}
