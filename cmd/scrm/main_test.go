package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// maxRSSHelperEnv, when set in the environment of this test binary, makes
// it a small helper process instead of running tests: it runs the command
// the variable holds (a JSON array), passes its output through, and prints
// the command's max RSS in KiB on the last line of stderr as "maxrss=N",
// exiting with the command's exit code.
//
// The helper exists because a child's ru_maxrss on Linux includes the memory
// of the process that started it: os/exec starts children with vfork, and
// exec records the shared address space's high-water mark as the child's.
// Started from a large test process, any child would seem as large as the
// tests. Started from this helper, a fresh and small process, the figure is
// the command's own.
const maxRSSHelperEnv = "SCRM_TEST_MAXRSS_OF"

func TestMain(m *testing.M) {
	if spec := os.Getenv(maxRSSHelperEnv); spec != "" {
		os.Exit(runMaxRSSHelper(spec))
	}
	os.Exit(m.Run())
}

func runMaxRSSHelper(spec string) int {
	var argv []string
	if err := json.Unmarshal([]byte(spec), &argv); err != nil || len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "maxrss helper: bad command:", spec)
		return 2
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = os.Environ()
	err := cmd.Run()
	code := 0
	if err != nil {
		code = 1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			fmt.Fprintln(os.Stderr, "maxrss helper:", err)
		}
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && cmd.ProcessState != nil {
		fmt.Fprintf(os.Stderr, "\nmaxrss=%d\n", ru.Maxrss)
	}
	return code
}
