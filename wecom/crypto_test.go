package wecom

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/silenceper/wechat/v2/util"
)

// The official test vector of the WeCom callback encryption scheme: the
// settings, the URL-check GET and the encrypted POST published in
// 企业微信 加解密方案 (https://developer.work.weixin.qq.com/document/path/91144)
// and in the sample code shipped with WXBizMsgCrypt (Sample.cs / Sample.java /
// Sample.py, "验证回调URL" and "对用户回复的消息解密").
const (
	cbtOfficialToken  = "QDG6eK"
	cbtOfficialCorpID = "wx5823bf96d3bd56c7"
	cbtOfficialAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

	// GET /cgi-bin/wxpush?msg_signature=...&timestamp=...&nonce=...&echostr=...
	cbtOfficialURLSig       = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
	cbtOfficialURLTimestamp = "1409659589"
	cbtOfficialURLNonce     = "263014780"
	cbtOfficialURLEchostr   = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
	cbtOfficialURLEcho      = "1616140317555161061"

	// POST /cgi-bin/wxpush?msg_signature=...&timestamp=...&nonce=...
	cbtOfficialPostSig       = "477715d11cdb4164915debcba66cb864d751f3e6"
	cbtOfficialPostTimestamp = "1409659813"
	cbtOfficialPostNonce     = "1372623149"
	cbtOfficialPostEncrypt   = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
	cbtOfficialPostBody      = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[" + cbtOfficialPostEncrypt + "]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
	// The documented plaintext, byte for byte as it decrypts (lines joined by "\n").
	cbtOfficialPostPlain = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n" +
		"<FromUserName><![CDATA[mycreate]]></FromUserName>\n" +
		"<CreateTime>1409659813</CreateTime>\n" +
		"<MsgType><![CDATA[text]]></MsgType>\n" +
		"<Content><![CDATA[hello]]></Content>\n" +
		"<MsgId>4561255354251345929</MsgId>\n" +
		"<AgentID>218</AgentID>\n" +
		"</xml>"
)

// A second app's settings for tests that need their own keys.
const (
	cbtToken  = "scrmTestToken2024"
	cbtAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	cbtCorpID = "wwa1b2c3d4e5f60718"
	cbtOAID   = "wx9e8d7c6b5a493827"
)

func cbtCrypto(t testing.TB, receiveID string) *Crypto {
	t.Helper()
	c, err := NewCrypto(cbtToken, cbtAESKey, receiveID)
	if err != nil {
		t.Fatalf("NewCrypto: %v", err)
	}
	return c
}

func cbtOfficial(t testing.TB) *Crypto {
	t.Helper()
	c, err := NewCrypto(cbtOfficialToken, cbtOfficialAESKey, cbtOfficialCorpID)
	if err != nil {
		t.Fatalf("NewCrypto: %v", err)
	}
	return c
}

func TestOfficialVectorURLCheck(t *testing.T) {
	c := cbtOfficial(t)
	if got := c.Sign(cbtOfficialURLTimestamp, cbtOfficialURLNonce, cbtOfficialURLEchostr); got != cbtOfficialURLSig {
		t.Fatalf("Sign = %s, want %s", got, cbtOfficialURLSig)
	}
	if !c.Verify(cbtOfficialURLSig, cbtOfficialURLTimestamp, cbtOfficialURLNonce, cbtOfficialURLEchostr) {
		t.Fatal("Verify rejected the official URL-check signature")
	}
	echo, err := c.VerifyURL(cbtOfficialURLSig, cbtOfficialURLTimestamp, cbtOfficialURLNonce, cbtOfficialURLEchostr)
	if err != nil {
		t.Fatalf("VerifyURL: %v", err)
	}
	if string(echo) != cbtOfficialURLEcho {
		t.Fatalf("echostr decrypts to %q, want %q", echo, cbtOfficialURLEcho)
	}
}

