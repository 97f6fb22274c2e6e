//! Parc collector.
