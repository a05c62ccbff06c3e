//! The OTLP trace protobuf messages, encoded by hand: the export request is a small,
//! stable schema (opentelemetry-proto `trace/v1`), and writing it directly keeps
//! protoc, prost and generated code out of the core crate.

use super::super::span::AttrValue;

/// A protobuf writer: fields are appended in order; nested messages are written to a
/// scratch buffer first and then length-prefixed.
#[derive(Default)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field << 3 | u32::from(wire)));
    }
    pub(crate) fn uint(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.key(field, VARINT);
            self.varint(v);
        }
    }
    pub(crate) fn int64(&mut self, field: u32, v: i64) {
        self.key(field, VARINT);
        self.varint(v as u64);
    }
    pub(crate) fn bool(&mut self, field: u32, v: bool) {
        self.key(field, VARINT);
        self.varint(u64::from(v));
    }
    pub(crate) fn double(&mut self, field: u32, v: f64) {
        self.key(field, FIXED64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn fixed64(&mut self, field: u32, v: u64) {
        self.key(field, FIXED64);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub(crate) fn bytes(&mut self, field: u32, v: &[u8]) {
        self.key(field, LEN);
        self.varint(v.len() as u64);
        self.buf.extend_from_slice(v);
    }
    pub(crate) fn string(&mut self, field: u32, v: &str) {
        if !v.is_empty() {
            self.bytes(field, v.as_bytes());
        }
    }
    pub(crate) fn message(&mut self, field: u32, f: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::default();
        f(&mut inner);
        self.bytes(field, &inner.buf);
    }
    /// `KeyValue { key = 1; AnyValue value = 2 }`, `AnyValue { string 1; bool 2; int 3; double 4 }`.
    pub(crate) fn key_value(&mut self, field: u32, key: &str, value: &AttrValue) {
        self.message(field, |kv| {
            kv.string(1, key);
            kv.message(2, |any| match value {
                AttrValue::Str(s) => any.bytes(1, s.as_bytes()),
                AttrValue::Bool(b) => any.bool(2, *b),
                AttrValue::Int(i) => any.int64(3, *i),
                AttrValue::Float(f) => any.double(4, *f),
            });
        });
    }
}

/// Reads the fields of one protobuf message (for tests and diagnostics).
#[cfg(test)]
pub(crate) mod read {
    #[derive(Debug, Clone, PartialEq)]
    pub(crate) enum Field<'a> {
        Varint(u64),
        Fixed64(u64),
        Len(&'a [u8]),
        Fixed32(u32),
    }

    pub(crate) fn fields(mut b: &[u8]) -> Vec<(u32, Field<'_>)> {
        fn varint(b: &mut &[u8]) -> u64 {
            let mut v = 0u64;
            let mut shift = 0;
            while let Some((&x, rest)) = b.split_first() {
                *b = rest;
                v |= u64::from(x & 0x7f) << shift;
                shift += 7;
                if x & 0x80 == 0 {
                    break;
                }
            }
            v
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = varint(&mut b);
            let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
            let f = match wire {
                0 => Field::Varint(varint(&mut b)),
                1 => {
                    let (x, rest) = b.split_at(8);
                    b = rest;
                    Field::Fixed64(u64::from_le_bytes(x.try_into().unwrap()))
                }
                2 => {
                    let n = varint(&mut b) as usize;
                    let (x, rest) = b.split_at(n);
                    b = rest;
                    Field::Len(x)
                }
                5 => {
                    let (x, rest) = b.split_at(4);
                    b = rest;
                    Field::Fixed32(u32::from_le_bytes(x.try_into().unwrap()))
                }
                w => panic!("wire type {w}"),
            };
            out.push((field, f));
        }
        out
    }
}
