package updater_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/examples/wdqs/updater"
	"gitlab.wikimedia.org/repos/search-platform/streamkit/rdfdiff"
)

func loadDefs(t testing.TB, name string) *updater.SubgraphDefinitions {
	t.Helper()
	d, err := updater.LoadSubgraphDefinitions(filepath.Join("testdata", "subgraphs", name))
	require.NoError(t, err)
	return d
}

type sgWant struct {
	name, stream, uri string
	rules             int
	pass, stubs       bool
}

func sgOf(d *updater.SubgraphDefinitions) []sgWant {
	var out []sgWant
	for _, g := range d.Subgraphs {
		out = append(out, sgWant{g.Name, g.Stream, g.URI, len(g.Rules), g.DefaultPass, g.StubsSource})
	}
	return out
}

func TestParseSubgraphDefinitionsFixtures(t *testing.T) {
	v2 := loadDefs(t, "wdqs-subgraph-definitions-v2.yaml")
	assert.Equal(t, []sgWant{
		{"scholarly_articles", "rdf-streaming-updater.mutation-scholarly", "https://query.wikidata.org/subgraph/scholarly_articles", 2, false, true},
		{"wikidata_main", "rdf-streaming-updater.mutation-main", "https://query.wikidata.org/subgraph/wikidata_main", 2, true, true},
		{"wikidata_full", "rdf-streaming-updater.mutation", "", 0, true, false},
	}, sgOf(v2))
	assert.Equal(t, "wikidata_full", v2.Full().Name)
	require.Len(t, v2.Bindings["scholarly_type"], 49)
	assert.Equal(t, "http://www.wikidata.org/entity/Q13442814", v2.Bindings["scholarly_type"][0])
	assert.Equal(t, "http://www.wikidata.org/entity/Q70471362", v2.Bindings["scholarly_type"][48])
	assert.Equal(t, "pass ?entity wdt:P13046 []", v2.Subgraphs[0].Rules[1].Text)
	assert.True(t, v2.Subgraphs[0].Rules[1].Pass)
	assert.False(t, v2.Subgraphs[1].Rules[0].Pass)
	assert.Equal(t, 1, v2.Index("wikidata_main"))
	assert.Equal(t, -1, v2.Index("nope"))

	single := loadDefs(t, "SubgraphDiffUnitTest-single-graph-definition.yaml")
	assert.Equal(t, []sgWant{{"full", "rdf-streaming-udpater.mutations", "", 0, true, false}}, sgOf(single))

	mixed := loadDefs(t, "SubgraphDiffUnitTest-four-graphs-definitions-mixed-stub-source.yaml")
	assert.Equal(t, []sgWant{
		{"full", "rdf-streaming-udpater.mutations", "", 0, true, false},
		{"graph1", "stream-graph1", "https://query.unittest.local/subgraph/graph1", 1, false, true},
		{"graph2", "stream-graph2", "https://query.unittest.local/subgraph/graph2", 2, true, true},
		{"graph3", "stream-graph3", "https://query.unittest.local/subgraph/graph3", 1, false, false},
	}, sgOf(mixed))

	// The prefix has no trailing slash: plain concatenation, as in Turtle.
	pipeline := loadDefs(t, "UpdaterPipelineIntegrationTest-subgraphs.yaml")
	assert.Equal(t, "https://query.unittest.local/subgraphcopy", pipeline.Subgraphs[1].URI)
	assert.True(t, pipeline.Subgraphs[1].DefaultPass)

	for _, f := range []string{"SubgraphDiffUnitTest-three-graphs-definitions.yaml", "SubgraphDiffUnitTest-four-graphs-definitions.yaml"} {
		assert.NotNil(t, loadDefs(t, f).Full(), f)
	}
}

