//! WeChat Pay v2 protocol: signing, XML, requestPayment parameters, refund notify decryption (pure).
