//! The lane's gateway: routes commands to range leaders over the local
//! cluster, cuts spans at range boundaries, and keeps what it sent for the
//! scheduler to deliver again.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use shardforge_core::keys::Key;
use shardforge_core::range::span::{self, SpanAnswers};
use shardforge_core::range::{codec, CommandError, RangeCommand, RangeRequest, RangeResponse};
use shardforge_core::replica::RequestError;
use shardforge_core::store::local_cluster::LocalCluster;
use shardforge_core::txn::coordinator::RangeSender;
use shardforge_core::types::Timestamp;

/// Polls a sender waits for one answer before asking again.
const ANSWER_POLLS_MAX: u32 = 60;

/// Returns Pending once, so the scheduler can run others and let time pass.
pub(super) struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

pub(super) fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// A gateway: routes commands to range leaders, retrying through leader changes
/// and stale descriptors; reads its own skewed clock.
pub struct ClusterSender {
    pub(super) cluster: Rc<RefCell<LocalCluster>>,
    pub(super) skew_nanos: i64,
    /// Every request sent lately, for the scheduler to deliver again later.
    pub(super) sent: SentRequests,
    /// Whether this gateway gives up on the first commit it sent that went
    /// unanswered (as if its retry were refused for the gateway's clock): the
    /// commit is then in doubt, and the coordinator rolls back, which must
    /// find the record committed when the first attempt applied.
    pub(super) gives_up_on_unanswered_commit: bool,
    /// A commit sent and not known to be applied.
    pub(super) commit_in_doubt: bool,
    /// Whether every intent resolution this gateway sends is refused (as a
    /// node refuses a gateway's clock): the coordinator acknowledges its commit
    /// with intents left for others to resolve against its record.
    pub(super) refuses_resolutions: bool,
}

/// The requests gateways sent lately (at most [`SENT_KEPT_MAX`]): the
/// scheduler delivers some of them a second time, long after, as a network
/// that delays a duplicate, or a gateway retry racing its original, would.
pub(super) type SentRequests = Rc<RefCell<VecDeque<RangeRequest>>>;
const SENT_KEPT_MAX: usize = 256;

impl ClusterSender {
    /// A scan or a refresh, one piece to each range its span crosses.
    async fn send_span(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let (mut from, _) = span::span_of(&command).expect("only span commands come here");
        let mut answers = SpanAnswers::new(&command);
        loop {
            let Some(descriptor) = self.cluster.borrow().descriptor_for(&from) else {
                yield_now().await;
                continue;
            };
            let (piece, rest) = span::piece_within(&command, from.clone(), &descriptor.end);
            let piece = answers.narrowed(piece);
            // A piece misrouted by a split since the lookup is asked again.
            match self.send_to_range(piece, descriptor.start.clone()).await? {
                None => continue,
                Some(answer) => {
                    if let Some(other) = answers.add(answer) {
                        return Ok(other);
                    }
                }
            }
            match rest {
                Some(next) if !answers.is_full() => from = next,
                _ => break,
            }
        }
        Ok(answers.finish(&command))
    }

    /// Sends `command` to the range holding `key` until it answers; None when
    /// the range refused it as outside its span (routing again may help).
    async fn send_to_range(&mut self, command: RangeCommand, key: Key) -> Result<Option<RangeResponse>, CommandError> {
        loop {
            let descriptor = self.cluster.borrow().descriptor_for(&key);
            let submitted = descriptor.and_then(|descriptor| {
                let request =
                    RangeRequest { range: descriptor.id, generation: descriptor.generation, command: command.clone() };
                let mut sent = self.sent.borrow_mut();
                if sent.len() == SENT_KEPT_MAX {
                    sent.pop_front();
                }
                sent.push_back(request.clone());
                self.cluster.borrow_mut().submit(request)
            });
            let Some(request_id) = submitted else {
                yield_now().await;
                continue;
            };
            for _ in 0..ANSWER_POLLS_MAX {
                let reply = self.cluster.borrow_mut().take_reply(request_id);
                match reply {
                    // Decoded answers are final, except misrouting: route again.
                    Some(Ok(bytes)) => match codec::decode_outcome(&bytes).expect("replicas encode their answers") {
                        // A one-phase commit across ranges is refused for good: the
                        // coordinator then commits in two phases.
                        Err(CommandError::Range(_)) if !matches!(command, RangeCommand::CommitOnePhase { .. }) => {
                            return Ok(None)
                        }
                        outcome => return outcome.map(Some),
                    },
                    // The node refused our clock: resending would be refused again.
                    Some(Err(RequestError::ClockOffset)) => return Err(CommandError::ClockOffset),
                    // Not applied, or unknown: every command here may be sent again.
                    Some(Err(_)) => break,
                    None => yield_now().await,
                }
            }
            let commits = matches!(
                command,
                RangeCommand::EndTransaction { commit: Some(_), .. } | RangeCommand::CommitOnePhase { .. }
            );
            if commits && self.gives_up_on_unanswered_commit {
                self.gives_up_on_unanswered_commit = false;
                self.commit_in_doubt = true;
                return Err(CommandError::ClockOffset);
            }
        }
    }
}

impl RangeSender for ClusterSender {
    async fn send(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        if span::span_of(&command).is_some() {
            return self.send_span(command).await;
        }
        if self.refuses_resolutions && matches!(command, RangeCommand::ResolveIntent { .. }) {
            return Err(CommandError::ClockOffset);
        }
        let key = command.routing_key().clone();
        loop {
            if let Some(answer) = self.send_to_range(command.clone(), key.clone()).await? {
                return Ok(answer);
            }
        }
    }

    fn now(&mut self) -> Timestamp {
        let global = self.cluster.borrow().now().0 as i64;
        Timestamp { wall_nanos: (global + self.skew_nanos).max(0) as u64, logical: 0 }
    }
}
