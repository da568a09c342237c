package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// The adapters below translate the WeCom client's types into the small
// interfaces package bot declares, so bot never imports the wire formats.

// messenger sends the bot's app messages through the WeCom client.
type messenger struct {
	c *wecom.APIClient
	// maxWait, when set, bounds the wait for a member's send slot: the
	// pipeline's processors fail the event with wecom.ErrSendLater instead,
	// and its retry sends, so a salesperson at WeCom's 30-a-minute limit
	// holds up no other event. The scheduler leaves it 0 and waits.
	maxWait time.Duration
}

// pipelineSendWait is messenger.maxWait for the pipeline's processors.
const pipelineSendWait = time.Second

func (m messenger) ctx(ctx context.Context) context.Context {
	if m.maxWait > 0 {
		return wecom.WithMaxSendWait(ctx, m.maxWait)
	}
	return ctx
}

func (m messenger) SendMarkdown(ctx context.Context, toUser, content string) error {
	ctx = m.ctx(ctx)
	_, err := m.c.SendMarkdown(ctx, wecom.SendTarget{ToUser: []string{toUser}}, content)
	return err
}

// SendMarkdownOnce implements bot.Pusher.
func (m messenger) SendMarkdownOnce(ctx context.Context, toUser, content string, window time.Duration) error {
	ctx = m.ctx(ctx)
	_, err := m.c.SendMarkdown(ctx, wecom.SendTarget{ToUser: []string{toUser}, DuplicateCheckInterval: window}, content)
	return err
}

// SendTemplateCard implements bot.Pusher: a bot.Card becomes a
// button_interaction template card.
func (m messenger) SendTemplateCard(ctx context.Context, toUser string, card bot.Card) error {
	ctx = m.ctx(ctx)
	tc := card.TemplateCard()
	_, err := m.c.SendTemplateCard(ctx, wecom.SendTarget{ToUser: []string{toUser}, DuplicateCheckInterval: card.DuplicateCheck}, tc)
	return err
}

// wecomProfiles fetches customer profiles through the WeCom client.
// A channel without API credentials has no profiles.
type wecomProfiles struct {
	c        *wecom.APIClient
	wecom    bool
	official bool
}

// permanent reports whether the platform answered with an error code (the
// user is unknown or unrelated), as opposed to an outage worth retrying.
func permanent(err error) bool {
	code := wecom.APIErrorCode(err)
	return code != 0 && code != -1 && code != 45009 && code != 45033
}

func (p wecomProfiles) ExternalContact(ctx context.Context, externalUserID string) (bot.Profile, error) {
	if !p.wecom {
		return bot.Profile{}, bot.ErrNoProfile
	}
	info, err := p.c.GetExternalContact(ctx, externalUserID)
	if err != nil {
		if permanent(err) {
			return bot.Profile{}, bot.ErrNoProfile
		}
		return bot.Profile{}, err
	}
	prof := bot.Profile{Name: info.Contact.Name, Avatar: info.Contact.Avatar, UnionID: info.Contact.UnionID}
	for _, f := range info.FollowUsers {
		prof.Follows = append(prof.Follows, store.Follow{
			StaffID: f.UserID, Remark: f.Remark, State: f.State, AddedAt: time.Unix(f.CreateTime, 0).UTC(),
		})
	}
	return prof, nil
}

func (p wecomProfiles) OAFollower(ctx context.Context, openID string) (bot.Profile, error) {
	if !p.official {
		return bot.Profile{}, bot.ErrNoProfile
	}
	info, err := p.c.OAGetUserInfo(ctx, openID)
	if err != nil {
		if permanent(err) {
			return bot.Profile{}, bot.ErrNoProfile
		}
		return bot.Profile{}, err
	}
	return bot.Profile{Name: info.Nickname, Avatar: info.HeadImgURL, UnionID: info.UnionID}, nil
}

// kfSource pulls 微信客服 messages through the WeCom client.
type kfSource struct{ c *wecom.APIClient }

func (k kfSource) KFSyncMsg(ctx context.Context, cursor, token string, limit int, openKfID string) (*bot.KFPage, error) {
	page, err := k.c.KFSyncMsg(ctx, cursor, token, limit, openKfID)
	if wecom.APIErrorCode(err) == 95007 { // invalid or expired msg token
		return nil, fmt.Errorf("%w: %w", bot.ErrKFTokenInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	out := &bot.KFPage{NextCursor: page.NextCursor, HasMore: page.HasMore, Messages: make([]bot.KFMessage, 0, len(page.Messages))}
	for _, m := range page.Messages {
		out.Messages = append(out.Messages, bot.KFMessage{
			MsgID: m.MsgID, OpenKfID: m.OpenKfID, ExternalUserID: m.ExternalUserID, SendTime: m.SendTime,
			Origin: m.Origin, MsgType: m.MsgType, Text: m.Text, MenuID: m.MenuID, Raw: m.Raw,
		})
	}
	return out, nil
}

// customerSender answers customers on the Official Account and 微信客服,
// mapping the platforms' closed-window errors to bot.ErrOutsideWindow and
// missing or rejected credentials to bot.ErrCannotSend. oa is false when no
// OA AppSecret is configured.
type customerSender struct {
	c  *wecom.APIClient
	oa bool
}

func windowErr(err error) error {
	switch {
	case errors.Is(err, wecom.ErrAPIOutsideWindow):
		return fmt.Errorf("%w: %w", bot.ErrOutsideWindow, err)
	case errors.Is(err, wecom.ErrAPINotConfigured), errors.Is(err, wecom.ErrAPIConfig):
		return fmt.Errorf("%w: %w", bot.ErrCannotSend, err)
	}
	return err
}

func (s customerSender) SendOAText(ctx context.Context, openID, text string) error {
	if !s.oa {
		return fmt.Errorf("%w: SCRM_OA_APP_SECRET is not set", bot.ErrCannotSend)
	}
	return windowErr(s.c.OASendCustomText(ctx, openID, text))
}

func (s customerSender) SendKFText(ctx context.Context, openKfID, externalUserID, text, msgID string) error {
	_, err := s.c.KFSendMsg(ctx, wecom.KFOutgoing{ToUser: externalUserID, OpenKfID: openKfID, MsgID: msgID, Text: text})
	return windowErr(err)
}
