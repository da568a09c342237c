package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/scrmhq/scrm/store"
	"github.com/scrmhq/scrm/store/sqlite"
	"github.com/scrmhq/scrm/transfer"
	"github.com/scrmhq/scrm/transfer/transfertest"
)

// runCLI runs scrm with args and returns what it printed.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func transferEnv(t *testing.T, dataDir string) {
	t.Helper()
	t.Setenv("SCRM_DATA_DIR", dataDir)
	t.Setenv("SCRM_MONGO_URI", "")
	t.Setenv("SCRM_REDIS_URL", "")
	t.Setenv("SCRM_LOG_LEVEL", "error")
}

func seedTransferStore(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range []*store.Staff{
		{ID: "zhangwei", Name: "张伟", Role: "sales", Active: true},
		{ID: "lisi", Name: "李四", Role: "sales", Active: true},
	} {
		if err := db.UpsertStaff(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTransferCLIImportExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	transferEnv(t, dir)
	seedTransferStore(t, dir)
	work := t.TempDir()
	sheet := "姓名,手机,公司,标签,负责人,阶段\r\n" +
		"张三,+86 138-0013-8000,艾克米,VIP,张伟,跟进中\r\n" +
		"\r\n" +
		"张三,138 0013 8000,艾克米,华北,,\r\n" +
		"李雷,13900139000,韩梅梅贸易,新客户,王大锤,\r\n" +
		"周九,１３５００１３５０００,,,lisi,已成交\r\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(sheet))
	if err != nil {
		t.Fatal(err)
	}
	csvPath := filepath.Join(work, "客户.csv")
	if err := os.WriteFile(csvPath, gbk, 0o600); err != nil {
		t.Fatal(err)
	}

	out, _, err := runCLI(t, "import", "customers", csvPath, "--dry-run")
	if err != nil {
		t.Fatalf("import --dry-run: %v", err)
	}
	for _, want := range []string{"试运行", "新建 2 位客户", "拒绝 1 行", "第 5 行 [拒绝] 负责人「王大锤」", "gbk"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if n := countCustomers(t, dir); n != 0 {
		t.Fatalf("the dry run wrote %d customers", n)
	}

	report := filepath.Join(work, "问题.csv")
	out, errOut, err := runCLI(t, "import", "customers", csvPath, "--report", report, "--progress-every", "1")
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if !strings.Contains(out, "导入完成：共 4 行，新建 2 位客户") {
		t.Errorf("import output:\n%s", out)
	}
	if !strings.Contains(errOut, "行/秒") {
		t.Errorf("no progress on stderr: %q", errOut)
	}
	if data, err := os.ReadFile(report); err != nil || !strings.Contains(string(data), "王大锤") {
		t.Errorf("issues report: %q, %v", data, err)
	}
	if n := countCustomers(t, dir); n != 2 {
		t.Fatalf("%d customers after import, want 2", n)
	}
	out, _, err = runCLI(t, "import", "customers", csvPath)
	if err != nil || !strings.Contains(out, "新建 0 位客户，更新（合并）0 位，无变化 2 位") {
		t.Errorf("re-import changed something (%v):\n%s", err, out)
	}

	for _, format := range []string{"xlsx", "csv"} {
		file := filepath.Join(work, "客户导出."+format)
		if _, errOut, err := runCLI(t, "export", "customers", "--format", format, "--out", file, "--tag", "VIP"); err != nil {
			t.Fatalf("export %s: %v %s", format, err, errOut)
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		tb, err := transfer.ReadTable(file, f, "")
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(tb.Rows) != 2 || tb.Rows[1][1] != "张三" || tb.Rows[1][2] != "13800138000" {
			t.Errorf("%s export with --tag VIP: %q", format, tb.Rows)
		}
		out, _, err := runCLI(t, "import", "customers", file)
		if err != nil || !strings.Contains(out, "新建 0 位客户，更新（合并）0 位，无变化 1 位，拒绝 0 行") {
			t.Errorf("re-import of the %s export changed something (%v):\n%s", format, err, out)
		}
	}
	kpis := filepath.Join(work, "kpi.csv")
	if _, _, err := runCLI(t, "export", "kpis", "--format", "csv", "--out", kpis); err != nil {
		t.Fatalf("export kpis: %v", err)
	}
	if data, _ := os.ReadFile(kpis); !strings.Contains(string(data), "zhangwei,张伟,1,") {
		t.Errorf("kpis:\n%s", data)
	}
	if _, _, err := runCLI(t, "export", "customers", "--format", "xls", "--out", filepath.Join(work, "x")); err == nil {
		t.Error("export --format xls succeeded")
	}
}

func countCustomers(t *testing.T, dir string) int64 {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.CountCustomers(context.Background(), store.CustomerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBackupRestoreCLI backs up the store while another connection (as the
// running server's would) keeps appending events, then restores it into
// a new data directory, refusing to overwrite without --force.
func TestBackupRestoreCLI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	transferEnv(t, dir)
	seedTransferStore(t, dir)
	ctx := context.Background()
	server, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []string
		stop  = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("cli-load-%d", i)
			now := time.Now()
			if _, err := server.AppendEvents(ctx, []*store.Event{{DedupKey: key, Channel: store.ChannelOA, Kind: "text",
				OccurredAt: now, ReceivedAt: now}}); err != nil {
				t.Errorf("append: %v", err)
				return
			}
			mu.Lock()
			acked = append(acked, key)
			mu.Unlock()
		}
	}()
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	backup := filepath.Join(t.TempDir(), "scrm.backup")
	out, _, err := runCLI(t, "backup", "--out", backup)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	if !strings.Contains(out, "备份完成") || !strings.Contains(out, "events") {
		t.Errorf("backup output:\n%s", out)
	}
	if _, _, err := runCLI(t, "backup", "--out", backup); err == nil {
		t.Error("a second backup overwrote the first")
	}

	target := filepath.Join(t.TempDir(), "restored")
	transferEnv(t, target)
	out, _, err = runCLI(t, "restore", "--from", backup)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !strings.Contains(out, "校验通过") {
		t.Errorf("restore output:\n%s", out)
	}
	if _, _, err := runCLI(t, "restore", "--from", backup); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore into a non-empty dir: err = %v, want a refusal mentioning --force", err)
	}
	out, _, err = runCLI(t, "restore", "--from", backup, "--force")
	if err != nil || !strings.Contains(out, "before-restore-") {
		t.Errorf("restore --force (%v):\n%s", err, out)
	}
	db, err := sqlite.Open(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, k := range before {
		if ok, err := db.HasEvent(ctx, k); err != nil || !ok {
			t.Fatalf("event %s acknowledged before the backup is missing after restore (%v)", k, err)
		}
	}
	t.Logf("%d events acknowledged before the backup, all restored", len(before))

	t.Setenv("SCRM_MONGO_URI", "mongodb://127.0.0.1:1")
	if _, _, err := runCLI(t, "backup", "--out", filepath.Join(t.TempDir(), "m")); err == nil || !strings.Contains(err.Error(), "mongodump") {
		t.Errorf("backup on MongoDB: err = %v, want a pointer to mongodump", err)
	}
}

// TestImportCLIRefusesZipBomb runs the real binary, `scrm import customers`
// on a workbook whose sheet inflates to 200 MB, as its own process: it
// fails within seconds with the Chinese reason, its peak resident memory
// (the child's max RSS) stays under 300 MB, and it leaves nothing in its
// TMPDIR.
func TestImportCLIRefusesZipBomb(t *testing.T) {
	bin := scrmBinary(t)
	work, tmp, dataDir := t.TempDir(), t.TempDir(), t.TempDir()
	seedTransferStore(t, dataDir)
	bomb := filepath.Join(work, "bomb.xlsx")
	if err := os.WriteFile(bomb, transfertest.ZipBomb(t, 200<<20, 0), 0o600); err != nil {
		t.Fatal(err)
	}
	// Through the helper in main_test.go, so that the max RSS is the
	// import's own and not this large test process's.
	argv, _ := json.Marshal([]string{bin, "import", "customers", bomb})
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), maxRSSHelperEnv+"="+string(argv),
		"TMPDIR="+tmp, "SCRM_DATA_DIR="+dataDir, "SCRM_MONGO_URI=", "SCRM_REDIS_URL=", "SCRM_LOG_LEVEL=error")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	i := bytes.LastIndex(out, []byte("\nmaxrss="))
	if i < 0 {
		t.Fatalf("the helper printed no max RSS: %s", out)
	}
	kib, convErr := strconv.ParseInt(string(bytes.TrimSpace(out[i+len("\nmaxrss="):])), 10, 64)
	if convErr != nil {
		t.Fatalf("max RSS in %q: %v", out[i:], convErr)
	}
	out = out[:i]
	maxRSS := kib >> 10 // ru_maxrss is in KiB on Linux
	t.Logf("%s in %s, max RSS %d MB", bytes.TrimSpace(out), elapsed.Round(time.Millisecond), maxRSS)
	if err == nil || !strings.Contains(string(out), "文件解压后过大") {
		t.Errorf("import of the bomb: %v, output %s; want a failure with the Chinese reason", err, out)
	}
	if elapsed > 10*time.Second {
		t.Errorf("refusing took %s, want under 10s", elapsed)
	}
	if maxRSS > 300 {
		t.Errorf("max RSS %d MB, want under 300", maxRSS)
	}
	transfertest.CheckEmptyDir(t, tmp)
}
