//! End-to-end tests of the `idflow` binary live in `tests/tests/`.
