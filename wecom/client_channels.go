package wecom

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime/multipart"
	"net/url"
	"time"
)

// Acquisition (渠道活码): contact ways (联系我), welcome messages, temporary
// media, group join codes (加入群聊) and Official Account parametric QR
// codes. docs/wecom-protocol.md section 6 has the rules these follow.

// ContactWay is a contact way as add/get/update_contact_way spell it.
type ContactWay struct {
	ConfigID   string   `json:"config_id,omitempty"`
	Type       int      `json:"type"`  // 1 one member, 2 several
	Scene      int      `json:"scene"` // 1 mini-program, 2 QR code
	Remark     string   `json:"remark,omitempty"`
	SkipVerify bool     `json:"skip_verify"`
	State      string   `json:"state,omitempty"`
	User       []string `json:"user,omitempty"`
	Party      []int    `json:"party,omitempty"`
	QRCode     string   `json:"qr_code,omitempty"`
}

type apiContactWayAnswer struct {
	apiStatus
	ConfigID   string     `json:"config_id"`
	QRCode     string     `json:"qr_code"`
	ContactWay ContactWay `json:"contact_way"`
}

// AddContactWay creates a contact way and returns its config_id and the URL
// of its QR code image.
func (c *APIClient) AddContactWay(ctx context.Context, w ContactWay) (configID, qrCode string, err error) {
	w.ConfigID, w.QRCode = "", ""
	var resp apiContactWayAnswer
	if err := c.call(ctx, apiCall{api: "externalcontact/add_contact_way", method: "POST", tokens: c.contactTokens, body: w}, &resp); err != nil {
		return "", "", err
	}
	return resp.ConfigID, resp.QRCode, nil
}

// GetContactWay returns a contact way by its config_id.
func (c *APIClient) GetContactWay(ctx context.Context, configID string) (*ContactWay, error) {
	var resp apiContactWayAnswer
	if err := c.call(ctx, apiCall{api: "externalcontact/get_contact_way", method: "POST", tokens: c.contactTokens, idempotent: true,
		body: map[string]string{"config_id": configID}}, &resp); err != nil {
		return nil, err
	}
	return &resp.ContactWay, nil
}

// UpdateContactWay changes a contact way (its members, remark, skip_verify,
// state); w.ConfigID names it. Its QR code stays the same.
func (c *APIClient) UpdateContactWay(ctx context.Context, w ContactWay) error {
	if w.ConfigID == "" {
		return fmt.Errorf("wecom: externalcontact/update_contact_way: config_id is required")
	}
	body := map[string]any{"config_id": w.ConfigID, "remark": w.Remark, "skip_verify": w.SkipVerify, "state": w.State, "user": w.User}
	return c.call(ctx, apiCall{api: "externalcontact/update_contact_way", method: "POST", tokens: c.contactTokens, idempotent: true, body: body}, nil)
}

// DelContactWay deletes a contact way; its QR code stops working.
func (c *APIClient) DelContactWay(ctx context.Context, configID string) error {
	return c.call(ctx, apiCall{api: "externalcontact/del_contact_way", method: "POST", tokens: c.contactTokens, idempotent: true,
		body: map[string]string{"config_id": configID}}, nil)
}

// WelcomeMsg is send_welcome_msg's body.
type WelcomeMsg struct {
	WelcomeCode string              `json:"welcome_code"`
	Text        *WelcomeText        `json:"text,omitempty"`
	Attachments []WelcomeAttachment `json:"attachments,omitempty"`
}

// WelcomeText is a welcome's text.
type WelcomeText struct {
	Content string `json:"content"`
}

// WelcomeAttachment is one attachment: msgtype image, link, miniprogram,
// video or file, with the matching field set.
type WelcomeAttachment struct {
	MsgType     string              `json:"msgtype"`
	Image       *WelcomeImage       `json:"image,omitempty"`
	Link        *WelcomeLink        `json:"link,omitempty"`
	MiniProgram *WelcomeMiniProgram `json:"miniprogram,omitempty"`
	Video       *WelcomeMedia       `json:"video,omitempty"`
	File        *WelcomeMedia       `json:"file,omitempty"`
}

// WelcomeImage is an image by media_id or pic_url.
type WelcomeImage struct {
	MediaID string `json:"media_id,omitempty"`
	PicURL  string `json:"pic_url,omitempty"`
}

// WelcomeLink is a link card.
type WelcomeLink struct {
	Title  string `json:"title"`
	PicURL string `json:"picurl,omitempty"`
	Desc   string `json:"desc,omitempty"`
	URL    string `json:"url"`
}

// WelcomeMiniProgram is a mini-program card; its cover is a media_id.
type WelcomeMiniProgram struct {
	Title      string `json:"title"`
	PicMediaID string `json:"pic_media_id"`
	AppID      string `json:"appid"`
	Page       string `json:"page"`
}

// WelcomeMedia is a video or file by media_id.
type WelcomeMedia struct {
	MediaID string `json:"media_id"`
}

// Welcome errcodes (path/92599).
const (
	// ErrCodeWelcomeUsed: the code was used or has expired (20 s). The
	// welcome is done as far as anyone can tell: never retry.
	ErrCodeWelcomeUsed = 41051
	// ErrCodeWelcomeBusy: another app is sending with the code: retry.
	ErrCodeWelcomeBusy = 41096
)

