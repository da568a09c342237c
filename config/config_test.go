package config

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaultsValidate(t *testing.T) {
	cfg, err := Load("", envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults must validate: %v", err)
	}
	if cfg.Addr != ":8080" || cfg.DataDir != "./data" || cfg.MongoDB != "scrm" || cfg.Timezone != "Asia/Shanghai" ||
		cfg.WeComAPIBase != "https://qyapi.weixin.qq.com" || cfg.OAAPIBase != "https://api.weixin.qq.com" {
		t.Fatalf("unexpected defaults: %+v", cfg.Redacted())
	}
	if cfg.WeComEnabled() || cfg.OAEnabled() || cfg.LLMEnabled() {
		t.Fatal("no channel may be enabled without credentials")
	}
}

func TestEnvWinsOverYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scrm.yaml")
	if err := os.WriteFile(path, []byte("addr: \":9000\"\ntimezone: UTC\ncallback_max_skew: 2m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, envOf(map[string]string{"SCRM_ADDR": ":7000"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":7000" {
		t.Errorf("env must win: addr=%q", cfg.Addr)
	}
	if cfg.Timezone != "UTC" {
		t.Errorf("yaml must apply: timezone=%q", cfg.Timezone)
	}
	if cfg.CallbackMaxSkew != 2*time.Minute {
		t.Errorf("yaml duration: %v", cfg.CallbackMaxSkew)
	}
}

func TestYAMLUnknownFieldIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scrm.yaml")
	os.WriteFile(path, []byte("adr: \":9000\"\n"), 0o600)
	if _, err := Load(path, envOf(nil)); err == nil || !strings.Contains(err.Error(), "adr") {
		t.Fatalf("want an error naming the unknown field, got %v", err)
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"bad timezone", map[string]string{"SCRM_TIMEZONE": "Mars/Base"}, "SCRM_TIMEZONE"},
		{"bad mongo uri", map[string]string{"SCRM_MONGO_URI": "http://x"}, "SCRM_MONGO_URI"},
		{"bad redis url", map[string]string{"SCRM_REDIS_URL": "localhost:6379"}, "SCRM_REDIS_URL"},
		{"half wecom", map[string]string{"SCRM_WECOM_CORP_ID": "ww1"}, "SCRM_WECOM_TOKEN"},
		{"short aes key", map[string]string{"SCRM_WECOM_CORP_ID": "ww1", "SCRM_WECOM_TOKEN": "t", "SCRM_WECOM_AES_KEY": "abc"}, "SCRM_WECOM_AES_KEY"},
		{"agent id not numeric", map[string]string{"SCRM_WECOM_AGENT_ID": "x"}, "SCRM_WECOM_AGENT_ID"},
		{"oa without token", map[string]string{"SCRM_OA_APP_ID": "wx1"}, "SCRM_OA_TOKEN"},
		{"llm without model", map[string]string{"SCRM_LLM_BASE_URL": "http://127.0.0.1:1/v1"}, "SCRM_LLM_MODEL"},
		{"bad api base", map[string]string{"SCRM_WECOM_API_BASE": "qyapi"}, "SCRM_WECOM_API_BASE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("", envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error naming %s, got %v", tc.want, err)
			}
		})
	}
	t.Run("bad duration", func(t *testing.T) {
		if _, err := Load("", envOf(map[string]string{"SCRM_CALLBACK_MAX_SKEW": "five"})); err == nil || !strings.Contains(err.Error(), "SCRM_CALLBACK_MAX_SKEW") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestSecretsAreRedactedEverywhere(t *testing.T) {
	secrets := map[string]string{
		"SCRM_WECOM_SECRET": "s3cret-app", "SCRM_WECOM_CONTACT_SECRET": "s3cret-contact", "SCRM_WECOM_TOKEN": "s3cret-token",
		"SCRM_WECOM_AES_KEY": strings.Repeat("k", 43), "SCRM_WECOM_CORP_ID": "ww1", "SCRM_OA_APP_SECRET": "s3cret-oa",
		"SCRM_OA_APP_ID": "wx1", "SCRM_OA_TOKEN": "s3cret-oatoken", "SCRM_LLM_API_KEY": "sk-s3cret", "SCRM_API_TOKEN": "s3cret-api",
		"SCRM_REDIS_URL": "redis://:s3cret-pw@127.0.0.1:6379/0", "SCRM_MONGO_URI": "mongodb://u:s3cret-pw@h/",
	}
	cfg, err := Load("", envOf(secrets))
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", cfg)
	for name, out := range map[string]string{"String": cfg.String(), "slog": logged.String()} {
		for env, v := range secrets {
			if strings.Contains(v, "s3cret") || strings.Repeat("k", 43) == v {
				if strings.Contains(out, v) {
					t.Errorf("%s leaks %s", name, env)
				}
			}
		}
		if !strings.Contains(out, "ww1") {
			t.Errorf("%s must still show non-secret values", name)
		}
	}
}
