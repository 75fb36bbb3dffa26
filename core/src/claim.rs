//! The claim aggregate (streams `username-<name>` and `openid-<openid>`): uniqueness.
//!
//! Each claimable value has its own stream whose single event says which user owns
//! it. The pipeline appends that event with `ExpectedVersion::NoStream` in the same
//! atomic batch as `UserRegistered`, so of two racing registrations exactly one wins;
//! the loser retries, reloads the claim, and gets `UsernameTaken` / `OpenIdTaken`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregate;
use crate::error::DomainError;
use crate::identity::{OpenId, Username};
use crate::ids::UserId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimCommand {
    ClaimUsername {
        username: Username,
        user_id: UserId,
        at: DateTime<Utc>,
    },
    ClaimOpenId {
        openid: OpenId,
        user_id: UserId,
        at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsernameClaimed {
    pub username: Username,
    pub user_id: UserId,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIdClaimed {
    pub openid: OpenId,
    pub user_id: UserId,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClaimEvent {
    UsernameClaimed(UsernameClaimed),
    OpenIdClaimed(OpenIdClaimed),
}

/// Who owns a claimed value, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClaimState {
    pub user_id: UserId,
    pub claimed_at: DateTime<Utc>,
}

/// The claim aggregate.
#[derive(Debug, Clone, Copy)]
pub struct Claim;

impl Aggregate for Claim {
    const NAME: &'static str = "claim";
    type State = Option<ClaimState>;
    type Command = ClaimCommand;
    type Event = ClaimEvent;

    fn decide(state: &Self::State, command: ClaimCommand) -> Result<Vec<ClaimEvent>, DomainError> {
        let user_id = match &command {
            ClaimCommand::ClaimUsername { user_id, .. }
            | ClaimCommand::ClaimOpenId { user_id, .. } => *user_id,
        };
        if let Some(claim) = state {
            // The same user claiming again is a retried command: nothing to append.
            if claim.user_id == user_id {
                return Ok(vec![]);
            }
            return Err(match command {
                ClaimCommand::ClaimUsername { username, .. } => {
                    DomainError::UsernameTaken(username)
                }
                ClaimCommand::ClaimOpenId { openid, .. } => DomainError::OpenIdTaken(openid),
            });
        }
        Ok(vec![match command {
            ClaimCommand::ClaimUsername {
                username,
                user_id,
                at,
            } => ClaimEvent::UsernameClaimed(UsernameClaimed {
                username,
                user_id,
                at,
            }),
            ClaimCommand::ClaimOpenId {
                openid,
                user_id,
                at,
            } => ClaimEvent::OpenIdClaimed(OpenIdClaimed {
                openid,
                user_id,
                at,
            }),
        }])
    }

    fn evolve(state: Self::State, event: &ClaimEvent) -> Self::State {
        let (user_id, claimed_at) = match event {
            ClaimEvent::UsernameClaimed(e) => (e.user_id, e.at),
            ClaimEvent::OpenIdClaimed(e) => (e.user_id, e.at),
        };
        // First claim wins; the store's NoStream check means there is never a second.
        state.or(Some(ClaimState {
            user_id,
            claimed_at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{t0, user_id};

    fn claim_name(user: u128) -> ClaimCommand {
        ClaimCommand::ClaimUsername {
            username: Username::parse("Bob").expect("valid"),
            user_id: user_id(user),
            at: t0(),
        }
    }

    fn claim_openid(user: u128) -> ClaimCommand {
        ClaimCommand::ClaimOpenId {
            openid: OpenId::parse("oBob").expect("valid"),
            user_id: user_id(user),
            at: t0(),
        }
    }

    #[test]
    fn given_nothing_when_claim_then_claimed() {
        assert_eq!(
            Claim::decide(&None, claim_name(1)),
            Ok(vec![ClaimEvent::UsernameClaimed(UsernameClaimed {
                username: Username::parse("bob").expect("valid"),
                user_id: user_id(1),
                at: t0(),
            })])
        );
        assert_eq!(
            Claim::decide(&None, claim_openid(1)).map(|e| e.len()),
            Ok(1)
        );
    }

    #[test]
    fn given_claimed_when_another_user_claims_then_taken() {
        let state = Claim::fold(&Claim::decide(&None, claim_name(1)).expect("decides"));
        assert_eq!(
            Claim::decide(&state, claim_name(2)),
            Err(DomainError::UsernameTaken(
                Username::parse("bob").expect("valid")
            ))
        );
        let state = Claim::fold(&Claim::decide(&None, claim_openid(1)).expect("decides"));
        assert_eq!(
            Claim::decide(&state, claim_openid(2)),
            Err(DomainError::OpenIdTaken(
                OpenId::parse("oBob").expect("valid")
            ))
        );
    }

    #[test]
    fn given_claimed_when_same_user_claims_again_then_nothing() {
        let state = Claim::fold(&Claim::decide(&None, claim_name(1)).expect("decides"));
        assert_eq!(Claim::decide(&state, claim_name(1)), Ok(vec![]));
    }
}