// SendWelcomeMsg sends a welcome with the code of an add_external_contact
// callback. WeCom takes a code once, so resending after a transport error
// is safe (a second send answers 41051); 41096 is retried here within ctx.
func (c *APIClient) SendWelcomeMsg(ctx context.Context, m WelcomeMsg) error {
	for attempt := 0; ; attempt++ {
		err := c.call(ctx, apiCall{api: "externalcontact/send_welcome_msg", method: "POST", tokens: c.contactTokens, idempotent: true, body: m}, nil)
		if APIErrorCode(err) != ErrCodeWelcomeBusy || attempt >= 5 {
			return err
		}
		if err := sleepCtx(ctx, time.Duration(100*(attempt+1))*time.Millisecond); err != nil {
			return errors.Join(err, ctx.Err())
		}
	}
}

// MediaLifetime is how long a temporary media_id is valid.
const MediaLifetime = 72 * time.Hour

type apiMediaAnswer struct {
	apiStatus
	Type      string `json:"type"`
	MediaID   string `json:"media_id"`
	CreatedAt string `json:"created_at"`
}

// UploadMedia uploads temporary media (image, voice, video or file) and
// returns its media_id and when it lapses (3 days after the upload).
func (c *APIClient) UploadMedia(ctx context.Context, kind, name string, data []byte) (mediaID string, expires time.Time, err error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("media", name)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("wecom: media/upload: %w", err)
	}
	if _, err := fw.Write(data); err != nil {
		return "", time.Time{}, fmt.Errorf("wecom: media/upload: %w", err)
	}
	if err := mw.Close(); err != nil {
		return "", time.Time{}, fmt.Errorf("wecom: media/upload: %w", err)
	}
	var resp apiMediaAnswer
	if err := c.call(ctx, apiCall{api: "media/upload", method: "POST", tokens: c.contactTokens, idempotent: true,
		query: url.Values{"type": {kind}}, raw: buf.Bytes(), contentType: mw.FormDataContentType()}, &resp); err != nil {
		return "", time.Time{}, err
	}
	created := time.Now()
	var sec int64
	if _, err := fmt.Sscan(resp.CreatedAt, &sec); err == nil && sec > 0 {
		created = time.Unix(sec, 0)
	}
	return resp.MediaID, created.Add(MediaLifetime).UTC(), nil
}

// JoinWay is a group join code (加入群聊).
type JoinWay struct {
	ConfigID       string   `json:"config_id,omitempty"`
	Scene          int      `json:"scene"` // 1 mini-program, 2 QR code
	Remark         string   `json:"remark,omitempty"`
	AutoCreateRoom int      `json:"auto_create_room"`
	RoomBaseName   string   `json:"room_base_name,omitempty"`
	RoomBaseID     int      `json:"room_base_id,omitempty"`
	ChatIDList     []string `json:"chat_id_list"`
	State          string   `json:"state,omitempty"`
	QRCode         string   `json:"qr_code,omitempty"`
}

type apiJoinWayAnswer struct {
	apiStatus
	ConfigID string  `json:"config_id"`
	JoinWay  JoinWay `json:"join_way"`
}

// AddJoinWay creates a group join code over up to 5 groups and returns its
// config_id; GetJoinWay has its QR code.
func (c *APIClient) AddJoinWay(ctx context.Context, w JoinWay) (string, error) {
	w.ConfigID, w.QRCode = "", ""
	var resp apiJoinWayAnswer
	if err := c.call(ctx, apiCall{api: "externalcontact/groupchat/add_join_way", method: "POST", tokens: c.contactTokens, body: w}, &resp); err != nil {
		return "", err
	}
	return resp.ConfigID, nil
}

// GetJoinWay returns a group join code with its QR code.
func (c *APIClient) GetJoinWay(ctx context.Context, configID string) (*JoinWay, error) {
	var resp apiJoinWayAnswer
	if err := c.call(ctx, apiCall{api: "externalcontact/groupchat/get_join_way", method: "POST", tokens: c.contactTokens, idempotent: true,
		body: map[string]string{"config_id": configID}}, &resp); err != nil {
		return nil, err
	}
	return &resp.JoinWay, nil
}

// DelJoinWay deletes a group join code.
func (c *APIClient) DelJoinWay(ctx context.Context, configID string) error {
	return c.call(ctx, apiCall{api: "externalcontact/groupchat/del_join_way", method: "POST", tokens: c.contactTokens, idempotent: true,
		body: map[string]string{"config_id": configID}}, nil)
}

type apiQRCodeAnswer struct {
	apiStatus
	Ticket string `json:"ticket"`
	URL    string `json:"url"`
}

// OAQRCodeImageBase is where an OA QR code's image is shown by ticket.
const OAQRCodeImageBase = "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket="

// CreateOAQRCode creates a permanent Official Account QR code with a string
// scene (1–64 characters) and returns its ticket and the URL it encodes.
func (c *APIClient) CreateOAQRCode(ctx context.Context, scene string) (ticket, qrURL string, err error) {
	if n := len([]rune(scene)); n < 1 || n > 64 {
		return "", "", fmt.Errorf("wecom: qrcode/create: scene_str must be 1-64 characters")
	}
	body := map[string]any{"action_name": "QR_LIMIT_STR_SCENE", "action_info": map[string]any{"scene": map[string]string{"scene_str": scene}}}
	var resp apiQRCodeAnswer
	if err := c.call(ctx, apiCall{api: "qrcode/create", method: "POST", tokens: c.oaTokens, body: body}, &resp); err != nil {
		return "", "", err
	}
	return resp.Ticket, resp.URL, nil
}
