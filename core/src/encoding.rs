//! Byte encodings of the state the core persists: a tiny length-prefixed binary
//! format written by hand, because the core may not depend on the wire codec
//! (prost lives in the `proto` crate). Decoding never panics on bad bytes: it
//! returns [`DecodeError`], which callers treat as corruption.

use std::fmt;

/// Bytes that do not decode: storage corruption or a bug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot decode: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Appends values to a byte buffer.
#[derive(Default)]
pub struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    pub fn u8(&mut self, value: u8) -> &mut Self {
        self.bytes.push(value);
        self
    }

    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.u64(value.len() as u64);
        self.bytes.extend_from_slice(value);
        self
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

/// Reads values back in the order they were written.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    fn take(&mut self, length: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < length {
            return Err(DecodeError(format!("needed {length} bytes, {} left", self.bytes.len())));
        }
        let (taken, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Ok(taken)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let bytes = self.take(8)?;
        Ok(u64::from_be_bytes(bytes.try_into().expect("took 8 bytes")))
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let length = self.u64()?;
        let length = usize::try_from(length).map_err(|_| DecodeError("length overflows".into()))?;
        self.take(length)
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(DecodeError(format!("{} trailing bytes", self.bytes.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn values_round_trip(a: u8, b: u64, c: Vec<u8>) {
            let bytes = Writer::default().u8(a).u64(b).bytes(&c).finish();
            let mut reader = Reader::new(&bytes);
            prop_assert_eq!(reader.u8().unwrap(), a);
            prop_assert_eq!(reader.u64().unwrap(), b);
            prop_assert_eq!(reader.bytes().unwrap(), &c[..]);
            prop_assert!(reader.finish().is_ok());
        }

        #[test]
        fn garbage_never_panics(bytes: Vec<u8>) {
            let mut reader = Reader::new(&bytes);
            let _ = reader.u8().and_then(|_| reader.bytes()).and_then(|_| reader.u64());
        }
    }
}
