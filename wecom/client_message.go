package wecom

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/silenceper/wechat/v2/work/message"
)

// SendTarget addresses an app message (message/send).
type SendTarget struct {
	ToUser  []string // member UserIDs, or "@all"
	ToParty []string // department ids
	ToTag   []string // tag ids
	// DuplicateCheckInterval > 0 turns on enable_duplicate_check: WeCom then
	// drops the same content to the same member within the interval (at most
	// 4h). Set it for pushes that may be retried (reminders, digests): with
	// it, a resend after a lost answer is safe and the client retries
	// transport errors.
	DuplicateCheckInterval time.Duration
	Safe                   bool // 保密消息: watermarked, cannot be forwarded
}

// SendResult is message/send's answer. WeCom answers errcode 0 even when some
// recipients were invalid; they are listed here.
type SendResult struct {
	MsgID          string
	InvalidUser    string
	InvalidParty   string
	InvalidTag     string
	UnlicensedUser string
	ResponseCode   string // for updating a template card later
}

// TextCard is a textcard message.
type TextCard struct {
	Title       string `json:"title"`
	Description string `json:"description"` // limited HTML: <div class="gray|normal|highlight">
	URL         string `json:"url"`
	BtnTxt      string `json:"btntxt,omitempty"`
}

// TemplateCard is a template_card message (path/90236). CardType is one of
// text_notice, news_notice, button_interaction, vote_interaction,
// multiple_interaction; which fields apply depends on it.
type TemplateCard struct {
	CardType              string                  `json:"card_type"`
	Source                *CardSource             `json:"source,omitempty"`
	MainTitle             *CardTitle              `json:"main_title,omitempty"`
	EmphasisContent       *CardTitle              `json:"emphasis_content,omitempty"`
	QuoteArea             *CardQuoteArea          `json:"quote_area,omitempty"`
	SubTitleText          string                  `json:"sub_title_text,omitempty"`
	HorizontalContentList []CardHorizontalContent `json:"horizontal_content_list,omitempty"`
	JumpList              []CardJump              `json:"jump_list,omitempty"`
	CardAction            *CardAction             `json:"card_action,omitempty"`
	// TaskID identifies the card in template_card_event callbacks; required
	// for interactive cards, unique per app, at most 128 bytes.
	TaskID     string       `json:"task_id,omitempty"`
	ButtonList []CardButton `json:"button_list,omitempty"`
}

// CardSource is a card's source line.
type CardSource struct {
	IconURL   string `json:"icon_url,omitempty"`
	Desc      string `json:"desc,omitempty"`
	DescColor int    `json:"desc_color,omitempty"`
}

// CardTitle is a title with a description.
type CardTitle struct {
	Title string `json:"title,omitempty"`
	Desc  string `json:"desc,omitempty"`
}

// CardQuoteArea is a card's quoted block.
type CardQuoteArea struct {
	Type      int    `json:"type,omitempty"`
	URL       string `json:"url,omitempty"`
	Title     string `json:"title,omitempty"`
	QuoteText string `json:"quote_text,omitempty"`
}

// CardHorizontalContent is one key/value row.
type CardHorizontalContent struct {
	KeyName string `json:"keyname"`
	Value   string `json:"value,omitempty"`
	Type    int    `json:"type,omitempty"` // 1 URL, 2 media, 3 member detail
	URL     string `json:"url,omitempty"`
	UserID  string `json:"userid,omitempty"`
}

// CardJump is one link at the bottom of a card.
type CardJump struct {
	Type  int    `json:"type,omitempty"`
	Title string `json:"title"`
	URL   string `json:"url,omitempty"`
}

// CardAction is what a tap on the card does.
type CardAction struct {
	Type int    `json:"type"`
	URL  string `json:"url,omitempty"`
}

// CardButton is a button of a button_interaction card; Key comes back as
// EventKey in the template_card_event callback.
type CardButton struct {
	Text  string `json:"text"`
	Style int    `json:"style,omitempty"`
	Key   string `json:"key,omitempty"`
	Type  int    `json:"type,omitempty"`
	URL   string `json:"url,omitempty"`
}

