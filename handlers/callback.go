package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// ackDeadline bounds how long a callback waits for its durable write: well
// inside WeChat's 5 s, so a slow store turns into a retry rather than a
// connection the platform gives up on.
const ackDeadline = 4 * time.Second

const (
	wecomDisabled = "WeCom callbacks are disabled: set SCRM_WECOM_CORP_ID, SCRM_WECOM_TOKEN and SCRM_WECOM_AES_KEY to enable them"
	oaDisabled    = "Official Account callbacks are disabled: set SCRM_OA_APP_ID and SCRM_OA_TOKEN (and SCRM_OA_AES_KEY for safe mode) to enable them"
)

// reject counts and logs a refused callback without secrets or message text.
func (s *Server) reject(c *fiber.Ctx, channel, reason string, status int, err error) error {
	s.metrics.rejected.WithLabelValues(channel, reason).Inc()
	s.metrics.callbacks.WithLabelValues(channel, "", "rejected").Inc()
	s.log.Warn("callback rejected", "channel", channel, "reason", reason, "status", status, "remote_ip", c.IP(), "err_kind", errKind(err))
	return errorf(status, reason, err)
}

// errKind names an error's class without its text, which could echo input.
func errKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, wecom.ErrBadSignature):
		return "bad_signature"
	case errors.Is(err, wecom.ErrReceiverMismatch):
		return "receiver_mismatch"
	case errors.Is(err, wecom.ErrMalformed):
		return "malformed"
	default:
		return "other"
	}
}

// checkTimestamp rejects replays: a callback whose timestamp is far from now.
func (s *Server) checkTimestamp(ts string) bool {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	d := s.opts.Now().Sub(time.Unix(sec, 0))
	return d <= s.opts.MaxSkew && d >= -s.opts.MaxSkew
}

// signedQuery reads what every callback carries in its query: the signature
// (named sigParam), the timestamp, the nonce and, for a URL verification
// (withEcho), echostr. It refuses a missing one and a timestamp outside
// MaxSkew.
func (s *Server) signedQuery(c *fiber.Ctx, channel, sigParam string, withEcho bool) (sig, ts, nonce, echo string, err error) {
	sig, ts, nonce, echo = c.Query(sigParam), c.Query("timestamp"), c.Query("nonce"), c.Query("echostr")
	switch {
	case withEcho && (sig == "" || ts == "" || nonce == "" || echo == ""):
		err = s.reject(c, channel, "missing "+sigParam+", timestamp, nonce or echostr", fiber.StatusBadRequest, nil)
	case sig == "" || ts == "" || nonce == "":
		err = s.reject(c, channel, "missing "+sigParam+", timestamp or nonce", fiber.StatusBadRequest, nil)
	case !s.checkTimestamp(ts):
		err = s.reject(c, channel, "timestamp out of range", fiber.StatusForbidden, nil)
	}
	return sig, ts, nonce, echo, err
}

// signedPost is signedQuery for a callback that posts a message, whose body
// must also stay within MaxBody.
func (s *Server) signedPost(c *fiber.Ctx, channel, sigParam string) (sig, ts, nonce string, err error) {
	if len(c.Body()) > s.opts.MaxBody {
		return "", "", "", s.reject(c, channel, "body too large", fiber.StatusRequestEntityTooLarge, nil)
	}
	sig, ts, nonce, _, err = s.signedQuery(c, channel, sigParam, false)
	return sig, ts, nonce, err
}

// accept parses a callback's plain message and stores it in the event log,
// timing the callback from start.
func (s *Server) accept(c *fiber.Ctx, channel string, plain []byte, parse func([]byte) (*wecom.Event, error), start time.Time) error {
	ev, err := parse(plain)
	if err != nil {
		return s.reject(c, channel, "malformed message", fiber.StatusBadRequest, err)
	}
	if err := s.store1(c, ev); err != nil {
		return err
	}
	s.markReceived(channel)
	s.metrics.latency.WithLabelValues(channel).Observe(time.Since(start).Seconds())
	return nil
}

