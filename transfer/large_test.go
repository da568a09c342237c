package transfer

import (
	"bytes"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/scrmhq/scrm/store/sqlite"
)

// largeSheet writes an .xlsx of n customer rows in the shape of messyRows'
// header, with phones in mixed formats; every 50th row repeats the
// previous row's person with another tag (a duplicate to merge).
func largeSheet(tb testing.TB, n int) []byte {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		tb.Fatal(err)
	}
	header := []any{"客户名称", "手机号码", "公司", "职位", "标签", "负责人", "阶段", "备注", "生日", "到期日", "邮箱"}
	if err := sw.SetRow("A1", header); err != nil {
		tb.Fatal(err)
	}
	formats := []string{"138%08d", "+86 138-%04d-%04d", "86-138%08d", "138 %04d %04d"}
	owners := []string{"张伟", "lisi", "zhangwei", "李四"}
	stages := []string{"新线索", "跟进中", "已成交", ""}
	person := 0
	for i := 0; i < n; i++ {
		if i%50 != 49 {
			person++
		}
		var phone string
		switch fm := formats[person%len(formats)]; fm {
		case "+86 138-%04d-%04d", "138 %04d %04d":
			phone = fmt.Sprintf(fm, person/10000, person%10000)
		default:
			phone = fmt.Sprintf(fm, person)
		}
		row := []any{fmt.Sprintf("客户%06d", person), phone, fmt.Sprintf("公司%04d", person%3000), "经理",
			fmt.Sprintf("行业%d，区域%d", person%7, i%5), owners[person%len(owners)], stages[person%len(stages)],
			"备注：来自展会", fmt.Sprintf("19%02d/%d/%d", 50+person%50, 1+person%12, 1+person%28),
			fmt.Sprintf("2027年%d月%d日", 1+person%12, 1+person%28), fmt.Sprintf("c%d@example.com", person)}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cell, row); err != nil {
			tb.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestImportLargeSheet imports 100,000 rows into the embedded store (5,000
// with -short, 1,000 under the race detector) and re-imports them, checking counts
// and idempotency at scale and logging the speed. The store is opened
// with synchronous=NORMAL, as `scrm import` does.
func TestImportLargeSheet(t *testing.T) {
	n := 100_000
	switch {
	case raceEnabled:
		n = 1_000 // the race detector slows the pure-Go SQLite about 20 times
	case testing.Short():
		n = 5_000
	}
	ctx := testContext(t)
	db := openStore(t, sqlite.WithSynchronous("NORMAL"))
	seedStaff(t, db)
	data := largeSheet(t, n)
	people := n - n/50

	start, cpu0 := time.Now(), cpuTime()
	tb, err := ReadTable("large.xlsx", bytes.NewReader(data), "")
	if err != nil {
		t.Fatal(err)
	}
	read := time.Since(start)
	progress := 0
	rep, err := Import(ctx, db, tb, ImportOptions{ProgressEvery: n / 10, Progress: func(Progress) { progress++ }})
	if err != nil {
		t.Fatal(err)
	}
	wall, cpu := time.Since(start), cpuTime()-cpu0
	checkCounts(t, "large import", rep, counts{rows: n, mergedRows: n - people, created: people})
	if progress < 10 {
		t.Errorf("progress reported %d times, want at least 10", progress)
	}
	t.Logf("%d rows (%d customers): read %v, total %v wall (%.0f rows/s), %v CPU; %d rows/s at the 60 s target",
		n, people, read.Round(time.Millisecond), wall.Round(time.Millisecond), float64(n)/wall.Seconds(),
		cpu.Round(time.Millisecond), 100_000/60)

	start = time.Now()
	again, err := Import(ctx, db, tb, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, "large re-import", again, counts{rows: n, mergedRows: n - people, unchanged: people})
	t.Logf("re-import of %d rows: %v (nothing written)", n, time.Since(start).Round(time.Millisecond))
}
