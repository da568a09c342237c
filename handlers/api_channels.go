package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/transfer"
)

// Channels (渠道活码) in the API, for admins and managers: create, list,
// edit and delete a channel (each an action of the core that follows into
// WeCom), its QR code as an image, and its numbers as JSON and .xlsx.

func (h *crmAPI) channelRoutes(api fiber.Router) {
	api.Post("/channels", h.createChannel)
	api.Get("/channels", h.listChannels)
	api.Get("/channels/:id", h.getChannel)
	api.Patch("/channels/:id", h.patchChannel)
	api.Delete("/channels/:id", h.deleteChannel)
	api.Get("/channels/:id/qrcode", h.channelQRCode)
	api.Get("/channels/:id/stats", h.channelStats)
	api.Get("/channels/:id/stats/export", h.exportChannelStats)
}

// channelStaffEntry is a member of a channel: a UserID, or an object with
// the UserID and a schedule.
type channelStaffEntry store.ChannelStaff

func (e *channelStaffEntry) UnmarshalJSON(b []byte) error {
	var id string
	if err := json.Unmarshal(b, &id); err == nil {
		*e = channelStaffEntry{UserID: id}
		return nil
	}
	var s store.ChannelStaff
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return err
	}
	*e = channelStaffEntry(s)
	return nil
}

// channelBody is the body of POST and PATCH /channels.
type channelBody struct {
	Name           *string              `json:"name"`
	Kind           string               `json:"kind"`
	Staff          *[]channelStaffEntry `json:"staff"`
	Backup         *[]string            `json:"backup"`
	DailyCap       *int                 `json:"daily_cap"`
	SkipVerify     *bool                `json:"skip_verify"`
	Tags           *[]string            `json:"tags"`
	Welcome        *store.Welcome       `json:"welcome"`
	ChatIDs        *[]string            `json:"chat_ids"`
	AutoCreateRoom *bool                `json:"auto_create_room"`
}

func (b channelBody) request() bot.ChannelRequest {
	r := bot.ChannelRequest{Name: b.Name, Kind: b.Kind, Backup: b.Backup, DailyCap: b.DailyCap, SkipVerify: b.SkipVerify,
		Tags: b.Tags, Welcome: b.Welcome, ChatIDs: b.ChatIDs, AutoCreateRoom: b.AutoCreateRoom}
	if b.Staff != nil {
		staff := make([]store.ChannelStaff, len(*b.Staff))
		for i, s := range *b.Staff {
			staff[i] = store.ChannelStaff(s)
		}
		r.Staff = &staff
	}
	return r
}

// channelItem is a channel as the API shows it: attachments without their
// content, and where to download the QR code.
type channelItem struct {
	*store.Channel
	QRCodeImage string `json:"qr_code_image"`
}

func toChannelItem(ch *store.Channel) channelItem {
	cp := *ch
	cp.Welcome.Attachments = slices.Clone(ch.Welcome.Attachments)
	for i := range cp.Welcome.Attachments {
		cp.Welcome.Attachments[i].Data = nil
	}
	return channelItem{Channel: &cp, QRCodeImage: "/api/v1/channels/" + ch.ID + "/qrcode"}
}

var channelRoles = []string{bot.RoleAdmin, bot.RoleManager}

func (h *crmAPI) createChannel(c *fiber.Ctx) error {
	p, err := requireRole(c, channelRoles...)
	if err != nil {
		return err
	}
	var b channelBody
	if err := decodeBody(c, &b); err != nil {
		return err
	}
	ch, err := h.core.CreateChannel(c.UserContext(), p.act(), b.request())
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusCreated, toChannelItem(ch))
}

func (h *crmAPI) listChannels(c *fiber.Ctx) error {
	p, err := requireRole(c, channelRoles...)
	if err != nil {
		return err
	}
	list, err := h.core.Channels(c.UserContext(), p.act())
	if err != nil {
		return err
	}
	out := page[channelItem]{Items: make([]channelItem, 0, len(list))}
	for _, ch := range list {
		out.Items = append(out.Items, toChannelItem(ch))
	}
	return sendJSON(c, fiber.StatusOK, out)
}

// pathChannel reads the channel the path names, for a caller of a role
// that may manage channels.
func (h *crmAPI) pathChannel(c *fiber.Ctx) (*store.Channel, error) {
	p, id, err := roleAndID(c, channelRoles...)
	if err != nil {
		return nil, err
	}
	return h.core.Channel(c.UserContext(), p.act(), id)
}

func (h *crmAPI) getChannel(c *fiber.Ctx) error {
	ch, err := h.pathChannel(c)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, toChannelItem(ch))
}

func (h *crmAPI) patchChannel(c *fiber.Ctx) error {
	p, id, b, err := callArgsAs[channelBody](c, channelRoles...)
	if err != nil {
		return err
	}
	if b.Kind != "" {
		return errorf(fiber.StatusBadRequest, "a channel's kind cannot change", nil)
	}
	ch, err := h.core.UpdateChannel(c.UserContext(), p.act(), id, b.request())
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, toChannelItem(ch))
}

