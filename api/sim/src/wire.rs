//! Reading merchant requests and writing signed answers, as WeChat does.

use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use paylog_core::wxpay::{
    ErrCode, Fields, SignType, WxPayError, effective_sign_type, fields::required, parse_xml,
    sign_fields, to_xml, verify,
};

use rand::Rng;
use rand::distr::Alphanumeric;

use super::Sim;

/// A fresh 32-character alphanumeric nonce, as WeChat puts in every answer. The
/// simulator makes its own rather than borrowing the client's: it stands in for
/// WeChat and shares nothing with the code it is tested against.
pub(crate) fn nonce() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// An XML answer with WeChat's content type.
pub(crate) fn xml(body: String) -> Response {
    ([(CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// A communication-level failure: unsigned, as WeChat sends it when it could not
/// even read (or authenticate) the request.
pub(crate) fn comm_fail(msg: &str) -> Response {
    let mut f = Fields::new();
    f.insert("return_code".into(), "FAIL".into());
    f.insert("return_msg".into(), msg.into());
    xml(to_xml(&f))
}

/// A request that passed parsing and the sign check.
pub(crate) struct Request {
    pub fields: Fields,
    pub sign_type: SignType,
}

impl Request {
    pub fn get(&self, name: &'static str) -> Result<&str, WxPayError> {
        required(&self.fields, name)
    }
}

impl Sim {
    /// Parses and authenticates a merchant request, or produces WeChat's answer
    /// for why not (boxed: a `Response` is large and this is the cold path).
    pub(crate) fn accept(&self, body: &str) -> Result<Request, Box<Response>> {
        let fields =
            parse_xml(body).map_err(|e| Box::new(comm_fail(&format!("XML_FORMAT_ERROR: {e}"))))?;
        let sign_type = effective_sign_type(&fields, SignType::Md5)
            .map_err(|_| Box::new(comm_fail("sign_type参数错误")))?;
        if verify(&fields, &self.request_key, SignType::Md5).is_err() {
            return Err(Box::new(comm_fail("签名错误")));
        }
        let req = Request { fields, sign_type };
        if req.get("nonce_str").is_err() {
            return Err(Box::new(self.biz_fail(
                &req,
                ErrCode::ParamError,
                "nonce_str is required",
            )));
        }
        let same_merchant = req.get("appid").ok() == Some(self.config.appid.as_str())
            && req.get("mch_id").ok() == Some(self.config.mch_id.as_str());
        if !same_merchant {
            return Err(Box::new(self.biz_fail(
                &req,
                ErrCode::AppidMchidNotMatch,
                "appid和mch_id不匹配",
            )));
        }
        Ok(req)
    }

    /// Signs `fields` plus WeChat's envelope (return_code, appid, mch_id, nonce).
    fn signed(&self, mut fields: Fields, sign_type: SignType) -> Response {
        fields.insert("return_code".into(), "SUCCESS".into());
        fields.insert("return_msg".into(), "OK".into());
        fields.insert("appid".into(), self.config.appid.clone());
        fields.insert("mch_id".into(), self.config.mch_id.clone());
        fields.insert("nonce_str".into(), nonce());
        self.sign_with(&mut fields, sign_type);
        xml(to_xml(&fields))
    }

    /// Signs notify or answer fields in place (without adding a `sign_type`).
    pub(crate) fn sign_with(&self, fields: &mut Fields, sign_type: SignType) {
        if sign_fields(fields, &self.response_key, sign_type).is_err() {
            // Only an unknown sign_type in `fields` fails, and we never put one there.
            tracing::error!("simulator could not sign its own answer");
        }
    }

    /// `result_code=SUCCESS` with `extra`.
    pub(crate) fn ok(&self, req: &Request, mut extra: Fields) -> Response {
        extra.insert("result_code".into(), "SUCCESS".into());
        self.signed(extra, req.sign_type)
    }

    /// `result_code=FAIL` with an `err_code`, signed.
    pub(crate) fn biz_fail(&self, req: &Request, code: ErrCode, des: &str) -> Response {
        let mut f = Fields::new();
        f.insert("result_code".into(), "FAIL".into());
        f.insert("err_code".into(), code.as_str().into());
        f.insert("err_code_des".into(), des.into());
        self.signed(f, req.sign_type)
    }

    /// A missing or invalid field.
    pub(crate) fn param_error(&self, req: &Request, e: &WxPayError) -> Response {
        self.biz_fail(req, ErrCode::ParamError, &e.to_string())
    }
}

/// Builds a `Fields` from pairs, leaving out empty values.
pub(crate) fn fields<const N: usize>(pairs: [(&str, String); N]) -> Fields {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// `n` random decimal digits (transaction and refund ids are numeric at WeChat).
pub(crate) fn random_digits(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}
