package handlers_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrmhq/scrm/transfer"
)

// rawPost sends a request whose headers declare a body of declared bytes
// (or a chunked one when declared < 0), writes up to send bytes of it from
// pad while it reads the answer, and returns the answer's status. The
// server may answer and close before the body is sent; write errors are
// expected then.
func rawPost(t *testing.T, base, method, path string, headers map[string]string, declared int, pad []byte, send int) int {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, u.Host)
	for k, v := range headers {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	if declared >= 0 {
		fmt.Fprintf(&head, "Content-Length: %d\r\n", declared)
	} else {
		head.WriteString("Transfer-Encoding: chunked\r\n")
	}
	head.WriteString("\r\n")
	if _, err := conn.Write([]byte(head.String())); err != nil {
		t.Fatal(err)
	}
	go func() {
		// Writes allocate nothing per chunk, so what the process allocates
		// meanwhile is the server's doing.
		const chunk = 64 << 10
		chunkHead, crlf := []byte(fmt.Sprintf("%x\r\n", chunk)), []byte("\r\n")
		for sent := 0; sent+chunk <= send; sent += chunk {
			if declared < 0 {
				if _, err := conn.Write(chunkHead); err != nil {
					return
				}
			}
			if _, err := conn.Write(pad[:chunk]); err != nil {
				return
			}
			if declared < 0 {
				if _, err := conn.Write(crlf); err != nil {
					return
				}
			}
		}
		if declared < 0 {
			conn.Write([]byte("0\r\n\r\n"))
		}
	}()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: no answer: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestOversizedBodiesAreRefusedUnread: a 30 MB POST to the callbacks or to
// an ordinary API route is refused with 413 from its headers, without the
// server buffering it, while POST /api/v1/imports still takes a 5 MB sheet.
func TestOversizedBodiesAreRefusedUnread(t *testing.T) {
	a := newAPIEnv(t)
	const size = 30 << 20
	pad := []byte(strings.Repeat("x", size))
	auth := map[string]string{"Authorization": "Bearer " + apiTok, "Content-Type": "application/json"}
	xml := map[string]string{"Content-Type": "text/xml"}
	routes := []struct {
		name, method, path string
		headers            map[string]string
		declared           int
	}{
		{"wecom callback", "POST", "/wecom/callback?msg_signature=a&timestamp=1&nonce=1", xml, size},
		{"oa callback", "POST", "/oa/callback?signature=a&timestamp=1&nonce=1", xml, size},
		{"customer patch", "PATCH", "/api/v1/customers/" + a.ids["c1"], auth, size},
		{"tokens", "POST", "/api/v1/tokens", auth, size},
		{"wecom callback chunked", "POST", "/wecom/callback?msg_signature=a&timestamp=1&nonce=1", xml, -1},
		{"oa callback chunked", "POST", "/oa/callback?signature=a&timestamp=1&nonce=1", xml, -1},
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	// Twelve at once, as in the report that found the leak.
	var wg sync.WaitGroup
	statuses := make([]int, 12)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := routes[i%len(routes)]
			statuses[i] = rawPost(t, a.base, r.method, r.path, r.headers, r.declared, pad, size)
		}()
	}
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	for i, st := range statuses {
		if r := routes[i%len(routes)]; st != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: got %d, want 413", r.name, st)
		}
	}
	// The server runs in this process: had it buffered the bodies, twelve
	// 30 MB posts would have allocated 360 MB.
	grew := after.TotalAlloc - before.TotalAlloc
	t.Logf("twelve refused 30 MB posts allocated %.1f MB in total", float64(grew)/(1<<20))
	if grew > 32<<20 {
		t.Errorf("refusing twelve 30 MB posts allocated %d MB; the bodies were buffered", grew>>20)
	}
	if n := len(a.events(t)); n != 0 {
		t.Fatalf("refused posts stored %d events", n)
	}

	t.Run("a 5 MB import still works", func(t *testing.T) {
		var sheet strings.Builder
		sheet.WriteString("姓名,手机,附加\n")
		filler := strings.Repeat("填", 1300) // about 4 KB a row
		for i := 0; sheet.Len() < 5<<20; i++ {
			fmt.Fprintf(&sheet, "导入客户%d,139%08d,%s\n", i, i, filler)
		}
		mapping := "columns:\n  姓名: name\n  手机: phone\n  附加: ignore\n"
		status, body := a.upload(t, apiTok, "big.csv", []byte(sheet.String()), map[string]string{"dry_run": "true", "mapping": mapping})
		if status != http.StatusOK {
			t.Fatalf("5 MB import: got %d %.300s", status, body)
		}
		var rep transfer.Report
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Rows < 1000 || rep.Created != rep.Rows {
			t.Fatalf("5 MB import report: rows %d created %d, want every row", rep.Rows, rep.Created)
		}
	})
	t.Run("an import over the import limit is refused", func(t *testing.T) {
		hdr := map[string]string{"Authorization": "Bearer " + apiTok, "Content-Type": "multipart/form-data; boundary=x"}
		if st := rawPost(t, a.base, "POST", "/api/v1/imports", hdr, 40<<20, pad, 0); st != http.StatusRequestEntityTooLarge {
			t.Fatalf("40 MB import: got %d, want 413", st)
		}
	})
}
