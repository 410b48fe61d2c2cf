//! JIT hardening: diversifying the machine code without changing what it does. About one
//! random 1-byte `nop` per `noop_instruction_rate` BPF instructions, and with
//! `sanitize_user_provided_values` constant blinding of program-supplied immediates that are
//! not small: the backend emits such a value as `value - key` plus an add of a fresh random
//! key. Memory offsets and the value of `st` are emitted in the clear (the reference does not
//! blind the latter either).
//!
//! The generator is a xorshift64 seeded per compile by the engine (its seed, its compile
//! count, the program's size and `runtime_environment_key`); it decides machine code only.
//! The policy is target-neutral; each backend asks it where to put a `nop` and which
//! immediates to blind, in the order it emits code.

/// The hardening of one compile.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hardening {
    /// About one 1-byte `nop` per this many BPF instructions (0: none).
    noop_rate: u32,
    /// Whether program-supplied immediates are blinded.
    blind: bool,
    /// The state of the pseudo-random generator (never zero).
    seed: u64,
    /// Instructions until the next `nop` (0: no `nop`s).
    nop_countdown: u64,
}

impl Hardening {
    /// The hardening of a compile seeded with `seed` (never zero), drawing the distance to
    /// the first `nop`.
    pub fn new(noop_rate: u32, blind: bool, seed: u64) -> Hardening {
        let mut hardening = Hardening {
            noop_rate,
            blind,
            seed,
            nop_countdown: 0,
        };
        hardening.nop_countdown = hardening.nop_gap();
        hardening
    }

    /// A random distance to the next `nop`, uniform in `1..2 * noop_rate` (mean
    /// `noop_rate`), or 0 when there are none.
    fn nop_gap(&mut self) -> u64 {
        match u64::from(self.noop_rate) {
            0 => 0,
            rate => 1 + self.random() % (2 * rate - 1),
        }
    }

    /// The next pseudo-random number (xorshift64).
    fn random(&mut self) -> u64 {
        let mut x = self.seed;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.seed = x;
        x
    }

    /// Whether a `nop` goes before the next instruction (about once per `noop_rate` calls,
    /// at random distances drawn once per `nop`, not per instruction).
    #[inline(always)]
    pub fn nop_now(&mut self) -> bool {
        // The common case first: more than one instruction to go.
        if self.nop_countdown > 1 {
            self.nop_countdown -= 1;
            return false;
        }
        self.nop_due()
    }

    /// [`Hardening::nop_now`] at the last instruction before a `nop` (or without `nop`s).
    #[inline(never)]
    fn nop_due(&mut self) -> bool {
        match self.nop_countdown {
            0 => false,
            _ => {
                self.nop_countdown = self.nop_gap();
                true
            }
        }
    }

    /// Whether constant blinding applies to `value`.
    #[inline(always)]
    pub fn blinds(&self, value: u64) -> bool {
        self.blind && !harmless(value)
    }

    /// A fresh blinding key for `value`, or `None` when it is emitted in the clear.
    pub fn blinding_key(&mut self, value: u64) -> Option<i32> {
        if !self.blinds(value) {
            return None;
        }
        Some((self.random() as i32) | 1)
    }
}

/// Whether an immediate is harmless enough to appear in the clear (small, or all ones).
#[inline(always)]
fn harmless(value: u64) -> bool {
    let signed = value as i64;
    (-256..=255).contains(&signed) || (value.wrapping_add(1) & value) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nops_come_about_once_per_rate_and_keys_only_for_values_that_are_not_small() {
        let mut hardening = Hardening::new(4, true, 0x1234_5678_9abc_def1);
        let nops = (0..4000).filter(|_| hardening.nop_now()).count();
        assert!((800..1200).contains(&nops), "{nops}");
        assert_eq!(hardening.blinding_key(255), None);
        assert_eq!(hardening.blinding_key(u64::MAX), None);
        assert_eq!(hardening.blinding_key(0xffff), None);
        let key = hardening.blinding_key(0x1234_5678).unwrap();
        assert_eq!(key & 1, 1);
        let mut off = Hardening::new(0, false, 1);
        assert!(!(0..100).any(|_| off.nop_now()));
        assert_eq!(off.blinding_key(0x1234_5678), None);
    }
}
