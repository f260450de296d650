package sparql

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBlazegraphAppliesAbandonedUpdate pins why a killed writer is not gone
// for Blazegraph: an update request whose client disconnects once the body
// is sent still runs to its commit, seconds later for a large one. A
// successor that reads the commit point in that window resumes from the
// older position and replays changes the abandoned request then applies as
// well; a plain SPARQL store cannot fence that, so a consumer must not be
// restarted before its killed predecessor's last request has ended.
func TestBlazegraphAppliesAbandonedUpdate(t *testing.T) {
	c := blazegraphClient(t)
	var b strings.Builder
	b.WriteString("INSERT DATA {\n")
	for i := range 60_000 {
		fmt.Fprintf(&b, "<http://ex.test/s%d> <http://ex.test/p> \"value %d, long enough to make the request take a while\" .\n", i, i)
	}
	b.WriteString("<http://ex.test/marker> <http://ex.test/p> \"last\" .\n}")
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Endpoint(), strings.NewReader(b.String()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/sparql-update")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	// Long enough for the client to send the whole body over loopback, far
	// shorter than the store takes to apply it.
	time.Sleep(300 * time.Millisecond)
	cancel()
	<-done
	gone := time.Now()
	var applied bool
	for time.Since(gone) < time.Minute {
		applied, err = c.Ask(context.Background(), `ASK { <http://ex.test/marker> <http://ex.test/p> "last" }`)
		require.NoError(t, err)
		if applied {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.True(t, applied, "the abandoned update was not applied within a minute")
	n, err := c.Query(context.Background(), `SELECT (COUNT(*) AS ?n) WHERE { ?s <http://ex.test/p> ?o }`)
	require.NoError(t, err)
	require.Equal(t, "60001", n.Bindings[0]["n"].Value(), "the abandoned update applied whole")
	t.Logf("the abandoned update was visible %v after its client went away", time.Since(gone).Round(time.Millisecond))
}
