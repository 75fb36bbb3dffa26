//! Registration across aggregates: the user's stream and the claim on its username
//! or openid, decided together and appended atomically.
//!
//! The pipeline loads the user stream and the claim stream
//! ([`claim_stream`]) and appends the returned [`Decision`]; the claim stream is
//! appended with `ExpectedVersion::NoStream` when it was empty, so of two concurrent
//! registrations for one name only one commits.

use crate::aggregate::{Aggregate, Decision};
use crate::claim::{Claim, ClaimCommand, ClaimState};
use crate::error::DomainError;
use crate::streams::{openid_stream, user_stream, username_stream};
use crate::user::{Credentials, RegisterUser, User, UserCommand, UserState};

/// The claim stream a registration must win: `username-<name>` or `openid-<openid>`.
pub fn claim_stream(credentials: &Credentials) -> String {
    match credentials {
        Credentials::Password { username, .. } => username_stream(username),
        Credentials::WeChat { openid } => openid_stream(openid),
    }
}

/// `UserRegistered` on `user-<id>` plus `UsernameClaimed`/`OpenIdClaimed` on the
/// claim stream; `UsernameTaken`/`OpenIdTaken` if another user holds the claim.
pub fn register_user(
    command: RegisterUser,
    user: &Option<UserState>,
    claim: &Option<ClaimState>,
) -> Result<Decision, DomainError> {
    let claim_command = match &command.credentials {
        Credentials::Password { username, .. } => ClaimCommand::ClaimUsername {
            username: username.clone(),
            user_id: command.user_id,
            at: command.at,
        },
        Credentials::WeChat { openid } => ClaimCommand::ClaimOpenId {
            openid: openid.clone(),
            user_id: command.user_id,
            at: command.at,
        },
    };
    // The claim is decided first so that a taken name is reported as such.
    let claim_events = Claim::decide(claim, claim_command)?;
    let stream = claim_stream(&command.credentials);
    let user_id = command.user_id;
    let user_events = User::decide(user, UserCommand::RegisterUser(command))?;
    let mut decision = Decision::single(user_stream(user_id), user_events);
    decision.push(stream, claim_events);
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claim::ClaimEvent;
    use crate::event::DomainEvent;
    use crate::identity::{OpenId, Username};
    use crate::testkit::{t0, user_id};
    use crate::user::UserEvent;

    fn wechat(user: u128) -> RegisterUser {
        RegisterUser {
            user_id: user_id(user),
            credentials: Credentials::WeChat {
                openid: OpenId::parse("oCarol").expect("valid"),
            },
            at: t0(),
        }
    }

    #[test]
    fn given_free_openid_when_register_then_user_and_claim_streams() {
        let decision = register_user(wechat(1), &None, &None).expect("decides");
        let streams: Vec<&str> = decision.streams.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            streams,
            vec![user_stream(user_id(1)).as_str(), "openid-oCarol"]
        );
        assert!(matches!(
            decision.events_for("openid-oCarol"),
            [DomainEvent::Claim(ClaimEvent::OpenIdClaimed(c))] if c.user_id == user_id(1)
        ));
        assert!(matches!(
            decision.events_for(&user_stream(user_id(1))),
            [DomainEvent::User(UserEvent::UserRegistered(_))]
        ));
    }

    #[test]
    fn given_taken_name_when_register_then_username_taken() {
        let claim = Some(ClaimState {
            user_id: user_id(1),
            claimed_at: t0(),
        });
        let command = RegisterUser {
            user_id: user_id(2),
            credentials: Credentials::Password {
                username: Username::parse("Carol").expect("valid"),
                password_hash: crate::identity::PasswordHash::parse("$argon2id$v=19$x")
                    .expect("valid"),
            },
            at: t0(),
        };
        assert_eq!(
            register_user(command, &None, &claim),
            Err(DomainError::UsernameTaken(
                Username::parse("carol").expect("valid")
            ))
        );
        assert_eq!(
            register_user(wechat(2), &None, &claim),
            Err(DomainError::OpenIdTaken(
                OpenId::parse("oCarol").expect("valid")
            ))
        );
    }
}
