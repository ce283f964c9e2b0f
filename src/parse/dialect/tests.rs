//! Dialect reading, unit by unit.

