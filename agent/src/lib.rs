//! Parc agent.
