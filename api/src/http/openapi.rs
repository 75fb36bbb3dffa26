//! The OpenAPI document's frame: title, tags, security schemes. The paths are added
//! where the routes are declared (`http::app`, one `routes!` per path), so a route
//! and its OpenAPI entry cannot drift apart.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "paylog", description = "Orders and WeChat Pay for mini-program shops, event-sourced."),
    modifiers(&Security),
    tags(
        (name = "auth", description = "sign-up and sign-in"),
        (name = "products", description = "the catalog"),
        (name = "orders", description = "the caller's orders and their payment"),
        (name = "admin", description = "needs the admin token"),
        (name = "wechat", description = "WeChat Pay's callbacks (XML)"),
        (name = "ops", description = "health, metrics, this document"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
