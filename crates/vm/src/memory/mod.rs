//! Guest memory: regions, the two mappings, and the access-violation classification.
//!
//! SCAFFOLD: the signatures below are the contract; the memory helper replaces the bodies.

use crate::config::Config;
use crate::error::{AccessType, RuntimeError};
use bpfvm_isa::MemSize;
use core::marker::PhantomData;

/// One contiguous range of host memory mapped at a guest address.
#[derive(Debug)]
pub struct MemoryRegion<'a> {
    host: *mut u8,
    len: u64,
    vm_addr: u64,
    vm_gap_shift: u8,
    writable: bool,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a> MemoryRegion<'a> {
    /// A read-only region over `bytes` at guest address `vm_addr`.
    pub fn readonly(bytes: &'a [u8], vm_addr: u64) -> Self {
        MemoryRegion {
            host: bytes.as_ptr().cast_mut(),
            len: bytes.len() as u64,
            vm_addr,
            vm_gap_shift: 63,
            writable: false,
            _borrow: PhantomData,
        }
    }

    /// A writable region over `bytes` at guest address `vm_addr`.
    pub fn writable(bytes: &'a mut [u8], vm_addr: u64) -> Self {
        MemoryRegion {
            host: bytes.as_mut_ptr(),
            len: bytes.len() as u64,
            vm_addr,
            vm_gap_shift: 63,
            writable: true,
            _borrow: PhantomData,
        }
    }

    /// The guest start address.
    pub fn vm_addr(&self) -> u64 {
        self.vm_addr
    }

    /// The host length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the region has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether stores are allowed.
    pub fn is_writable(&self) -> bool {
        self.writable
    }
}

/// Guest memory as the program sees it.
#[derive(Debug)]
pub struct MemoryMapping<'a> {
    regions: Vec<MemoryRegion<'a>>,
    config: Config,
}

impl<'a> MemoryMapping<'a> {
    /// Builds the mapping the configuration selects.
    pub fn new(regions: Vec<MemoryRegion<'a>>, config: &Config) -> Result<Self, RuntimeError> {
        Ok(MemoryMapping {
            regions,
            config: *config,
        })
    }

    /// Loads `size` bytes at `vaddr`, zero-extended.
    pub fn load(&self, size: MemSize, vaddr: u64, pc: usize) -> Result<u64, RuntimeError> {
        Err(self.violation(AccessType::Load, vaddr, size.bytes(), pc))
    }

    /// Stores the low `size` bytes of `value` at `vaddr`.
    pub fn store(
        &mut self,
        size: MemSize,
        vaddr: u64,
        value: u64,
        pc: usize,
    ) -> Result<(), RuntimeError> {
        let _ = value;
        Err(self.violation(AccessType::Store, vaddr, size.bytes(), pc))
    }

    fn violation(&self, access: AccessType, vaddr: u64, len: u64, pc: usize) -> RuntimeError {
        let _ = (&self.regions, &self.config);
        RuntimeError::AccessViolation {
            pc,
            access,
            vaddr,
            len,
            region: "unknown",
        }
    }
}
