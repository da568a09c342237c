package config

import (
	"strings"
	"testing"
	"time"
)

func TestSignInSettings(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		bad  string // the setting Validate must name; "" for a valid configuration
	}{
		{"defaults", nil, ""},
		{"public url", map[string]string{"SCRM_PUBLIC_URL": "https://scrm.example.com/"}, ""},
		{"public url under a path", map[string]string{"SCRM_PUBLIC_URL": "https://example.com/scrm"}, ""},
		{"public url without scheme", map[string]string{"SCRM_PUBLIC_URL": "scrm.example.com"}, "SCRM_PUBLIC_URL"},
		{"public url with a query", map[string]string{"SCRM_PUBLIC_URL": "https://scrm.example.com/?a=1"}, "SCRM_PUBLIC_URL"},
		{"public url ftp", map[string]string{"SCRM_PUBLIC_URL": "ftp://scrm.example.com"}, "SCRM_PUBLIC_URL"},
		{"idle 30m", map[string]string{"SCRM_SESSION_IDLE": "30m"}, ""},
		{"idle too short", map[string]string{"SCRM_SESSION_IDLE": "30s"}, "SCRM_SESSION_IDLE"},
		{"idle past the absolute limit", map[string]string{"SCRM_SESSION_IDLE": "200h"}, "SCRM_SESSION_IDLE"},
		{"login host", map[string]string{"SCRM_WECOM_LOGIN_BASE": "http://127.0.0.1:9999"}, ""},
		{"bad login host", map[string]string{"SCRM_WECOM_LOGIN_BASE": "login.work.weixin.qq.com"}, "SCRM_WECOM_LOGIN_BASE"},
		{"bad oauth host", map[string]string{"SCRM_WECOM_OAUTH_BASE": "open.weixin.qq.com"}, "SCRM_WECOM_OAUTH_BASE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("", envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if tc.bad == "" && err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
			if tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.bad)
			}
		})
	}
	cfg := Default()
	if cfg.SessionIdle != 12*time.Hour || cfg.WeComLoginBase != "https://login.work.weixin.qq.com" || cfg.WeComOAuthBase != "https://open.weixin.qq.com" {
		t.Errorf("defaults: idle %v, login %q, oauth %q", cfg.SessionIdle, cfg.WeComLoginBase, cfg.WeComOAuthBase)
	}
	cfg.PublicURL = "https://scrm.example.com/"
	if got := cfg.PublicBase(); got != "https://scrm.example.com" {
		t.Errorf("PublicBase() = %q", got)
	}
}
