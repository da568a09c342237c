package demo

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/scrmhq/scrm/wecom/wecomtest"
)

//go:embed web
var webFS embed.FS

// maxText bounds what a visitor may type: WeChat's own limit is far above
// anything a demo needs, and a cap keeps the page's log readable.
const maxText = 500

// apiTimeout bounds each demo API request.
const apiTimeout = 10 * time.Second

// Mount adds the page under /demo and its API under /demo/api.
func (d *Demo) Mount(app *fiber.App) {
	app.Get("/demo", d.page)
	app.Get("/demo/", d.page)
	app.Get("/demo/assets/:file", d.asset)
	g := app.Group("/demo/api")
	g.Get("/state", d.getState)
	g.Get("/stats", d.getStats)
	g.Get("/activity", d.getActivity)
	g.Get("/customers/:key", d.getCustomer)
	g.Get("/customers/:key/phone", d.getPhone)
	g.Get("/customers/:key/sidebar", d.getSidebar)
	g.Post("/customers/:key/messages", d.postCustomerMessage)
	g.Get("/staff/:id/chat", d.getChat)
	g.Get("/staff/:id/feed", d.getFeed)
	g.Post("/staff/:id/messages", d.postStaffMessage)
	g.Post("/staff/:id/card-event", d.postCardEvent)
	g.Get("/staff/:id/groupmsgs", d.getGroupMsgs)
	g.Post("/staff/:id/groupmsgs/:msgid/send", d.postGroupMsgSend)
	g.Get("/channels", d.getChannels)
	g.Post("/channels/:id/scan", d.postScan)
}

func (d *Demo) getChannels(c *fiber.Ctx) error {
	chs, scans := d.ChannelsView()
	if chs == nil {
		chs = []ChannelView{}
	}
	if scans == nil {
		scans = []ScanView{}
	}
	return c.JSON(fiber.Map{"channels": chs, "scans": scans})
}

func (d *Demo) postScan(c *fiber.Ctx) error {
	ctx, cancel := reqCtx()
	defer cancel()
	s, err := d.ScanChannel(ctx, c.Params("id"))
	if errors.Is(err, ErrNoChannel) {
		return apiError(c, fiber.StatusNotFound, "没有这个渠道活码")
	}
	if err != nil {
		return d.sendError(c, err)
	}
	return c.JSON(s)
}

func (d *Demo) page(c *fiber.Ctx) error {
	b, err := webFS.ReadFile("web/index.html")
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Type("html", "utf-8")
	return c.Send(b)
}

func (d *Demo) asset(c *fiber.Ctx) error {
	name := path.Base(c.Params("file"))
	b, err := fs.ReadFile(webFS, "web/"+name)
	if err != nil || name == "index.html" {
		return fiber.ErrNotFound
	}
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Type(strings.TrimPrefix(path.Ext(name), "."), "utf-8")
	return c.Send(b)
}

// apiError answers a demo API error as JSON the page can show.
func apiError(c *fiber.Ctx, status int, msg string) error {
	return c.Status(status).JSON(fiber.Map{"error": msg})
}

func reqCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), apiTimeout)
}

func (d *Demo) getState(c *fiber.Ctx) error {
	return c.JSON(d.State())
}

func (d *Demo) getStats(c *fiber.Ctx) error {
	ctx, cancel := reqCtx()
	defer cancel()
	st, err := d.Stats(ctx)
	if err != nil {
		return err
	}
	return c.JSON(st)
}

func (d *Demo) getActivity(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"items": d.Activity(40)})
}

func (d *Demo) person(c *fiber.Ctx) *Person { return FindPerson(c.Params("key")) }

func (d *Demo) staff(c *fiber.Ctx) *Staff { return FindStaff(c.Params("id")) }

