//! Integration tests of mlplane-envs: resolving specs (pure) and building with real uv
//! against the real package index.

mod build;
mod resolve;