func TestOfficialVectorPost(t *testing.T) {
	c := cbtOfficial(t)
	encrypt, err := OpenEnvelope([]byte(cbtOfficialPostBody))
	if err != nil {
		t.Fatalf("OpenEnvelope: %v", err)
	}
	if encrypt != cbtOfficialPostEncrypt {
		t.Fatalf("OpenEnvelope returned a different Encrypt")
	}
	if got := c.Sign(cbtOfficialPostTimestamp, cbtOfficialPostNonce, encrypt); got != cbtOfficialPostSig {
		t.Fatalf("Sign = %s, want %s", got, cbtOfficialPostSig)
	}
	if !c.Verify(cbtOfficialPostSig, cbtOfficialPostTimestamp, cbtOfficialPostNonce, encrypt) {
		t.Fatal("Verify rejected the official POST signature")
	}
	plain, err := c.Decrypt(encrypt)
	if err != nil {
		t.Fatalf("Decrypt: %v", err)
	}
	if string(plain) != cbtOfficialPostPlain {
		t.Fatalf("Decrypt = %q, want %q", plain, cbtOfficialPostPlain)
	}
	opened, err := c.Open(cbtOfficialPostSig, cbtOfficialPostTimestamp, cbtOfficialPostNonce, []byte(cbtOfficialPostBody))
	if err != nil || !bytes.Equal(opened, plain) {
		t.Fatalf("Open = %q, %v", opened, err)
	}
	e, err := ParseWeCom(plain)
	if err != nil {
		t.Fatalf("ParseWeCom: %v", err)
	}
	if e.Kind != "text" || e.Text != "hello" || e.FromID != "mycreate" || e.StaffID != "mycreate" ||
		e.ToID != cbtOfficialCorpID || e.MsgID != "4561255354251345929" || e.Attrs["AgentID"] != "218" ||
		e.CreateTime.Unix() != 1409659813 {
		t.Fatalf("ParseWeCom = %+v", e)
	}
	if got, want := e.DedupKey(), "msg:wecom:4561255354251345929"; got != want {
		t.Fatalf("DedupKey = %q, want %q", got, want)
	}
}

// The silenceper SDK is an independent implementation of the same scheme: we
// must sign, encrypt and decrypt exactly as it does.
func TestInteropWithSilenceperUtil(t *testing.T) {
	c := cbtOfficial(t)
	if got, want := c.Sign("1409659813", "1372623149", cbtOfficialPostEncrypt), util.Signature(cbtOfficialToken, "1409659813", "1372623149", cbtOfficialPostEncrypt); got != want {
		t.Fatalf("Sign = %s, util.Signature = %s", got, want)
	}
	if got, want := OASignature("tok", "1718000000", "nonce9"), util.Signature("tok", "1718000000", "nonce9"); got != want {
		t.Fatalf("OASignature = %s, util.Signature = %s", got, want)
	}
	for _, size := range []int{0, 1, 11, 12, 13, 43, 44, 45, 100, 4096} {
		plain := bytes.Repeat([]byte("客"), size)[:size]
		random := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
		ours, err := c.encryptWithRandom(random, plain)
		if err != nil {
			t.Fatalf("size %d: encrypt: %v", size, err)
		}
		theirs, err := util.EncryptMsg(random[:], plain, cbtOfficialCorpID, cbtOfficialAESKey)
		if err != nil {
			t.Fatalf("size %d: util.EncryptMsg: %v", size, err)
		}
		if ours != string(theirs) {
			t.Fatalf("size %d: ciphertexts differ", size)
		}
		if size == 0 {
			continue // util.DecryptMsg cannot tell an empty message from a truncated one
		}
		_, back, err := util.DecryptMsg(cbtOfficialCorpID, ours, cbtOfficialAESKey)
		if err != nil || !bytes.Equal(back, plain) {
			t.Fatalf("size %d: util.DecryptMsg of ours = %q, %v", size, back, err)
		}
	}
}

