//! The kernels' own defence, in release builds too: `tl_alloc` / `tl_free` keep a sorted table of
//! the live blocks, and every export checks, once per call, that each pointer argument with the
//! extent its dimensions imply lies inside one live block ([`spans`]). Extents are computed with
//! checked arithmetic, so a size product that overflows `usize` fails instead of wrapping.
//!
//! A failed check calls the imported `env.tl_fail`, which throws a JS exception (`ts/core/wasm.ts`
//! turns it into a `TorchletError` with code `OUT_OF_BOUNDS`); the exception unwinds through the
//! export before the kernel touches memory, so a bug in the TS layer surfaces as an error, never
//! as a write into another tensor. The export also returns early when `tl_fail` returns (it never
//! does under `ts/core/wasm.ts`; natively it panics).
//!
//! Cost: one binary search per pointer argument, over the live blocks (hundreds in a training
//! run), per call; nothing per element except in the three kernels whose writes are steered by
//! data (`gather_rows`, `one_hot`, `maxpool_backward_delta`), which check their indices in a
//! read-only pass first.

use std::cell::RefCell;

/// Why a check failed; the value passed to `tl_fail` as `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Reason {
    /// The argument's extent is not inside one live block from `tl_alloc` (out of bounds, freed,
    /// or never allocated).
    NotLive = 1,
    /// The argument's extent, from the dimensions, overflows `usize`.
    Overflow = 2,
    /// An index held in the argument (arg-max, row index, label) points outside its target.
    BadIndex = 3,
    /// `tl_free` of something that is not a live block of that size (a double free).
    BadFree = 4,
}

/// Entries the table starts with (8 bytes each on wasm32); it doubles past that.
const TABLE_START: usize = 4096;

/// Slots of the lookup cache (a power of two).
const CACHE: usize = 64;

/// The live blocks, and a direct-mapped cache of recent lookups in front of the binary search.
struct Table {
    /// (start, end) of each live block, sorted by start, disjoint.
    live: Vec<(usize, usize)>,
    /// (pointer, end of the block holding it), at slot [`slot`]`(pointer)`; pointer 0 = empty.
    /// A training step passes the same few dozen pointers each time, so nearly every check is
    /// one probe here. Freeing a block forgets the pointers into it.
    cache: [(usize, usize); CACHE],
}

/// Cache slot of a pointer (blocks are 16-aligned; views start at any 4-byte offset).
#[inline(always)]
fn slot(ptr: usize) -> usize {
    ((ptr >> 2) ^ (ptr >> 9)) & (CACHE - 1)
}

thread_local! {
    // wasm32 without threads makes this a plain static; natively each test thread has its own.
    static LIVE: RefCell<Table> = const {
        RefCell::new(Table { live: Vec::new(), cache: [(0, 0); CACHE] })
    };
}

/// Records a block from `tl_alloc`.
pub fn register(ptr: usize, bytes: usize) {
    LIVE.with(|live| {
        let live = &mut live.borrow_mut().live;
        if live.capacity() == 0 {
            // One 32 KiB table up front: regrowing it between tensors would fragment the heap
            // and grow memory in runs that are otherwise flat.
            live.reserve(TABLE_START);
        }
        let i = live.partition_point(|&(s, _)| s < ptr);
        live.insert(i, (ptr, ptr.saturating_add(bytes)));
    })
}

/// Forgets the block starting at `ptr` of `bytes`; false when there is none (a double free, or a
/// size other than the one allocated).
pub fn unregister(ptr: usize, bytes: usize) -> bool {
    LIVE.with(|t| {
        let mut t = t.borrow_mut();
        let i = t.live.partition_point(|&(s, _)| s < ptr);
        match t.live.get(i) {
            Some(&(s, e)) if s == ptr && e == ptr.saturating_add(bytes) => {
                t.live.remove(i);
                // Forget only the cached pointers into this block: a training step frees a
                // temporary or two, and the other pointers stay one probe away.
                for c in t.cache.iter_mut() {
                    if c.0 >= s && c.0 < e {
                        *c = (0, 0);
                    }
                }
                true
            }
            _ => false,
        }
    })
}

/// Number of live blocks (for tests).
pub fn live_blocks() -> usize {
    LIVE.with(|t| t.borrow().live.len())
}

/// True when `[ptr, ptr + bytes)` lies inside one live block (an empty extent: `ptr` inside or
/// at the end of one).
#[inline]
pub fn is_live(ptr: usize, bytes: usize) -> bool {
    let end = match ptr.checked_add(bytes) {
        Some(end) => end,
        None => return false,
    };
    LIVE.with(|t| {
        let mut t = t.borrow_mut();
        let (key, e) = t.cache[slot(ptr)];
        if key == ptr && ptr != 0 {
            return end <= e;
        }
        // The last block starting at or before ptr is the only one that can hold it.
        let i = t.live.partition_point(|&(s, _)| s <= ptr);
        if i == 0 {
            return false;
        }
        let (_, e) = t.live[i - 1];
        if ptr >= e {
            // Past the block; at its very end only an empty extent fits (not cached).
            return ptr == e && bytes == 0;
        }
        t.cache[slot(ptr)] = (ptr, e);
        end <= e
    })
}

