//go:build msgaudit && linux && cgo

package wecom

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	workconfig "github.com/silenceper/wechat/v2/work/config"
	"github.com/silenceper/wechat/v2/work/msgaudit"
)

// sdkArchive wraps the WeCom finance SDK (libWeWorkFinanceSdk_C.so). The
// SDK's calls block in C and take no context, so a mutex keeps one call at a
// time on the instance and ctx is checked between calls.
type sdkArchive struct {
	mu      sync.Mutex
	c       *msgaudit.Client
	timeout int
	proxy   string
	passwd  string
}

// NewArchiveSource opens the finance SDK with the archive Secret and the RSA
// private key.
func NewArchiveSource(cfg ArchiveConfig) (ArchiveSource, error) {
	if cfg.CorpID == "" || cfg.Secret == "" || cfg.PrivateKeyPEM == "" {
		return nil, errors.New("wecom: archive needs the corp id, the archive Secret and the private key")
	}
	c, err := msgaudit.NewClient(&workconfig.Config{CorpID: cfg.CorpID, CorpSecret: cfg.Secret, RasPrivateKey: cfg.PrivateKeyPEM})
	if err != nil {
		return nil, fmt.Errorf("wecom: archive sdk init: %w", err)
	}
	timeout := int(cfg.Timeout / time.Second)
	if timeout <= 0 {
		timeout = 30
	}
	return &sdkArchive{c: c, timeout: timeout, proxy: cfg.Proxy, passwd: cfg.ProxyPassword}, nil
}

// FetchArchive implements ArchiveSource.
func (s *sdkArchive) FetchArchive(ctx context.Context, after uint64, limit int) ([]ArchiveMessage, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000 // the SDK rejects more than 1000
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.c == nil {
		return nil, errors.New("wecom: archive source closed")
	}
	raw, err := s.c.GetChatData(after, uint64(limit), s.proxy, s.passwd, s.timeout)
	if err != nil {
		return nil, fmt.Errorf("wecom: archive GetChatData after seq %d: %w", after, err)
	}
	out := make([]ArchiveMessage, 0, len(raw))
	for _, d := range raw {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// DecryptData RSA-decrypts the random key with the private key,
		// then lets the SDK decrypt the message with it.
		m, err := s.c.DecryptData(d.EncryptRandomKey, d.EncryptChatMsg)
		if err != nil {
			// Failing the batch keeps the cursor where it is: a decryption
			// failure is almost always a wrong or rotated key (publickey_ver),
			// and skipping would lose the message for good.
			return nil, fmt.Errorf("wecom: archive decrypt seq %d (publickey_ver %d): %w", d.Seq, d.PublickeyVer, err)
		}
		// TextMessage embeds the base fields (roomid, msgtime) that
		// ChatMessage drops, and the text for text messages.
		t, err := m.GetTextMessage()
		if err != nil {
			return nil, fmt.Errorf("wecom: archive parse seq %d: %w", d.Seq, err)
		}
		msgID := t.MsgID
		if msgID == "" {
			msgID = d.MsgID
		}
		am := ArchiveMessage{
			Seq: d.Seq, MsgID: msgID, Action: t.Action, From: t.From, ToList: t.ToList,
			RoomID: t.RoomID, MsgType: t.MsgType, At: time.UnixMilli(t.MsgTime).UTC(),
		}
		if t.MsgType == "text" {
			am.Text = t.Text.Content
		}
		out = append(out, am)
	}
	return out, nil
}

// Close implements ArchiveSource.
func (s *sdkArchive) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c != nil {
		s.c.Free()
		s.c = nil
	}
	return nil
}
