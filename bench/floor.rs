//! `floor`: times the work no aggregation can skip (mosagg::floor), for bench/run.sh.
//!
//!     floor --unified OUT.parquet --scratch DIR SHARD...
//!
//! Prints one tab-separated line per part (name, seconds, of them in the kernel, bytes,
//! rows, what), then the
//! CPU seconds of the parts every run must do and that sum shared over the machine's
//! cores: the floor of the wall time.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut unified = None;
    let mut scratch = None;
    let mut inputs = Vec::new();
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--unified") => unified = args.next().map(PathBuf::from),
            Some("--scratch") => scratch = args.next().map(PathBuf::from),
            _ => inputs.push(PathBuf::from(arg)),
        }
    }
    let (Some(unified), Some(scratch)) = (unified, scratch) else {
        eprintln!("usage: floor --unified OUT.parquet --scratch DIR SHARD...");
        return ExitCode::from(2);
    };
    if inputs.is_empty() {
        eprintln!("floor: no shards given");
        return ExitCode::from(2);
    }
    let parts = match mosagg::floor::measure(&inputs, &unified, &scratch) {
        Ok(parts) => parts,
        Err(e) => {
            eprintln!("floor: {e}");
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    println!("part\tseconds\tkernel_s\tbytes\trows\twhat");
    for p in &parts {
        println!(
            "{}\t{:.3}\t{:.3}\t{}\t{}\t{}",
            p.name, p.seconds, p.system_seconds, p.bytes, p.rows, p.what
        );
    }
    let cpu: f64 = parts
        .iter()
        .filter(|p| mosagg::floor::in_floor(p))
        .map(|p| p.seconds)
        .sum();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "cpu_floor\t{cpu:.3}\t\t\t\tCPU seconds of read, sha256_in, parse, jsonl_out, parquet_out"
    );
    println!(
        "wall_floor\t{:.3}\t\t\t\tthe CPU seconds shared perfectly over {cores} cores",
        cpu / cores as f64
    );
    ExitCode::SUCCESS
}
