//! OTLP export (filled in below).
