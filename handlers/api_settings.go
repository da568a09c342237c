package handlers

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
)

// settingsRoutes registers the admin's settings reads and set-up checks
// (接入检查). Each is one call into bot.Settings with the caller's viewer;
// the FAQ test only matches, it changes nothing.
func (s *Server) settingsRoutes(api fiber.Router) {
	api.Get("/settings", settingsRead(s, (*bot.Settings).Company))
	api.Get("/faq", settingsRead(s, faqEntries))
	api.Post("/faq/test", s.faqTest)
	api.Get("/checks", settingsRead(s, setupChecks))
}

func (s *Server) settings() (*bot.Settings, error) {
	if s.opts.Settings == nil {
		return nil, errorf(fiber.StatusNotImplemented, "this server has no settings reads", nil)
	}
	return s.opts.Settings, nil
}

// settingsRead is a read of the settings: what read answers for the
// caller, as JSON.
func settingsRead[T any](s *Server, read func(*bot.Settings, context.Context, bot.Viewer) (T, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		st, err := s.settings()
		if err != nil {
			return err
		}
		out, err := read(st, c.UserContext(), principalOf(c).viewer)
		if err != nil {
			return err
		}
		return sendJSON(c, fiber.StatusOK, out)
	}
}

// faqResponse is GET /faq.
type faqResponse struct {
	Entries []*bot.FAQEntry `json:"entries"`
}

func faqEntries(st *bot.Settings, ctx context.Context, v bot.Viewer) (faqResponse, error) {
	entries, err := st.FAQ(ctx, v)
	return faqResponse{Entries: entries}, err
}

func (s *Server) faqTest(c *fiber.Ctx) error {
	st, err := s.settings()
	if err != nil {
		return err
	}
	var req struct {
		Question string `json:"question"`
	}
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	out, err := st.TestFAQ(c.UserContext(), principalOf(c).viewer, req.Question)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, out)
}

// checksResponse is GET /checks.
type checksResponse struct {
	Items []bot.CheckItem `json:"items"`
}

func setupChecks(st *bot.Settings, ctx context.Context, v bot.Viewer) (checksResponse, error) {
	items, err := st.Checks(ctx, v)
	return checksResponse{Items: items}, err
}

// setupMarkTimeout bounds a set-up mark's coordinator write: a slow
// coordinator must not hold an acknowledgement up.
const setupMarkTimeout = 500 * time.Millisecond

// markVerified records a passed URL verification for 接入检查.
func (s *Server) markVerified(channel string) {
	ctx, cancel := context.WithTimeout(context.Background(), setupMarkTimeout)
	defer cancel()
	if err := s.setup.Verified(ctx, channel, s.opts.Now()); err != nil {
		s.log.Warn("cannot record the callback verification", "channel", channel, "err", err)
	}
}

// markReceived records that an authentic callback arrived, for 接入检查.
func (s *Server) markReceived(channel string) {
	ctx, cancel := context.WithTimeout(context.Background(), setupMarkTimeout)
	defer cancel()
	if err := s.setup.Received(ctx, channel, s.opts.Now()); err != nil {
		s.log.Warn("cannot record the last callback", "channel", channel, "err", err)
	}
}

// defaultSettings are the settings reads of an edge built without them:
// which channels it serves and the marks it writes, nothing configured.
func (s *Server) defaultSettings() *bot.Settings {
	return bot.NewSettings(bot.SettingsOptions{
		WeComCallback: s.opts.WeCom != nil, OACallback: s.opts.OAToken != "",
		Setup: s.setup, PublicURL: s.opts.PublicURL, Location: s.businessLocation(), Now: s.opts.Now,
	})
}
