package handlers

import (
	"context"
	"errors"
	"net/url"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/wecom"
)

// JSSigner signs a page URL for the WeCom JS-SDK (wecom.APIClient).
type JSSigner interface {
	JSSignature(ctx context.Context, pageURL string, refresh bool) (*wecom.JSSignature, error)
}

// maxSignURL bounds the URL a caller may have signed: a page URL, not a payload.
const maxSignURL = 2048

// jsapiSignature answers GET /api/v1/jsapi/signature?url=URL[&refresh=1]
// for any signed-in caller: what ww.register needs for the sidebar page.
// refresh=1 reports that WeCom rejected the last signature; the page asks so
// once, and the tickets are fetched again unless they are new.
func (s *Server) jsapiSignature(c *fiber.Ctx) error {
	if s.opts.JSAPI == nil {
		return errorf(fiber.StatusNotImplemented, "WeCom API credentials are not configured (SCRM_WECOM_SECRET)", nil)
	}
	raw := query(c, "url")
	u, err := url.Parse(raw)
	if raw == "" || len(raw) > maxSignURL || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorf(fiber.StatusBadRequest, "url must be the page's absolute http(s) URL", err)
	}
	sig, err := s.opts.JSAPI.JSSignature(c.UserContext(), raw, c.Query("refresh") == "1")
	switch {
	case errors.Is(err, wecom.ErrAPIRateLimited):
		c.Set(fiber.HeaderRetryAfter, "60")
		return errorf(fiber.StatusServiceUnavailable, "WeCom's JS-SDK ticket limit is reached; try again later", err)
	case errors.Is(err, wecom.ErrAPINotConfigured):
		return errorf(fiber.StatusNotImplemented, "WeCom API credentials are not configured (SCRM_WECOM_SECRET)", err)
	case err != nil:
		return errorf(fiber.StatusBadGateway, "WeCom did not hand out a JS-SDK ticket", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, fiber.StatusOK, sig)
}
