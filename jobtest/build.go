package jobtest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Build compiles the main package pkg (an import path or a "./dir" relative
// to the working directory) into the executable bin, with extra go build
// flags before the package (for example "-ldflags", "-X main.version=2").
// It uses the go command on PATH, or the one of the running toolchain. The
// child is built without the race detector even when the test runs with it:
// only the test process needs it, and a SIGKILL loop over a race-enabled
// child is several times slower.
func Build(ctx context.Context, pkg, bin string, flags ...string) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	args := append([]string{"build"}, flags...)
	args = append(args, "-o", bin, pkg)
	out, err := exec.CommandContext(ctx, goBin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("jobtest: go build %s: %w: %s", pkg, err, out)
	}
	return nil
}
