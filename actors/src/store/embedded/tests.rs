//! The embedded store under the store conformance suite (`store::conformance`): every check,
//! each on fresh data directories in temporary folders.

use super::temp_backend::TempBackend;

crate::store_conformance_tests!(TempBackend::default());
