//! The tables a compiled program keeps beside its machine code: where each slot's code
//! starts, the bail-out site table, and the `callx` table. Target-neutral: a backend fills
//! them as it emits code; the runtime reads them.
//!
//! # Bail-out sites
//!
//! A bail-out is a call of one shared routine; its return address (a code offset), looked
//! up in the program's site table when the run ends, names the pc the interpreter continues
//! at and the instructions the run's charge counted that have not run (given back to the
//! meter). No stub, label or fixup per pc exists. A backend records a site with
//! [`SiteTable::record`] right after it emits such a call; the table is sorted by return
//! address because code is emitted in order.
//!
//! # Slot offsets
//!
//! Per slot, where its code starts ([`NONE`] for the second slot of an `lddw`), with two
//! marks: [`INSIDE`] for an instruction inside a run (a jump there needs an entry stub that
//! charges the rest of the run) and [`CARRIED`] for a slot after the first access of a
//! pair, up to its second (nothing may enter there; its entry is a bail-out).

/// "Not emitted yet" in the offset tables.
pub(crate) const NONE: u32 = u32::MAX;

/// Marks a slot offset whose instruction is inside a run (a jump there needs an entry stub).
pub(crate) const INSIDE: u32 = 1 << 31;

/// Marks a slot offset after the first access of a pair, up to its second: nothing may enter
/// there, so its entry is a bail-out.
pub(crate) const CARRIED: u32 = 1 << 30;

/// The flags of a slot offset.
pub(crate) const FLAGS: u32 = INSIDE | CARRIED;

/// The code offset of a slot-offset table entry ([`NONE`] or an offset, possibly marked).
pub(crate) fn slot_offset(entry: u32) -> Option<usize> {
    (entry != NONE).then_some((entry & !FLAGS) as usize)
}

/// A code offset as stored in the tables: code stays far below the flag bits (1 GiB), which
/// a debug build checks; a larger offset reads as [`NONE`], which no jump resolves to.
pub(crate) fn offset32(offset: usize) -> u32 {
    debug_assert!(
        offset < CARRIED as usize,
        "code offset {offset} out of range"
    );
    u32::try_from(offset).unwrap_or(NONE)
}

/// A pc or count as stored in the site table (the compiler rejects programs of 2^31 slots
/// or more up front).
fn index32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(NONE)
}

/// An instruction as a bail-out names it: its slot and what its run's charge gives back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct At {
    /// Its slot.
    pub pc: usize,
    /// Instructions its run's charge counted that have not run before this one (what a
    /// bail-out here gives back).
    pub refund: u64,
}

impl At {
    /// The pc and the refund as the site table keeps them, without a conversion: the
    /// compiler rejects programs of 2^31 slots or more up front (`compile::compile`), a pc
    /// is at most the slot count and a refund at most a run's length, so both fit.
    #[inline(always)]
    pub fn packed(self) -> (u32, u32) {
        debug_assert!(
            self.pc < NONE as usize && self.refund < u64::from(NONE),
            "{self:?} out of range"
        );
        (self.pc as u32, self.refund as u32)
    }
}

/// Whether runs are charged against the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MeterMode {
    /// Charge at run starts, bail out to the interpreter near the end of the budget.
    On,
    /// No meter code at all.
    Off,
}

/// A bail-out site: the return address of a call into the shared bail-out path (a code
/// offset) and the guest state it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Site {
    /// The code offset right after the call.
    pub ret: u32,
    /// The pc the interpreter continues at.
    pub pc: u32,
    /// The instructions the run's charge counted that have not run (given back).
    pub refund: u32,
}

/// Where a bail-out site sends the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SiteTarget {
    /// The pc the interpreter continues at.
    pub pc: u64,
    /// The instructions to give back to the meter.
    pub refund: u64,
}

/// The bail-out sites of a program, sorted by return address.
#[derive(Debug, Default)]
pub(crate) struct SiteTable {
    sites: Vec<Site>,
    /// What of a refund a site keeps: every bit with metering, none without (nothing is
    /// given back), so that recording a site is one `and`, not a test of the mode.
    refunds: u32,
}

impl SiteTable {
    /// Empties the table (keeping its allocation) for a program of `slots` slots compiled
    /// with `meter`.
    pub fn reset(&mut self, slots: usize, meter: MeterMode) {
        self.sites.clear();
        // Sized up front: about one site per instruction at most, and a reallocation of a
        // table this large costs more than the spare capacity.
        self.sites.reserve(slots + 16);
        self.refunds = match meter {
            MeterMode::On => u32::MAX,
            MeterMode::Off => 0,
        };
    }

    /// Records `ret` (a return address just emitted) as the bail-out site of `at`; without
    /// metering nothing is refunded.
    #[inline(always)]
    pub fn record(&mut self, ret: usize, at: At) {
        self.record_packed(ret, index32(at.pc as u64), index32(at.refund));
    }

    /// [`SiteTable::record`] of an instruction already packed ([`At::packed`]): the
    /// bail-out stubs keep their sites so.
    #[inline(always)]
    pub fn record_packed(&mut self, ret: usize, pc: u32, refund: u32) {
        debug_assert!(
            self.sites
                .last()
                .is_none_or(|last| last.ret as usize <= ret),
            "sites out of order"
        );
        self.sites.push(Site {
            ret: offset32(ret),
            pc,
            refund: refund & self.refunds,
        });
    }

    /// The site whose return address is at code offset `ret`.
    pub fn find(&self, ret: u64) -> Option<SiteTarget> {
        let ret = u32::try_from(ret).ok()?;
        let index = self
            .sites
            .binary_search_by_key(&ret, |site| site.ret)
            .ok()?;
        let site = self.sites.get(index)?;
        Some(SiteTarget {
            pc: u64::from(site.pc),
            refund: u64::from(site.refund),
        })
    }
}

/// The tables a compiled program keeps besides its code (see the module doc). A dropped
/// program gives them back to its engine for the next compile.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    /// Per slot: the code offset, marked ([`slot_offset`] reads it), or [`NONE`].
    pub offsets: Vec<u32>,
    /// The bail-out sites.
    pub sites: SiteTable,
    /// Per slot the code offset where a `callx` may land, or 0 (empty without `callx`;
    /// generated code reads it, never writes it).
    pub callx_table: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A site keeps its refund with metering and gives back nothing without, whether it is
    /// recorded from an `At` or packed (the bail-out stubs' way).
    #[test]
    fn a_site_keeps_its_refund_only_with_the_meter() {
        let mut table = SiteTable::default();
        for (meter, kept) in [(MeterMode::On, true), (MeterMode::Off, false)] {
            table.reset(8, meter);
            table.record(10, At { pc: 4, refund: 9 });
            let (pc, refund) = At { pc: 5, refund: 7 }.packed();
            table.record_packed(20, pc, refund);
            let refund = |refund: u64| if kept { refund } else { 0 };
            assert_eq!(
                table.find(10),
                Some(SiteTarget {
                    pc: 4,
                    refund: refund(9)
                }),
                "{meter:?}"
            );
            assert_eq!(
                table.find(20),
                Some(SiteTarget {
                    pc: 5,
                    refund: refund(7)
                }),
                "{meter:?}"
            );
            assert_eq!(table.find(15), None);
        }
    }
}
