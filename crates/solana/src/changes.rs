//! What an instruction did to an account: balance, owner, size and the byte ranges of its
//! data that changed, for people (text) and scripts (JSON).

use crate::account::Account;
use crate::invoke::AccountOutcome;
use serde_json::{json, Value};

/// A run of changed data bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataChange {
    /// The offset of the first changed byte.
    pub offset: usize,
    /// The bytes before (empty past the old end).
    pub before: Vec<u8>,
    /// The bytes after (empty past the new end).
    pub after: Vec<u8>,
}

/// The changed byte ranges between two data buffers, merging runs separated by fewer than 8
/// unchanged bytes.
pub fn data_changes(before: &[u8], after: &[u8]) -> Vec<DataChange> {
    let len = before.len().max(after.len());
    let differs = |i: usize| before.get(i) != after.get(i);
    let mut changes = Vec::new();
    let mut i = 0;
    while i < len {
        if !differs(i) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        let mut j = end;
        while j < len && j - end < 8 {
            if differs(j) {
                end = j + 1;
            }
            j += 1;
        }
        let slice = |data: &[u8]| {
            data.get(start.min(data.len())..end.min(data.len()))
                .unwrap_or_default()
                .to_vec()
        };
        changes.push(DataChange {
            offset: start,
            before: slice(before),
            after: slice(after),
        });
        i = end;
    }
    changes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether anything about the account changed.
pub fn changed(before: &Account, after: &Account) -> bool {
    before != after
}

/// The text lines describing one account's changes (one line "unchanged" when none).
pub fn describe(outcome: &AccountOutcome) -> Vec<String> {
    let (before, after) = (&outcome.before, &outcome.after);
    let mut lines = vec![format!("account {}", outcome.pubkey)];
    if !changed(before, after) {
        lines.push("  unchanged".to_owned());
        return lines;
    }
    if before.lamports != after.lamports {
        let delta = i128::from(after.lamports) - i128::from(before.lamports);
        lines.push(format!(
            "  lamports: {} -> {} ({delta:+})",
            before.lamports, after.lamports
        ));
    }
    if before.owner != after.owner {
        lines.push(format!("  owner: {} -> {}", before.owner, after.owner));
    }
    if before.data.len() != after.data.len() {
        lines.push(format!(
            "  size: {} -> {} bytes",
            before.data.len(),
            after.data.len()
        ));
    }
    for change in data_changes(&before.data, &after.data) {
        lines.push(format!(
            "  data[{}..{}]: {} -> {}",
            change.offset,
            change.offset + change.before.len().max(change.after.len()),
            hex(&change.before),
            hex(&change.after)
        ));
    }
    lines
}

/// The JSON form of one account's outcome.
pub fn to_json(outcome: &AccountOutcome) -> Value {
    let (before, after) = (&outcome.before, &outcome.after);
    let data: Vec<Value> = data_changes(&before.data, &after.data)
        .iter()
        .map(|c| json!({"offset": c.offset, "before": hex(&c.before), "after": hex(&c.after)}))
        .collect();
    json!({
        "pubkey": outcome.pubkey.to_string(),
        "changed": changed(before, after),
        "lamports": {"before": before.lamports, "after": after.lamports},
        "owner": {"before": before.owner.to_string(), "after": after.owner.to_string()},
        "size": {"before": before.data.len(), "after": after.data.len()},
        "data_changes": data,
        "data_after": hex(&after.data),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_ranges_merge_close_runs_and_cover_growth() {
        let before = [0u8; 32];
        let mut after = [0u8; 32];
        after[1] = 1;
        after[4] = 2;
        after[20] = 3;
        let changes = data_changes(&before, &after);
        assert_eq!(changes.len(), 2);
        assert_eq!(
            (changes[0].offset, changes[0].after.clone()),
            (1, vec![1, 0, 0, 2])
        );
        assert_eq!((changes[1].offset, changes[1].after.clone()), (20, vec![3]));
        let grown = data_changes(&[1, 2], &[1, 2, 3]);
        assert_eq!(
            grown,
            [DataChange {
                offset: 2,
                before: vec![],
                after: vec![3]
            }]
        );
    }
}
