//! Hand-built WeChat notifies (signed, forged, encrypted) for the notify tests, made
//! by the simulator's own builder (`paylog_sim::notify`) with fixed ids and times.

use paylog_core::wxpay::{ApiKey, Fields, SignType};
use paylog_sim::notify::{PayNotice, refund_notify_xml as encrypted_refund_notify};

/// The fields of a payment notify as WeChat sends it (before signing).
#[derive(Debug, Clone)]
pub struct PayNotifyDraft {
    pub appid: String,
    pub mch_id: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub total_fee: u64,
}

impl PayNotifyDraft {
    fn notice(&self) -> PayNotice {
        PayNotice {
            appid: self.appid.clone(),
            mch_id: self.mch_id.clone(),
            nonce_str: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS".to_owned(),
            openid: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".to_owned(),
            out_trade_no: self.out_trade_no.clone(),
            transaction_id: self.transaction_id.clone(),
            total_fee: self.total_fee,
            time_end: "20260101120000".to_owned(),
            attach: String::new(),
        }
    }

    /// The notify XML signed (MD5) with `key`.
    pub fn signed(&self, key: &str) -> String {
        self.notice()
            .signed(&ApiKey::new(key), SignType::Md5)
            .expect("signs")
    }
}

/// A refund notify whose `req_info` is encrypted with `key`.
pub fn refund_notify_xml(appid: &str, mch_id: &str, key: &str, inner: &[(&str, String)]) -> String {
    let inner: Fields = inner
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    encrypted_refund_notify(appid, mch_id, "TeqClE3i0mvn3DrK", &inner, &ApiKey::new(key))
}