func (s *Server) wecomVerifyURL(c *fiber.Ctx) error {
	if s.opts.WeCom == nil {
		return errorf(fiber.StatusNotFound, wecomDisabled, nil)
	}
	sig, ts, nonce, echo, err := s.signedQuery(c, store.ChannelWeCom, "msg_signature", true)
	if err != nil {
		return err
	}
	if !s.opts.WeCom.Verify(sig, ts, nonce, echo) {
		return s.reject(c, store.ChannelWeCom, "bad signature", fiber.StatusUnauthorized, wecom.ErrBadSignature)
	}
	plain, err := s.opts.WeCom.Decrypt(echo)
	if err != nil {
		return s.decryptError(c, store.ChannelWeCom, err)
	}
	s.markVerified(store.ChannelWeCom)
	// The console accepts the URL only if the answer is exactly the plaintext.
	return sendEcho(c, plain)
}

func (s *Server) decryptError(c *fiber.Ctx, channel string, err error) error {
	if errors.Is(err, wecom.ErrReceiverMismatch) {
		return s.reject(c, channel, "wrong receiver id", fiber.StatusForbidden, err)
	}
	return s.reject(c, channel, "cannot decrypt", fiber.StatusBadRequest, err)
}

func (s *Server) wecomCallback(c *fiber.Ctx) error {
	start := time.Now()
	if s.opts.WeCom == nil {
		return errorf(fiber.StatusNotFound, wecomDisabled, nil)
	}
	sig, ts, nonce, err := s.signedPost(c, store.ChannelWeCom, "msg_signature")
	if err != nil {
		return err
	}
	enc, err := wecom.OpenEnvelope(c.Body())
	if err != nil {
		return s.reject(c, store.ChannelWeCom, "malformed envelope", fiber.StatusBadRequest, err)
	}
	if !s.opts.WeCom.Verify(sig, ts, nonce, enc) {
		return s.reject(c, store.ChannelWeCom, "bad signature", fiber.StatusUnauthorized, wecom.ErrBadSignature)
	}
	plain, err := s.opts.WeCom.Decrypt(enc)
	if err != nil {
		return s.decryptError(c, store.ChannelWeCom, err)
	}
	if err := s.accept(c, store.ChannelWeCom, plain, wecom.ParseWeCom, start); err != nil {
		return err
	}
	// WeCom apps answer an empty 200 and reply later through message/send.
	return c.Status(fiber.StatusOK).Send(nil)
}

func (s *Server) oaVerifyURL(c *fiber.Ctx) error {
	if s.opts.OAToken == "" {
		return errorf(fiber.StatusNotFound, oaDisabled, nil)
	}
	sig, ts, nonce, echo, err := s.signedQuery(c, store.ChannelOA, "signature", true)
	if err != nil {
		return err
	}
	if !wecom.VerifyOASignature(s.opts.OAToken, sig, ts, nonce) {
		return s.reject(c, store.ChannelOA, "bad signature", fiber.StatusUnauthorized, wecom.ErrBadSignature)
	}
	s.markVerified(store.ChannelOA)
	return sendEcho(c, []byte(echo))
}

// sendEcho answers a URL verification with the echo string alone. The OA
// echoes a query parameter as it came, so the answer must never be read as
// HTML by a browser that is lured to the URL.
func sendEcho(c *fiber.Ctx, echo []byte) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Send(echo)
}

func (s *Server) oaCallback(c *fiber.Ctx) error {
	start := time.Now()
	if s.opts.OAToken == "" {
		return errorf(fiber.StatusNotFound, oaDisabled, nil)
	}
	sig, ts, nonce, err := s.signedPost(c, store.ChannelOA, "signature")
	if err != nil {
		return err
	}
	// The plain signature is sent in both modes; check it first, it is cheap.
	if !wecom.VerifyOASignature(s.opts.OAToken, sig, ts, nonce) {
		return s.reject(c, store.ChannelOA, "bad signature", fiber.StatusUnauthorized, wecom.ErrBadSignature)
	}
	plain := c.Body()
	safeMode := c.Query("encrypt_type") == "aes"
	switch {
	case !safeMode && s.opts.OA != nil:
		// In plaintext mode the signature covers only token, timestamp and
		// nonce, never the body: one seen signature would carry any body.
		// With an AES key the account is in safe mode, whose msg_signature
		// covers the ciphertext, so a plaintext post is a forgery.
		return s.reject(c, store.ChannelOA, "plaintext post while safe mode is configured", fiber.StatusUnauthorized, wecom.ErrBadSignature)
	case !safeMode:
		if err := s.claimOANonce(c, ts, nonce, plain); err != nil {
			return err
		}
	}
	if safeMode {
		if s.opts.OA == nil {
			return s.reject(c, store.ChannelOA, "safe mode needs SCRM_OA_AES_KEY", fiber.StatusBadRequest, nil)
		}
		enc, err := wecom.OpenEnvelope(plain)
		if err != nil {
			return s.reject(c, store.ChannelOA, "malformed envelope", fiber.StatusBadRequest, err)
		}
		if !s.opts.OA.Verify(c.Query("msg_signature"), ts, nonce, enc) {
			return s.reject(c, store.ChannelOA, "bad signature", fiber.StatusUnauthorized, wecom.ErrBadSignature)
		}
		if plain, err = s.opts.OA.Decrypt(enc); err != nil {
			return s.decryptError(c, store.ChannelOA, err)
		}
	}
	if err := s.accept(c, store.ChannelOA, plain, wecom.ParseOA, start); err != nil {
		return err
	}
	// "success" tells the OA no passive reply follows; replies go out later
	// through the customer-service API.
	return c.SendString("success")
}

