#!/bin/sh
# Regenerates the TEST-ONLY merchant client certificates used by the client's tests
# and the end-to-end refund test. They identify nobody; never use them elsewhere.
#
#   apiclient_cert.pem / apiclient_key.pem  the PEM pair (PAYLOG_WECHAT_CLIENT_CERT/_KEY)
#   apiclient_cert.p12   PKCS#12 as WeChat issues it: legacy encryption
#                        (pbeWithSHAAnd40BitRC2-CBC for the certificate, 3DES for
#                        the key), password = the simulator's mch_id
#   modern.p12           the same identity as OpenSSL 3 exports it by default
#                        (PBES2/AES-256), to check the refusal names what to do
#   other_key.pem        a key that does not belong to the certificate
#
# Needs OpenSSL 3 (for -legacy). Run from this directory: sh make.sh
set -eu
MCH_ID=1900000109
openssl req -x509 -newkey rsa:2048 -nodes -days 36500 \
  -subj "/CN=$MCH_ID/O=paylog test merchant/OU=TEST ONLY" \
  -keyout apiclient_key.pem -out apiclient_cert.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other_key.pem
openssl pkcs12 -export -legacy -inkey apiclient_key.pem -in apiclient_cert.pem \
  -name "Tenpay Certificate" -passout "pass:$MCH_ID" -out apiclient_cert.p12
openssl pkcs12 -export -inkey apiclient_key.pem -in apiclient_cert.pem \
  -passout "pass:$MCH_ID" -out modern.p12
