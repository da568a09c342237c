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

// requestContext derives a context with a deadline for one request's store
// calls: Fiber v2's UserContext has none. d <= 0 means 10 seconds.
func requestContext(c *fiber.Ctx, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = 10 * time.Second
	}
	return context.WithTimeout(c.UserContext(), d)
}

func (s *Server) stats(c *fiber.Ctx) error {
	if _, err := requireRole(c, bot.RoleAdmin); err != nil {
		return err
	}
	ctx, cancel := requestContext(c, 5*time.Second)
	defer cancel()
	st, err := s.store.Stats(ctx)
	if err != nil {
		return err
	}
	return c.JSON(st)
}
