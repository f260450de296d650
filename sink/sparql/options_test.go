package sparql

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

// TestOptionForAnotherConstructor: one Option type serves the three
// constructors, and an option given to the wrong one is an error naming
// the right one, never silently ignored.
func TestOptionForAnotherConstructor(t *testing.T) {
	_, err := NewClient("http://127.0.0.1:1/sparql", WithDataGraph("http://g"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WithDataGraph (an option of NewUpdateBuilder)")

	_, err = NewUpdateBuilder(rdfdiff.WikidataScheme(), WithDialect(DialectBlazegraph), WithRequestTimeout(0))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WithDialect (an option of NewSPARQL and Outputs)")
	assert.Contains(t, err.Error(), "WithRequestTimeout (an option of NewClient)")

	c, err := NewClient("http://127.0.0.1:1/sparql", WithRequestTimeout(0))
	require.NoError(t, err)
	b, err := NewUpdateBuilder(rdfdiff.WikidataScheme(), WithDataGraph("http://g"))
	require.NoError(t, err)
	_, err = NewSPARQL(c, b, WithCommitGraph("http://c"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NewSPARQL was given WithCommitGraph (an option of NewUpdateBuilder)")
	_, err = NewSPARQL(c, b, WithDialect(DialectBlazegraph), nil)
	require.NoError(t, err)
}

// TestRejectedDeadLettersNeedsTheTask: WithRejectedDeadLetters takes the
// task's dead-letter writer from Outputs; NewSPARQL alone refuses it with
// the way out.
func TestRejectedDeadLettersNeedsTheTask(t *testing.T) {
	c, err := NewClient("http://127.0.0.1:1/sparql")
	require.NoError(t, err)
	b, err := NewUpdateBuilder(rdfdiff.WikidataScheme())
	require.NoError(t, err)
	_, err = NewSPARQL(c, b, WithRejectedDeadLetters())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "WithRejectedHandler(DeadLetterRejected(info.DeadLetters))")
}
