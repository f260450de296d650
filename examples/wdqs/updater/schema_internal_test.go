package updater

import (
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gitlab.wikimedia.org/repos/search-platform/streamkit/checkpoint"
)

// internalValidator is compiled once for the package's internal tests.
var internalValidator = sync.OnceValues(NewValidator)

// A $ref to another Event Platform schema (an absolute path, as the
// unmaterialized schemas write them) resolves to the embedded file; any
// other URI is refused, never fetched.
func TestSchemaLoaderResolvesLocally(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.UseLoader(embeddedLoader{})
	require.NoError(t, c.AddResource(schemaBase+"/test/ref/1.0.0", map[string]any{
		"$id":   "/test/ref/1.0.0",
		"$ref":  "/fragment/common/2.0.0",
		"title": "test/ref",
	}))
	sch, err := c.Compile(schemaBase + "/test/ref/1.0.0")
	require.NoError(t, err)
	ok := map[string]any{"$schema": "/test/ref/1.0.0", "dt": "2024-10-04T15:16:26Z", "meta": map[string]any{"stream": "s"}}
	assert.NoError(t, sch.Validate(ok))
	delete(ok["meta"].(map[string]any), "stream")
	assert.Error(t, sch.Validate(ok), "meta.stream is required by the fragment")

	for _, ref := range []string{"https://schema.wikimedia.org/repositories/primary/jsonschema/fragment/common/2.0.0", "/fragment/missing/1.0.0"} {
		c := jsonschema.NewCompiler()
		c.UseLoader(embeddedLoader{})
		require.NoError(t, c.AddResource(schemaBase+"/test/ref/1.0.0", map[string]any{"$ref": ref}))
		_, err := c.Compile(schemaBase + "/test/ref/1.0.0")
		require.Error(t, err, ref)
	}
	_, err = embeddedLoader{}.Load("https://schema.wikimedia.org/fragment/common/2.0.0")
	assert.ErrorContains(t, err, "never fetched")
}

// ValidateInput compiles the schemas once per job, into Filter.Validator,
// and keeps a Validator the caller set.
func TestValidateInputConfig(t *testing.T) {
	cfg := Config{
		Brokers: []string{"b"}, Topics: []string{"t"}, Filter: Filter{Hostname: "h", EntityNamespaces: []int{0}},
		EntityDataURL: "http://h/wiki/Special:EntityData/", OutputTopic: "o", CheckpointStore: checkpoint.NewMemoryStore(),
	}
	c, err := cfg.withDefaults()
	require.NoError(t, err)
	assert.Nil(t, c.Filter.Validator)
	cfg.ValidateInput = true
	c, err = cfg.withDefaults()
	require.NoError(t, err)
	require.NotNil(t, c.Filter.Validator)
	assert.Nil(t, cfg.Filter.Validator, "the caller's Config is not changed")
	v, err := internalValidator()
	require.NoError(t, err)
	cfg.Filter.Validator = v
	c, err = cfg.withDefaults()
	require.NoError(t, err)
	assert.Same(t, v, c.Filter.Validator)
}
