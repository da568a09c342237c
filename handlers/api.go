package handlers

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// requireAPIToken admits requests carrying the admin bearer token.
func (s *Server) requireAPIToken(c *fiber.Ctx) error {
	if s.opts.APIToken == "" {
		return errorf(fiber.StatusNotFound, "the API is disabled: set SCRM_API_TOKEN to enable it", nil)
	}
	got, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.APIToken)) != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="scrm"`)
		return errorf(fiber.StatusUnauthorized, "missing or wrong bearer token", nil)
	}
	return c.Next()
}

func (s *Server) stats(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := s.store.Stats(ctx)
	if err != nil {
		return err
	}
	return c.JSON(st)
}
