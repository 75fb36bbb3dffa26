//! The user aggregate (stream `user-<uuid>`): registration by password or by WeChat.
//!
//! A username or openid must be unique across users; that is not this aggregate's
//! job (it sees one user only) but the [`claim`](crate::claim) aggregate's, decided
//! together with this one by [`signup::register_user`](crate::signup::register_user).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::Aggregate;
use crate::error::DomainError;
use crate::identity::{OpenId, PasswordHash, Username};
use crate::ids::UserId;

/// How a user signs in.
///
/// In JSON (events for people, audits) it is internally tagged,
/// `{"method": "password", ...}`; in binary formats, which cannot read an internally
/// tagged enum (postcard has no `deserialize_any`), it is externally tagged. Both
/// forms are the derived ones of the two mirrors below.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Username and an argon2id hash computed at the edge.
    Password {
        username: Username,
        password_hash: PasswordHash,
    },
    /// A WeChat openid obtained from `jscode2session`.
    WeChat { openid: OpenId },
}

/// [`Credentials`] as JSON has always written it.
#[derive(Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", rename = "Credentials")]
enum TaggedCredentials {
    Password {
        username: Username,
        password_hash: PasswordHash,
    },
    WeChat {
        openid: OpenId,
    },
}

/// [`Credentials`] in binary formats: the variant's index, then its fields.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Credentials")]
enum IndexedCredentials {
    Password {
        username: Username,
        password_hash: PasswordHash,
    },
    WeChat {
        openid: OpenId,
    },
}

impl Serialize for Credentials {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A registration is rare: cloning into the mirror costs nothing that matters.
        match (self.clone(), serializer.is_human_readable()) {
            (
                Self::Password {
                    username,
                    password_hash,
                },
                true,
            ) => TaggedCredentials::Password {
                username,
                password_hash,
            }
            .serialize(serializer),
            (Self::WeChat { openid }, true) => {
                TaggedCredentials::WeChat { openid }.serialize(serializer)
            }
            (
                Self::Password {
                    username,
                    password_hash,
                },
                false,
            ) => IndexedCredentials::Password {
                username,
                password_hash,
            }
            .serialize(serializer),
            (Self::WeChat { openid }, false) => {
                IndexedCredentials::WeChat { openid }.serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Credentials {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(if deserializer.is_human_readable() {
            match TaggedCredentials::deserialize(deserializer)? {
                TaggedCredentials::Password {
                    username,
                    password_hash,
                } => Self::Password {
                    username,
                    password_hash,
                },
                TaggedCredentials::WeChat { openid } => Self::WeChat { openid },
            }
        } else {
            match IndexedCredentials::deserialize(deserializer)? {
                IndexedCredentials::Password {
                    username,
                    password_hash,
                } => Self::Password {
                    username,
                    password_hash,
                },
                IndexedCredentials::WeChat { openid } => Self::WeChat { openid },
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterUser {
    pub user_id: UserId,
    pub credentials: Credentials,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserCommand {
    RegisterUser(RegisterUser),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRegistered {
    pub user_id: UserId,
    pub credentials: Credentials,
    #[serde(with = "crate::compact_time")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum UserEvent {
    UserRegistered(UserRegistered),
}

/// A registered user. Serialising it (for audits) leaves the password hash out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserState {
    pub user_id: UserId,
    pub username: Option<Username>,
    pub openid: Option<OpenId>,
    #[serde(skip)]
    pub password_hash: Option<PasswordHash>,
    pub registered_at: DateTime<Utc>,
}

/// The user aggregate.
#[derive(Debug, Clone, Copy)]
pub struct User;

impl Aggregate for User {
    const NAME: &'static str = "user";
    type State = Option<UserState>;
    type Command = UserCommand;
    type Event = UserEvent;

    fn decide(state: &Self::State, command: UserCommand) -> Result<Vec<UserEvent>, DomainError> {
        match command {
            UserCommand::RegisterUser(cmd) => {
                if state.is_some() {
                    return Err(DomainError::AlreadyExists {
                        aggregate: Self::NAME,
                    });
                }
                Ok(vec![UserEvent::UserRegistered(UserRegistered {
                    user_id: cmd.user_id,
                    credentials: cmd.credentials,
                    at: cmd.at,
                })])
            }
        }
    }

    fn evolve(state: Self::State, event: &UserEvent) -> Self::State {
        match event {
            UserEvent::UserRegistered(e) => {
                let (username, password_hash, openid) = match &e.credentials {
                    Credentials::Password {
                        username,
                        password_hash,
                    } => (Some(username.clone()), Some(password_hash.clone()), None),
                    Credentials::WeChat { openid } => (None, None, Some(openid.clone())),
                };
                // A second registration cannot be decided; if a log ever held one,
                // the first registration stands.
                state.or(Some(UserState {
                    user_id: e.user_id,
                    username,
                    openid,
                    password_hash,
                    registered_at: e.at,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{t0, user_id};

    fn password() -> Credentials {
        Credentials::Password {
            username: Username::parse("Alice").expect("valid"),
            password_hash: PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
                .expect("valid"),
        }
    }

    fn register(credentials: Credentials) -> UserCommand {
        UserCommand::RegisterUser(RegisterUser {
            user_id: user_id(1),
            credentials,
            at: t0(),
        })
    }

    #[test]
    fn given_nothing_when_register_then_user_registered() {
        let events = User::decide(&None, register(password())).expect("decides");
        assert_eq!(
            events,
            vec![UserEvent::UserRegistered(UserRegistered {
                user_id: user_id(1),
                credentials: password(),
                at: t0(),
            })]
        );
        let state = User::fold(&events).expect("exists");
        assert_eq!(state.username.as_ref().map(Username::as_str), Some("alice"));
        assert!(state.password_hash.is_some());
        let audit = serde_json::to_string(&state).expect("serialises");
        assert!(
            !audit.contains("argon2"),
            "hash leaked into audit output: {audit}"
        );
    }

    #[test]
    fn given_registered_when_register_again_then_already_exists() {
        let openid = Credentials::WeChat {
            openid: OpenId::parse("oWx123").expect("valid"),
        };
        let given = User::decide(&None, register(openid.clone())).expect("decides");
        let state = User::fold(&given);
        assert_eq!(
            User::decide(&state, register(openid)),
            Err(DomainError::AlreadyExists { aggregate: "user" })
        );
    }
}
