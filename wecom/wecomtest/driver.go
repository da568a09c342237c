package wecomtest

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/scrmhq/scrm/wecom"
)

// DriverConfig configures a Driver. The WeCom fields must match the server's
// SCRM_WECOM_* settings, the OA fields its SCRM_OA_* settings.
type DriverConfig struct {
	URL     string // WeCom app callback URL
	OAURL   string // OA callback URL (default URL)
	Token   string // WeCom callback Token
	AESKey  string // WeCom EncodingAESKey
	CorpID  string
	AgentID string

	OAAppID      string
	OAToken      string
	OAAESKey     string // needed in safe mode only
	OASafeMode   bool   // encrypt OA callbacks (encrypt_type=aes); plaintext mode otherwise
	OAOriginalID string // ToUserName of OA callbacks (default SimOAOriginalID)

	// Timeout bounds each delivery attempt (default 5s, WeChat's). Retries is
	// how many times an unacknowledged callback is resent with the same body
	// and query (0 means WeChat's 3; negative means none); RetryDelay is the
	// pause before each resend (default none).
	Timeout    time.Duration
	Retries    int
	RetryDelay time.Duration

	HTTPClient *http.Client
	// Simulator, when set, learns about OA messages and events the driver
	// delivers, so its customer-service windows open as on the platform.
	Simulator *Simulator
	Now       func() time.Time // default time.Now
}

// Driver delivers callbacks the way WeCom and the Official Account do:
// sealed with the app's AES key, signed in the query, POSTed with a 5 s
// timeout, and resent unchanged up to 3 times when not acknowledged with 200.
type Driver struct {
	cfg  DriverConfig
	wc   *wecom.Crypto
	oc   *wecom.Crypto
	http *http.Client
}

// CallbackRequest is a sealed, signed callback ready to deliver (and to
// deliver again, byte for byte).
type CallbackRequest struct {
	URL  string // with the signed query
	Body []byte
	oa   bool
}

// Delivery reports one callback delivery.
type Delivery struct {
	Attempts int           // requests made, including the acknowledged one
	Status   int           // HTTP status of the last answer (0 when none arrived)
	Body     []byte        // the last answer's body
	Reply    []byte        // the passive reply: decrypted when the answer was an encrypted envelope
	Latency  time.Duration // of the acknowledged attempt
}

// NewDriver checks the keys and builds a driver. WeCom sends need URL,
// Token, AESKey and CorpID; OA sends need OAToken (and OAAppID and OAAESKey
// in safe mode).
func NewDriver(cfg DriverConfig) (*Driver, error) {
	if cfg.OAURL == "" {
		cfg.OAURL = cfg.URL
	}
	if cfg.OAOriginalID == "" {
		cfg.OAOriginalID = SimOAOriginalID
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = 3
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Driver{cfg: cfg, http: cfg.HTTPClient}
	if d.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		d.http = &http.Client{Transport: tr}
	}
	if cfg.Token != "" || cfg.AESKey != "" {
		c, err := wecom.NewCrypto(cfg.Token, cfg.AESKey, cfg.CorpID)
		if err != nil {
			return nil, fmt.Errorf("wecomtest: new driver: wecom keys: %w", err)
		}
		d.wc = c
	}
	if cfg.OASafeMode {
		c, err := wecom.NewCrypto(cfg.OAToken, cfg.OAAESKey, cfg.OAAppID)
		if err != nil {
			return nil, fmt.Errorf("wecomtest: new driver: oa keys: %w", err)
		}
		d.oc = c
	}
	return d, nil
}

// WeComXML renders m as WeCom would send it to this app.
func (d *Driver) WeComXML(m Msg) []byte { return m.XML(d.cfg.CorpID, d.cfg.AgentID) }

// OAXML renders m as the Official Account would send it.
func (d *Driver) OAXML(m Msg) []byte { return m.XML(d.cfg.OAOriginalID, "") }

func nonce() string { return strconv.FormatUint(1e9+rand.Uint64N(9e9), 10) }

