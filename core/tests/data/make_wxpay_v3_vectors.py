#!/usr/bin/env python3
"""Generates wxpay_v3_vectors.json, the WeChat Pay API v3 reference vectors.

Every value here comes from an implementation independent of paylog's Rust code:
RSA signatures (SHA256-with-RSA, PKCS#1 v1.5) from `openssl dgst -sha256 -sign`,
AES-256-GCM from Python's `cryptography`, SHA1 from `hashlib`, and the platform
certificate from `cryptography.x509`. The Rust tests in core read the JSON file
only; they never need Python or openssl.

The key pairs are TEST ONLY. They are committed on purpose so that the vectors
are reproducible; never configure them for a real merchant. The script creates
them when they are missing (`openssl genpkey`) and reuses them otherwise, so a
re-run changes nothing unless the keys or this script change.

Usage: python3 make_wxpay_v3_vectors.py   (needs openssl and `pip install cryptography`)
"""

import base64
import datetime
import hashlib
import json
import pathlib
import subprocess
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "wxpay_v3_vectors.json"

# Three distinct TEST-ONLY key pairs: the merchant's API key, the "WeChat Pay public
# key" (public-key mode) and the key of a platform certificate (certificate mode).
MERCHANT_KEY = HERE / "wxpay_v3_test_only_merchant_key.pem"
PUBKEY_KEY = HERE / "wxpay_v3_test_only_wechatpay_public_key_mode_key.pem"
CERT_KEY = HERE / "wxpay_v3_test_only_platform_certificate_key.pem"

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD0A1A5A1B"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092026010100000000000001"
CERT_SERIAL_INT = 0x5157F09EFDC096DE15EBE81A47057A7232F1B8E1
# 32 ASCII bytes, like the key set in the merchant platform. TEST ONLY.
APIV3_KEY = b"TESTONLYapiv3Key0123456789abcdef"
# A v2 API key is also 32 characters; used as the APIv3 key it decrypts nothing.
V2_KEY = b"TESTONLYv2ApiKey0123456789ABCDEF"

# The instant the signed responses are dated (2026-11-29T12:00:00Z).
T0 = 1796040000


def ensure_key(path: pathlib.Path) -> None:
    if not path.exists():
        subprocess.run(
            ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path)],
            check=True,
            capture_output=True,
        )


def public_pem(key_path: pathlib.Path) -> str:
    return subprocess.run(
        ["openssl", "pkey", "-in", str(key_path), "-pubout"], check=True, capture_output=True
    ).stdout.decode()


def openssl_sign(key_path: pathlib.Path, message: bytes) -> str:
    sig = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", str(key_path)], input=message, check=True, capture_output=True
    ).stdout
    return base64.b64encode(sig).decode()


def openssl_verify(pub_pem: str, message: bytes, signature_b64: str) -> bool:
    with tempfile.TemporaryDirectory() as d:
        pub = pathlib.Path(d) / "pub.pem"
        sig = pathlib.Path(d) / "sig.bin"
        pub.write_text(pub_pem)
        sig.write_bytes(base64.b64decode(signature_b64))
        r = subprocess.run(
            ["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", str(sig)],
            input=message,
            capture_output=True,
        )
        return r.returncode == 0


def aes_gcm_encrypt(key: bytes, nonce: str, associated_data: str, plaintext: bytes) -> str:
    return base64.b64encode(AESGCM(key).encrypt(nonce.encode(), plaintext, associated_data.encode())).decode()


def platform_certificate() -> x509.Certificate:
    key = serialization.load_pem_private_key(CERT_KEY.read_bytes(), password=None)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "paylog TEST ONLY platform certificate"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (TEST ONLY)"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(CERT_SERIAL_INT)
        .not_valid_before(datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))
        .not_valid_after(datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc))
        .sign(key, hashes.SHA256())
    )


