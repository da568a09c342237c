package wecom

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
)

// Sentinel errors of the callback protocol. Functions wrap them with context;
// test with errors.Is.
var (
	// ErrBadSignature means a msg_signature or OA signature did not match.
	ErrBadSignature = errors.New("wecom: bad signature")
	// ErrReceiverMismatch means a message decrypted correctly but was sealed
	// for another corp, suite or Official Account (its receiveid differs).
	ErrReceiverMismatch = errors.New("wecom: receiveid mismatch")
	// ErrMalformed means the input is not a well-formed envelope, ciphertext
	// or callback XML.
	ErrMalformed = errors.New("wecom: malformed input")
)

// cbPadBlock is the PKCS#7 block size the platform pads to (path/91144): 32,
// not the AES block size of 16.
const cbPadBlock = 32

// Crypto signs, verifies, encrypts and decrypts callbacks for one app: a WeCom
// self-built app (receiveID = corpid), a third-party suite (suiteid) or an
// Official Account in safe mode (appid). It is immutable and safe for
// concurrent use.
//
// It is written on crypto/aes and crypto/cipher rather than silenceper's
// util.EncryptMsg/DecryptMsg because those decode the key on every call,
// turn errors into recovered panics, do not check that every padding byte is
// equal, and lose the difference between a bad message and a wrong
// receiveid. Interoperability with them is covered by the tests.
type Crypto struct {
	token     string
	receiveID string
	key       [32]byte
	block     cipher.Block
}

// NewCrypto builds a Crypto from the callback settings of an app. The
// EncodingAESKey must be the 43-character Base64 string the admin console
// shows, which decodes (with a "=" appended) to a 32-byte AES-256 key.
func NewCrypto(token, encodingAESKey, receiveID string) (*Crypto, error) {
	if token == "" {
		return nil, errors.New("wecom: new crypto: token is empty")
	}
	if receiveID == "" {
		return nil, errors.New("wecom: new crypto: receiveid (corpid, suiteid or appid) is empty")
	}
	if len(encodingAESKey) != 43 {
		return nil, fmt.Errorf("wecom: new crypto: EncodingAESKey must be 43 characters, got %d", len(encodingAESKey))
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil {
		return nil, fmt.Errorf("wecom: new crypto: EncodingAESKey is not valid base64: %w", err)
	}
	if len(key) != 32 {
		// Unreachable for 43 valid characters, kept as a guard for the key size.
		return nil, fmt.Errorf("wecom: new crypto: EncodingAESKey decodes to %d bytes, want 32", len(key))
	}
	c := &Crypto{token: token, receiveID: receiveID}
	copy(c.key[:], key)
	c.block, err = aes.NewCipher(c.key[:])
	if err != nil {
		return nil, fmt.Errorf("wecom: new crypto: %w", err)
	}
	return c, nil
}

// ReceiveID returns the corpid, suiteid or appid messages must be sealed for.
func (c *Crypto) ReceiveID() string { return c.receiveID }

// Sign returns the msg_signature of an encrypted message: the lowercase hex
// SHA-1 of token, timestamp, nonce and encrypt, sorted and concatenated.
func (c *Crypto) Sign(timestamp, nonce, encrypt string) string {
	sum := cbSortedSHA1([4]string{c.token, timestamp, nonce, encrypt}, 4)
	return string(sum[:])
}

// Verify reports whether msgSignature is the signature of the message. The
// comparison takes constant time.
func (c *Crypto) Verify(msgSignature, timestamp, nonce, encrypt string) bool {
	sum := cbSortedSHA1([4]string{c.token, timestamp, nonce, encrypt}, 4)
	return subtle.ConstantTimeCompare([]byte(msgSignature), sum[:]) == 1
}

// OASignature returns the plain Official Account "signature" query parameter:
// the hex SHA-1 of token, timestamp and nonce, sorted and concatenated.
func OASignature(token, timestamp, nonce string) string {
	sum := cbSortedSHA1([4]string{token, timestamp, nonce}, 3)
	return string(sum[:])
}

// VerifyOASignature reports whether signature is the Official Account
// signature of timestamp and nonce. The comparison takes constant time.
func VerifyOASignature(token, signature, timestamp, nonce string) bool {
	sum := cbSortedSHA1([4]string{token, timestamp, nonce}, 3)
	return subtle.ConstantTimeCompare([]byte(signature), sum[:]) == 1
}

// cbSortedSHA1 hashes the first n parts sorted and concatenated, without the
// allocations of sort.Strings and fmt.
func cbSortedSHA1(parts [4]string, n int) [40]byte {
	p := parts[:n]
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j] < p[j-1]; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
	size := 0
	for _, s := range p {
		size += len(s)
	}
	var stack [1024]byte
	buf := stack[:0]
	if size > len(stack) {
		buf = make([]byte, 0, size)
	}
	for _, s := range p {
		buf = append(buf, s...)
	}
	sum := sha1.Sum(buf)
	var out [40]byte
	hex.Encode(out[:], sum[:])
	return out
}

