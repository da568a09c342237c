package main

import (
	"context"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/wecom"
)

// The adapters below translate the WeCom client's types into the small
// interfaces package bot declares, so bot never imports the wire formats.

// messenger sends the bot's app messages through the WeCom client.
type messenger struct{ c *wecom.APIClient }

func (m messenger) SendMarkdown(ctx context.Context, toUser, content string) error {
	_, err := m.c.SendMarkdown(ctx, wecom.SendTarget{ToUser: []string{toUser}}, content)
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