// BuildWeCom seals and signs a WeCom callback.
func (d *Driver) BuildWeCom(plain []byte) (*CallbackRequest, error) {
	if d.wc == nil {
		return nil, errors.New("wecomtest: driver has no WeCom Token/AESKey")
	}
	ts, n := strconv.FormatInt(d.cfg.Now().Unix(), 10), nonce()
	body, sig, err := d.wc.SealWeCom(plain, d.cfg.CorpID, d.cfg.AgentID, ts, n)
	if err != nil {
		return nil, fmt.Errorf("wecomtest: seal wecom callback: %w", err)
	}
	q := url.Values{"msg_signature": {sig}, "timestamp": {ts}, "nonce": {n}}
	return &CallbackRequest{URL: withQuery(d.cfg.URL, q), Body: body}, nil
}

// BuildOA signs (and in safe mode seals) an Official Account callback.
func (d *Driver) BuildOA(plain []byte) (*CallbackRequest, error) {
	if d.cfg.OAToken == "" {
		return nil, errors.New("wecomtest: driver has no OAToken")
	}
	var head struct {
		FromUserName string `xml:"FromUserName"`
	}
	_ = xml.Unmarshal(plain, &head)
	ts, n := strconv.FormatInt(d.cfg.Now().Unix(), 10), nonce()
	q := url.Values{"signature": {wecom.OASignature(d.cfg.OAToken, ts, n)}, "timestamp": {ts}, "nonce": {n},
		"openid": {head.FromUserName}}
	body := plain
	if d.cfg.OASafeMode {
		sealed, sig, err := d.oc.SealOA(plain, d.cfg.OAOriginalID, ts, n)
		if err != nil {
			return nil, fmt.Errorf("wecomtest: seal oa callback: %w", err)
		}
		body = sealed
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", sig)
	}
	return &CallbackRequest{URL: withQuery(d.cfg.OAURL, q), Body: body, oa: true}, nil
}

func withQuery(u string, q url.Values) string {
	sep := "?"
	if bytes.ContainsRune([]byte(u), '?') {
		sep = "&"
	}
	return u + sep + q.Encode()
}

// SendWeCom delivers a WeCom callback built with one of the App*, Contact*,
// External* or KF* builders.
func (d *Driver) SendWeCom(ctx context.Context, m Msg) (*Delivery, error) {
	return d.SendWeComXML(ctx, d.WeComXML(m))
}

// SendWeComXML seals and delivers plain WeCom callback XML.
func (d *Driver) SendWeComXML(ctx context.Context, plain []byte) (*Delivery, error) {
	req, err := d.BuildWeCom(plain)
	if err != nil {
		return nil, err
	}
	return d.Deliver(ctx, req)
}

// SendKFEvent delivers the kf_msg_or_event callback for a sync token (see
// Simulator.AddKFMessage); the server then pulls with kf/sync_msg.
func (d *Driver) SendKFEvent(ctx context.Context, token, openKfID string) (*Delivery, error) {
	return d.SendWeCom(ctx, KFEvent(token, openKfID, d.cfg.Now()))
}

// SendOA delivers an Official Account callback built with an OA* builder.
func (d *Driver) SendOA(ctx context.Context, m Msg) (*Delivery, error) {
	return d.SendOAXML(ctx, d.OAXML(m))
}

// SendOAXML signs (seals in safe mode) and delivers plain OA callback XML.
func (d *Driver) SendOAXML(ctx context.Context, plain []byte) (*Delivery, error) {
	if d.cfg.Simulator != nil {
		d.noteOA(plain)
	}
	req, err := d.BuildOA(plain)
	if err != nil {
		return nil, err
	}
	return d.Deliver(ctx, req)
}

// noteOA opens the simulator's customer-service window the way the platform
// does: a message opens 48 h / 5 messages, a click, follow or scan 1 min / 3.
func (d *Driver) noteOA(plain []byte) {
	var m struct {
		FromUserName string `xml:"FromUserName"`
		CreateTime   int64  `xml:"CreateTime"`
		MsgType      string `xml:"MsgType"`
		Event        string `xml:"Event"`
	}
	if xml.Unmarshal(plain, &m) != nil || m.FromUserName == "" {
		return
	}
	t := time.Unix(m.CreateTime, 0)
	switch {
	case m.MsgType != "event":
		d.cfg.Simulator.OAUserMessaged(m.FromUserName, t)
	case m.Event == "subscribe" || m.Event == "SCAN" || m.Event == "CLICK":
		d.cfg.Simulator.OAUserInteracted(m.FromUserName, t)
	case m.Event == "unsubscribe":
		d.cfg.Simulator.OAUserUnsubscribed(m.FromUserName)
	}
}

