use clap::Parser;

use mosagg::cli::{Cli, dispatch};

fn main() {
    tune_the_allocator();
    // Arguments are paths, and a path may be any bytes the OS allows: never `args()`,
    // which panics on one that is not UTF-8. The manifest records them as text.
    let argv_os: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let argv: Vec<String> = argv_os
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = Cli::parse_from(argv_os);
    mosagg::logger::install();
    if let Err(e) = mosagg::cleanup::exit_cleanly_on_signals() {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
    match dispatch(cli, argv) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}

/// Large buffers (a bucket's rows, its sorts, the merge's batches) are allocated and
/// freed all through a run, on several threads. glibc raises its mmap threshold each
/// time such a buffer is freed; after that they come from the heap, fragment it, and
/// the freed memory is not returned: the 10M-row run peaked at 2.1 GiB of RSS for 1 GiB
/// of accounted memory. A fixed threshold keeps them mapped, so freeing them returns
/// them to the system (1.3 GiB, at the same speed).
///
/// The threshold is 16 MiB, not lower: every mapped buffer comes back as fresh pages
/// the kernel must fault in and zero. At 4 MiB the read buffers (4 MiB each then) and a
/// bucket's columns were all mapped: 1.7M page faults and 36 s of system time at 10M
/// rows, against 0.33M faults and 25 s at 16 MiB (52 s instead of 57 s wall; peak RSS
/// 1.28 GiB instead of 1.23 at 1G, 653 MiB at 256M).
///
/// Each heap keeps 64 MiB free at its top (the top pad) rather than handing every freed
/// stretch back at once: the buffers below the threshold are freed and taken again all
/// through a run, and memory handed back comes back as fresh pages, which on the
/// benchmark's virtual machine cost 0.4 to 1.5 CPU-s a gigabyte to touch (BENCHMARKS.md).
/// At 10M rows: 2 s less kernel time and 2-8 % less wall time, for 40-160 MiB more peak
/// RSS (1.04 GiB at 1G, 657 MiB at 512M, 419 MiB at 256M); the realistic set the same.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_the_allocator() {
    // SAFETY: mallopt only changes allocator parameters; called before any other thread
    // exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 16 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_the_allocator() {}
