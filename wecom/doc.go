// Package wecom speaks the WeCom (企业微信) and WeChat Official Account
// (公众号) protocols for scrm. It has three parts:
//
//   - The callback protocol (crypto.go, callback.go, event.go): Crypto signs,
//     verifies, encrypts and decrypts callbacks (msg_signature, AES-256-CBC
//     with the EncodingAESKey, receiveid check); OpenEnvelope and Open read
//     an encrypted POST; ParseWeCom and ParseOA turn the plaintext XML into a
//     normalized Event whose DedupKey makes platform retries idempotent. The
//     Seal functions build callbacks exactly as the platform sends them, for
//     the simulator, tests and the load generator.
//   - The outbound client (client*.go): access tokens, app messages,
//     customer contact, tags, 微信客服 and OA customer-service messages over
//     github.com/silenceper/wechat/v2, with the fixes its gaps need.
//   - A simulator (package wecomtest): a fake platform on a loopback listener that
//     serves the outbound APIs and plays callbacks, for tests and the demo.
//
// The package imports nothing else of scrm.
package wecom
