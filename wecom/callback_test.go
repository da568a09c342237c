package wecom

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSealWeComEnvelope(t *testing.T) {
	c := cbtCrypto(t, cbtCorpID)
	plain := cbtReadFixture(t, "wecom_text.xml")
	body, sig, err := c.SealWeCom(plain, cbtCorpID, "1000002", "1718003600", "1372623149")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(body, []byte("<xml><ToUserName><![CDATA["+cbtCorpID+"]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID><Encrypt><![CDATA[")) ||
		!bytes.HasSuffix(body, []byte("]]></Encrypt></xml>")) {
		t.Fatalf("body is not shaped like the platform's: %s", body)
	}
	env, err := ParseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	if env.ToUserName != cbtCorpID || env.AgentID != "1000002" || env.Encrypt == "" {
		t.Fatalf("envelope = %+v", env)
	}
	if sig != c.Sign("1718003600", "1372623149", env.Encrypt) {
		t.Fatal("returned msg_signature is not the signature of the Encrypt value")
	}
	got, err := c.Open(sig, "1718003600", "1372623149", body)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestSealOAEnvelope(t *testing.T) {
	c := cbtCrypto(t, cbtOAID)
	plain := cbtReadFixture(t, "oa_text.xml")
	body, sig, err := c.SealOA(plain, cbtOA, "1718003600", "99")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte("AgentID")) {
		t.Fatalf("OA envelope carries an AgentID: %s", body)
	}
	env, err := ParseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	if env.ToUserName != cbtOA {
		t.Fatalf("ToUserName = %q", env.ToUserName)
	}
	got, err := c.Open(sig, "1718003600", "99", body)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	e, err := ParseOA(got)
	if err != nil || e.CustomerID != cbtOpenID {
		t.Fatalf("ParseOA = %+v, %v", e, err)
	}
}

func TestSealReply(t *testing.T) {
	c := cbtCrypto(t, cbtOAID)
	reply := []byte("<xml><ToUserName><![CDATA[" + cbtOpenID + "]]></ToUserName><FromUserName><![CDATA[" + cbtOA + "]]></FromUserName><CreateTime>1718003601</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[您好，顾问马上联系您]]></Content></xml>")
	body, err := c.SealReply(reply, "1718003601", "5566")
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	if env.TimeStamp != "1718003601" || env.Nonce != "5566" {
		t.Fatalf("envelope = %+v", env)
	}
	if !c.Verify(env.MsgSignature, env.TimeStamp, env.Nonce, env.Encrypt) {
		t.Fatal("reply signature does not verify")
	}
	got, err := c.Decrypt(env.Encrypt)
	if err != nil || !bytes.Equal(got, reply) {
		t.Fatalf("Decrypt = %q, %v", got, err)
	}
	if _, err := c.SealReply(reply, "17\x00", "5566"); err == nil {
		t.Fatal("SealReply accepted a timestamp XML cannot carry")
	}
}

func TestSealKeepsOddValues(t *testing.T) {
	c := cbtCrypto(t, cbtCorpID)
	for _, to := range []string{"", "a]]>b", "]]>", "<&>\"'", "企业", "tab\there", "line\nfeed"} {
		t.Run(to, func(t *testing.T) {
			body, _, err := c.SealWeCom([]byte("<xml/>"), to, to, "1", "2")
			if err != nil {
				t.Fatal(err)
			}
			env, err := ParseEnvelope(body)
			if err != nil {
				t.Fatal(err)
			}
			if env.ToUserName != to || env.AgentID != to {
				t.Fatalf("round trip of %q gave ToUserName %q, AgentID %q", to, env.ToUserName, env.AgentID)
			}
		})
	}
}

