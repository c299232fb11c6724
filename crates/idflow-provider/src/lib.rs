//! The embedded, Truora-compatible face provider: identity API, real face recognition, web tokens and the verification page.
