package handlers

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
)

// The /api/v1 authentication middleware, requireAPIToken, lives in
// api_auth.go; the customer, staff, tag, audit and token endpoints in
// api_customers.go.

// apiDeadline bounds every API request unless its handler asks for longer.
const apiDeadline = 10 * time.Second

// withDeadline gives each API request a context with a deadline (Fiber v2's
// UserContext has none), cancelled when the handler returns; handlers use
// c.UserContext().
func withDeadline(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), apiDeadline)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// longContext is a request context for the few handlers that may take
// longer than apiDeadline (merges, erasures, spreadsheets).
func longContext(c *fiber.Ctx, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(c.UserContext()), d)
}

func (s *Server) stats(c *fiber.Ctx) error {
	if _, err := requireRole(c, bot.RoleAdmin); err != nil {
		return err
	}
	st, err := s.store.Stats(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(st)
}