func TestNewCryptoErrors(t *testing.T) {
	tests := []struct {
		name, token, key, receiveID, wantInErr string
	}{
		{"empty token", "", cbtAESKey, cbtCorpID, "token"},
		{"empty receiveid", cbtToken, cbtAESKey, "", "receiveid"},
		{"short key", cbtToken, cbtAESKey[:42], cbtCorpID, "43 characters, got 42"},
		{"long key", cbtToken, cbtAESKey + "=", cbtCorpID, "43 characters, got 44"},
		{"not base64", cbtToken, "*" + cbtAESKey[1:], cbtCorpID, "not valid base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCrypto(tt.token, tt.key, tt.receiveID)
			if err == nil || c != nil {
				t.Fatalf("NewCrypto = %v, %v; want an error", c, err)
			}
			if !strings.Contains(err.Error(), tt.wantInErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantInErr)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	c := cbtCrypto(t, cbtCorpID)
	const ts, nonce, enc = "1718000000", "84729163", "c2VjcmV0IG1lc3NhZ2U="
	sig := c.Sign(ts, nonce, enc)
	if len(sig) != 40 || strings.ToLower(sig) != sig {
		t.Fatalf("Sign = %q, want 40 lowercase hex digits", sig)
	}
	tests := []struct {
		name                 string
		sig, ts, nonce, data string
		want                 bool
	}{
		{"valid", sig, ts, nonce, enc, true},
		{"flipped digit", sig[:39] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", sig[39])+1)%16]), ts, nonce, enc, false},
		{"uppercase", strings.ToUpper(sig), ts, nonce, enc, sig == strings.ToUpper(sig)},
		{"truncated", sig[:39], ts, nonce, enc, false},
		{"empty", "", ts, nonce, enc, false},
		{"other timestamp", sig, "1718000001", nonce, enc, false},
		{"other nonce", sig, ts, "84729164", enc, false},
		{"other encrypt", sig, ts, nonce, enc + "x", false},
		// The parts are sorted before hashing, so their order does not matter.
		{"swapped timestamp and nonce", sig, nonce, ts, enc, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Verify(tt.sig, tt.ts, tt.nonce, tt.data); got != tt.want {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
	other, err := NewCrypto("anotherToken", cbtAESKey, cbtCorpID)
	if err != nil {
		t.Fatal(err)
	}
	if other.Verify(sig, ts, nonce, enc) {
		t.Fatal("a signature made with one token verified with another")
	}
}

func TestOASignature(t *testing.T) {
	const token, ts, nonce = "oaToken", "1718000300", "1290384756"
	sig := OASignature(token, ts, nonce)
	tests := []struct {
		name                string
		token, sig, ts, non string
		want                bool
	}{
		{"valid", token, sig, ts, nonce, true},
		{"wrong token", "otherToken", sig, ts, nonce, false},
		{"wrong timestamp", token, sig, "1718000301", nonce, false},
		{"wrong nonce", token, sig, ts, "1", false},
		{"empty signature", token, "", ts, nonce, false},
		{"truncated signature", token, sig[:20], ts, nonce, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyOASignature(tt.token, tt.sig, tt.ts, tt.non); got != tt.want {
				t.Fatalf("VerifyOASignature = %v, want %v", got, tt.want)
			}
		})
	}
}

// cbtSealRaw encrypts a plaintext given byte for byte (random, length,
// message, receiveid and padding included) to build broken ciphertexts.
func cbtSealRaw(t testing.TB, key string, plain []byte) string {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(key + "=")
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Clone(plain)
	cipher.NewCBCEncrypter(block, k[:16]).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf)
}

// cbtLayout builds random|len|msg|receiveid with a declared length, padded
// with pad bytes of value padValue.
func cbtLayout(msg []byte, declaredLen uint32, receiveID string, pad int, padValue byte) []byte {
	b := make([]byte, 16, 20+len(msg)+len(receiveID)+pad)
	b = binary.BigEndian.AppendUint32(b, declaredLen)
	b = append(b, msg...)
	b = append(b, receiveID...)
	for range pad {
		b = append(b, padValue)
	}
	return b
}

func TestDecryptRejects(t *testing.T) {
	c := cbtCrypto(t, cbtCorpID)
	msg := []byte("<xml><Content>hi</Content></xml>")
	good, err := c.Encrypt(msg)
	if err != nil {
		t.Fatal(err)
	}
	goodLen := 20 + len(msg) + len(cbtCorpID)
	goodPad := 32 - goodLen%32
	if goodPad < 2 {
		t.Fatalf("test message gives %d padding bytes; the padding cases need at least 2", goodPad)
	}
	other, err := NewCrypto(cbtToken, "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut", cbtCorpID)
	if err != nil {
		t.Fatal(err)
	}
	otherEnc, err := other.encryptWithRandom([16]byte{7}, msg)
	if err != nil {
		t.Fatal(err)
	}
	forOA, err := cbtCrypto(t, cbtOAID).Encrypt(msg)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		encrypt string
		want    error
	}{
		{"empty", "", ErrMalformed},
		{"bad base64 characters", "!!!!" + good[4:], ErrMalformed},
		{"truncated base64", good[:len(good)-3], ErrMalformed},
		{"truncated ciphertext", base64.StdEncoding.EncodeToString(cbtMustB64(t, good)[:48]), ErrMalformed},
		{"not whole blocks", base64.StdEncoding.EncodeToString(cbtMustB64(t, good)[:40]), ErrMalformed},
		{"wrong receiveid", forOA, ErrReceiverMismatch},
		{"zero padding byte", cbtSealRaw(t, cbtAESKey, cbtLayout(msg, uint32(len(msg)), cbtCorpID, goodPad, 0)), ErrMalformed},
		{"padding over 32", cbtSealRaw(t, cbtAESKey, append(cbtLayout(msg, uint32(len(msg)), cbtCorpID, goodPad-1, byte(goodPad)), 33)), ErrMalformed},
		{"unequal padding bytes", cbtSealRaw(t, cbtAESKey, append(cbtLayout(msg, uint32(len(msg)), cbtCorpID, goodPad-1, 0x09), byte(goodPad))), ErrMalformed},
		{"declared length too large", cbtSealRaw(t, cbtAESKey, cbtLayout(msg, uint32(len(msg)+len(cbtCorpID)+1), cbtCorpID, goodPad, byte(goodPad))), ErrMalformed},
		{"declared length 2^32-1", cbtSealRaw(t, cbtAESKey, cbtLayout(msg, 0xFFFFFFFF, cbtCorpID, goodPad, byte(goodPad))), ErrMalformed},
		{"plaintext shorter than header", cbtSealRaw(t, cbtAESKey, append(make([]byte, 13), bytes.Repeat([]byte{19}, 19)...)), ErrMalformed},
		{"declared length eats receiveid", cbtSealRaw(t, cbtAESKey, cbtLayout(msg, uint32(len(msg)+3), cbtCorpID, goodPad, byte(goodPad))), ErrReceiverMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Decrypt(tt.encrypt)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decrypt = %q, %v; want %v", got, err, tt.want)
			}
		})
	}

	t.Run("wrong key", func(t *testing.T) {
		got, err := c.Decrypt(otherEnc)
		if err == nil {
			t.Fatalf("Decrypt with the wrong key = %q, want an error", got)
		}
		if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrReceiverMismatch) {
			t.Fatalf("error %v is neither ErrMalformed nor ErrReceiverMismatch", err)
		}
	})
	t.Run("valid control", func(t *testing.T) {
		got, err := c.Decrypt(good)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("Decrypt = %q, %v", got, err)
		}
	})
	// A sender padding to 16 (as some SDKs do) is still understood.
	t.Run("padding to 16", func(t *testing.T) {
		pad := 16 - goodLen%16
		got, err := c.Decrypt(cbtSealRaw(t, cbtAESKey, cbtLayout(msg, uint32(len(msg)), cbtCorpID, pad, byte(pad))))
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("Decrypt = %q, %v", got, err)
		}
	})
}

func cbtMustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEncryptRoundTrip(t *testing.T) {
	c := cbtCrypto(t, cbtCorpID)
	for _, size := range []int{0, 1, 31, 32, 33, 1000, 70000} {
		t.Run(fmt.Sprintf("size_%d", size), func(t *testing.T) {
			plain := bytes.Repeat([]byte{'x'}, size)
			enc, err := c.Encrypt(plain)
			if err != nil {
				t.Fatal(err)
			}
			raw := cbtMustB64(t, enc)
			if len(raw)%32 != 0 {
				t.Fatalf("ciphertext of %d bytes is not padded to 32", len(raw))
			}
			again, err := c.Encrypt(plain)
			if err != nil {
				t.Fatal(err)
			}
			if again == enc {
				t.Fatal("two encryptions of the same message are equal: the random prefix is not random")
			}
			got, err := c.Decrypt(enc)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("Decrypt = %d bytes, %v", len(got), err)
			}
			// Appending to the result must not corrupt anything visible.
			_ = append(got, 'y')
		})
	}
}

func TestCryptoConcurrentUse(t *testing.T) {
	c := cbtCrypto(t, cbtCorpID)
	done := make(chan error, 8)
	for i := range 8 {
		go func() {
			for j := range 200 {
				plain := []byte(strings.Repeat("并发", i+j%7))
				enc, err := c.Encrypt(plain)
				if err != nil {
					done <- err
					return
				}
				got, err := c.Decrypt(enc)
				if err != nil {
					done <- err
					return
				}
				if !bytes.Equal(got, plain) {
					done <- errors.New("round trip changed the message")
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzDecrypt(f *testing.F) {
	c, err := NewCrypto(cbtOfficialToken, cbtOfficialAESKey, cbtOfficialCorpID)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("hello"), cbtOfficialURLEchostr)
	f.Add([]byte(cbtOfficialPostPlain), cbtOfficialPostEncrypt)
	f.Add([]byte{}, "")
	f.Add(bytes.Repeat([]byte{32}, 64), "AAAA")
	f.Fuzz(func(t *testing.T, data []byte, encrypt string) {
		// Arbitrary text and arbitrary ciphertext bytes never panic.
		if plain, err := c.Decrypt(encrypt); err == nil {
			// Whatever decrypts must survive a round trip unchanged.
			again, err := c.Encrypt(plain)
			if err != nil {
				t.Fatal(err)
			}
			back, err := c.Decrypt(again)
			if err != nil || !bytes.Equal(back, plain) {
				t.Fatalf("round trip of a decrypted message: %q, %v", back, err)
			}
		}
		_, _ = c.Decrypt(base64.StdEncoding.EncodeToString(data))
		// Any message encrypts and decrypts back to itself.
		enc, err := c.Encrypt(data)
		if err != nil {
			t.Fatal(err)
		}
		back, err := c.Decrypt(enc)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("round trip: %q, %v", back, err)
		}
	})
}

func BenchmarkDecrypt(b *testing.B) {
	c := cbtCrypto(b, cbtCorpID)
	plain := cbtReadFixture(b, "wecom_contact_add_external_contact.xml")
	enc, err := c.Encrypt(plain)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("scrm", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			if _, err := c.Decrypt(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The SDK's implementation, for the ratio.
	b.Run("silenceper_util", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			if _, _, err := util.DecryptMsg(cbtCorpID, enc, cbtAESKey); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	c := cbtCrypto(b, cbtCorpID)
	enc, err := c.Encrypt(cbtReadFixture(b, "wecom_text.xml"))
	if err != nil {
		b.Fatal(err)
	}
	sig := c.Sign("1718000000", "84729163", enc)
	b.Run("scrm", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !c.Verify(sig, "1718000000", "84729163", enc) {
				b.Fatal("rejected")
			}
		}
	})
	b.Run("silenceper_util", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if util.Signature(cbtToken, "1718000000", "84729163", enc) != sig {
				b.Fatal("rejected")
			}
		}
	})
}
