package wecom

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
	"unicode/utf8"
)

// CallbackEnvelope is the outer XML of an encrypted callback or of an
// encrypted passive reply. Which fields are set depends on the direction:
//
//	WeCom POST            <xml><ToUserName/><AgentID/><Encrypt/></xml>
//	OA safe-mode POST     <xml><ToUserName/><Encrypt/></xml>
//	passive reply         <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>
type CallbackEnvelope struct {
	ToUserName   string `xml:"ToUserName"`
	AgentID      string `xml:"AgentID"`
	Encrypt      string `xml:"Encrypt"`
	MsgSignature string `xml:"MsgSignature"`
	TimeStamp    string `xml:"TimeStamp"`
	Nonce        string `xml:"Nonce"`
}

// ParseEnvelope parses an encrypted callback body or passive reply. It
// returns ErrMalformed when the body is not XML or carries no Encrypt.
func ParseEnvelope(body []byte) (*CallbackEnvelope, error) {
	var env CallbackEnvelope
	if err := xml.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("wecom: parse envelope: %w: %w", ErrMalformed, err)
	}
	if env.Encrypt == "" {
		return nil, fmt.Errorf("wecom: parse envelope: no Encrypt element: %w", ErrMalformed)
	}
	return &env, nil
}

// OpenEnvelope returns the Encrypt value of an encrypted callback body, WeCom
// or OA safe mode. It returns ErrMalformed when there is none.
func OpenEnvelope(body []byte) (encrypt string, err error) {
	env, err := ParseEnvelope(body)
	if err != nil {
		return "", err
	}
	return env.Encrypt, nil
}

// Open verifies and decrypts an encrypted callback POST: it reads the
// envelope, checks msg_signature (ErrBadSignature) and decrypts the message
// (ErrMalformed, ErrReceiverMismatch). It returns the plaintext XML.
func (c *Crypto) Open(msgSignature, timestamp, nonce string, body []byte) ([]byte, error) {
	encrypt, err := OpenEnvelope(body)
	if err != nil {
		return nil, err
	}
	if !c.Verify(msgSignature, timestamp, nonce, encrypt) {
		return nil, fmt.Errorf("wecom: open callback: %w", ErrBadSignature)
	}
	return c.Decrypt(encrypt)
}

// VerifyURL answers a WeCom URL check (GET with msg_signature, timestamp,
// nonce and echostr): it verifies the signature over echostr and returns the
// decrypted echostr, which must be sent back as the whole response body.
func (c *Crypto) VerifyURL(msgSignature, timestamp, nonce, echostr string) ([]byte, error) {
	if !c.Verify(msgSignature, timestamp, nonce, echostr) {
		return nil, fmt.Errorf("wecom: verify url: %w", ErrBadSignature)
	}
	plain, err := c.Decrypt(echostr)
	if err != nil {
		return nil, fmt.Errorf("wecom: verify url: %w", err)
	}
	return plain, nil
}

// SealWeCom encrypts plainXML and builds the POST body WeCom sends to an app's
// callback URL, with the msg_signature for the query string. The simulator
// and load generator use it to play the platform.
func (c *Crypto) SealWeCom(plainXML []byte, toUserName, agentID, timestamp, nonce string) (body []byte, msgSignature string, err error) {
	if err := cbCheckXMLText("ToUserName", toUserName); err != nil {
		return nil, "", fmt.Errorf("wecom: seal: %w", err)
	}
	if err := cbCheckXMLText("AgentID", agentID); err != nil {
		return nil, "", fmt.Errorf("wecom: seal: %w", err)
	}
	encrypt, err := c.Encrypt(plainXML)
	if err != nil {
		return nil, "", fmt.Errorf("wecom: seal: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(encrypt) + len(toUserName) + len(agentID) + 128)
	b.WriteString("<xml><ToUserName>")
	cbWriteCDATA(&b, toUserName)
	b.WriteString("</ToUserName><AgentID>")
	cbWriteCDATA(&b, agentID)
	b.WriteString("</AgentID><Encrypt>")
	cbWriteCDATA(&b, encrypt)
	b.WriteString("</Encrypt></xml>")
	return b.Bytes(), c.Sign(timestamp, nonce, encrypt), nil
}

// SealOA encrypts plainXML and builds the POST body an Official Account in
// safe mode receives, with the msg_signature for the query string (the plain
// "signature" parameter comes from OASignature).
func (c *Crypto) SealOA(plainXML []byte, toUserName, timestamp, nonce string) (body []byte, msgSignature string, err error) {
	if err := cbCheckXMLText("ToUserName", toUserName); err != nil {
		return nil, "", fmt.Errorf("wecom: seal: %w", err)
	}
	encrypt, err := c.Encrypt(plainXML)
	if err != nil {
		return nil, "", fmt.Errorf("wecom: seal: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(encrypt) + len(toUserName) + 96)
	b.WriteString("<xml><ToUserName>")
	cbWriteCDATA(&b, toUserName)
	b.WriteString("</ToUserName><Encrypt>")
	cbWriteCDATA(&b, encrypt)
	b.WriteString("</Encrypt></xml>")
	return b.Bytes(), c.Sign(timestamp, nonce, encrypt), nil
}

// SealReply encrypts a passive reply (OA safe mode, or a WeCom app answering
// in the response body) into <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>.
func (c *Crypto) SealReply(plainXML []byte, timestamp, nonce string) ([]byte, error) {
	if err := cbCheckXMLText("TimeStamp", timestamp); err != nil {
		return nil, fmt.Errorf("wecom: seal reply: %w", err)
	}
	if err := cbCheckXMLText("Nonce", nonce); err != nil {
		return nil, fmt.Errorf("wecom: seal reply: %w", err)
	}
	encrypt, err := c.Encrypt(plainXML)
	if err != nil {
		return nil, fmt.Errorf("wecom: seal reply: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(encrypt) + len(timestamp) + len(nonce) + 160)
	b.WriteString("<xml><Encrypt>")
	cbWriteCDATA(&b, encrypt)
	b.WriteString("</Encrypt><MsgSignature>")
	cbWriteCDATA(&b, c.Sign(timestamp, nonce, encrypt))
	b.WriteString("</MsgSignature><TimeStamp>")
	cbWriteCDATA(&b, timestamp)
	b.WriteString("</TimeStamp><Nonce>")
	cbWriteCDATA(&b, nonce)
	b.WriteString("</Nonce></xml>")
	return b.Bytes(), nil
}

// cbWriteCDATA writes s as CDATA, splitting any "]]>" inside it so the
// section cannot be closed early.
func cbWriteCDATA(b *bytes.Buffer, s string) {
	b.WriteString("<![CDATA[")
	b.WriteString(strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>"))
	b.WriteString("]]>")
}

// cbCheckXMLText rejects values that cannot travel through XML unchanged:
// invalid UTF-8, characters outside the XML Char range, and carriage returns
// (parsers turn them into line feeds).
func cbCheckXMLText(field, s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return fmt.Errorf("%s is not valid UTF-8", field)
			}
		}
		if !cbIsXMLChar(r) || r == '\r' {
			return fmt.Errorf("%s contains character %U that XML cannot carry", field, r)
		}
	}
	return nil
}

// cbIsXMLChar reports whether r is in the XML 1.0 Char production.
func cbIsXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