func TestSealRejectsUnsafeText(t *testing.T) {
	c := cbtCrypto(t, cbtCorpID)
	tests := []struct{ name, to, agent string }{
		{"NUL in ToUserName", "ww\x00", "1"},
		{"carriage return in ToUserName", "ww\r", "1"},
		{"invalid UTF-8 in ToUserName", "ww\xff", "1"},
		{"control character in AgentID", "ww", "1\x1b"},
		{"non-character in AgentID", "ww", "\uFFFE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := c.SealWeCom([]byte("<xml/>"), tt.to, tt.agent, "1", "2"); err == nil {
				t.Fatal("SealWeCom accepted text XML cannot carry")
			}
			if tt.agent == "1" {
				if _, _, err := c.SealOA([]byte("<xml/>"), tt.to, "1", "2"); err == nil {
					t.Fatal("SealOA accepted text XML cannot carry")
				}
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	c := cbtCrypto(t, cbtCorpID)
	const ts, nonce = "1718003600", "424242"
	plain := cbtReadFixture(t, "wecom_text.xml")
	body, sig, err := c.SealWeCom(plain, cbtCorpID, "1000002", ts, nonce)
	if err != nil {
		t.Fatal(err)
	}
	// Same token and key, sealed for another corp.
	foreignBody, foreignSig, err := cbtCrypto(t, "wwffffffffffffffff").SealWeCom(plain, "wwffffffffffffffff", "1000002", ts, nonce)
	if err != nil {
		t.Fatal(err)
	}
	// Correctly signed, but the Encrypt value is not base64.
	garbage := "@@not-base64@@"
	garbageBody := []byte("<xml><ToUserName>x</ToUserName><Encrypt>" + garbage + "</Encrypt></xml>")
	env, err := ParseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Replace(body, []byte(env.Encrypt[:8]), []byte("AAAAAAAA"), 1)

	tests := []struct {
		name                string
		sig, ts, nonce      string
		body                []byte
		want                error
		wantNotReceiverFlag bool
	}{
		{name: "bad signature", sig: strings.Repeat("0", 40), ts: ts, nonce: nonce, body: body, want: ErrBadSignature},
		{name: "replayed with another timestamp", sig: sig, ts: "1718003601", nonce: nonce, body: body, want: ErrBadSignature},
		{name: "tampered ciphertext", sig: sig, ts: ts, nonce: nonce, body: tampered, want: ErrBadSignature},
		{name: "sealed for another corp", sig: foreignSig, ts: ts, nonce: nonce, body: foreignBody, want: ErrReceiverMismatch},
		{name: "signed garbage", sig: c.Sign(ts, nonce, garbage), ts: ts, nonce: nonce, body: garbageBody, want: ErrMalformed},
		{name: "empty body", sig: sig, ts: ts, nonce: nonce, body: nil, want: ErrMalformed},
		{name: "not xml", sig: sig, ts: ts, nonce: nonce, body: []byte("Encrypt=abc"), want: ErrMalformed},
		{name: "no Encrypt", sig: sig, ts: ts, nonce: nonce, body: []byte("<xml><ToUserName>x</ToUserName><AgentID>1</AgentID></xml>"), want: ErrMalformed},
		{name: "empty Encrypt", sig: sig, ts: ts, nonce: nonce, body: []byte("<xml><Encrypt><![CDATA[]]></Encrypt></xml>"), want: ErrMalformed},
		{name: "truncated body", sig: sig, ts: ts, nonce: nonce, body: body[:len(body)/2], want: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Open(tt.sig, tt.ts, tt.nonce, tt.body)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("Open = %q, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestVerifyURLRejects(t *testing.T) {
	c := cbtCrypto(t, cbtCorpID)
	echostr, err := c.Encrypt([]byte("8873624563784561"))
	if err != nil {
		t.Fatal(err)
	}
	sig := c.Sign("1", "2", echostr)
	if got, err := c.VerifyURL(sig, "1", "2", echostr); err != nil || string(got) != "8873624563784561" {
		t.Fatalf("VerifyURL = %q, %v", got, err)
	}
	if _, err := c.VerifyURL(sig, "1", "3", echostr); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("VerifyURL with a wrong nonce: %v, want ErrBadSignature", err)
	}
	if _, err := c.VerifyURL(c.Sign("1", "2", "%%%"), "1", "2", "%%%"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("VerifyURL of a signed non-base64 echostr: %v, want ErrMalformed", err)
	}
	// The official vector's echostr is sealed for another corp.
	official := cbtOfficial(t)
	other, err := NewCrypto(cbtOfficialToken, cbtOfficialAESKey, "ww0000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.VerifyURL(cbtOfficialURLSig, cbtOfficialURLTimestamp, cbtOfficialURLNonce, cbtOfficialURLEchostr); !errors.Is(err, ErrReceiverMismatch) {
		t.Fatalf("VerifyURL for another corp: %v, want ErrReceiverMismatch", err)
	}
	if _, err := official.VerifyURL(cbtOfficialURLSig, cbtOfficialURLTimestamp, cbtOfficialURLNonce, cbtOfficialURLEchostr); err != nil {
		t.Fatalf("control: %v", err)
	}
}

func FuzzOpenEnvelope(f *testing.F) {
	f.Add([]byte(cbtOfficialPostBody), cbtCorpID, "218")
	f.Add([]byte("<xml><Encrypt>a</Encrypt></xml>"), "", "")
	f.Add([]byte("<xml><Encrypt><![CDATA[a]]]]><![CDATA[>b]]></Encrypt></xml>"), "a]]>b", "\n")
	f.Add([]byte("<a><Encrypt>x</Encrypt><Encrypt>y</Encrypt></a>"), "企业", "1000002")
	f.Add([]byte{}, "\x00", "\r")
	c, err := NewCrypto(cbtToken, cbtAESKey, cbtCorpID)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, to, agent string) {
		encrypt, err := OpenEnvelope(body)
		switch {
		case err != nil && !errors.Is(err, ErrMalformed):
			t.Fatalf("error %v is not ErrMalformed", err)
		case err == nil && encrypt == "":
			t.Fatal("empty Encrypt without an error")
		}
		// Whatever the platform seals, the webhook opens unchanged.
		sealed, sig, err := c.SealWeCom(body, to, agent, "1718003600", "77")
		if err != nil {
			if cbCheckXMLText("ToUserName", to) == nil && cbCheckXMLText("AgentID", agent) == nil {
				t.Fatalf("SealWeCom failed on text XML can carry: %v", err)
			}
			return
		}
		env, err := ParseEnvelope(sealed)
		if err != nil {
			t.Fatalf("ParseEnvelope of a sealed body: %v", err)
		}
		if env.ToUserName != to || env.AgentID != agent {
			t.Fatalf("envelope fields changed: %q/%q vs %q/%q", env.ToUserName, env.AgentID, to, agent)
		}
		plain, err := c.Open(sig, "1718003600", "77", sealed)
		if err != nil || !bytes.Equal(plain, body) {
			t.Fatalf("Open of a sealed body: %q, %v", plain, err)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	plain := cbtReadFixture(b, "wecom_contact_add_external_contact.xml")
	wecom := cbtCrypto(b, cbtCorpID)
	oa := cbtCrypto(b, cbtOAID)
	oaPlain := cbtReadFixture(b, "oa_text.xml")
	b.Run("wecom", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			if _, _, err := wecom.SealWeCom(plain, cbtCorpID, "1000002", "1718003600", "1372623149"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("oa", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(oaPlain)))
		for b.Loop() {
			if _, _, err := oa.SealOA(oaPlain, cbtOA, "1718003600", "1372623149"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOpenEnvelope(b *testing.B) {
	c := cbtCrypto(b, cbtCorpID)
	body, _, err := c.SealWeCom(cbtReadFixture(b, "wecom_text.xml"), cbtCorpID, "1000002", "1718003600", "1")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenEnvelope(body); err != nil {
			b.Fatal(err)
		}
	}
}
