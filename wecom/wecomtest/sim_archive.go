package wecomtest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/scrmhq/scrm/wecom"
)

// ArchiveLimit is the most messages one GetChatData call returns (the
// finance SDK refuses more).
const ArchiveLimit = 1000

// ChatArchive is the simulated 会话内容存档 (chat archive): what staff and
// external contacts said to each other in WeCom chats, served the way the
// finance SDK's GetChatData serves it to wecom.ArchiveSource — by increasing
// seq after a cursor, at most ArchiveLimit at a time, already decrypted.
// (The real one is reached through libWeWorkFinanceSdk_C, not HTTP, which
// is why it is an in-process source rather than a simulator endpoint.)
type ChatArchive struct {
	mu   sync.Mutex
	msgs []wecom.ArchiveMessage
	seq  uint64
}

// NewChatArchive returns an empty archive.
func NewChatArchive() *ChatArchive { return &ChatArchive{} }

// Add archives a one-to-one text message from one WeCom id (a staff userid
// or an external_userid) to another, said at at, and returns its seq. Seqs
// increase by one from 1; the msgid is derived from the seq.
func (a *ChatArchive) Add(from, to, text string, at time.Time) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	a.msgs = append(a.msgs, wecom.ArchiveMessage{Seq: a.seq, MsgID: "sim-archive-" + strconv.FormatUint(a.seq, 10),
		Action: wecom.ArchiveActionSend, From: from, ToList: []string{to}, MsgType: "text", Text: text, At: at.UTC()})
	return a.seq
}

// LastSeq is the seq of the newest message, 0 when there is none.
func (a *ChatArchive) LastSeq() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.seq
}

// FetchArchive returns up to limit messages with seq > after in seq order.
func (a *ChatArchive) FetchArchive(ctx context.Context, after uint64, limit int) ([]wecom.ArchiveMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > ArchiveLimit {
		return nil, fmt.Errorf("wecomtest: GetChatData limit %d: must be 1..%d (SDK error 10000)", limit, ArchiveLimit)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []wecom.ArchiveMessage
	for _, m := range a.msgs { // in seq order
		if m.Seq > after {
			out = append(out, m)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// Close releases nothing: the archive lives as long as the simulator.
func (a *ChatArchive) Close() error { return nil }

var _ wecom.ArchiveSource = (*ChatArchive)(nil)

// ChatArchive is the corp's chat archive (会话内容存档).
func (s *Simulator) ChatArchive() *ChatArchive {
	s.archiveOnce.Do(func() { s.archive = NewChatArchive() })
	return s.archive
}
