//! Tests of validation, one problem at a time.