def main() -> None:
    for k in (MERCHANT_KEY, PUBKEY_KEY, CERT_KEY):
        ensure_key(k)
    merchant_pub = public_pem(MERCHANT_KEY)
    pubkey_pub = public_pem(PUBKEY_KEY)
    cert = platform_certificate()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    cert_serial = format(CERT_SERIAL_INT, "X")
    cert_pub = cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()

    keys = {
        "warning": "TEST ONLY key material, committed for reproducible vectors. Never use it for a real merchant.",
        "mchid": MCHID,
        "appid": APPID,
        "merchant_serial": MERCHANT_SERIAL,
        "merchant_private_key_pem": MERCHANT_KEY.read_text(),
        "merchant_public_key_pem": merchant_pub,
        "public_key_id": PUBLIC_KEY_ID,
        "wechatpay_private_key_pem": PUBKEY_KEY.read_text(),
        "wechatpay_public_key_pem": pubkey_pub,
        "platform_certificate_private_key_pem": CERT_KEY.read_text(),
        "platform_certificate_pem": cert_pem,
        "platform_certificate_serial": cert_serial,
        "platform_certificate_not_before_unix": int(cert.not_valid_before_utc.timestamp()),
        "platform_certificate_not_after_unix": int(cert.not_valid_after_utc.timestamp()),
        "apiv3_key": APIV3_KEY.decode(),
        "v2_api_key": V2_KEY.decode(),
    }

    # --- 1. Request signatures (merchant key) -------------------------------------
    jsapi_body = json.dumps(
        {
            "appid": APPID,
            "mchid": MCHID,
            "description": "paylog 测试商品 · TEST",
            "out_trade_no": "PL0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6",
            "notify_url": "https://shop.example.com/v1/wechat/pay/notify/v3",
            "amount": {"total": 2990, "currency": "CNY"},
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )
    requests = [
        ("jsapi prepay", "POST", "/v3/pay/transactions/jsapi", T0, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", jsapi_body),
        (
            "query by out_trade_no (GET, empty body)",
            "GET",
            "/v3/pay/transactions/out-trade-no/PL0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6?mchid=" + MCHID,
            T0 + 1,
            "C9DB8E3E7F4B4A4C9A7F6D2E1B0A9C8D",
            "",
        ),
        (
            "close",
            "POST",
            "/v3/pay/transactions/out-trade-no/PL0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6/close",
            T0 + 2,
            "0123456789ABCDEF0123456789ABCDEF",
            json.dumps({"mchid": MCHID}, separators=(",", ":")),
        ),
        (
            "refund",
            "POST",
            "/v3/refund/domestic/refunds",
            T0 + 3,
            "refundnonce0000000000000000000001",
            json.dumps(
                {
                    "out_trade_no": "PL0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6",
                    "out_refund_no": "RF0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6",
                    "reason": "商品已售完",
                    "amount": {"refund": 1000, "total": 2990, "currency": "CNY"},
                },
                ensure_ascii=False,
                separators=(",", ":"),
            ),
        ),
    ]
    request_signatures = []
    for name, method, url, ts, nonce, body in requests:
        message = f"{method}\n{url}\n{ts}\n{nonce}\n{body}\n"
        sig = openssl_sign(MERCHANT_KEY, message.encode())
        assert openssl_verify(merchant_pub, message.encode(), sig)
        request_signatures.append(
            {
                "name": name,
                "method": method,
                "url": url,
                "timestamp": ts,
                "nonce": nonce,
                "body": body,
                "message": message,
                "signature": sig,
                "authorization": (
                    f'WECHATPAY2-SHA256-RSA2048 mchid="{MCHID}",nonce_str="{nonce}",'
                    f'signature="{sig}",timestamp="{ts}",serial_no="{MERCHANT_SERIAL}"'
                ),
            }
        )

    # --- 3. Resources (AEAD_AES_256_GCM) -------------------------------------------
    transaction = {
        "mchid": MCHID,
        "appid": APPID,
        "out_trade_no": "PL0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6",
        "transaction_id": "4200000000202611290000000001",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "CMC",
        "attach": "",
        "success_time": "2026-11-29T20:00:00+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {"total": 2990, "payer_total": 2990, "currency": "CNY", "payer_currency": "CNY"},
    }
    refund_success = {
        "mchid": MCHID,
        "transaction_id": "4200000000202611290000000001",
        "out_trade_no": "PL0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6",
        "refund_id": "50000000382019052709732678859",
        "out_refund_no": "RF0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6",
        "refund_status": "SUCCESS",
        "success_time": "2026-11-29T20:05:00+08:00",
        "user_received_account": "招商银行信用卡0403",
        "amount": {"total": 2990, "refund": 1000, "payer_total": 2990, "payer_refund": 1000},
    }
    refund_closed = dict(refund_success, refund_status="CLOSED")
    del refund_closed["success_time"]
    resources = []
    for name, event_type, summary, ad, nonce, plaintext_obj in [
        ("transaction success", "TRANSACTION.SUCCESS", "支付成功", "transaction", "fdasflkja484", transaction),
        ("refund success", "REFUND.SUCCESS", "退款成功", "refund", "refundnonce1", refund_success),
        ("refund closed, no associated_data", "REFUND.CLOSED", "退款关闭", None, "refundnonce2", refund_closed),
    ]:
        plaintext = json.dumps(plaintext_obj, ensure_ascii=False, separators=(",", ":"))
        ciphertext = aes_gcm_encrypt(APIV3_KEY, nonce, ad or "", plaintext.encode())
        resource = {
            "original_type": "transaction" if event_type.startswith("TRANSACTION") else "refund",
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": ciphertext,
            "nonce": nonce,
        }
        if ad is not None:
            resource["associated_data"] = ad
        # Check against the same library in the other direction, and that a v2 key fails.
        assert AESGCM(APIV3_KEY).decrypt(nonce.encode(), base64.b64decode(ciphertext), (ad or "").encode()) == plaintext.encode()
        resources.append(
            {
                "name": name,
                "event_type": event_type,
                "summary": summary,
                "resource": resource,
                "plaintext": plaintext,
            }
        )

    # --- 2. Verifying WeChat: notifies and responses --------------------------------
    def notify_body(r: dict, ident: str) -> str:
        # Hand-written on purpose: odd whitespace, WeChat's key order, a unicode
        # escape next to raw UTF-8, an escaped slash. Re-serialising changes it.
        res = r["resource"]
        ad = f',\n  "associated_data" :"{res["associated_data"]}"' if "associated_data" in res else ""
        return (
            '{"id":"' + ident + '","create_time":"2026-11-29T20:00:01+08:00",'
            '  "resource_type":"encrypt-resource","event_type":"' + r["event_type"] + '",'
            '"summary":"' + r["summary"] + ' \\u2713 \\/",\r\n'
            '"resource":{"original_type":"' + res["original_type"] + '","algorithm":"AEAD_AES_256_GCM",'
            '"ciphertext":"' + res["ciphertext"] + '"' + ad + ',"nonce":"' + res["nonce"] + '"}}\n'
        )

    def signed(name, body, ts, nonce, key_path, serial, now, expect="ok", kind="response", **extra):
        message = f"{ts}\n{nonce}\n{body}\n"
        sig = openssl_sign(key_path, message.encode())
        headers = {
            "Wechatpay-Timestamp": str(ts),
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": sig,
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }
        case = {
            "name": name,
            "kind": kind,
            "headers": headers,
            "body": body,
            "message": message,
            "now": now,
            "expect": expect,
        }
        case.update(extra)
        return case

    notifies = []
    for i, r in enumerate(resources):
        body = notify_body(r, f"EV-2026112920000100000{i}")
        case = signed(
            "notify " + r["name"],
            body,
            T0 + 10 + i,
            f"notifynonce{i:021d}",
            PUBKEY_KEY,
            PUBLIC_KEY_ID,
            T0 + 12,
            kind="notify",
            event_type=r["event_type"],
            plaintext=r["plaintext"],
        )
        assert openssl_verify(pubkey_pub, case["message"].encode(), case["headers"]["Wechatpay-Signature"])
        notifies.append(case)
    # The same transaction notify in certificate mode: serial in lower case.
    body = notify_body(resources[0], "EV-20261129200001000009")
    notifies.append(
        signed(
            "notify transaction success, platform certificate, lower-case serial",
            body,
            T0 + 20,
            "certnotifynonce000000000000000001",
            CERT_KEY,
            cert_serial.lower(),
            T0 + 20,
            kind="notify",
            event_type="TRANSACTION.SUCCESS",
            plaintext=resources[0]["plaintext"],
        )
    )

    prepay_body = '{"prepay_id":"wx201410272009395522657a690389285100"}'
    responses = [
        signed("prepay response, public key", prepay_body, T0, "respnonce0000000000000000000000001", PUBKEY_KEY, PUBLIC_KEY_ID, T0 + 3),
        signed("close: empty 204 body", "", T0 + 2, "respnonce0000000000000000000000002", PUBKEY_KEY, PUBLIC_KEY_ID, T0 + 2),
        signed("prepay response, platform certificate", prepay_body, T0, "respnonce0000000000000000000000003", CERT_KEY, cert_serial, T0),
        signed(
            "timestamp exactly 300 s old is accepted", prepay_body, T0, "respnonce0000000000000000000000004", PUBKEY_KEY, PUBLIC_KEY_ID, T0 + 300
        ),
        signed(
            "timestamp 300 s ahead is accepted", prepay_body, T0, "respnonce0000000000000000000000005", PUBKEY_KEY, PUBLIC_KEY_ID, T0 - 300
        ),
        signed(
            "timestamp 301 s old is stale", prepay_body, T0, "respnonce0000000000000000000000006", PUBKEY_KEY, PUBLIC_KEY_ID, T0 + 301, expect="stale_timestamp"
        ),
        signed(
            "timestamp 301 s ahead is stale", prepay_body, T0, "respnonce0000000000000000000000007", PUBKEY_KEY, PUBLIC_KEY_ID, T0 - 301, expect="stale_timestamp"
        ),
        signed(
            "unknown serial",
            prepay_body,
            T0,
            "respnonce0000000000000000000000008",
            PUBKEY_KEY,
            "PUB_KEY_ID_0119000001092026010100000000000002",
            T0,
            expect="unknown_serial",
        ),
        signed(
            "public key id in another case is not the public key",
            prepay_body,
            T0,
            "respnonce0000000000000000000000009",
            PUBKEY_KEY,
            PUBLIC_KEY_ID.lower(),
            T0,
            expect="unknown_serial",
        ),
        signed(
            "signed with the certificate key but names the public key id",
            prepay_body,
            T0,
            "respnonce0000000000000000000000010",
            CERT_KEY,
            PUBLIC_KEY_ID,
            T0,
            expect="signature_mismatch",
        ),
    ]
    # A notify re-serialised by a JSON library after it arrived no longer verifies.
    original = notifies[0]
    reserialised = json.dumps(json.loads(original["body"]), ensure_ascii=False)
    assert reserialised != original["body"]
    responses.append(
        dict(
            original,
            name="re-serialised notify body keeps the original signature and fails",
            kind="response",
            body=reserialised,
            message=f'{original["headers"]["Wechatpay-Timestamp"]}\n{original["headers"]["Wechatpay-Nonce"]}\n{reserialised}\n',
            expect="signature_mismatch",
        )
    )
    for name, header, expect in [
        ("missing Wechatpay-Signature", "Wechatpay-Signature", "missing_header"),
        ("missing Wechatpay-Serial", "Wechatpay-Serial", "missing_header"),
        ("missing Wechatpay-Timestamp", "Wechatpay-Timestamp", "missing_header"),
        ("missing Wechatpay-Nonce", "Wechatpay-Nonce", "missing_header"),
    ]:
        case = json.loads(json.dumps(responses[0]))
        del case["headers"][header]
        case["name"], case["expect"] = name, expect
        responses.append(case)
    case = json.loads(json.dumps(responses[0]))
    del case["headers"]["Wechatpay-Signature-Type"]
    case["name"] = "absent Wechatpay-Signature-Type is accepted"
    responses.append(case)
    case = json.loads(json.dumps(responses[0]))
    case["headers"]["Wechatpay-Signature-Type"] = "WECHATPAY2-SM2-WITH-SM3"
    case["name"], case["expect"] = "another signature type", "unsupported_signature_type"
    responses.append(case)
    case = json.loads(json.dumps(responses[0]))
    case["headers"]["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + case["headers"]["Wechatpay-Signature"]
    case["name"], case["expect"] = "WeChat's signature probe must fail", "signature_probe"
    responses.append(case)
    case = json.loads(json.dumps(responses[0]))
    case["headers"]["Wechatpay-Timestamp"] = "17960400OO"
    case["name"], case["expect"] = "timestamp that is not a number", "bad_timestamp"
    responses.append(case)
    for c in responses:
        if c["expect"] == "ok" and "Wechatpay-Signature" in c["headers"]:
            pub = pubkey_pub if c["headers"]["Wechatpay-Serial"] == PUBLIC_KEY_ID else cert_pub
            assert openssl_verify(pub, c["message"].encode(), c["headers"]["Wechatpay-Signature"]), c["name"]

    # --- 4. Mini-program pay params --------------------------------------------------
    pay_params = []
    for prepay_id, ts, nonce in [
        ("wx201410272009395522657a690389285100", T0, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
        ("wx29200000000000000000000000000001", T0 + 60, "paynonce"),
    ]:
        package = f"prepay_id={prepay_id}"
        message = f"{APPID}\n{ts}\n{nonce}\n{package}\n"
        pay_params.append(
            {
                "appid": APPID,
                "prepay_id": prepay_id,
                "timestamp": ts,
                "nonce": nonce,
                "message": message,
                "params": {
                    "appId": APPID,
                    "timeStamp": str(ts),
                    "nonceStr": nonce,
                    "package": package,
                    "signType": "RSA",
                    "paySign": openssl_sign(MERCHANT_KEY, message.encode()),
                },
            }
        )

    # --- 5. Platform certificates (/v3/certificates) ---------------------------------
    cert_nonce = "certnonce012"
    certificates_body = {
        "data": [
            {
                "serial_no": cert_serial,
                "effective_time": "2026-01-01T08:00:00+08:00",
                "expire_time": "2031-01-01T08:00:00+08:00",
                "encrypt_certificate": {
                    "algorithm": "AEAD_AES_256_GCM",
                    "nonce": cert_nonce,
                    "associated_data": "certificate",
                    "ciphertext": aes_gcm_encrypt(APIV3_KEY, cert_nonce, "certificate", cert_pem.encode()),
                },
            }
        ]
    }

    # --- 6. Trade bill SHA1 -------------------------------------------------------------
    bill = "交易时间,公众账号ID,商户号\r\n`2026-11-29 20:00:00,`" + APPID + ",`" + MCHID + "\r\n"
    bill_vector = {
        "file_base64": base64.b64encode(bill.encode()).decode(),
        "hash_type": "SHA1",
        "hash_value": hashlib.sha1(bill.encode()).hexdigest(),
    }

    doc = {
        "about": "WeChat Pay API v3 reference vectors, generated by make_wxpay_v3_vectors.py with openssl "
        "(RSA) and Python cryptography (AES-GCM, X.509). TEST ONLY keys.",
        "keys": keys,
        "request_signatures": request_signatures,
        "resources": resources,
        "notifies": notifies,
        "responses": responses,
        "pay_params": pay_params,
        "certificates": {"response": json.dumps(certificates_body, separators=(",", ":")), "serial": cert_serial},
        "bill": bill_vector,
    }
    OUT.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
