package rdfdiff

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseTurtleMatchesSerdi parses every Wikibase fixture with our parser
// and with Debian's serdi (an independent C implementation) and requires the
// same graph. It is skipped where serdi is not installed (CI does not need it).
func TestParseTurtleMatchesSerdi(t *testing.T) {
	serdi, err := exec.LookPath("serdi")
	if err != nil {
		t.Skip("serdi not installed (Debian package serdi)")
	}
	for _, f := range fixtureFiles(t) {
		t.Run(f, func(t *testing.T) {
			out, err := exec.Command(serdi, "-q", "-i", "turtle", "-o", "ntriples", f).Output()
			require.NoError(t, err, "serdi")
			want, err := ParseNTriplesBytes(out)
			require.NoError(t, err, "serdi's N-Triples")
			doc, err := os.ReadFile(f)
			require.NoError(t, err)
			got, err := ParseTurtleBytes(doc)
			require.NoError(t, err)
			assert.True(t, isomorphic(got, want), "%s: %d triples, serdi %d", f, len(got), len(want))
		})
	}
}
