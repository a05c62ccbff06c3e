//! Alert rules over the store (below).
