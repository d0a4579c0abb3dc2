//! Connector options (in progress).
