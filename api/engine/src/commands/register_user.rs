//! `RegisterUser`: the user's stream and the claim on its username or openid, atomically.

use paylog_core::claim::Claim;
use paylog_core::signup::{claim_stream, register_user};
use paylog_core::streams::user_stream;
use paylog_core::user::{RegisterUser, User};

use crate::EngineError as Error;
use crate::run::{Plan, Planned};
use crate::{CommandMeta, Committed, Engine};

struct Register(RegisterUser);

impl Plan for Register {
    fn name(&self) -> &'static str {
        "RegisterUser"
    }

    async fn plan(
        &self,
        engine: &Engine,
        _meta: &CommandMeta,
        _attempt: u32,
    ) -> Result<Planned, Error> {
        let user = engine.load::<User>(&user_stream(self.0.user_id)).await?;
        let claim = engine
            .load::<Claim>(&claim_stream(&self.0.credentials))
            .await?;
        let mut planned = Planned::default();
        planned.read(&user);
        planned.read(&claim);
        planned.decision = register_user(self.0.clone(), &user.state, &claim.state)?;
        Ok(planned)
    }
}

impl Engine {
    /// Registers a user; `UsernameTaken`/`OpenIdTaken` if the claim is held.
    pub async fn register_user(
        &self,
        meta: CommandMeta,
        command: RegisterUser,
    ) -> Result<Committed, Error> {
        self.run(meta, &Register(command)).await
    }
}