func TestParseSubgraphDefinitionsErrors(t *testing.T) {
	const head = "prefixes:\n  wd: http://x/entity/\n  wdt: http://x/prop/direct/\n  sg: http://x/sg/\nsubgraphs:\n"
	for _, tc := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"two full graphs", head + "  - name: a\n    stream: s1\n    default: pass\n  - name: b\n    stream: s2\n    default: pass\n", 9,
			`subgraph "b": no subgraph_uri, but "a" is already the full graph`},
		{"unknown prefix", head + "  - name: a\n    stream: s1\n    subgraph_uri: sg:a\n    default: block\n    rules:\n      - pass ?entity foo:P31 wd:Q5\n", 11,
			`rule "pass ?entity foo:P31 wd:Q5": unknown prefix "foo"`},
		{"unknown variable", head + "  - name: a\n    stream: s1\n    subgraph_uri: sg:a\n    default: block\n    rules:\n      - pass ?entity wdt:P31 ?kind\n", 11,
			"unknown variable ?kind"},
		{"bad action", head + "  - name: a\n    stream: s1\n    subgraph_uri: sg:a\n    default: block\n    rules:\n      - allow ?entity wdt:P31 wd:Q5\n", 11,
			`action "allow", want pass or block`},
		{"three terms", head + "  - name: a\n    stream: s1\n    subgraph_uri: sg:a\n    default: block\n    rules:\n      - pass ?entity wdt:P31\n", 11,
			`want "pass|block <subject> <predicate> <object>"`},
		{"literal", head + "  - name: a\n    stream: s1\n    subgraph_uri: sg:a\n    default: block\n    rules:\n      - pass ?entity wdt:P31 \"x\"\n", 11,
			"rules match IRIs only"},
		{"no default", head + "  - name: a\n    stream: s1\n", 6, `default is "", want pass or block`},
		{"bad default", head + "  - name: a\n    stream: s1\n    default: maybe\n", 8, `default is "maybe"`},
		{"duplicate name", head + "  - name: a\n    stream: s1\n    default: pass\n  - name: a\n    stream: s2\n    subgraph_uri: sg:a\n    default: pass\n", 9,
			`subgraph "a": duplicate subgraph name`},
		{"duplicate stream", head + "  - name: a\n    stream: s1\n    default: pass\n  - name: b\n    stream: s1\n    subgraph_uri: sg:b\n    default: pass\n", 10,
			`stream "s1" is already another subgraph's`},
		{"misspelt key", head + "  - name: a\n    stream: s1\n    default: pass\n    stubs_sources: true\n", 9, "field stubs_sources not found"},
		{"full graph as stub source", head + "  - name: a\n    stream: s1\n    default: pass\n    stubs_source: true\n", 6, "cannot be a stubs_source"},
		{"bad subgraph_uri", head + "  - name: a\n    stream: s1\n    subgraph_uri: nope\n    default: pass\n", 8, "subgraph_uri: \"nope\" is neither"},
		{"no stream", head + "  - name: a\n    default: pass\n", 6, "no stream"},
		{"no subgraphs", "prefixes:\n  wd: http://x/\n", 0, "no subgraphs"},
		{"empty file", "", 0, "no subgraphs (empty file)"},
		{"malformed YAML", "subgraphs:\n  - name: [a\n", 1, "malformed YAML: yaml: line 1"},
		{"binding not a list", head + "  - name: a\n    stream: s1\n    default: pass\nbindings:\n  kinds: wd:Q5\n", 10, "cannot unmarshal !!str `wd:Q5` into []string"},
		{"binding bad IRI", head + "  - name: a\n    stream: s1\n    default: pass\nbindings:\n  kinds:\n    - zz:Q5\n", 11, `binding "kinds": unknown prefix "zz"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := updater.ParseSubgraphDefinitions([]byte(tc.yaml), "defs.yaml")
			require.Error(t, err)
			assert.ErrorIs(t, err, updater.ErrInvalidSubgraphDefinitions)
			var de *updater.SubgraphDefinitionError
			require.True(t, errors.As(err, &de), "%T", err)
			assert.Equal(t, tc.line, de.Line, err.Error())
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), "updater: invalid subgraph definitions: defs.yaml"), err.Error())
		})
	}
	_, err := updater.LoadSubgraphDefinitions(filepath.Join("testdata", "subgraphs", "missing.yaml"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

var (
	unitScheme = func() rdfdiff.URIScheme {
		s, err := rdfdiff.NewURIScheme("https://unittest.local")
		if err != nil {
			panic(err)
		}
		return s
	}()
	wdt31  = rdfdiff.NewIRI("https://unittest.local/prop/direct/P31")
	unitQ  = func(id string) rdfdiff.Term { return rdfdiff.NewIRI("https://unittest.local/entity/" + id) }
	label  = rdfdiff.NewIRI("http://www.w3.org/2000/01/rdf-schema#label")
	stubOf = func(id, graph string) rdfdiff.Triple {
		return rdfdiff.Triple{S: unitQ(id), P: rdfdiff.NewIRI(updater.SubgraphStubPredicate), O: rdfdiff.NewIRI("https://query.unittest.local/subgraph/" + graph)}
	}
	labelOf = func(id, l string) rdfdiff.Triple {
		return rdfdiff.Triple{S: unitQ(id), P: label, O: rdfdiff.NewLangLiteral(l, "en")}
	}
	isA = func(id, class string) rdfdiff.Triple { return rdfdiff.Triple{S: unitQ(id), P: wdt31, O: unitQ(class)} }
)

func TestSubgraphAssignerProduction(t *testing.T) {
	defs := loadDefs(t, "wdqs-subgraph-definitions-v2.yaml")
	a := updater.NewSubgraphAssigner(defs, rdfdiff.WikidataScheme())
	q42 := munged(t, "Q42", fixture(t, "entities/Q42.ttl"))
	assert.Equal(t, []string{"wikidata_main", "wikidata_full"}, a.Assign("Q42", q42).Names(defs))

	wd := func(s string) rdfdiff.Term { return rdfdiff.NewIRI("http://www.wikidata.org/" + s) }
	// A scholarly article: Q42's statements plus P31 Q13442814.
	article := append(append([]rdfdiff.Triple(nil), q42...), rdfdiff.Triple{S: wd("entity/Q42"), P: wd("prop/direct/P31"), O: wd("entity/Q13442814")})
	assert.Equal(t, []string{"scholarly_articles", "wikidata_full"}, a.Assign("Q42", article).Names(defs))
	// The last binding value, too.
	other := []rdfdiff.Triple{{S: wd("entity/Q7"), P: wd("prop/direct/P31"), O: wd("entity/Q70471362")}}
	assert.Equal(t, []string{"scholarly_articles", "wikidata_full"}, a.Assign("Q7", other).Names(defs))
	// P13046 with any value ([]).
	ext := []rdfdiff.Triple{{S: wd("entity/Q7"), P: wd("prop/direct/P13046"), O: rdfdiff.NewLiteral("W123")}}
	assert.Equal(t, []string{"scholarly_articles", "wikidata_full"}, a.Assign("Q7", ext).Names(defs))
	// ?entity is the entity being assigned: another entity's P31 does not count.
	assert.Equal(t, []string{"wikidata_main", "wikidata_full"}, a.Assign("Q8", other).Names(defs))
	// A literal object never matches a binding of IRIs.
	lit := []rdfdiff.Triple{{S: wd("entity/Q7"), P: wd("prop/direct/P31"), O: rdfdiff.NewLiteral("http://www.wikidata.org/entity/Q13442814")}}
	assert.Equal(t, []string{"wikidata_main", "wikidata_full"}, a.Assign("Q7", lit).Names(defs))
}

func TestSubgraphAssignerUnitDefinitions(t *testing.T) {
	four := loadDefs(t, "SubgraphDiffUnitTest-four-graphs-definitions.yaml")
	a := updater.NewSubgraphAssigner(four, unitScheme)
	assert.Equal(t, []string{"full", "graph1"}, a.Assign("Q1", []rdfdiff.Triple{isA("Q1", "Q10")}).Names(four))
	assert.Equal(t, []string{"full", "graph2", "graph3"}, a.Assign("Q1", []rdfdiff.Triple{isA("Q1", "Q11")}).Names(four))
	assert.Equal(t, []string{"full", "graph2"}, a.Assign("Q1", []rdfdiff.Triple{labelOf("Q1", "x")}).Names(four))
	assert.Equal(t, []string{"full", "graph2"}, a.Assign("Q1", nil).Names(four))

	mixed := loadDefs(t, "SubgraphDiffUnitTest-four-graphs-definitions-mixed-stub-source.yaml")
	a = updater.NewSubgraphAssigner(mixed, unitScheme)
	assert.Equal(t, []string{"full"}, a.Assign("Q1", []rdfdiff.Triple{isA("Q1", "Q12")}).Names(mixed))

	// Rules in order, the first match wins.
	defs, err := updater.ParseSubgraphDefinitions([]byte(`prefixes:
  wd: https://unittest.local/entity/
  wdt: https://unittest.local/prop/direct/
subgraphs:
  - name: g
    stream: s
    subgraph_uri: <https://query.unittest.local/subgraph/g>
    default: block
    rules:
      - block ?entity wdt:P31 wd:Q5
      - pass ?entity [] []
      - block [] a []
`), "")
	require.NoError(t, err)
	a = updater.NewSubgraphAssigner(defs, unitScheme)
	assert.False(t, a.Assign("Q1", []rdfdiff.Triple{labelOf("Q1", "x"), isA("Q1", "Q5")}).Has(0))
	assert.True(t, a.Assign("Q1", []rdfdiff.Triple{labelOf("Q1", "x"), isA("Q1", "Q6")}).Has(0))
	assert.False(t, a.Assign("Q1", []rdfdiff.Triple{labelOf("Q2", "x")}).Has(0))
	assert.Equal(t, "{0}", a.Assign("Q1", []rdfdiff.Triple{labelOf("Q1", "x")}).String())
}
