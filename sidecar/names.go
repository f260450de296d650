package sidecar

import (
	"errors"
	"fmt"
	"regexp"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

// savepointNameRule is the rule a savepoint name must follow, as error
// messages state it. The character set is the checkpoint package's (a
// savepoint is stored as "<job>/savepoints/<name>"); "." and ".." pass it
// but are path segments that no store accepts, and ".tmp-" is the
// filesystem store's prefix for files in progress.
const savepointNameRule = `1-128 characters of [A-Za-z0-9._-], not "." or "..", not starting with ".tmp-"`

var savepointNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// validateSavepointName checks name against savepointNameRule: the
// character set first, then checkpoint.ValidateName, the object-name rule
// every checkpoint store applies, so that a name the sidecar accepts is
// one the store accepts.
func validateSavepointName(name string) error {
	if !savepointNameRE.MatchString(name) {
		why := "characters outside [A-Za-z0-9._-]"
		switch {
		case name == "":
			why = "empty"
		case len(name) > 128:
			why = fmt.Sprintf("%d bytes long", len(name))
		}
		return fmt.Errorf("sidecar: invalid savepoint name %q: %s (a savepoint name is %s)", name, why, savepointNameRule)
	}
	if err := checkpoint.ValidateName(name); err != nil {
		why := err.Error()
		if ne := (*checkpoint.NameError)(nil); errors.As(err, &ne) {
			why = ne.Reason
		}
		return fmt.Errorf("sidecar: invalid savepoint name %q: %s (a savepoint name is %s)", name, why, savepointNameRule)
	}
	return nil
}
