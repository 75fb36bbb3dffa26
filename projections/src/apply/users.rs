//! The users projection: `users` by id, `users_by_openid` and `users_by_username`.

use paylog_core::user::{Credentials, UserEvent};

use super::Tx;
use crate::error::Result;
use crate::layout::View;
use crate::model::UserView;

pub(super) fn apply(tx: &mut Tx<'_>, event: &UserEvent) -> Result<()> {
    let UserEvent::UserRegistered(e) = event;
    let id = e.user_id.as_uuid();
    // A second registration of one id cannot be decided; like core's evolve, the first wins.
    if tx.get::<UserView>(View::Users, id.as_bytes())?.is_some() {
        return Ok(());
    }
    let (username, openid) = match &e.credentials {
        Credentials::Password { username, .. } => (Some(username.clone()), None),
        Credentials::WeChat { openid } => (None, Some(openid.clone())),
    };
    if let Some(name) = &username {
        tx.put(
            View::UsersByUsername,
            name.as_str().as_bytes().to_vec(),
            e.user_id,
        )?;
    }
    if let Some(openid) = &openid {
        tx.put(
            View::UsersByOpenId,
            openid.as_str().as_bytes().to_vec(),
            e.user_id,
        )?;
    }
    let view = UserView {
        user_id: e.user_id,
        has_password: username.is_some(),
        username,
        openid,
        registered_at: e.at,
    };
    tx.put(View::Users, id.as_bytes().to_vec(), view)
}
