package wecom

import (
	"context"
	"errors"
	"time"
)

// ArchiveConfig configures the 会话内容存档 (chat archive) source.
type ArchiveConfig struct {
	CorpID string
	// Secret is the 会话内容存档 Secret (管理工具 → 会话内容存档), not the app's.
	Secret string
	// PrivateKeyPEM is the RSA private key whose public half was uploaded as
	// the 消息加密公钥; it decrypts each message's random key.
	PrivateKeyPEM string
	// Timeout bounds one GetChatData call (default 30 s).
	Timeout time.Duration
	// Proxy and ProxyPassword are passed to the SDK when WeCom is reached
	// through a proxy (e.g. socks5://10.0.0.1:8081, user:password).
	Proxy         string
	ProxyPassword string
}

// Archive message actions.
const (
	ArchiveActionSend   = "send"
	ArchiveActionRecall = "recall"
	ArchiveActionSwitch = "switch" // the user switched corp log-in: carries no conversation
)

// ArchiveMessage is one decrypted chat-archive message.
type ArchiveMessage struct {
	Seq     uint64
	MsgID   string
	Action  string   // ArchiveActionSend, ArchiveActionRecall or ArchiveActionSwitch
	From    string   // WeCom userid for staff, external_userid ("wo…"/"wm…") for customers
	ToList  []string // recipients, same id kinds
	RoomID  string   // group chat id; empty for one-to-one chats
	MsgType string   // text, image, voice, video, file, link, ...
	Text    string   // the content of a text (or markdown) message
	At      time.Time
}

// ArchiveSource pulls the chat archive.
type ArchiveSource interface {
	// FetchArchive returns up to limit messages with seq > after in seq
	// order, decrypted. An empty result means the archive is caught up. Any
	// error means nothing of the batch may be considered fetched.
	FetchArchive(ctx context.Context, after uint64, limit int) ([]ArchiveMessage, error)
	// Close releases the source (the SDK instance).
	Close() error
}

// ErrArchiveUnsupported is returned by NewArchiveSource in builds without
// the proprietary WeCom finance SDK.
var ErrArchiveUnsupported = errors.New("wecom: chat archive (会话内容存档) needs a Linux build with cgo and -tags msgaudit " +
	"(CGO_ENABLED=1 go build -tags msgaudit ./cmd/scrm), and libWeWorkFinanceSdk_C.so from the silenceper/wechat " +
	"module's work/msgaudit/lib on LD_LIBRARY_PATH at run time")