// Deliver POSTs req until a 200 answer, at most 1+Retries times, each
// attempt bounded by Timeout. It returns an error when no attempt was
// acknowledged; the Delivery then still reports the attempts.
func (d *Driver) Deliver(ctx context.Context, req *CallbackRequest) (*Delivery, error) {
	del := &Delivery{}
	var last error
	for attempt := 0; attempt <= d.cfg.Retries; attempt++ {
		if attempt > 0 && d.cfg.RetryDelay > 0 {
			t := time.NewTimer(d.cfg.RetryDelay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return del, fmt.Errorf("wecomtest: deliver: %w (last: %v)", ctx.Err(), last)
			}
		}
		if err := ctx.Err(); err != nil {
			return del, fmt.Errorf("wecomtest: deliver: %w (last: %v)", err, last)
		}
		del.Attempts++
		status, body, lat, err := d.attempt(ctx, req)
		if status != 0 {
			del.Status, del.Body = status, body
		}
		if err == nil && status == http.StatusOK {
			del.Latency = lat
			del.Reply = d.openReply(req, body)
			return del, nil
		}
		if err == nil {
			err = fmt.Errorf("http status %d", status)
		}
		last = err
	}
	return del, fmt.Errorf("wecomtest: callback not acknowledged after %d attempts: %w", del.Attempts, last)
}

func (d *Driver) attempt(ctx context.Context, req *CallbackRequest) (int, []byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return 0, nil, 0, err
	}
	hr.Header.Set("Content-Type", "text/xml")
	hr.Header.Set("User-Agent", "Mozilla/4.0")
	start := time.Now()
	resp, err := d.http.Do(hr)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, 0, err
	}
	return resp.StatusCode, body, time.Since(start), nil
}

// openReply decrypts an encrypted passive reply; other answers ("",
// "success", plaintext XML) are returned as they are.
func (d *Driver) openReply(req *CallbackRequest, body []byte) []byte {
	c := d.wc
	if req.oa {
		c = d.oc
	}
	if c == nil || !bytes.Contains(body, []byte("<Encrypt>")) {
		return body
	}
	env, err := wecom.ParseEnvelope(body)
	if err != nil || !c.Verify(env.MsgSignature, env.TimeStamp, env.Nonce, env.Encrypt) {
		return body
	}
	plain, err := c.Decrypt(env.Encrypt)
	if err != nil {
		return body
	}
	return plain
}

// VerifyURL sends the GET the platform sends when an admin saves a callback
// URL — WeCom's with an encrypted echostr, or (oa) the Official Account's
// with a plain one — and returns the answer's status and body, which must
// be the echostr's plaintext for the platform to accept the URL.
func (d *Driver) VerifyURL(ctx context.Context, oa bool) (int, string, error) {
	ts, n := strconv.FormatInt(d.cfg.Now().Unix(), 10), nonce()
	echo := strconv.FormatUint(rand.Uint64(), 10)
	var u string
	if oa {
		if d.cfg.OAToken == "" {
			return 0, "", errors.New("wecomtest: driver has no OAToken")
		}
		u = withQuery(d.cfg.OAURL, url.Values{"signature": {wecom.OASignature(d.cfg.OAToken, ts, n)},
			"timestamp": {ts}, "nonce": {n}, "echostr": {echo}})
	} else {
		if d.wc == nil {
			return 0, "", errors.New("wecomtest: driver has no WeCom Token/AESKey")
		}
		enc, err := d.wc.Encrypt([]byte(echo))
		if err != nil {
			return 0, "", fmt.Errorf("wecomtest: encrypt echostr: %w", err)
		}
		u = withQuery(d.cfg.URL, url.Values{"msg_signature": {d.wc.Sign(ts, n, enc)}, "timestamp": {ts}, "nonce": {n}, "echostr": {enc}})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("wecomtest: verify url: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return resp.StatusCode, "", err
	}
	if resp.StatusCode == http.StatusOK && string(b) != echo {
		return resp.StatusCode, string(b), fmt.Errorf("wecomtest: verify url: answer is not the echostr")
	}
	return resp.StatusCode, string(b), nil
}
