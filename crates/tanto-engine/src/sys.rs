//! The engine's calls into libc that need `unsafe`, one function each.

/// Gives the allocator's free memory back to the kernel. glibc keeps what a
/// burst of large requests freed in its arenas, fragmented, for good; this
/// returns every free page. A no-op on other C libraries.
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointers, is thread-safe, and only
    // releases memory that no allocation holds.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    fn rss_mib() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<usize>().ok())
            .unwrap_or(0);
        kib / 1024
    }

    #[test]
    fn freed_memory_goes_back_after_a_trim() {
        // 200 MiB in 4 KiB blocks, with a small block kept every 256 KiB: once
        // the big ones are freed, no heap can shrink from its top.
        let before = rss_mib();
        let mut big = Vec::new();
        let mut kept = Vec::new();
        for i in 0..(200 << 8) {
            big.push(vec![1u8; 4096]);
            if i % 64 == 0 {
                kept.push(vec![1u8; 64]);
            }
        }
        drop(big);
        let freed = rss_mib();
        trim_heap();
        let trimmed = rss_mib();
        assert!(freed >= before + 150, "the blocks were resident: {before} -> {freed} MiB");
        assert!(trimmed < before + 50, "a trim gives them back: {before} -> {freed} -> {trimmed} MiB");
        drop(kept);
    }
}
