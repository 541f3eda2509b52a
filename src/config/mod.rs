//! proxy.toml → compiled config.