func (d *Demo) getCustomer(c *fiber.Ctx) error {
	p := d.person(c)
	if p == nil {
		return apiError(c, fiber.StatusNotFound, "没有这位客户")
	}
	ctx, cancel := reqCtx()
	defer cancel()
	v, err := d.Record(ctx, p)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (d *Demo) getPhone(c *fiber.Ctx) error {
	p := d.person(c)
	if p == nil {
		return apiError(c, fiber.StatusNotFound, "没有这位客户")
	}
	ch := c.Query("channel", ChannelOA)
	if ch != ChannelOA && ch != ChannelKF {
		return apiError(c, fiber.StatusBadRequest, "channel 只能是 oa 或 kf")
	}
	return c.JSON(fiber.Map{"messages": d.Phone(p, ch)})
}

type sendBody struct {
	Channel string `json:"channel"`
	Text    string `json:"text"`
}

// readText parses a send request and checks its text.
func readText(c *fiber.Ctx) (sendBody, string) {
	var b sendBody
	if err := c.BodyParser(&b); err != nil {
		return b, "请求格式不对，需要 JSON：{\"text\": \"…\"}"
	}
	b.Text = strings.TrimSpace(b.Text)
	switch {
	case b.Text == "":
		return b, "消息不能为空"
	case !utf8.ValidString(b.Text):
		return b, "消息不是有效的 UTF-8 文本"
	case utf8.RuneCountInString(b.Text) > maxText:
		return b, "消息太长（最多 500 字）"
	}
	return b, ""
}

func (d *Demo) postCustomerMessage(c *fiber.Ctx) error {
	p := d.person(c)
	if p == nil {
		return apiError(c, fiber.StatusNotFound, "没有这位客户")
	}
	b, bad := readText(c)
	if bad != "" {
		return apiError(c, fiber.StatusBadRequest, bad)
	}
	if b.Channel == "" {
		b.Channel = p.Channel
	}
	if b.Channel != ChannelOA && b.Channel != ChannelKF {
		return apiError(c, fiber.StatusBadRequest, "channel 只能是 oa（公众号）或 kf（微信客服）")
	}
	ctx, cancel := reqCtx()
	defer cancel()
	if err := d.SendAsCustomer(ctx, p.Key, b.Channel, b.Text); err != nil {
		return d.sendError(c, err)
	}
	return c.JSON(fiber.Map{"ok": true})
}

func (d *Demo) postStaffMessage(c *fiber.Ctx) error {
	s := d.staff(c)
	if s == nil {
		return apiError(c, fiber.StatusNotFound, "没有这位员工")
	}
	b, bad := readText(c)
	if bad != "" {
		return apiError(c, fiber.StatusBadRequest, bad)
	}
	ctx, cancel := reqCtx()
	defer cancel()
	if err := d.SendAsStaff(ctx, s.UserID, b.Text); err != nil {
		return d.sendError(c, err)
	}
	return c.JSON(fiber.Map{"ok": true})
}

type cardEventBody struct {
	TaskID   string `json:"task_id"`
	Key      string `json:"key"`
	CardType string `json:"card_type"`
}

func (d *Demo) postCardEvent(c *fiber.Ctx) error {
	s := d.staff(c)
	if s == nil {
		return apiError(c, fiber.StatusNotFound, "没有这位员工")
	}
	var b cardEventBody
	if err := c.BodyParser(&b); err != nil || b.Key == "" || len(b.Key) > 256 || len(b.TaskID) > 256 || len(b.CardType) > 64 {
		return apiError(c, fiber.StatusBadRequest, "需要卡片按钮的 key（以及 task_id、card_type）")
	}
	ctx, cancel := reqCtx()
	defer cancel()
	if err := d.PressCardButton(ctx, s.UserID, b.TaskID, b.CardType, b.Key); err != nil {
		return d.sendError(c, err)
	}
	return c.JSON(fiber.Map{"ok": true})
}

// sendError maps a failed delivery to a status: scrm refusing the callback
// is a bad gateway from the page's point of view.
func (d *Demo) sendError(c *fiber.Ctx, err error) error {
	var de *DeliveryError
	switch {
	case errors.As(err, &de):
		return apiError(c, fiber.StatusBadGateway, de.Public())
	case errors.Is(err, ErrNotReady):
		return apiError(c, fiber.StatusServiceUnavailable, "scrm 还在启动，请稍候再试")
	}
	return err
}

// getSidebar opens the chat sidebar (聊天工具栏) beside the owner's WeCom
// chat with the customer: the simulator's JS-SDK is told which chat it is
// in, and the page opens through a login link as the owner, as WeCom opens
// it signed in. url is "" for a customer without a WeCom contact.
func (d *Demo) getSidebar(c *fiber.Ctx) error {
	p := d.person(c)
	if p == nil {
		return apiError(c, fiber.StatusNotFound, "没有这位客户")
	}
	if p.ExternalUserID == "" || d.o.LoginLink == nil || d.o.Sim == nil {
		return c.JSON(fiber.Map{"url": ""})
	}
	tok := d.o.Sim.OpenChatTools(wecomtest.ChatTools{UserID: p.Owner, Entry: wecomtest.EntrySingleChat, ExternalUserID: p.ExternalUserID})
	link, err := d.o.LoginLink(c.UserContext(), p.Owner, "/sidebar/?wwsim="+url.QueryEscape(tok))
	if err != nil {
		return d.sendError(c, err)
	}
	return c.JSON(fiber.Map{"url": link, "staff": p.Owner})
}

func (d *Demo) getChat(c *fiber.Ctx) error {
	s := d.staff(c)
	if s == nil {
		return apiError(c, fiber.StatusNotFound, "没有这位员工")
	}
	return c.JSON(fiber.Map{"messages": d.Chat(s.UserID)})
}

func (d *Demo) getGroupMsgs(c *fiber.Ctx) error {
	s := d.staff(c)
	if s == nil {
		return apiError(c, fiber.StatusNotFound, "没有这位员工")
	}
	list := d.GroupMsgs(s.UserID)
	if list == nil {
		list = []GroupMsgView{}
	}
	return c.JSON(fiber.Map{"items": list})
}

func (d *Demo) postGroupMsgSend(c *fiber.Ctx) error {
	s := d.staff(c)
	if s == nil {
		return apiError(c, fiber.StatusNotFound, "没有这位员工")
	}
	if err := d.SendGroupMsg(s.UserID, c.Params("msgid")); err != nil {
		return apiError(c, fiber.StatusNotFound, "没有这条待发送的群发（可能已发送或已撤回）")
	}
	return c.JSON(fiber.Map{"ok": true})
}

func (d *Demo) getFeed(c *fiber.Ctx) error {
	s := d.staff(c)
	if s == nil {
		return apiError(c, fiber.StatusNotFound, "没有这位员工")
	}
	ctx, cancel := reqCtx()
	defer cancel()
	var people []*Person
	for i := range People {
		if s.Manager || People[i].Owner == s.UserID {
			people = append(people, &People[i])
		}
	}
	items, err := d.Feed(ctx, people, 30)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": items})
}

// sortedDesc orders times newest first, used by the views.
func sortedDesc[T any](xs []T, at func(T) time.Time) {
	slices.SortStableFunc(xs, func(a, b T) int { return at(b).Compare(at(a)) })
}