func (h *crmAPI) deleteChannel(c *fiber.Ctx) error {
	p, id, err := roleAndID(c, channelRoles...)
	if err != nil {
		return err
	}
	if err := h.core.DeleteChannel(c.UserContext(), p.act(), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// qrClient fetches QR code images from WeCom.
var qrClient = &http.Client{Timeout: 5 * time.Second}

// maxQRImage bounds a QR code image.
const maxQRImage = 2 << 20

// channelQRCode answers the channel's QR code image, fetched from the URL
// WeCom gave (a browser cannot always reach it signed in, and a download
// should carry the channel's name).
func (h *crmAPI) channelQRCode(c *fiber.Ctx) error {
	ch, err := h.pathChannel(c)
	if err != nil {
		return err
	}
	if ch.QRCode == "" || !(strings.HasPrefix(ch.QRCode, "https://") || strings.HasPrefix(ch.QRCode, "http://")) {
		return errorf(fiber.StatusNotFound, "this channel has no QR code", nil)
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ch.QRCode, nil)
	if err != nil {
		return fmt.Errorf("api: qr code: %w", err)
	}
	resp, err := qrClient.Do(req)
	if err != nil {
		return errorf(fiber.StatusBadGateway, "the QR code could not be fetched from WeCom", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxQRImage+1))
	if err != nil || resp.StatusCode != http.StatusOK || len(body) > maxQRImage {
		return errorf(fiber.StatusBadGateway, "the QR code could not be fetched from WeCom", err)
	}
	ct := resp.Header.Get("Content-Type")
	if !strings.HasPrefix(ct, "image/") {
		ct = http.DetectContentType(body)
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="channel-%s.png"`, ch.ID))
	return c.Send(body)
}

// statsArgs reads a channel statistics request: who asks (a role that may
// manage channels), the channel, and the period (statsQuery).
func (h *crmAPI) statsArgs(c *fiber.Ctx) (p principal, id string, from, to time.Time, err error) {
	if p, id, err = roleAndID(c, channelRoles...); err != nil {
		return p, id, from, to, err
	}
	from, to, err = h.statsQuery(c)
	return p, id, from, to, err
}

// statsQuery reads from and to: RFC 3339 instants or business dates (to
// inclusive as a date); the last 30 days by default.
func (h *crmAPI) statsQuery(c *fiber.Ctx) (time.Time, time.Time, error) {
	now := h.s.opts.Now().In(h.loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, h.loc)
	from, to := today.AddDate(0, 0, -29), today.AddDate(0, 0, 1)
	if v := c.Query("from"); v != "" {
		t, err := parseStatsTime("from", v, h.loc, false)
		if err != nil {
			return from, to, err
		}
		from = t
	}
	if v := c.Query("to"); v != "" {
		t, err := parseStatsTime("to", v, h.loc, true)
		if err != nil {
			return from, to, err
		}
		to = t
	}
	return from, to, nil
}

func parseStatsTime(name, v string, loc *time.Location, end bool) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, errorf(fiber.StatusBadRequest, name+" must be a date (YYYY-MM-DD) or an RFC 3339 time", err)
	}
	return t, nil
}

func (h *crmAPI) channelStats(c *fiber.Ctx) error {
	p, id, from, to, err := h.statsArgs(c)
	if err != nil {
		return err
	}
	st, err := h.core.ChannelStats(c.UserContext(), p.act(), id, from, to, h.loc)
	if err != nil {
		return err
	}
	return sendJSON(c, fiber.StatusOK, st)
}

func (h *crmAPI) exportChannelStats(c *fiber.Ctx) error {
	p, id, from, to, err := h.statsArgs(c)
	if err != nil {
		return err
	}
	ctx, cancel := longContext(c, time.Minute)
	defer cancel()
	st, err := h.core.ChannelStats(ctx, p.act(), id, from, to, h.loc)
	if err != nil {
		return err
	}
	names := func(id string) string {
		if s, err := h.rd.FindStaffByID(ctx, id); err == nil {
			return s.Name
		}
		return ""
	}
	var buf bytes.Buffer
	if err := transfer.ExportChannelStats(&buf, st, names); err != nil {
		return fmt.Errorf("api: export channel stats: %w", err)
	}
	if err := h.core.Record(ctx, p.act(), AuditExport, "channel:"+id, fmt.Sprintf("channel_stats from=%s to=%s", from.Format(time.RFC3339), to.Format(time.RFC3339))); err != nil {
		return err
	}
	day := h.s.opts.Now().In(h.loc).Format("20060102")
	c.Set(fiber.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="channel-%s-%s.xlsx"`, id, day))
	return c.Send(buf.Bytes())
}

// listChannelCustomers is GET /customers?channel=ID: the customers
// attributed to the channel that the caller may see and the other filters
// (tag, stage, q, owner) keep, by ID.
func (h *crmAPI) listChannelCustomers(c *fiber.Ctx, p principal, channelID string, f store.CustomerFilter, limit int) error {
	ctx := c.UserContext()
	ids, err := h.core.ChannelCustomerIDs(ctx, channelID)
	if err != nil {
		return err
	}
	var list []*store.Customer
	for _, id := range ids {
		if id <= f.AfterID {
			continue
		}
		cu, err := h.rd.FindCustomerByID(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("api: channel customers: %w", err)
		}
		if cu.ID != id || !p.viewer.CanSee(cu) || !keepCustomer(cu, f) {
			continue // merged into another (listed by its own ID), hidden or filtered out
		}
		list = append(list, cu)
		if len(list) > limit {
			break
		}
	}
	return sendJSON(c, fiber.StatusOK, cutPage(list, limit, func(cu *store.Customer) string { return cu.ID }))
}

// keepCustomer applies the filters FindCustomers would to one customer.
func keepCustomer(cu *store.Customer, f store.CustomerFilter) bool {
	if f.Tag != "" && !slices.Contains(cu.Tags, f.Tag) {
		return false
	}
	if f.Stage != "" && cu.Stage != f.Stage {
		return false
	}
	if f.Query != "" && !strings.Contains(cu.Name, f.Query) {
		return false
	}
	if f.StaffIDs != nil && !slices.ContainsFunc(cu.Follows, func(fo store.Follow) bool { return !fo.Deleted && slices.Contains(f.StaffIDs, fo.StaffID) }) {
		return false
	}
	return true
}
