//! The suite lives in `tests/` (the corpus); this library is empty.
