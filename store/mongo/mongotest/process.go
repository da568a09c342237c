package mongotest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// StartProcess runs FerretDB in a process of its own for this test and
// returns its URI (or SCRM_TEST_MONGO_URI when set); the process stops when
// the test ends. Use it instead of Start when other processes put heavy load
// on the store: inside a -race test binary FerretDB's SQLite runs
// instrumented, several times slower, and it would be the bottleneck of the
// very processes under test. Each call starts a new server, so any database
// name will do.
func StartProcess(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURI); u != "" {
		return u
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "scrm-ferretdb-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "ferretdb")
		// Built without -race whatever the test binary is built with.
		out, err := exec.Command("go", "build", "-o", binary, "github.com/scrmhq/scrm/store/mongo/mongotest/ferretdb").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ferretdb: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("mongotest: %v", buildErr)
	}
	cmd := exec.Command(binary, "-dir", t.TempDir())
	stdin, err := cmd.StdinPipe() // closing it stops the server
	if err != nil {
		t.Fatalf("mongotest: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("mongotest: %v", err)
	}
	logPath := filepath.Join(t.TempDir(), "ferretdb.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("mongotest: %v", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd.Stderr = logFile
	logs := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	if err := cmd.Start(); err != nil {
		t.Fatalf("mongotest: start ferretdb: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		if s.Scan() {
			line <- s.Text()
		}
		close(line)
	}()
	select {
	case u, ok := <-line:
		if !ok || !strings.HasPrefix(u, "mongodb://") {
			t.Fatalf("mongotest: ferretdb did not start (%q): %s", u, logs())
		}
		return u
	case <-time.After(30 * time.Second):
		t.Fatalf("mongotest: ferretdb did not start in 30s: %s", logs())
	}
	return ""
}
