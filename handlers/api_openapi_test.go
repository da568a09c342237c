package handlers_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/scrmhq/scrm/handlers"
)

// TestOpenAPICoversEveryRoute: every route registered under /api/v1 is in
// the document, the document names no route that does not exist, and every
// $ref resolves.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.base + "/api/v1/openapi.json") // no token
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components map[string]map[string]any            `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	param := regexp.MustCompile(`:(\w+)`)
	routes := apiRoutes(e)
	if len(routes) < 15 {
		t.Fatalf("only %d routes under /api/v1: %v", len(routes), routes)
	}
	registered := map[string]bool{}
	for _, r := range routes {
		path := param.ReplaceAllString(r.path, "{$1}")
		method := strings.ToLower(r.method)
		registered[method+" "+path] = true
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			op, ok := doc.Paths[path][method]
			if !ok {
				t.Fatalf("%s %s is not in openapi.json", method, path)
			}
			if op["summary"] == nil || op["responses"] == nil || op["operationId"] == nil {
				t.Errorf("operation lacks summary, operationId or responses: %v", op)
			}
			responses, _ := op["responses"].(map[string]any)
			if _, ok := responses["401"]; !ok && path != "/api/v1/openapi.json" {
				t.Error("no 401 response documented")
			}
		})
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			if !registered[method+" "+path] {
				t.Errorf("openapi.json documents %s %s, which is not registered", method, path)
			}
		}
	}
	// Every $ref points at a component that exists.
	raw := handlers.OpenAPI()
	for _, m := range regexp.MustCompile(`"\$ref":\s*"#/components/(\w+)/(\w+)"`).FindAllStringSubmatch(string(raw), -1) {
		if _, ok := doc.Components[m[1]][m[2]]; !ok {
			t.Errorf("$ref %s/%s does not resolve", m[1], m[2])
		}
	}
	if n := len(regexp.MustCompile(`"\$ref"`).FindAllIndex(raw, -1)); n < 30 {
		t.Errorf("only %d $refs: are the schemas described?", n)
	}
	ids := map[string]bool{}
	for _, ops := range doc.Paths {
		for _, op := range ops {
			id, _ := op["operationId"].(string)
			if ids[id] {
				t.Errorf("operationId %s repeated", id)
			}
			ids[id] = true
		}
	}
}

func TestOpenAPIServedWithoutToken(t *testing.T) {
	tests := []struct {
		name  string
		token string
		path  string
		want  int
	}{
		{"document, API enabled", apiTok, "/api/v1/openapi.json", 200},
		{"document, API disabled", "", "/api/v1/openapi.json", 200},
		{"customers, bearer tokens disabled, no session", "", "/api/v1/customers", 401},
		{"customers without token", apiTok, "/api/v1/customers", 401},
		{"prefix trick", apiTok, "/api/v1/openapi.json/../customers", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *handlers.Options) { o.APIToken = tt.token })
			resp, err := http.Get(e.base + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("got %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
