package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestArchiveSettings(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pkcs1File := write("pkcs1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	pkcs8File := write("pkcs8.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	notPEM := write("junk.txt", []byte("not a key"))
	corp := "SCRM_WECOM_CORP_ID"
	cases := []struct {
		name    string
		env     map[string]string
		enabled bool
		wantErr string // "" means valid
	}{
		{"pkcs1 key", map[string]string{corp: "ww1", "SCRM_WECOM_ARCHIVE_SECRET": "s", "SCRM_ARCHIVE_PRIVATE_KEY_FILE": pkcs1File}, true, ""},
		{"pkcs8 key", map[string]string{corp: "ww1", "SCRM_WECOM_ARCHIVE_SECRET": "s", "SCRM_ARCHIVE_PRIVATE_KEY_FILE": pkcs8File}, true, ""},
		{"secret without key", map[string]string{corp: "ww1", "SCRM_WECOM_ARCHIVE_SECRET": "s"}, false, "must be set together"},
		{"key without secret", map[string]string{"SCRM_ARCHIVE_PRIVATE_KEY_FILE": pkcs1File}, false, "must be set together"},
		{"no corp id", map[string]string{"SCRM_WECOM_ARCHIVE_SECRET": "s", "SCRM_ARCHIVE_PRIVATE_KEY_FILE": pkcs1File}, true, "SCRM_WECOM_CORP_ID"},
		{"not pem", map[string]string{corp: "ww1", "SCRM_WECOM_ARCHIVE_SECRET": "s", "SCRM_ARCHIVE_PRIVATE_KEY_FILE": notPEM}, true, "no PEM block"},
		{"missing file", map[string]string{corp: "ww1", "SCRM_WECOM_ARCHIVE_SECRET": "s", "SCRM_ARCHIVE_PRIVATE_KEY_FILE": filepath.Join(dir, "nope")}, true, "not a readable file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			if tc.env[corp] != "" {
				// A corp id needs the whole callback channel.
				env["SCRM_WECOM_TOKEN"], env["SCRM_WECOM_AES_KEY"] = "tok", strings.Repeat("a", 43)
			}
			for k, v := range tc.env {
				env[k] = v
			}
			cfg, err := Load("", envOf(env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ArchiveEnabled() != tc.enabled {
				t.Errorf("ArchiveEnabled() = %v, want %v", cfg.ArchiveEnabled(), tc.enabled)
			}
			err = cfg.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if pem, err := cfg.ArchivePrivateKey(); err != nil || !strings.Contains(pem, "PRIVATE KEY") {
					t.Fatalf("ArchivePrivateKey: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
	cfg := Default()
	cfg.WeComArchiveSecret = "archive-secret-value"
	if strings.Contains(cfg.String(), "archive-secret-value") {
		t.Error("the archive secret is printed")
	}
}