// The SDK's request types cover text only; the others embed its
// SendRequestCommon the same way.
type apiSendMarkdown struct {
	*message.SendRequestCommon
	Markdown message.TextField `json:"markdown"`
}

type apiSendTextCard struct {
	*message.SendRequestCommon
	TextCard TextCard `json:"textcard"`
}

type apiSendTemplateCard struct {
	*message.SendRequestCommon
	TemplateCard *TemplateCard `json:"template_card"`
}

// SendText sends a text message (at most 2048 bytes) from the app.
func (c *APIClient) SendText(ctx context.Context, to SendTarget, content string) (*SendResult, error) {
	common := c.sendCommon(to, "text")
	return c.send(ctx, to, message.SendTextRequest{SendRequestCommon: common, Text: message.TextField{Content: content}})
}

// SendMarkdown sends a markdown message (WeCom's subset; at most 2048 bytes).
func (c *APIClient) SendMarkdown(ctx context.Context, to SendTarget, content string) (*SendResult, error) {
	common := c.sendCommon(to, "markdown")
	return c.send(ctx, to, apiSendMarkdown{SendRequestCommon: common, Markdown: message.TextField{Content: content}})
}

// SendTextCard sends a textcard message.
func (c *APIClient) SendTextCard(ctx context.Context, to SendTarget, card TextCard) (*SendResult, error) {
	common := c.sendCommon(to, "textcard")
	return c.send(ctx, to, apiSendTextCard{SendRequestCommon: common, TextCard: card})
}

// SendTemplateCard sends a template_card message.
func (c *APIClient) SendTemplateCard(ctx context.Context, to SendTarget, card TemplateCard) (*SendResult, error) {
	if card.CardType == "" {
		return nil, fmt.Errorf("wecom: message/send: template card without card_type")
	}
	common := c.sendCommon(to, "template_card")
	return c.send(ctx, to, apiSendTemplateCard{SendRequestCommon: common, TemplateCard: &card})
}

func (c *APIClient) sendCommon(to SendTarget, msgType string) *message.SendRequestCommon {
	sc := &message.SendRequestCommon{
		ToUser:  strings.Join(to.ToUser, "|"),
		ToParty: strings.Join(to.ToParty, "|"),
		ToTag:   strings.Join(to.ToTag, "|"),
		MsgType: msgType,
		AgentID: c.cfg.AgentID,
	}
	if to.Safe {
		sc.Safe = 1
	}
	if to.DuplicateCheckInterval > 0 {
		sc.EnableDuplicateCheck = 1
		sc.DuplicateCheckInterval = int(min(to.DuplicateCheckInterval, 4*time.Hour) / time.Second)
		if sc.DuplicateCheckInterval < 1 {
			sc.DuplicateCheckInterval = 1
		}
	}
	return sc
}

// send waits for every named member's send slot (WeCom drops messages above
// 30 a minute or 1000 an hour per member, so they are delayed here instead),
// then calls message/send. Messages to "@all", departments or tags cannot be
// attributed to members and are not delayed.
func (c *APIClient) send(ctx context.Context, to SendTarget, req any) (*SendResult, error) {
	if len(to.ToUser) == 0 && len(to.ToParty) == 0 && len(to.ToTag) == 0 {
		return nil, fmt.Errorf("wecom: message/send: no recipient")
	}
	if c.appTokens == nil {
		return nil, fmt.Errorf("wecom: message/send: %w", ErrAPINotConfigured)
	}
	var members []string
	for _, u := range to.ToUser {
		if u != "" && u != "@all" && !slices.Contains(members, u) {
			members = append(members, u)
		}
	}
	if err := c.limit.acquire(ctx, members); err != nil {
		return nil, err
	}
	var resp message.SendResponse
	err := c.call(ctx, apiCall{
		api: "message/send", method: "POST", tokens: c.appTokens, body: req,
		idempotent: to.DuplicateCheckInterval > 0,
	}, &resp)
	if err != nil {
		return nil, err
	}
	return &SendResult{
		MsgID: resp.MsgID, InvalidUser: resp.InvalidUser, InvalidParty: resp.InvalidParty,
		InvalidTag: resp.InvalidTag, UnlicensedUser: resp.UnlicensedUser, ResponseCode: resp.ResponseCode,
	}, nil
}
