//! The log cap: at most so many bytes of log lines per run, then one "Log truncated" line.
//!
//! This is the rule of the runtime's `LogCollector` (Agave, `log-collector/src/lib.rs`): a
//! line is kept when the bytes kept so far plus its length stay *below* the limit (10,000
//! bytes by default); the first line that would reach it is replaced by the line
//! `"Log truncated"` (once), and so is every later line that does not fit, while a later line
//! that still fits is kept. Lines are counted as the runtime
//! records them, with their framing (`"Program log: "`, `"Program data: "`, the
//! `"Program <id> invoke [1]"` lines of an instruction). `None` means no limit.

/// The runtime's default: 10,000 bytes of log per transaction.
pub const LOG_BYTES_LIMIT: usize = 10_000;

/// The line that replaces the first line over the limit.
pub const LOG_TRUNCATED: &str = "Log truncated";

/// The state of the log cap of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogCap {
    /// The byte limit, or `None` for no limit.
    pub limit: Option<usize>,
    /// The bytes of the lines kept so far.
    pub written: usize,
    /// Whether the truncation line has been recorded.
    pub truncated: bool,
}

impl Default for LogCap {
    fn default() -> Self {
        LogCap::new(Some(LOG_BYTES_LIMIT))
    }
}

impl LogCap {
    /// A cap with this limit and nothing written.
    pub fn new(limit: Option<usize>) -> Self {
        LogCap {
            limit,
            written: 0,
            truncated: false,
        }
    }

    /// The bytes that may still be written before the cap truncates (`usize::MAX` without a
    /// limit).
    pub fn available(&self) -> usize {
        self.limit
            .map_or(usize::MAX, |limit| limit.saturating_sub(self.written))
    }

    /// Records `line` into `lines` under the cap.
    pub fn record(&mut self, lines: &mut Vec<String>, line: String) {
        let Some(limit) = self.limit else {
            lines.push(line);
            return;
        };
        let written = self.written.saturating_add(line.len());
        if written >= limit {
            if !self.truncated {
                self.truncated = true;
                lines.push(LOG_TRUNCATED.to_owned());
            }
        } else {
            self.written = written;
            lines.push(line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_lines_stop_one_short_of_the_limit() {
        // The runtime's own test: 20,000 one-byte lines keep 9,999 and one truncation line.
        let mut cap = LogCap::default();
        let mut lines = Vec::new();
        for _ in 0..2 * LOG_BYTES_LIMIT {
            cap.record(&mut lines, "x".to_owned());
        }
        assert_eq!(lines.len(), LOG_BYTES_LIMIT);
        assert!(lines[..LOG_BYTES_LIMIT - 1].iter().all(|line| line == "x"));
        assert_eq!(lines.last().map(String::as_str), Some(LOG_TRUNCATED));
    }

    #[test]
    fn no_limit_keeps_everything_and_a_long_line_is_replaced_whole() {
        let mut cap = LogCap::new(None);
        let mut lines = Vec::new();
        cap.record(&mut lines, "y".repeat(20_000));
        assert_eq!(lines.len(), 1);
        let mut cap = LogCap::new(Some(100));
        let mut lines = Vec::new();
        cap.record(&mut lines, "short".to_owned());
        cap.record(&mut lines, "z".repeat(200));
        cap.record(&mut lines, "later".to_owned());
        assert_eq!(lines, ["short", LOG_TRUNCATED, "later"]);
        cap.record(&mut lines, "w".repeat(95));
        assert_eq!(lines.len(), 3);
        assert_eq!(cap.available(), 90);
    }
}
