//! Span commands across ranges: a scan or a refresh whose span crosses range
//! boundaries is sent as one piece per range, each narrowed to what that range
//! holds, and the pieces' answers are gathered into one. Every sender (the
//! gateway, the in-process ranges, the simulator's local cluster) cuts spans
//! with these, so that one rule decides what a span's answer is: the rows of
//! every piece, and a refresh that changed if any piece changed.

use super::{RangeCommand, RangeResponse};
use crate::keys::{Key, KeyEnd};
use crate::storage::KeyValue;
use crate::types::Timestamp;

/// The span of a scan or a refresh; None for any other command.
pub fn span_of(command: &RangeCommand) -> Option<(Key, KeyEnd)> {
    match command {
        RangeCommand::Scan { start, end, .. } | RangeCommand::Refresh { start, end, .. } => {
            Some((start.clone(), end.clone()))
        }
        _ => None,
    }
}

/// `command` (a scan or a refresh) narrowed to `[start, end)`.
pub fn piece_of(command: &RangeCommand, start: Key, end: KeyEnd) -> RangeCommand {
    let mut piece = command.clone();
    match &mut piece {
        RangeCommand::Scan { start: piece_start, end: piece_end, .. }
        | RangeCommand::Refresh { start: piece_start, end: piece_end, .. } => {
            (*piece_start, *piece_end) = (start, end);
        }
        _ => panic!("only scans and refreshes have spans"),
    }
    piece
}

/// The piece of `command` (a scan or a refresh) from `from` that a range
/// ending at `range_end` holds, and where the rest of the span starts (None
/// when this piece reaches the span's end).
pub fn piece_within(command: &RangeCommand, from: Key, range_end: &KeyEnd) -> (RangeCommand, Option<Key>) {
    let (_, end) = span_of(command).expect("only scans and refreshes have spans");
    let piece_end = end.clone().min(range_end.clone());
    let rest = match &piece_end {
        KeyEnd::Before(next) if end.is_above(next) => Some(next.clone()),
        _ => None,
    };
    (piece_of(command, from, piece_end), rest)
}

/// The answers of a span command's pieces, gathered. A scan's limit holds for
/// the whole span: each piece asks only for the rows still missing
/// ([`SpanAnswers::narrowed`]), and once the limit is reached
/// ([`SpanAnswers::is_full`]) no further range is asked.
#[derive(Debug)]
pub struct SpanAnswers {
    rows: Vec<KeyValue>,
    newest_version: Option<Timestamp>,
    changed: bool,
    /// The scan's limit; `usize::MAX` for a refresh.
    limit: usize,
}

impl SpanAnswers {
    /// Gathers the answers to `command`'s pieces.
    pub fn new(command: &RangeCommand) -> SpanAnswers {
        let limit = match command {
            RangeCommand::Scan { limit, .. } => *limit,
            _ => usize::MAX,
        };
        SpanAnswers { rows: Vec::new(), newest_version: None, changed: false, limit }
    }

    /// `piece` asking for no more rows than are still missing.
    pub fn narrowed(&self, mut piece: RangeCommand) -> RangeCommand {
        if let RangeCommand::Scan { limit, .. } = &mut piece {
            *limit = self.limit - self.rows.len();
        }
        piece
    }

    /// Whether a scan has its limit's worth of rows: the rest of the span is not read.
    pub fn is_full(&self) -> bool {
        self.rows.len() >= self.limit
    }

    /// Adds one piece's answer. Any answer other than rows or a refresh's is
    /// handed back: the span command ends with it.
    pub fn add(&mut self, response: RangeResponse) -> Option<RangeResponse> {
        match response {
            RangeResponse::Rows { rows, newest_version } => {
                self.rows.extend(rows);
                self.newest_version = self.newest_version.max(newest_version);
            }
            RangeResponse::Refreshed { changed } => self.changed |= changed,
            other => return Some(other),
        }
        None
    }

    /// The whole span's answer to `command`.
    pub fn finish(self, command: &RangeCommand) -> RangeResponse {
        match command {
            RangeCommand::Scan { .. } => RangeResponse::Rows { rows: self.rows, newest_version: self.newest_version },
            _ => RangeResponse::Refreshed { changed: self.changed },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyWriter;
    use crate::types::Timestamp;

    fn key(number: u64) -> Key {
        KeyWriter::new().u64(number).finish_key()
    }

    fn refresh() -> RangeCommand {
        let timestamp = Timestamp { wall_nanos: 1, logical: 0 };
        let transaction = crate::types::TransactionId(1);
        RangeCommand::Refresh {
            start: key(0),
            end: KeyEnd::Before(key(9)),
            after: timestamp,
            up_to: timestamp,
            transaction,
        }
    }

    #[test]
    fn a_refresh_changed_when_any_piece_changed() {
        let mut answers = SpanAnswers::new(&refresh());
        assert_eq!(answers.add(RangeResponse::Refreshed { changed: true }), None);
        assert_eq!(answers.add(RangeResponse::Refreshed { changed: false }), None);
        assert_eq!(answers.finish(&refresh()), RangeResponse::Refreshed { changed: true });
    }

    #[test]
    fn a_piece_within_a_range_names_where_the_rest_starts() {
        let (piece, rest) = piece_within(&refresh(), key(0), &KeyEnd::Before(key(4)));
        assert_eq!(span_of(&piece), Some((key(0), KeyEnd::Before(key(4)))));
        assert_eq!(rest, Some(key(4)));
        let (piece, rest) = piece_within(&refresh(), key(4), &KeyEnd::Unbounded);
        assert_eq!(span_of(&piece), Some((key(4), KeyEnd::Before(key(9)))));
        assert_eq!(rest, None);
    }

    #[test]
    fn a_piece_keeps_the_command_and_takes_the_span() {
        let piece = piece_of(&refresh(), key(3), KeyEnd::Before(key(5)));
        assert_eq!(span_of(&piece), Some((key(3), KeyEnd::Before(key(5)))));
    }
}