// oaNonceTTL is how long a plaintext-mode (timestamp, nonce) pair is
// remembered: checkTimestamp accepts a timestamp from MaxSkew before to
// MaxSkew after now, so a pair can come back for twice MaxSkew.
func (s *Server) oaNonceTTL() time.Duration { return 2*s.opts.MaxSkew + time.Second }

// claimOANonce binds a plaintext-mode callback's (timestamp, nonce) to its
// body, through the coordinator so every instance shares the binding. The
// platform's retry resends the same bytes and passes; the same signature
// with another body is a replay of a seen signature and is refused. A
// coordinator that cannot answer makes the platform retry rather than let
// an unchecked body through.
func (s *Server) claimOANonce(c *fiber.Ctx, ts, nonce string, body []byte) error {
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	ctx, cancel := context.WithTimeout(context.Background(), ackDeadline)
	defer cancel()
	stored, cur, err := s.coord.SetIfAbsent(ctx, "oa-nonce:"+ts+":"+nonce, digest, s.oaNonceTTL())
	if err != nil {
		s.metrics.callbacks.WithLabelValues(store.ChannelOA, "", "error").Inc()
		return errorf(fiber.StatusServiceUnavailable, "temporarily unavailable", err)
	}
	if !stored && cur != digest {
		return s.reject(c, store.ChannelOA, "replayed signature with another body", fiber.StatusUnauthorized, wecom.ErrBadSignature)
	}
	return nil
}

// store1 persists one parsed callback, or finds it already persisted.
func (s *Server) store1(c *fiber.Ctx, wev *wecom.Event) error {
	ev := toStoreEvent(wev, s.opts.Now())
	ctx, cancel := context.WithTimeout(context.Background(), ackDeadline)
	defer cancel()
	if _, seen, err := s.coord.Get(ctx, dedupCacheKey(ev.DedupKey)); err == nil && seen {
		s.metrics.callbacks.WithLabelValues(ev.Channel, metricKind(ev.Kind), "duplicate").Inc()
		return nil
	}
	inserted, err := s.ingest.Ingest(ctx, ev)
	if err != nil {
		s.metrics.callbacks.WithLabelValues(ev.Channel, metricKind(ev.Kind), "error").Inc()
		// A 503 makes the platform retry; the retry dedups if this write landed.
		return errorf(fiber.StatusServiceUnavailable, "temporarily unavailable", err)
	}
	result := "stored"
	if !inserted {
		result = "duplicate"
	} else if s.opts.Welcome != nil {
		// Durable now, so a crash from here on leaves the event for the
		// welcome's recovery and the pipeline.
		s.opts.Welcome.Offer(ev)
	}
	s.metrics.callbacks.WithLabelValues(ev.Channel, metricKind(ev.Kind), result).Inc()
	return nil
}

// toStoreEvent copies a parsed callback into the store's event. Fiber reuses
// request buffers after the handler returns, and the event outlives it in the
// ingest queue, so Raw is copied.
func toStoreEvent(e *wecom.Event, now time.Time) *store.Event {
	return &store.Event{
		DedupKey:   e.DedupKey(),
		Channel:    e.Channel,
		Kind:       e.Kind,
		FromID:     e.FromID,
		StaffID:    e.StaffID,
		CustomerID: e.CustomerID,
		Text:       e.Text,
		MsgID:      e.MsgID,
		Attrs:      e.Attrs,
		Raw:        append([]byte(nil), e.Raw...),
		OccurredAt: e.CreateTime.UTC(),
		ReceivedAt: now.UTC(),
	}
}
