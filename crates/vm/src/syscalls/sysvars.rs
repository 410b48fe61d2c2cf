//! The sysvars a run sees: clock, rent and epoch schedule, as plain values with the two byte
//! forms the runtime gives them.
//!
//! A sysvar getter syscall writes the sysvar's in-memory (`#[repr(C)]`) form, padding
//! included: Clock 40 bytes, Rent 24 (8 + 8 + 1, padded to 8), EpochSchedule 40 (the `warmup`
//! byte padded to 8). A sysvar *account* holds the bincode form instead, without padding:
//! Clock 40 bytes, Rent 17, EpochSchedule 33. The values are copied as bytes; nothing computes
//! with the rent's floating-point threshold.

/// The Clock sysvar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    /// The current slot.
    pub slot: u64,
    /// The timestamp of the first slot of the epoch (Unix seconds).
    pub epoch_start_timestamp: i64,
    /// The current epoch.
    pub epoch: u64,
    /// The epoch whose leader schedule is in force.
    pub leader_schedule_epoch: u64,
    /// The estimated current time (Unix seconds).
    pub unix_timestamp: i64,
}

/// The Rent sysvar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rent {
    /// Rental rate in lamports per byte-year.
    pub lamports_per_byte_year: u64,
    /// Years of rent an account must hold to be exempt.
    pub exemption_threshold: f64,
    /// The percentage of collected rent that is burned.
    pub burn_percent: u8,
}

impl Default for Rent {
    /// The runtime's defaults: 3,480 lamports per byte-year, 2 years, 50 % burned.
    fn default() -> Self {
        Rent {
            lamports_per_byte_year: 3_480,
            exemption_threshold: 2.0,
            burn_percent: 50,
        }
    }
}

/// The EpochSchedule sysvar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochSchedule {
    /// Slots per epoch after the warm-up.
    pub slots_per_epoch: u64,
    /// How many slots before an epoch its leader schedule is computed.
    pub leader_schedule_slot_offset: u64,
    /// Whether epochs start short and double.
    pub warmup: bool,
    /// The first epoch of full length.
    pub first_normal_epoch: u64,
    /// The first slot of that epoch.
    pub first_normal_slot: u64,
}

impl Default for EpochSchedule {
    /// The runtime's default: 432,000 slots per epoch with warm-up (first normal epoch 14,
    /// slot 524,256).
    fn default() -> Self {
        EpochSchedule {
            slots_per_epoch: 432_000,
            leader_schedule_slot_offset: 432_000,
            warmup: true,
            first_normal_epoch: 14,
            first_normal_slot: 524_256,
        }
    }
}

/// The sysvars of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sysvars {
    /// Served by `sol_get_clock_sysvar`.
    pub clock: Clock,
    /// Served by `sol_get_rent_sysvar`.
    pub rent: Rent,
    /// Served by `sol_get_epoch_schedule_sysvar`.
    pub epoch_schedule: EpochSchedule,
}

impl Clock {
    /// The in-memory form (also the account form): 40 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        out.extend_from_slice(&self.slot.to_le_bytes());
        out.extend_from_slice(&self.epoch_start_timestamp.to_le_bytes());
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&self.leader_schedule_epoch.to_le_bytes());
        out.extend_from_slice(&self.unix_timestamp.to_le_bytes());
        out
    }
}

impl Rent {
    /// The account form (bincode): 17 bytes.
    pub fn to_account_data(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17);
        out.extend_from_slice(&self.lamports_per_byte_year.to_le_bytes());
        out.extend_from_slice(&self.exemption_threshold.to_bits().to_le_bytes());
        out.push(self.burn_percent);
        out
    }

    /// The in-memory form a getter writes: the account form padded to 24 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.to_account_data();
        out.resize(24, 0);
        out
    }
}

impl EpochSchedule {
    /// The account form (bincode): 33 bytes.
    pub fn to_account_data(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(33);
        out.extend_from_slice(&self.slots_per_epoch.to_le_bytes());
        out.extend_from_slice(&self.leader_schedule_slot_offset.to_le_bytes());
        out.push(u8::from(self.warmup));
        out.extend_from_slice(&self.first_normal_epoch.to_le_bytes());
        out.extend_from_slice(&self.first_normal_slot.to_le_bytes());
        out
    }

    /// The in-memory form a getter writes: 40 bytes, `warmup` padded to 8.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40);
        out.extend_from_slice(&self.slots_per_epoch.to_le_bytes());
        out.extend_from_slice(&self.leader_schedule_slot_offset.to_le_bytes());
        out.extend_from_slice(&u64::from(self.warmup).to_le_bytes());
        out.extend_from_slice(&self.first_normal_epoch.to_le_bytes());
        out.extend_from_slice(&self.first_normal_slot.to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_forms_have_the_runtime_sizes() {
        let sysvars = Sysvars::default();
        assert_eq!(sysvars.clock.to_bytes().len(), 40);
        assert_eq!(sysvars.rent.to_bytes().len(), 24);
        assert_eq!(sysvars.rent.to_account_data().len(), 17);
        assert_eq!(sysvars.epoch_schedule.to_bytes().len(), 40);
        assert_eq!(sysvars.epoch_schedule.to_account_data().len(), 33);
        // 2.0 as an f64 is 0x4000_0000_0000_0000.
        assert_eq!(
            sysvars.rent.to_account_data()[8..16],
            [0, 0, 0, 0, 0, 0, 0, 0x40]
        );
    }
}
