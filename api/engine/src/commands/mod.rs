//! One file per command the engine runs, plus the read helpers commands share.

mod adjust_stock;
mod create_product;
mod order_command;
mod place_order;
mod register_user;
mod release_order;

use paylog_core::claim::Claim;
use paylog_core::identity::{OpenId, Username};
use paylog_core::order::{Order, OrderState};
use paylog_core::product::{Product, ProductState};
use paylog_core::streams::{
    openid_stream, order_stream, product_stream, user_stream, username_stream,
};
use paylog_core::user::{User, UserState};
use paylog_core::{OrderId, ProductId, UserId};

use super::Engine;
use crate::EngineError as Error;

/// Strongly consistent reads straight from the streams (not the projections).
impl Engine {
    /// An order's current state, `None` if it does not exist.
    pub async fn order(&self, order_id: OrderId) -> Result<Option<OrderState>, Error> {
        Ok(self.load::<Order>(&order_stream(order_id)).await?.state)
    }

    /// A product's current state, `None` if it does not exist.
    pub async fn product(&self, product_id: ProductId) -> Result<Option<ProductState>, Error> {
        Ok(self
            .load::<Product>(&product_stream(product_id))
            .await?
            .state)
    }

    /// A user's current state, `None` if it does not exist.
    pub async fn user(&self, user_id: UserId) -> Result<Option<UserState>, Error> {
        Ok(self.load::<User>(&user_stream(user_id)).await?.state)
    }

    /// The user who claimed `username`, if any.
    pub async fn user_by_username(&self, username: &Username) -> Result<Option<UserId>, Error> {
        let claim = self.load::<Claim>(&username_stream(username)).await?;
        Ok(claim.state.map(|c| c.user_id))
    }

    /// The user who claimed `openid`, if any.
    pub async fn user_by_openid(&self, openid: &OpenId) -> Result<Option<UserId>, Error> {
        let claim = self.load::<Claim>(&openid_stream(openid)).await?;
        Ok(claim.state.map(|c| c.user_id))
    }
}