/// Product of `dims`, None on overflow.
#[inline(always)]
pub fn prod(dims: &[usize]) -> Option<usize> {
    let mut n: usize = 1;
    for &d in dims {
        n = n.checked_mul(d)?;
    }
    Some(n)
}

/// Floats reached by a strided matrix `rows x cols` with element (i, j) at `i·rs + j·cs`:
/// `(rows - 1)·rs + (cols - 1)·cs + 1`, 0 when it is empty. None on overflow.
#[inline(always)]
pub fn strided(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1).checked_mul(rs)?.checked_add((cols - 1).checked_mul(cs)?)?.checked_add(1)
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    static OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the checks off on this thread: native only, for tests that call the exports on
/// Rust-owned buffers (which `tl_alloc` never saw). The `.wasm` has no such switch.
#[cfg(not(target_arch = "wasm32"))]
pub fn without_checks<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            OFF.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(OFF.with(|o| o.replace(true)));
    f()
}

/// One pointer argument: its name, address and extent in 4-byte elements (None: overflowed).
pub type Arg = (&'static str, usize, Option<usize>);

/// Checks every argument of `export`, `args` being its parameters `first`, `first + 1`, ...;
/// on the first failure reports it through [`fail`] and returns false (the export then returns
/// without touching memory).
#[inline(always)]
pub fn spans(export: &'static str, first: usize, args: &[Arg]) -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    if OFF.with(|o| o.get()) {
        return true;
    }
    for (i, &(name, ptr, elems)) in args.iter().enumerate() {
        let i = first + i;
        let reason = match elems.and_then(|n| n.checked_mul(4)) {
            None => Reason::Overflow,
            Some(bytes) if is_live(ptr, bytes) => continue,
            Some(_) => Reason::NotLive,
        };
        fail(export, name, i, reason);
        return false;
    }
    true
}

#[cfg(target_arch = "wasm32")]
extern "C" {
    /// Imported from JS (`env.tl_fail`): throws. Strings are UTF-8 in linear memory.
    #[link_name = "tl_fail"]
    fn tl_fail_import(
        export: *const u8,
        export_len: usize,
        arg: *const u8,
        arg_len: usize,
        arg_index: u32,
        reason: u32,
    );
}

/// Reports a failed check of argument `index` (`name`) of `export`. Under JS it throws and does
/// not return; natively it panics.
#[cold]
#[inline(never)]
pub fn fail(export: &'static str, name: &'static str, index: usize, reason: Reason) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: the strings are 'static; the import only reads them.
    unsafe {
        tl_fail_import(
            export.as_ptr(),
            export.len(),
            name.as_ptr(),
            name.len(),
            index as u32,
            reason as u32,
        )
    }
    #[cfg(not(target_arch = "wasm32"))]
    panic!("{export}: argument {index} ({name}) failed the bounds check: {reason:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_finds_interior_extents_only() {
        register(1000, 64);
        register(2000, 16);
        register(1064, 16);
        assert!(is_live(1000, 64));
        assert!(is_live(1010, 54));
        assert!(!is_live(1010, 55));
        assert!(is_live(1064, 16));
        assert!(!is_live(1060, 8), "straddles two blocks");
        assert!(is_live(2016, 0), "empty extent at the end of a block");
        assert!(!is_live(999, 1));
        assert!(!is_live(3000, 0));
        assert!(!is_live(1000, usize::MAX));
        assert!(is_live(1064, 16), "a cached hit");
        assert!(!unregister(1000, 32), "wrong size");
        assert!(unregister(1000, 64));
        assert!(!unregister(1000, 64), "double free");
        assert!(!is_live(1000, 4), "freed: the cache forgot it");
        assert!(!is_live(1010, 4));
        assert!(unregister(1064, 16) && unregister(2000, 16));
        assert!(!is_live(1064, 16));
        assert_eq!(live_blocks(), 0);
    }

    #[test]
    fn products_overflow_to_none() {
        assert_eq!(prod(&[3, 4, 5]), Some(60));
        assert_eq!(prod(&[usize::MAX, 2]), None);
        assert_eq!(prod(&[usize::MAX, 0]), Some(0));
        assert_eq!(strided(0, 5, 9, 9), Some(0));
        assert_eq!(strided(3, 4, 4, 1), Some(12));
        assert_eq!(strided(3, 4, 1, 3), Some(12));
        assert_eq!(strided(usize::MAX, 2, 2, 1), None);
    }

    #[test]
    #[should_panic(expected = "argument 1 (y)")]
    fn spans_fails_on_the_first_bad_argument() {
        register(4096, 16);
        let _ = spans("k", 0, &[("x", 4096, Some(4)), ("y", 4096, Some(5))]);
    }

    #[test]
    #[should_panic(expected = "Overflow")]
    fn spans_fails_on_overflow() {
        register(4096, 16);
        let _ = spans("k", 0, &[("x", 4096, prod(&[usize::MAX, 3]))]);
    }
}
