//! The host test lives in `tests/`; this library is empty.
