//! The verifier: the rules a program must pass before any backend runs it.
//!
//! It walks the text once and checks every rule of reference §7 for sBPF in the reference's
//! order: first the opcode-specific rule, then the register fields. eBPF gets its own rules
//! (RFC 9669): division by an immediate zero and shifts by any immediate are defined there, so
//! they pass; calls must be helper calls (src 0) or local calls (src 1) to a valid target.
//!
//! sBPF slots first meet the fast path ([`fast`]), which passes the common cases from the raw
//! fields and a per-opcode rule; whatever it cannot pass goes to the exact rules ([`rules`]),
//! which decode the instruction and name the reference's error. eBPF uses the exact rules only.
//! Verifying builds nothing per slot: the forms made from the text (the neutral form the
//! backends run, the decoded instructions tools read) are built on first use, by
//! [`VerifiedProgram`](crate::VerifiedProgram), which only [`verify`](crate::verify) makes,
//! after these rules pass.
//!
//! **Architecture invariant:** the verifier knows no backend and builds nothing for one: it
//! says yes or names the error. Every instruction of a program it accepted decodes, every
//! jump lands on an instruction, and every register field an instruction uses is r0 to r10
//! (r11 only in sBPF's stack-pointer moves).

mod fast;
mod rules;

use crate::config::Config;
use crate::error::VerifyError;
use bpfvm_isa::{decode_slot, Dialect, Insn, Slot, SLOT_SIZE};

/// Runs every rule over `text` and returns the decoded instructions, one entry per slot (see
/// [`VerifiedProgram::decoded`](crate::VerifiedProgram::decoded)).
pub fn check(
    text: &[u8],
    dialect: Dialect,
    config: &Config,
) -> Result<Vec<Option<Insn>>, VerifyError> {
    check_text(text, dialect, config)?;
    Ok(decode_verified(text, dialect))
}

/// Runs every rule over `text`, building nothing.
pub fn check_text(text: &[u8], dialect: Dialect, config: &Config) -> Result<(), VerifyError> {
    if text.len() % SLOT_SIZE != 0 {
        return Err(VerifyError::ProgramLengthNotMultiple);
    }
    if text.is_empty() {
        return Err(VerifyError::NoProgram);
    }
    let text = rules::Text::new(text);
    match fast::checks_of(dialect) {
        Some(checks) => check_sbpf(text, dialect, checks, config),
        None => check_ebpf(text, config),
    }
}

/// The sBPF walk: every slot is judged by the fast path, and only the slots it cannot pass
/// go to the exact rules.
///
/// The walk visits every slot in order and masks the verdict of an lddw's second slot, rather
/// than stepping by each instruction's length: the address of the next slot then never waits
/// for the verdict on this one, and the processor overlaps the slots' loads.
fn check_sbpf(
    text: rules::Text<'_>,
    dialect: Dialect,
    checks: &[fast::Check; 256],
    config: &Config,
) -> Result<(), VerifyError> {
    // Whether the slot is the second half of an lddw that passed.
    let mut second_half = false;
    for pc in 0..text.len() {
        let verdict = fast::sbpf_verdict(text, pc, checks);
        if !(second_half | verdict.passes) {
            let insn = rules::check_instruction(text, pc, dialect, config)?;
            second_half = insn.slot_count() == 2;
            continue;
        }
        second_half = !second_half & verdict.lddw;
    }
    Ok(())
}

/// The eBPF walk: the exact rules, instruction by instruction.
fn check_ebpf(text: rules::Text<'_>, config: &Config) -> Result<(), VerifyError> {
    let mut pc = 0;
    while pc < text.len() {
        pc += rules::check_instruction(text, pc, Dialect::Ebpf, config)?.slot_count();
    }
    Ok(())
}

/// Decodes text the verifier accepted, one entry per slot. Accepted text always decodes, so
/// the `None` a failed decode would leave cannot occur; were it to, it is the entry the
/// backends already refuse to run (as they refuse a jump into an lddw's second slot).
pub(crate) fn decode_verified(text: &[u8], dialect: Dialect) -> Vec<Option<Insn>> {
    let mut decoded = vec![None; text.len() / SLOT_SIZE];
    let mut pc = 0;
    while let (Some(entry), Some(slot)) = (decoded.get_mut(pc), Slot::at(text, pc)) {
        let insn = decode_slot(slot, || Slot::at(text, pc.wrapping_add(1)), dialect).ok();
        *entry = insn;
        pc += insn.map_or(1, |insn| insn.slot_count());
    }
    decoded
}

#[cfg(test)]
mod tests;
