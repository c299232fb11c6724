//! The built-in core.* steps: log, sleep, fail, set and http.
