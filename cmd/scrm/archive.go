package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/wecom"
)

// newArchiveLoop opens the chat archive (会话内容存档) source and returns the
// worker's background loop, which holds the coord lease "archive" so one
// instance pulls. In builds without -tags msgaudit the source cannot open,
// and start fails with how to enable it rather than silently not archiving.
func newArchiveLoop(cfg config.Config, a *app, owner string, now func() time.Time, log *slog.Logger) (func(context.Context), error) {
	key, err := cfg.ArchivePrivateKey()
	if err != nil {
		return nil, err
	}
	src, err := wecom.NewArchiveSource(wecom.ArchiveConfig{CorpID: cfg.WeComCorpID, Secret: cfg.WeComArchiveSecret, PrivateKeyPEM: key})
	if err != nil {
		return nil, fmt.Errorf("SCRM_WECOM_ARCHIVE_SECRET: %w", err)
	}
	w := bot.NewArchive(a.store, src, a.coord, bot.ArchiveOptions{Owner: owner,
		Core: bot.NewCore(a.store, now), Location: cfg.Location(), Now: now, Logger: log})
	return func(ctx context.Context) {
		defer src.Close()
		w.Run(ctx)
	}, nil
}
