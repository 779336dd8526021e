//! The embedded store under the conformance suite.
