//! Helpers for the end-to-end tests: build paths, start binaries, wait for readiness.
