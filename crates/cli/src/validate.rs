//! The limits of every size and count the command line takes, and their checks.
//!
//! clap rejects what does not parse (negative numbers, words, values past the type's range);
//! this module rejects what parses but is out of range, before anything is allocated:
//!
//! | option | limit |
//! |---|---|
//! | `--heap`, Solana programs | 32 KiB to 256 KiB, a multiple of 1 KiB (the runtime's heap frames) |
//! | `--heap`, other programs | at most 1 GiB |
//! | `--input`, `--input-hex`, `--instruction-data` | at most 1 GiB |
//! | the program file | at most 64 MiB |
//! | `--repeat` | 1 to 100,000 |
//! | `--iterations` (`bench`) | 1 to 10,000 |
//! | `--budget` | any u64 (time is bounded by it; memory is not) |
//! | `--port` | a u16 |
//!
//! Heap and input must also fit in the memory available (`MemAvailable` in /proc/meminfo,
//! where the system has it), since both are allocated whole. A failed check is a usage error
//! (exit code 2) naming the option, the value and the limit.

use crate::failure::Failure;
use bpfvm::limits::{SOLANA_HEAP_GRANULE, SOLANA_MAX_HEAP_SIZE, SOLANA_MIN_HEAP_SIZE};
use std::io::Read;
use std::path::Path;

/// The largest heap of a program that is not a Solana program.
pub const MAX_OTHER_HEAP: u64 = 1 << 30;
/// The largest input region.
pub const MAX_INPUT: u64 = 1 << 30;
/// The largest program file.
pub const MAX_PROGRAM: u64 = 64 << 20;
/// The most runs of `--repeat`.
pub const MAX_REPEAT: u64 = 100_000;
/// The most runs per program and backend of `bench --iterations`.
pub const MAX_ITERATIONS: u64 = 10_000;

/// Which rules a program's heap follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeapRules {
    /// The Solana runtime's heap frames.
    Solana,
    /// Anything up to [`MAX_OTHER_HEAP`].
    Other,
}

/// Checks `--heap` and returns it as a size.
pub fn heap(bytes: u64, rules: HeapRules) -> Result<usize, Failure> {
    match rules {
        HeapRules::Solana => {
            if !(SOLANA_MIN_HEAP_SIZE..=SOLANA_MAX_HEAP_SIZE).contains(&bytes)
                || bytes % SOLANA_HEAP_GRANULE != 0
            {
                return Err(Failure::out_of_range(
                    "--heap",
                    format!(
                        "--heap {bytes}: a Solana program's heap is {SOLANA_MIN_HEAP_SIZE} to \
                         {SOLANA_MAX_HEAP_SIZE} bytes (32 KiB to 256 KiB), a multiple of \
                         {SOLANA_HEAP_GRANULE}, as the runtime's heap frames"
                    ),
                ));
            }
        }
        HeapRules::Other => {
            if bytes > MAX_OTHER_HEAP {
                return Err(Failure::out_of_range(
                    "--heap",
                    format!("--heap {bytes}: the heap is at most {MAX_OTHER_HEAP} bytes (1 GiB)"),
                ));
            }
        }
    }
    fits_in_memory("--heap", "the heap would", bytes)?;
    usize::try_from(bytes)
        .map_err(|_| Failure::out_of_range("--heap", format!("--heap {bytes} does not fit")))
}

/// Checks a count against `1..=max`.
pub fn count(option: &str, value: u64, max: u64) -> Result<usize, Failure> {
    if value == 0 || value > max {
        return Err(Failure::out_of_range(
            option,
            format!("{option} {value}: must be 1 to {max}"),
        ));
    }
    usize::try_from(value)
        .map_err(|_| Failure::out_of_range(option, format!("{option} {value} does not fit")))
}

/// Checks that `bytes` of `what` (the option's value, the heap and the input together) can
/// be allocated: at most the memory available, where known.
pub fn fits_in_memory(option: &str, what: &str, bytes: u64) -> Result<(), Failure> {
    match available_memory() {
        Some(available) if bytes > available => Err(Failure::out_of_range(
            option,
            format!(
                "{option}: {what} need {bytes} bytes, more than the {available} bytes of memory \
                 available"
            ),
        )),
        _ => Ok(()),
    }
}

/// `MemAvailable` from /proc/meminfo, in bytes, where the system reports it.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_available(&meminfo)
}

fn meminfo_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Reads a file (`-`: standard input) of at most `limit` bytes, checking the size before
/// reading where the file system tells it. `what` names the option in messages.
pub fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Failure> {
    let too_large = |size: u64| {
        Failure::out_of_range(
            what,
            format!(
                "{what} {}: {size} bytes or more, over the limit of {limit} bytes",
                path.display()
            ),
        )
    };
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        let stdin = std::io::stdin().lock();
        stdin
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::read(path, &e))?;
    } else {
        let file = std::fs::File::open(path).map_err(|e| Failure::read(path, &e))?;
        if let Ok(metadata) = file.metadata() {
            if metadata.len() > limit {
                return Err(too_large(metadata.len()));
            }
            fits_in_memory(what, "its bytes would", metadata.len())?;
        }
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::read(path, &e))?;
    }
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_gives_bytes() {
        let meminfo = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(meminfo_available(meminfo), Some(2048 * 1024));
        assert_eq!(meminfo_available("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn solana_heaps_are_runtime_frames() {
        assert!(heap(32 * 1024, HeapRules::Solana).is_ok());
        assert!(heap(256 * 1024, HeapRules::Solana).is_ok());
        for bad in [
            0,
            1,
            32 * 1024 - 1024,
            32 * 1024 + 1,
            256 * 1024 + 1024,
            u64::MAX,
        ] {
            assert!(heap(bad, HeapRules::Solana).is_err(), "{bad}");
        }
        assert!(heap(0, HeapRules::Other).is_ok());
        assert!(heap(MAX_OTHER_HEAP + 1, HeapRules::Other).is_err());
    }

    #[test]
    fn counts_are_one_to_max() {
        assert!(count("--repeat", 0, 10).is_err());
        assert_eq!(count("--repeat", 10, 10).ok(), Some(10));
        assert!(count("--repeat", 11, 10).is_err());
    }
}
