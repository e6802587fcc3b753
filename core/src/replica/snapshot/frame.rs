//! The bytes of one snapshot chunk, carried as the data of an `InstallSnapshot`
//! message. The header comes first, so a store can check it (the overlap rule)
//! without decoding the pairs.

use crate::encoding::{DecodeError, Reader, Writer};
use crate::storage::{IngestChunk, KeyValue};

/// One chunk of a streamed snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkFrame {
    /// Names one transfer of one leader: a restarted transfer gets a new id.
    pub transfer: u64,
    /// Chunks of a transfer count from 0.
    pub sequence: u64,
    /// No chunk follows this one.
    pub last: bool,
    /// What the state machine says of the whole snapshot (a range: its descriptor).
    pub header: Vec<u8>,
    /// Once installed, the keys in `[start, end)` are exactly `pairs`.
    pub start: Vec<u8>,
    pub end: Vec<u8>,
    pub pairs: Vec<KeyValue>,
}

/// The part of a frame read before the pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHead<'a> {
    pub transfer: u64,
    pub sequence: u64,
    pub last: bool,
    pub header: &'a [u8],
}

impl ChunkFrame {
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        writer.u64(self.transfer).u64(self.sequence).u8(u8::from(self.last)).bytes(&self.header);
        writer.bytes(&self.start).bytes(&self.end).u64(self.pairs.len() as u64);
        for (key, value) in &self.pairs {
            writer.bytes(key).bytes(value);
        }
        writer.finish()
    }

    /// Decodes what `encode` wrote. A frame that does not decode, or whose
    /// span and pairs are not a well-formed chunk, is an error: it came over
    /// the network, and is dropped like a lost message.
    pub fn decode(bytes: &[u8]) -> Result<ChunkFrame, DecodeError> {
        let mut reader = Reader::new(bytes);
        let head = read_head(&mut reader)?;
        let start = reader.bytes()?.to_vec();
        let end = reader.bytes()?.to_vec();
        let count = reader.u64()?;
        // Each pair takes at least its two lengths: a count beyond that is corrupt.
        if count > (bytes.len() / 16) as u64 {
            return Err(DecodeError(format!("{count} pairs cannot fit in {} bytes", bytes.len())));
        }
        let mut pairs = Vec::with_capacity(count as usize);
        for _ in 0..count {
            pairs.push((reader.bytes()?.to_vec(), reader.bytes()?.to_vec()));
        }
        reader.finish()?;
        let frame = ChunkFrame {
            transfer: head.transfer,
            sequence: head.sequence,
            last: head.last,
            header: head.header.to_vec(),
            start,
            end,
            pairs,
        };
        if !frame.is_well_formed() {
            return Err(DecodeError("a chunk's pairs must be sorted and inside its non-empty span".to_string()));
        }
        Ok(frame)
    }

    fn is_well_formed(&self) -> bool {
        self.start < self.end
            && self.pairs.windows(2).all(|pair| pair[0].0 < pair[1].0)
            && self.pairs.iter().all(|(key, _)| *key >= self.start && *key < self.end)
    }

    /// The chunk to stage.
    pub fn into_chunk(self) -> IngestChunk {
        IngestChunk { start: self.start, end: self.end, pairs: self.pairs }
    }
}

/// Reads a frame's head only.
pub fn decode_head(bytes: &[u8]) -> Result<FrameHead<'_>, DecodeError> {
    read_head(&mut Reader::new(bytes))
}

fn read_head<'a>(reader: &mut Reader<'a>) -> Result<FrameHead<'a>, DecodeError> {
    let transfer = reader.u64()?;
    let sequence = reader.u64()?;
    let last = match reader.u8()? {
        0 => false,
        1 => true,
        other => return Err(DecodeError(format!("a chunk's last flag is 0 or 1, not {other}"))),
    };
    Ok(FrameHead { transfer, sequence, last, header: reader.bytes()? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame() -> ChunkFrame {
        ChunkFrame {
            transfer: 7,
            sequence: 3,
            last: true,
            header: b"descriptor".to_vec(),
            start: b"a".to_vec(),
            end: b"m".to_vec(),
            pairs: vec![(b"b".to_vec(), b"1".to_vec()), (b"c".to_vec(), Vec::new())],
        }
    }

    #[test]
    fn a_frame_round_trips_and_its_head_reads_alone() {
        let bytes = frame().encode();
        assert_eq!(ChunkFrame::decode(&bytes), Ok(frame()));
        let head = decode_head(&bytes).unwrap();
        assert_eq!((head.transfer, head.sequence, head.last, head.header), (7, 3, true, &b"descriptor"[..]));
    }

    #[test]
    fn a_chunk_that_breaks_its_span_is_refused() {
        let outside = ChunkFrame { pairs: vec![(b"z".to_vec(), Vec::new())], ..frame() };
        assert!(ChunkFrame::decode(&outside.encode()).is_err());
        let unsorted = ChunkFrame { pairs: vec![(b"c".to_vec(), Vec::new()), (b"b".to_vec(), Vec::new())], ..frame() };
        assert!(ChunkFrame::decode(&unsorted.encode()).is_err());
        let empty_span = ChunkFrame { start: b"m".to_vec(), pairs: Vec::new(), ..frame() };
        assert!(ChunkFrame::decode(&empty_span.encode()).is_err());
        let mut flag = frame().encode();
        flag[16] = 2;
        assert!(ChunkFrame::decode(&flag).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ChunkFrame::decode(&bytes);
            let _ = decode_head(&bytes);
        }

        #[test]
        fn every_truncation_is_an_error(cut in 0usize..60) {
            let bytes = frame().encode();
            prop_assume!(cut < bytes.len());
            prop_assert!(ChunkFrame::decode(&bytes[..cut]).is_err());
        }
    }
}
