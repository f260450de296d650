package updater

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The membership table is named after the subgraphs in order, since a
// SubgraphSet is a bit per index: other subgraphs must mean another table,
// other rules or bindings the same one.
func TestSubgraphTableName(t *testing.T) {
	parse := func(doc string) *SubgraphDefinitions {
		d, err := ParseSubgraphDefinitions([]byte(doc), "")
		require.NoError(t, err)
		return d
	}
	const a = "  - {name: a, stream: sa, subgraph_uri: <http://x/a>, default: pass}\n"
	const aRules = "  - {name: a, stream: sa, subgraph_uri: <http://x/a>, default: block, rules: [\"pass ?entity <http://x/p> []\"]}\n"
	const b = "  - {name: b, stream: sb, default: pass}\n"
	ab := subgraphTableName(parse("subgraphs:\n" + a + b))
	assert.Regexp(t, `^subgraphs-[0-9a-f]{8}$`, ab)
	assert.Equal(t, ab, subgraphTableName(parse("subgraphs:\n"+aRules+b)))
	assert.NotEqual(t, ab, subgraphTableName(parse("subgraphs:\n"+b+a)))
	assert.NotEqual(t, ab, subgraphTableName(parse("subgraphs:\n"+b)))
}
