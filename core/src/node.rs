//! Node façade.