// Decrypt opens an Encrypt value (or a URL-check echostr) and returns the
// message. Verify the signature first. It returns ErrMalformed for bad
// Base64, a bad length, bad padding or a bad inner length, and
// ErrReceiverMismatch when the message was sealed for another receiveid.
func (c *Crypto) Decrypt(encrypt string) ([]byte, error) {
	if encrypt == "" {
		return nil, fmt.Errorf("wecom: decrypt: empty ciphertext: %w", ErrMalformed)
	}
	buf, err := base64.StdEncoding.DecodeString(encrypt)
	if err != nil {
		return nil, fmt.Errorf("wecom: decrypt: bad base64: %w: %w", ErrMalformed, err)
	}
	// The platform pads to 32 bytes; the official SDKs also accept any whole
	// number of AES blocks, and so do we.
	if len(buf) == 0 || len(buf)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("wecom: decrypt: ciphertext length %d is not a multiple of %d: %w", len(buf), aes.BlockSize, ErrMalformed)
	}
	cipher.NewCBCDecrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(buf, buf)

	pad := int(buf[len(buf)-1])
	if pad < 1 || pad > cbPadBlock || pad > len(buf) {
		return nil, fmt.Errorf("wecom: decrypt: bad padding: %w", ErrMalformed)
	}
	var diff byte
	for _, b := range buf[len(buf)-pad:] {
		diff |= b ^ byte(pad)
	}
	if diff != 0 {
		return nil, fmt.Errorf("wecom: decrypt: bad padding: %w", ErrMalformed)
	}
	plain := buf[:len(buf)-pad]

	// random(16) | msg_len(4, big-endian) | msg | receiveid
	if len(plain) < 20 {
		return nil, fmt.Errorf("wecom: decrypt: plaintext of %d bytes is too short: %w", len(plain), ErrMalformed)
	}
	msgLen := uint64(binary.BigEndian.Uint32(plain[16:20]))
	if msgLen > uint64(len(plain)-20) {
		return nil, fmt.Errorf("wecom: decrypt: message length %d exceeds the %d bytes left: %w", msgLen, len(plain)-20, ErrMalformed)
	}
	end := 20 + int(msgLen)
	if string(plain[end:]) != c.receiveID {
		got := plain[end:]
		if len(got) > 64 {
			got = got[:64]
		}
		return nil, fmt.Errorf("wecom: decrypt: message is for receiveid %q, want %q: %w", got, c.receiveID, ErrReceiverMismatch)
	}
	// Cap the capacity so that appending to the message cannot overwrite the
	// receiveid that follows it in the same buffer.
	return plain[20:end:end], nil
}

// Encrypt seals plain for this app's receiveid with 16 fresh random bytes and
// returns the Base64 Encrypt value.
func (c *Crypto) Encrypt(plain []byte) (string, error) {
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return "", fmt.Errorf("wecom: encrypt: random: %w", err)
	}
	return c.encryptWithRandom(random, plain)
}

// encryptWithRandom is Encrypt with the random prefix given, so tests can
// compare ciphertexts with other implementations byte for byte.
func (c *Crypto) encryptWithRandom(random [16]byte, plain []byte) (string, error) {
	if uint64(len(plain)) > math.MaxUint32 {
		return "", fmt.Errorf("wecom: encrypt: message of %d bytes is too long", len(plain))
	}
	size := 20 + len(plain) + len(c.receiveID)
	pad := cbPadBlock - size%cbPadBlock // 1..32: a full block when already aligned
	buf := make([]byte, size+pad)
	copy(buf, random[:])
	binary.BigEndian.PutUint32(buf[16:20], uint32(len(plain)))
	copy(buf[20:], plain)
	copy(buf[20+len(plain):], c.receiveID)
	for i := size; i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(c.block, c.key[:aes.BlockSize]).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}
